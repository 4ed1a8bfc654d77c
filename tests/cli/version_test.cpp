// Every tool answers --version with its name and the project's version (CMake's project(VERSION),
// the one place it is written) on stdout, and exits 0.
#include "amk/version.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <string>

namespace amk::test {
namespace {

class ToolVersion : public testing::TestWithParam<const char *> {};

TEST_P(ToolVersion, PrintsTheProjectVersion) {
  const std::string tool = GetParam();
  CommandResult result = runCommand(shellQuoted((binaryDir() / "bin" / tool).string()) + " --version");
  EXPECT_EQ(result.exitCode, 0) << result.err;
  EXPECT_EQ(result.out, tool + " " + AMK_VERSION + "\n");
}

INSTANTIATE_TEST_SUITE_P(Tools, ToolVersion,
                         testing::Values("amk-fmt", "amk-verify", "amk-explore", "amk-replay", "amk-fuzz", "amk-plan",
                                         "amk-lower", "amk-run", "amk-tune", "amk-bench-checker"),
                         [](const testing::TestParamInfo<const char *> &info) {
                           std::string name;
                           for (char c : std::string(info.param))
                             if (c != '-')
                               name += c;
                           return name;
                         });

} // namespace
} // namespace amk::test
