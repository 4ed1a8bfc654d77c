#include "test_support.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace amk::test {

std::vector<std::filesystem::path> amkirFiles(const std::string &folder) {
  std::vector<std::filesystem::path> files;
  for (const auto &entry : std::filesystem::recursive_directory_iterator(sourceDir() / folder))
    if (entry.is_regular_file() && entry.path().extension() == ".amkir")
      files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::string readFile(const std::filesystem::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

CommandResult runCommand(const std::string &command) {
  char errTemplate[] = "/tmp/amk-test-stderr-XXXXXX";
  int errFd = mkstemp(errTemplate);
  CommandResult result;
  if (errFd < 0)
    return result;
  close(errFd);
  std::string full = command + " 2>" + errTemplate;
  FILE *pipe = popen(full.c_str(), "r");
  if (!pipe) {
    std::remove(errTemplate);
    return result;
  }
  std::array<char, 4096> chunk;
  size_t n;
  while ((n = fread(chunk.data(), 1, chunk.size(), pipe)) > 0)
    result.out.append(chunk.data(), n);
  int status = pclose(pipe);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = readFile(errTemplate);
  std::remove(errTemplate);
  return result;
}

} // namespace amk::test
