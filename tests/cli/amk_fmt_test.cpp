// amk-fmt end to end: the built tool run through the shell on files in a fresh temporary folder,
// checking its standard output, standard error and exit code (0 ok, 1 not canonical, 2 bad input
// or usage).
#include "amk/ir/ops.h"
#include "test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace amk::test {
namespace {

const char *kCanonical = R"(amkir 1
target sm_90 sms=132
grid blocks=2 threads=128 occupancy=1

scratch x : f32[8]
counter ready

blocks b in 0..2 {
  opaque x[4*b : 4*b+4] <- name="produce"
  signal ready
}
blocks b in 1..2 { wait ready >= 2 }
)";

// The same schedule as kCanonical, badly spaced (blank lines are kept as written, so they match).
const char *kMessy = R"(amkir 1
target   sm_90 sms=132
grid blocks=2  threads=128 occupancy=1

scratch x:f32[8]
counter ready

blocks b in 0..2 {
opaque x[4 * b : 4 * b + 4] <- name="produce"
    signal ready
}
blocks b in 1..2 {
  wait ready >= 2
}
)";

const char *kMalformed = R"(amkir 1
target sm_90 sms=132
grid blocks=2 threads=128
scratch x : f32[8]
blocks b in 0..2 {
  opaque q <- x
  matmul x <- x
}
)";

std::vector<std::string> lines(const std::string &text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

class AmkFmt : public testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "amk-fmt-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::string write(const std::string &name, const std::string &text) {
    std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path.string();
  }

  // Runs amk-fmt with `arguments` (already shell-quoted where needed).
  CommandResult fmt(const std::string &arguments) {
    std::string tool = (binaryDir() / "bin/amk-fmt").string();
    CommandResult result = runCommand(shellQuoted(tool) + " " + arguments);
    return result;
  }

  std::filesystem::path dir_;
};

std::string describe(const CommandResult &r) {
  return "exit code " + std::to_string(r.exitCode) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// ---- formatting -------------------------------------------------------------------------------

// Prints the canonical form of a badly spaced file on stdout, exit 0, nothing on stderr.
TEST_F(AmkFmt, PrintsCanonicalFormOnStdout) {
  std::string path = write("messy.amkir", kMessy);
  CommandResult r = fmt(shellQuoted(path));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, kCanonical);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(readFile(path), kMessy) << "printing must not touch the file";
}

// Canonical input is printed back byte for byte.
TEST_F(AmkFmt, CanonicalInputIsAFixedPoint) {
  CommandResult r = fmt(shellQuoted(write("canon.amkir", kCanonical)));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, kCanonical);
}

// "-" reads the schedule from standard input.
TEST_F(AmkFmt, ReadsStandardInputForDash) {
  CommandResult r = fmt("- < " + shellQuoted(write("messy.amkir", kMessy)));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, kCanonical);
}

// ---- --check ----------------------------------------------------------------------------------

// --check on canonical input exits 0 with one status line.
TEST_F(AmkFmt, CheckAcceptsCanonicalInputWithStatusLine) {
  std::string path = write("canon.amkir", kCanonical);
  CommandResult r = fmt("--check " + shellQuoted(path));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, path + ": canonical, well-formed (2 blocks, 5 instructions)\n");
  EXPECT_EQ(r.err, "");
}

// --check on non-canonical input exits 1 with a status line that says how to fix it, and leaves the file alone.
TEST_F(AmkFmt, CheckRejectsNonCanonicalInputWithStatusLine) {
  std::string path = write("messy.amkir", kMessy);
  CommandResult r = fmt("--check " + shellQuoted(path));
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  EXPECT_EQ(r.out, path + ": NOT canonical (run amk-fmt -i), well-formed (2 blocks, 5 instructions)\n");
  EXPECT_EQ(readFile(path), kMessy);
}

// --check -q prints nothing and still exits 1 on non-canonical input.
TEST_F(AmkFmt, QuietCheckPrintsNothing) {
  CommandResult r = fmt("--check -q " + shellQuoted(write("messy.amkir", kMessy)));
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  EXPECT_EQ(r.out, "");
}

// --check over several files prints one line each and exits 1 if any of them is not canonical.
TEST_F(AmkFmt, CheckOfSeveralFilesExitsOneIfAnyIsNotCanonical) {
  std::string canon = write("canon.amkir", kCanonical), messy = write("messy.amkir", kMessy);
  CommandResult r = fmt("--check " + shellQuoted(canon) + " " + shellQuoted(messy));
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  EXPECT_EQ(lines(r.out).size(), 2u) << r.out;
}

// --check on malformed input exits 2 (bad input wins over "not canonical").
TEST_F(AmkFmt, CheckOfMalformedInputExitsTwo) {
  CommandResult r = fmt("--check " + shellQuoted(write("bad.amkir", kMalformed)));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_NE(r.err.find("[AMK-N001]"), std::string::npos) << describe(r);
}

// ---- -i ---------------------------------------------------------------------------------------

// -i rewrites a non-canonical file in place, prints nothing, and the result passes --check.
TEST_F(AmkFmt, InPlaceRewritesTheFile) {
  std::string path = write("messy.amkir", kMessy);
  CommandResult r = fmt("-i " + shellQuoted(path));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(readFile(path), kCanonical);
  EXPECT_EQ(fmt("--check -q " + shellQuoted(path)).exitCode, 0);
}

// -i leaves a canonical file's bytes as they are.
TEST_F(AmkFmt, InPlaceKeepsCanonicalFile) {
  std::string path = write("canon.amkir", kCanonical);
  CommandResult r = fmt("-i " + shellQuoted(path));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(readFile(path), kCanonical);
}

// -i does not touch a malformed file and exits 2.
TEST_F(AmkFmt, InPlaceLeavesMalformedFileAlone) {
  std::string path = write("bad.amkir", kMalformed);
  CommandResult r = fmt("-i " + shellQuoted(path));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_EQ(readFile(path), kMalformed);
}

// ---- --core -----------------------------------------------------------------------------------

// --core prints the elaborated per-block program: one numbered line per instruction with its
// source position and loop values.
TEST_F(AmkFmt, CorePrintsPerBlockProgram) {
  std::string path = write("canon.amkir", kCanonical);
  CommandResult r = fmt("--core " + shellQuoted(path));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, "# core program of " + path + R"(: 2 blocks, 5 instructions
target sm_90 sms=132
grid blocks=2 threads=128 occupancy=1

block 0 (2 instructions)
  0: opaque x[0:4] <- name="produce"  # 9:3 b=0
  1: signal ready + 1  # 10:3 b=0

block 1 (3 instructions)
  0: opaque x[4:8] <- name="produce"  # 9:3 b=1
  1: signal ready + 1  # 10:3 b=1
  2: wait ready >= 2  # 12:20 b=1
)");
}

// ---- diagnostics ------------------------------------------------------------------------------

// Malformed input exits 2 with clang-style diagnostics on stderr and nothing on stdout.
TEST_F(AmkFmt, MalformedInputExitsTwoWithDiagnosticsOnStderr) {
  std::string path = write("bad.amkir", kMalformed);
  CommandResult r = fmt(shellQuoted(path));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, path +
                       ":6:10: error: unknown buffer 'q' [AMK-N001]\n"
                       "  opaque q <- x\n"
                       "         ^\n" +
                       path +
                       ":7:3: error: unknown op 'matmul' (the registry has: copy, add, embed, rmsnorm, matvec, "
                       "matvec_add, rope, kv_store, attention, silu_mul, argmax, rmsnorm_matvec, attention_partial, "
                       "attention_merge, argmax_partial, argmax_merge, matvec_q8, matvec_q8_add, rmsnorm_matvec_q8, "
                       "opaque, rmsnorm_gate_up_silu) [AMK-T001]\n"
                       "  matmul x <- x\n"
                       "  ^~~~~~\n");
}

// --diagnostics-format json prints one JSON object per diagnostic, one per line, with rule, file,
// range and message.
TEST_F(AmkFmt, JsonDiagnosticsAreOneObjectPerLine) {
  std::string path = write("bad.amkir", kMalformed);
  CommandResult r = fmt("--diagnostics-format json " + shellQuoted(path));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  std::vector<std::string> objects = lines(r.err);
  ASSERT_EQ(objects.size(), 2u) << r.err;
  std::vector<nlohmann::json> parsed;
  for (const std::string &line : objects) {
    nlohmann::json object = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(object.is_discarded()) << "not JSON: " << line;
    for (const char *key : {"rule", "file", "range", "message", "severity", "notes"})
      EXPECT_TRUE(object.contains(key)) << key << " missing in " << line;
    parsed.push_back(object);
  }
  EXPECT_EQ(parsed[0]["rule"], "AMK-N001");
  EXPECT_EQ(parsed[0]["file"], path);
  EXPECT_EQ(parsed[0]["message"], "unknown buffer 'q'");
  EXPECT_EQ(parsed[0]["severity"], "error");
  EXPECT_EQ(parsed[0]["range"]["begin"]["line"], 6);
  EXPECT_EQ(parsed[0]["range"]["begin"]["column"], 10);
  EXPECT_EQ(parsed[0]["range"]["end"]["line"], 6);
  EXPECT_EQ(parsed[0]["range"]["end"]["column"], 11);
  EXPECT_EQ(parsed[1]["rule"], "AMK-T001");
  EXPECT_EQ(parsed[1]["range"]["begin"]["line"], 7);
}

// In JSON mode a file that cannot be read is reported as JSON too, so a consumer parses every line.
TEST_F(AmkFmt, JsonModeReportsMissingFileAsJson) {
  std::string missing = (dir_ / "missing.amkir").string();
  CommandResult r = fmt("--diagnostics-format json " + shellQuoted(missing));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  std::vector<std::string> objects = lines(r.err);
  ASSERT_EQ(objects.size(), 1u) << r.err;
  nlohmann::json object = nlohmann::json::parse(objects[0], nullptr, false);
  ASSERT_FALSE(object.is_discarded()) << "not JSON: " << objects[0];
  EXPECT_EQ(object["rule"], "AMK-F001");
  EXPECT_EQ(object["file"], missing);
}

// ---- usage and I/O errors ---------------------------------------------------------------------

// A missing file exits 2 with an AMK-F001 line naming it.
TEST_F(AmkFmt, MissingFileExitsTwo) {
  std::string missing = (dir_ / "missing.amkir").string();
  CommandResult r = fmt(shellQuoted(missing));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, missing + ": error: cannot open file: No such file or directory [AMK-F001]\n");
}

// A directory exits 2 with AMK-F001.
TEST_F(AmkFmt, DirectoryExitsTwo) {
  CommandResult r = fmt(shellQuoted(dir_.string()));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_NE(r.err.find("[AMK-F001]"), std::string::npos) << describe(r);
}

// An unknown flag exits 2 and names the flag.
TEST_F(AmkFmt, UnknownFlagExitsTwo) {
  CommandResult r = fmt("--bogus " + shellQuoted(write("canon.amkir", kCanonical)));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << describe(r);
}

// An unknown diagnostics format exits 2.
TEST_F(AmkFmt, UnknownDiagnosticsFormatExitsTwo) {
  CommandResult r = fmt("--diagnostics-format xml " + shellQuoted(write("canon.amkir", kCanonical)));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_NE(r.err.find("xml"), std::string::npos) << describe(r);
}

// No file at all exits 2.
TEST_F(AmkFmt, NoFileExitsTwo) {
  CommandResult r = fmt("");
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_NE(r.err, "");
}

// -i together with --check is a usage error: exit 2, and the file is not rewritten.
TEST_F(AmkFmt, InPlaceWithCheckExitsTwo) {
  std::string path = write("messy.amkir", kMessy);
  CommandResult r = fmt("-i --check " + shellQuoted(path));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_EQ(readFile(path), kMessy);
}

// --core with --syntax-only is a usage error (the core form needs elaboration): exit 2.
TEST_F(AmkFmt, CoreWithSyntaxOnlyExitsTwo) {
  CommandResult r = fmt("--core --syntax-only " + shellQuoted(write("canon.amkir", kCanonical)));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
}

// ---- --list-ops ---------------------------------------------------------------------------------

// --list-ops prints the registry's op reference (docs/amkir.md section 12) and nothing else.
TEST_F(AmkFmt, ListOpsPrintsTheOpReference) {
  CommandResult r = fmt("--list-ops");
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, ir::opReferenceMarkdown());
  EXPECT_EQ(r.err, "");
}

// --list-ops with a file is a usage error: exit 2, nothing printed on stdout.
TEST_F(AmkFmt, ListOpsWithAFileExitsTwo) {
  CommandResult r = fmt("--list-ops " + shellQuoted(write("canon.amkir", kCanonical)));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("--list-ops"), std::string::npos) << describe(r);
}

// --help prints the usage and exits 0.
TEST_F(AmkFmt, HelpExitsZero) {
  CommandResult r = fmt("--help");
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_NE(r.out.find("--check"), std::string::npos) << describe(r);
}

} // namespace
} // namespace amk::test
