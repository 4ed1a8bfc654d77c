// amk-verify's reports: clang-style text, a versioned JSON document, SARIF 2.1.0, replayable witness
// files and a Graphviz view of a witness. The tool's main is a thin shell over runVerifyTool.
#pragma once

#include "checker/verdict.h"
#include "ir/frontend.h"

#include <nlohmann/json_fwd.hpp>

#include <iosfwd>
#include <string>
#include <vector>

namespace amk::checker {

inline constexpr const char *kJsonSchema = "amk-verify/1";
inline constexpr const char *kWitnessSchema = "amk-witness/1";

struct ToolOptions {
  std::vector<std::string> files;
  std::string format = "text";
  std::string witnessDirectory;
  std::string dotFile;
  bool stats = false;
  bool expect = false; // compare each file with its "# expect:" line and print a verdict table
  bool quiet = false;
  unsigned jobs = 1;
  size_t maxRaces = 10;
};

// The outcome over all files; main maps it to the exit code (0, 1, 2, 3).
enum class ToolOutcome { AllSafe, SomeUnsafe, InputError, Inconclusive };

ToolOutcome runVerifyTool(const ToolOptions &options, std::ostream &out, std::ostream &err);

// One checked file: what the front end and the checker said.
struct FileResult {
  ir::Schedule schedule;
  std::optional<Verdict> verdict; // set when the schedule was well-formed
};

nlohmann::json witnessJson(const FileResult &result);
nlohmann::json reportJson(const std::vector<FileResult> &results);
nlohmann::json sarifJson(const std::vector<FileResult> &results);
std::string witnessDot(const FileResult &result);
std::string contentHash(const std::string &text); // FNV-1a 64, hex

// The verdict a corpus file states on its "# expect:" line ("safe", "unsafe AMK-V003, AMK-V004",
// "malformed AMK-P001"), normalised; empty when the file has none.
std::string expectedVerdict(const std::string &text);
// The same form for what the tools concluded.
std::string actualVerdict(const FileResult &result);

} // namespace amk::checker
