// One name for one schedule across the tools: amk-verify's JSON report and witness file, amk-lower's
// kernel source and amk-replay all name a schedule by the content hash of its canonical text
// (ir::scheduleHash), so a corpus schedule and a reformatted copy of it get the same hash from each.
#include "amk/ir/content_hash.h"
#include "test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace amk::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string tool(const char *name) { return shellQuoted((binaryDir() / "bin" / name).string()); }

std::string describe(const CommandResult &r) {
  return "exit code " + std::to_string(r.exitCode) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// The copy of a corpus file without the space after each comma of its declarations' shapes, so that
// its bytes differ and its canonical text does not.
std::string reformatted(const std::string &canonical) {
  std::istringstream in(canonical);
  std::string text;
  for (std::string line; std::getline(in, line); text += line + "\n")
    if (line.find(" : ") != std::string::npos && line.find('#') == std::string::npos)
      for (size_t at = line.find(", "); at != std::string::npos; at = line.find(", ", at))
        line.erase(at + 1, 1);
  return text;
}

// The hash each tool gives a schedule file: the JSON report's, the witness file's (unsafe only) and
// the kernel source's header line.
struct Names {
  std::string report, witness, kernel;
};

Names names(const fs::path &schedule, const fs::path &witnessDir, bool unsafe) {
  Names n;
  CommandResult report = runCommand(tool("amk-verify") + " --format json " + shellQuoted(schedule.string()));
  EXPECT_EQ(report.exitCode, unsafe ? 1 : 0) << describe(report);
  json j = json::parse(report.out, nullptr, false);
  if (!j.is_discarded() && j.contains("files") && !j["files"].empty())
    n.report = j["files"][0].value("contentHash", "");
  if (unsafe) {
    CommandResult written = runCommand(tool("amk-verify") + " --witness-out " + shellQuoted(witnessDir.string()) + " " +
                                       shellQuoted(schedule.string()));
    EXPECT_EQ(written.exitCode, 1) << describe(written);
    std::ifstream in(witnessDir / (schedule.filename().string() + ".witness.json"));
    json w = json::parse(in, nullptr, false);
    if (!w.is_discarded())
      n.witness = w.value("contentHash", "");
  }
  CommandResult lowered =
      runCommand(tool("amk-lower") + (unsafe ? " --unsafe " : " ") + shellQuoted(schedule.string()));
  EXPECT_EQ(lowered.exitCode, 0) << describe(lowered);
  const std::string marker = "// schedule content hash ";
  if (size_t at = lowered.out.find(marker); at != std::string::npos)
    n.kernel = lowered.out.substr(at + marker.size(), ir::kContentHashHexDigits);
  return n;
}

class ScheduleHash : public testing::TestWithParam<const char *> {
protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "amk-schedule-hash-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  fs::path dir_;
};

TEST_P(ScheduleHash, EveryToolNamesTheScheduleByItsCanonicalText) {
  const fs::path original = sourceDir() / "corpus/examples" / GetParam();
  const std::string canonical = readFile(original);
  const bool unsafe = canonical.rfind("# expect: unsafe", 0) == 0;
  // Corpus examples are in canonical form (scripts/run-corpus.sh checks with amk-fmt --check).
  const std::string expected = ir::contentHash(canonical);
  const fs::path copy = dir_ / "copy" / GetParam();
  fs::create_directories(copy.parent_path());
  std::ofstream(copy, std::ios::binary) << reformatted(canonical);
  ASSERT_NE(readFile(copy), canonical) << "the copy is another text";

  fs::create_directories(dir_ / "w1");
  fs::create_directories(dir_ / "w2");
  for (const auto &[file, witnessDir] : {std::pair{original, dir_ / "w1"}, std::pair{copy, dir_ / "w2"}}) {
    const Names n = names(file, witnessDir, unsafe);
    EXPECT_EQ(n.report, expected) << file << ": amk-verify --format json";
    EXPECT_EQ(n.kernel, expected) << file << ": amk-lower";
    if (unsafe) {
      EXPECT_EQ(n.witness, expected) << file << ": amk-verify --witness-out";
    }
  }
  if (unsafe) {
    // amk-replay takes the witness of the one for the other: the same schedule.
    CommandResult replayed =
        runCommand(tool("amk-replay") + " --schedule " + shellQuoted(copy.string()) + " " +
                   shellQuoted((dir_ / "w1" / (std::string(GetParam()) + ".witness.json")).string()));
    EXPECT_NE(replayed.exitCode, 2) << describe(replayed);
    EXPECT_EQ(replayed.err.find("another version of this file"), std::string::npos) << describe(replayed);
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, ScheduleHash, testing::Values("llama2_decode.amkir", "race_relaxed_publish.amkir"),
                         [](const testing::TestParamInfo<const char *> &info) {
                           std::string name = info.param;
                           return name.substr(0, name.find('.'));
                         });

} // namespace
} // namespace amk::test
