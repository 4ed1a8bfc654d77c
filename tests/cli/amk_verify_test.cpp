// amk-verify end to end: the built tool run through the shell on files in a fresh temporary folder.
// Exit codes (0 all safe, 1 some unsafe, 2 malformed input, unreadable file or bad usage), the
// clang-style text output with its verdict lines, the JSON report (amk-verify/1), SARIF 2.1.0,
// witness files (amk-witness/1), the Graphviz view, --stats, and --jobs giving the same output.
#include "test_support.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace amk::test {
namespace {

using nlohmann::json;

const char *kSafe = R"(amkir 1
target sm_90 sms=8
grid blocks=3 threads=128
scratch x : f32[8]
counter done
blocks b in 0..2 {
  opaque x[4*b : 4*b+4] <-
  signal done
}
blocks b in 2..3 {
  wait done >= 2
  opaque <- x
}
)";

// The write of block 0 (line 7) and the read of block 1 (line 12) are not ordered: the signal is
// relaxed.
const char *kRace = R"(amkir 1
target sm_90 sms=8
grid blocks=2 threads=128
scratch x : f32[8]
counter c
blocks b in 0..1 {
  opaque x[0:4] <-
  signal.relaxed c
}
blocks b in 1..2 {
  wait c >= 1
  opaque <- x
}
)";

// Every block waits for its neighbour's signal before sending its own: line 8 in every block.
const char *kDeadlock = R"(amkir 1
target sm_90 sms=8
grid blocks=3 threads=64
scratch g : f32[3, 16]
counter ready[3]
blocks b in 0..3 {
  opaque g[b, :] <-
  wait ready[(b+1)%3] >= 1
  signal ready[b]
}
)";

const char *kMalformed = R"(amkir 1
target sm_90 sms=8
grid blocks=2 threads=128
scratch x : f32[8]
blocks b in 0..2 {
  opaque y <- x
}
)";

std::string describe(const CommandResult &r) {
  return "exit code " + std::to_string(r.exitCode) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }

class AmkVerify : public testing::Test {
protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "amk-verify-test-XXXXXX").string();
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

  // Runs amk-verify with `arguments` (already shell-quoted where needed).
  CommandResult verify(const std::string &arguments) {
    std::string tool = (binaryDir() / "bin/amk-verify").string();
    return runCommand(shellQuoted(tool) + " " + arguments);
  }

  // Parses stdout as JSON, failing the test (and returning null) when it is not.
  json parsed(const CommandResult &r) {
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << describe(r);
    return j.is_discarded() ? json() : j;
  }

  std::filesystem::path dir_;
};

// ---- exit codes -------------------------------------------------------------------------------

TEST_F(AmkVerify, ExitCodes) {
  const std::string safe = shellQuoted(write("safe.amkir", kSafe));
  const std::string race = shellQuoted(write("race.amkir", kRace));
  const std::string deadlock = shellQuoted(write("deadlock.amkir", kDeadlock));
  const std::string malformed = shellQuoted(write("malformed.amkir", kMalformed));
  const std::string missing = shellQuoted((dir_ / "missing.amkir").string());

  CommandResult r = verify(safe);
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  r = verify(race);
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  r = verify(deadlock);
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  r = verify(safe + " " + race);
  EXPECT_EQ(r.exitCode, 1) << "one unsafe file of two: " << describe(r);
  r = verify(malformed);
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  r = verify(missing);
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  r = verify(race + " " + malformed);
  EXPECT_EQ(r.exitCode, 2) << "an input error wins over unsafe: " << describe(r);
  r = verify("--no-such-flag " + safe);
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  r = verify("--format xml " + safe);
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  r = verify("--jobs 0 " + safe);
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  r = verify("");
  EXPECT_EQ(r.exitCode, 2) << "no files: " << describe(r);
  r = verify("--help");
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, "--format")) << describe(r);
}

TEST_F(AmkVerify, MaxRacesZeroStillRejectsARacyFile) {
  // --max-races caps the races shown; a file with races must still be unsafe (exit 1), not certified.
  const std::string race = shellQuoted(write("race.amkir", kRace));
  CommandResult r = verify("--max-races 0 " + race);
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  EXPECT_FALSE(contains(r.out, ": safe")) << describe(r);
}

// ---- text -------------------------------------------------------------------------------------

TEST_F(AmkVerify, TextForASafeFile) {
  const std::string path = write("safe.amkir", kSafe);
  CommandResult r = verify(shellQuoted(path));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, path + ": safe (3 blocks, 6 instructions)\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(AmkVerify, TextForARace) {
  const std::string path = write("race.amkir", kRace);
  CommandResult r = verify(shellQuoted(path));
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  // The primary location is the second access (the read, line 12), with the rule id.
  EXPECT_TRUE(contains(r.out, path + ":12:3: error: data race on scratch 'x' x[0:4]")) << describe(r);
  EXPECT_TRUE(contains(r.out, "[AMK-V004]\n")) << describe(r);
  // Notes for the write (line 7) and the relaxed signal/wait pair.
  EXPECT_TRUE(contains(r.out, path + ":7:3: note: written by block 0")) << describe(r);
  EXPECT_TRUE(contains(r.out, "relaxed")) << describe(r);
  EXPECT_TRUE(contains(r.out, path + ": unsafe: AMK-V004 race x1 (2 blocks, 4 instructions)\n")) << describe(r);
}

TEST_F(AmkVerify, TextForADeadlock) {
  const std::string path = write("deadlock.amkir", kDeadlock);
  CommandResult r = verify(shellQuoted(path));
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  EXPECT_TRUE(contains(r.out, path + ":8:3: error: 3 of 3 blocks can never finish [AMK-V003]")) << describe(r);
  EXPECT_TRUE(contains(r.out, "wait-for cycle")) << describe(r);
  EXPECT_TRUE(contains(r.out, path + ": unsafe: AMK-V003 deadlock")) << describe(r);
}

TEST_F(AmkVerify, TextForMalformedAndMissingFiles) {
  const std::string malformed = write("malformed.amkir", kMalformed);
  CommandResult r = verify(shellQuoted(malformed));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_TRUE(contains(r.err, malformed + ":6:")) << "the diagnostic points at the bad line: " << describe(r);
  EXPECT_TRUE(contains(r.err, ": error: ")) << describe(r);
  EXPECT_TRUE(contains(r.out, malformed + ": malformed")) << describe(r);

  const std::string missing = (dir_ / "missing.amkir").string();
  r = verify(shellQuoted(missing));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  EXPECT_TRUE(contains(r.err + r.out, "missing.amkir")) << describe(r);
}

TEST_F(AmkVerify, QuietDropsVerdictLines) {
  CommandResult r = verify("-q " + shellQuoted(write("safe.amkir", kSafe)));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_EQ(r.out, "");
}

// ---- JSON -------------------------------------------------------------------------------------

TEST_F(AmkVerify, JsonReport) {
  const std::string safe = write("safe.amkir", kSafe);
  const std::string race = write("race.amkir", kRace);
  const std::string deadlock = write("deadlock.amkir", kDeadlock);
  const std::string malformed = write("malformed.amkir", kMalformed);
  CommandResult r = verify("--format json " + shellQuoted(safe) + " " + shellQuoted(race) + " " +
                           shellQuoted(deadlock) + " " + shellQuoted(malformed));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  json j = parsed(r);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("schema", ""), "amk-verify/1");
  EXPECT_TRUE(j.contains("checker"));
  ASSERT_TRUE(j["files"].is_array());
  ASSERT_EQ(j["files"].size(), 4u);
  const json &files = j["files"];
  EXPECT_EQ(files[0]["file"], safe);
  EXPECT_EQ(files[0]["verdict"], "safe");
  EXPECT_TRUE(files[0]["violations"].empty());
  EXPECT_EQ(files[0]["racesFound"], 0);
  EXPECT_TRUE(files[0]["stats"].is_object());

  EXPECT_EQ(files[1]["file"], race);
  EXPECT_EQ(files[1]["verdict"], "unsafe");
  EXPECT_EQ(files[1]["racesFound"], 1);
  ASSERT_EQ(files[1]["violations"].size(), 1u);
  const json &v = files[1]["violations"][0];
  EXPECT_EQ(v["rule"], "AMK-V004");
  EXPECT_EQ(v["name"], "race");
  ASSERT_TRUE(v["race"].is_object());
  EXPECT_EQ(v["race"]["first"]["block"], 0);
  EXPECT_EQ(v["race"]["first"]["range"]["line"], 7);
  EXPECT_EQ(v["race"]["second"]["block"], 1);
  EXPECT_EQ(v["race"]["second"]["range"]["line"], 12);
  EXPECT_EQ(v["race"]["overlap"]["buffer"], "x");
  EXPECT_EQ(v["race"]["overlap"]["lo"], json::array({0}));
  EXPECT_EQ(v["race"]["overlap"]["hi"], json::array({4}));
  EXPECT_TRUE(contains(v["race"].value("why", ""), "relaxed"));
  EXPECT_EQ(v["race"]["nearSignal"]["range"]["line"], 8);
  EXPECT_EQ(v["race"]["nearWait"]["range"]["line"], 11);

  EXPECT_EQ(files[2]["verdict"], "unsafe");
  ASSERT_EQ(files[2]["violations"].size(), 1u);
  const json &d = files[2]["violations"][0];
  EXPECT_EQ(d["rule"], "AMK-V003");
  EXPECT_EQ(d["deadlock"]["stuck"].size(), 3u);
  EXPECT_EQ(d["deadlock"]["cycle"].size(), 3u);
  EXPECT_TRUE(d["deadlock"]["finished"].empty());
  EXPECT_EQ(d["deadlock"]["stuck"][0]["counter"]["name"], "ready");
  EXPECT_EQ(d["deadlock"]["stuck"][0]["counter"]["finalValue"], 0);
  EXPECT_EQ(d["deadlock"]["stuck"][0]["counter"]["threshold"], 1);

  EXPECT_EQ(files[3]["verdict"], "malformed");
  EXPECT_FALSE(files[3]["diagnostics"].empty());
  EXPECT_FALSE(files[3].contains("violations"));
}

TEST_F(AmkVerify, JsonReportForAMissingFile) {
  CommandResult r = verify("--format json " + shellQuoted((dir_ / "missing.amkir").string()));
  EXPECT_EQ(r.exitCode, 2) << describe(r);
  json j = parsed(r);
  ASSERT_TRUE(j.is_object());
  ASSERT_EQ(j["files"].size(), 1u);
  EXPECT_NE(j["files"][0]["verdict"], "safe");
  EXPECT_NE(j["files"][0]["verdict"], "unsafe");
}

// ---- SARIF ------------------------------------------------------------------------------------

TEST_F(AmkVerify, Sarif) {
  const std::string race = write("race.amkir", kRace);
  const std::string deadlock = write("deadlock.amkir", kDeadlock);
  CommandResult r = verify("--format sarif " + shellQuoted(race) + " " + shellQuoted(deadlock));
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  json j = parsed(r);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["version"], "2.1.0");
  ASSERT_TRUE(j["runs"].is_array());
  ASSERT_EQ(j["runs"].size(), 1u);
  const json &run = j["runs"][0];
  EXPECT_EQ(run["tool"]["driver"]["name"], "amk-verify");
  std::set<std::string> ruleIds;
  for (const json &rule : run["tool"]["driver"]["rules"])
    ruleIds.insert(rule.value("id", ""));
  for (const char *id : {"AMK-V001", "AMK-V002", "AMK-V003", "AMK-V004"})
    EXPECT_TRUE(ruleIds.count(id)) << id;
  ASSERT_TRUE(run["results"].is_array());
  ASSERT_EQ(run["results"].size(), 2u);
  const json *raceResult = nullptr, *deadlockResult = nullptr;
  for (const json &result : run["results"]) {
    if (result["ruleId"] == "AMK-V004")
      raceResult = &result;
    if (result["ruleId"] == "AMK-V003")
      deadlockResult = &result;
    // ruleIndex points at the rule.
    ASSERT_TRUE(result.contains("ruleIndex"));
    EXPECT_EQ(run["tool"]["driver"]["rules"][result["ruleIndex"].get<size_t>()]["id"], result["ruleId"]);
    EXPECT_EQ(result["level"], "error");
    EXPECT_FALSE(result["message"].value("text", "").empty());
  }
  ASSERT_NE(raceResult, nullptr);
  ASSERT_NE(deadlockResult, nullptr);
  const json &location = (*raceResult)["locations"][0]["physicalLocation"];
  EXPECT_EQ(location["artifactLocation"]["uri"], race);
  EXPECT_EQ(location["region"]["startLine"], 12);
  EXPECT_EQ(location["region"]["startColumn"], 3);
  EXPECT_EQ((*deadlockResult)["locations"][0]["physicalLocation"]["region"]["startLine"], 8);

  // The race as a code flow: a thread flow for each block, naming the write, the signal, the wait
  // and the read.
  ASSERT_TRUE(raceResult->contains("codeFlows"));
  const json &threadFlows = (*raceResult)["codeFlows"][0]["threadFlows"];
  ASSERT_EQ(threadFlows.size(), 2u);
  std::set<int> lines;
  for (const json &flow : threadFlows)
    for (const json &step : flow["locations"])
      lines.insert(step["location"]["physicalLocation"]["region"]["startLine"].get<int>());
  EXPECT_EQ(lines, (std::set<int>{7, 8, 11, 12}));
  ASSERT_TRUE(raceResult->contains("relatedLocations"));
}

// ---- witnesses and dot ------------------------------------------------------------------------

TEST_F(AmkVerify, WitnessFiles) {
  const std::string safe = write("safe.amkir", kSafe);
  const std::string race = write("race.amkir", kRace);
  const std::string deadlock = write("deadlock.amkir", kDeadlock);
  const std::filesystem::path out = dir_ / "witnesses";
  CommandResult r = verify("--witness-out " + shellQuoted(out.string()) + " " + shellQuoted(safe) + " " +
                           shellQuoted(race) + " " + shellQuoted(deadlock));
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  EXPECT_FALSE(std::filesystem::exists(out / "safe.amkir.witness.json")) << "only rejected files get a witness";
  ASSERT_TRUE(std::filesystem::exists(out / "race.amkir.witness.json")) << describe(r);
  ASSERT_TRUE(std::filesystem::exists(out / "deadlock.amkir.witness.json")) << describe(r);

  json w = json::parse(readFile(out / "race.amkir.witness.json"), nullptr, false);
  ASSERT_FALSE(w.is_discarded());
  EXPECT_EQ(w["schema"], "amk-witness/1");
  EXPECT_EQ(w["file"], race);
  EXPECT_EQ(w["verdict"], "unsafe");
  EXPECT_EQ(w["grid"]["blocks"], 2);
  ASSERT_EQ(w["violations"].size(), 1u);
  EXPECT_EQ(w["violations"][0]["rule"], "AMK-V004");
  // The maximal execution: every instruction once, [block, index] pairs, in program order per block.
  ASSERT_TRUE(w["maximalExecution"].is_array());
  EXPECT_EQ(w["maximalExecution"].size(), 4u);
  std::vector<int> next(2, 0);
  for (const json &step : w["maximalExecution"]) {
    ASSERT_TRUE(step.is_array());
    ASSERT_EQ(step.size(), 2u);
    int block = step[0].get<int>();
    ASSERT_TRUE(block == 0 || block == 1);
    EXPECT_EQ(step[1].get<int>(), next[block]++);
  }
  // The relaxed signal (block 0) runs before the wait (block 1) passes.
  EXPECT_EQ(w["maximalExecution"][0], json::array({0, 0}));

  json dw = json::parse(readFile(out / "deadlock.amkir.witness.json"), nullptr, false);
  ASSERT_FALSE(dw.is_discarded());
  EXPECT_EQ(dw["schema"], "amk-witness/1");
  EXPECT_EQ(dw["violations"][0]["rule"], "AMK-V003");
  EXPECT_EQ(dw["maximalExecution"].size(), 3u) << "each block runs its first task, then is stuck";
}

TEST_F(AmkVerify, DotFile) {
  const std::string race = write("race.amkir", kRace);
  const std::filesystem::path dot = dir_ / "witness.dot";
  CommandResult r = verify("--dot " + shellQuoted(dot.string()) + " " + shellQuoted(race));
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  ASSERT_TRUE(std::filesystem::exists(dot)) << describe(r);
  std::string text = readFile(dot);
  EXPECT_EQ(text.rfind("digraph", 0), 0u) << text;
  EXPECT_TRUE(contains(text, "->")) << text;
  EXPECT_TRUE(contains(text, "race on x[0:4]")) << text;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_TRUE(contains(text, "}\n")) << text;

  const std::filesystem::path deadlockDot = dir_ / "deadlock.dot";
  r = verify("--dot " + shellQuoted(deadlockDot.string()) + " " + shellQuoted(write("deadlock.amkir", kDeadlock)));
  EXPECT_EQ(r.exitCode, 1) << describe(r);
  std::string deadlockText = readFile(deadlockDot);
  EXPECT_EQ(deadlockText.rfind("digraph", 0), 0u) << deadlockText;
  EXPECT_TRUE(contains(deadlockText, "waits for")) << deadlockText;
}

// ---- stats and jobs ---------------------------------------------------------------------------

TEST_F(AmkVerify, Stats) {
  const std::string safe = write("safe.amkir", kSafe);
  CommandResult r = verify("--stats " + shellQuoted(safe));
  EXPECT_EQ(r.exitCode, 0) << describe(r);
  EXPECT_TRUE(contains(r.out, safe + ": safe (3 blocks, 6 instructions)\n")) << describe(r);
  EXPECT_TRUE(contains(r.out, "  stats: 3 blocks, 6 instructions (6 executed), graph ")) << describe(r);
  EXPECT_TRUE(contains(r.out, "fixpoint rounds")) << describe(r);
  EXPECT_TRUE(contains(r.out, "sync 2)")) << "two guaranteed synchronizes-with edges: " << describe(r);
}

TEST_F(AmkVerify, JobsGiveTheSameOutput) {
  std::vector<std::string> files;
  for (int i = 0; i < 4; ++i) {
    files.push_back(write("safe" + std::to_string(i) + ".amkir", kSafe));
    files.push_back(write("race" + std::to_string(i) + ".amkir", kRace));
    files.push_back(write("deadlock" + std::to_string(i) + ".amkir", kDeadlock));
  }
  files.push_back(write("malformed.amkir", kMalformed));
  std::string arguments;
  for (const std::string &f : files)
    arguments += " " + shellQuoted(f);
  for (const char *format : {"text", "sarif"}) {
    CommandResult one = verify(std::string("--format ") + format + " --jobs 1" + arguments);
    CommandResult two = verify(std::string("--format ") + format + " --jobs 2" + arguments);
    CommandResult four = verify(std::string("--format ") + format + " -j 4" + arguments);
    EXPECT_EQ(one.exitCode, 2) << describe(one);
    EXPECT_EQ(two.exitCode, one.exitCode);
    EXPECT_EQ(two.out, one.out) << format;
    EXPECT_EQ(two.err, one.err) << format;
    EXPECT_EQ(four.out, one.out) << format;
    EXPECT_EQ(four.err, one.err) << format;
  }
  // JSON carries timings; everything else matches.
  auto withoutTimings = [](json j) {
    for (json &file : j["files"])
      if (file.contains("stats"))
        for (const char *key : {"progressSeconds", "happensBeforeSeconds", "conflictSeconds"})
          file["stats"].erase(key);
    return j;
  };
  CommandResult one = verify("--format json --jobs 1" + arguments);
  CommandResult two = verify("--format json --jobs 2" + arguments);
  json a = parsed(one), b = parsed(two);
  ASSERT_TRUE(a.is_object() && b.is_object());
  EXPECT_EQ(withoutTimings(a), withoutTimings(b));
  ASSERT_EQ(a["files"].size(), files.size());
  for (size_t i = 0; i < files.size(); ++i)
    EXPECT_EQ(a["files"][i]["file"], files[i]) << "files stay in command-line order";
}

} // namespace
} // namespace amk::test
