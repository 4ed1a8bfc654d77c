// Helpers shared by the test suites: paths into the source tree and running a tool.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace amk::test {

inline std::filesystem::path sourceDir() { return AMK_SOURCE_DIR; }
inline std::filesystem::path binaryDir() { return AMK_BINARY_DIR; }

// Every *.amkir file under `folder` (relative to the source tree), sorted.
std::vector<std::filesystem::path> amkirFiles(const std::string &folder);

std::string readFile(const std::filesystem::path &path);

struct CommandResult {
  int exitCode = -1;
  std::string out; // stdout
  std::string err; // stderr
};

// Runs `command` through /bin/sh with stdout and stderr captured separately.
CommandResult runCommand(const std::string &command);

// A path as one shell word (the test folders hold no single quotes).
inline std::string shellQuoted(const std::string &text) { return "'" + text + "'"; }

} // namespace amk::test
