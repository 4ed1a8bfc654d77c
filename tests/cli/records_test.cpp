// Every figure the README and docs/ publish cites its record under bench/results/: each such path
// they name must be a committed file or folder. `name.*` stands for the files of that stem (at
// least one must exist) and `name.{a,b}` for each listed one.
#include "test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace amk::test {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> documents() {
  std::vector<fs::path> files = {sourceDir() / "README.md"};
  for (const char *folder : {"docs", "bench"})
    for (const fs::directory_entry &entry : fs::directory_iterator(sourceDir() / folder))
      if (entry.path().extension() == ".md")
        files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

// The paths a cited record stands for, relative to the source tree.
std::vector<std::string> expand(std::string cited) {
  while (!cited.empty() && (cited.back() == '.' || cited.back() == ',' || cited.back() == ')'))
    cited.pop_back();
  const size_t brace = cited.find('{');
  if (brace != std::string::npos && cited.back() == '}') {
    std::vector<std::string> paths;
    std::string stem = cited.substr(0, brace), list = cited.substr(brace + 1, cited.size() - brace - 2);
    for (size_t start = 0; start <= list.size();) {
      size_t comma = std::min(list.find(',', start), list.size());
      paths.push_back(stem + list.substr(start, comma - start));
      start = comma + 1;
    }
    return paths;
  }
  return {cited};
}

bool exists(const std::string &relative) {
  if (relative.size() > 2 && relative.ends_with(".*")) {
    const fs::path stem = sourceDir() / relative.substr(0, relative.size() - 2);
    if (!fs::is_directory(stem.parent_path()))
      return false;
    const std::string prefix = stem.filename().string() + ".";
    for (const fs::directory_entry &entry : fs::directory_iterator(stem.parent_path()))
      if (entry.path().filename().string().starts_with(prefix))
        return true;
    return false;
  }
  return fs::exists(sourceDir() / relative);
}

TEST(Records, EveryResultTheDocsCiteIsCommitted) {
  const std::regex cited(R"(bench/results/[A-Za-z0-9_./{},*-]+)");
  std::set<std::string> checked;
  for (const fs::path &document : documents()) {
    const std::string text = readFile(document);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), cited); it != std::sregex_iterator(); ++it)
      for (const std::string &path : expand(it->str())) {
        checked.insert(path);
        EXPECT_TRUE(exists(path)) << fs::relative(document, sourceDir()).string() << " cites " << path
                                  << ", which is not in the tree";
      }
  }
  // The README alone cites more than a dozen records; finding none means the pattern broke.
  EXPECT_GE(checked.size(), 10u);
  std::cout << "checked " << checked.size() << " cited records\n";
}

} // namespace
} // namespace amk::test
