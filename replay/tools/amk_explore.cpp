// amk-explore: decide AMKIR schedules by exploring every execution (the oracle for amk-verify).
// Exit codes: 0 every file safe, 1 some file unsafe, 2 usage or a malformed/unreadable file,
// 3 some file unknown (state budget exhausted), 101 internal error. Precedence: 2, then 1, then 3.
#include "amk/ir/frontend.h"
#include "amk/replay/explorer.h"
#include "amk/replay/report.h"
#include "amk/version.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>

namespace {

enum ExitCode { kSafe = 0, kUnsafe = 1, kBadInput = 2, kUnknown = 3, kInternal = 101 };

int run(int argc, char **argv) {
  CLI::App app{"amk-explore: explicit-state exploration of AMKIR schedules"};
  app.set_version_flag("--version", std::string("amk-explore ") + AMK_VERSION);
  std::vector<std::string> files;
  amk::replay::ExploreOptions options;
  bool json = false;
  app.add_option("files", files, "schedule files (- for standard input)")->required();
  app.add_option("--budget", options.stateBudget, "states per exploration before the answer is unknown")
      ->check(CLI::PositiveNumber)
      ->default_val(options.stateBudget);
  app.add_option("--max-races", options.maxRaceWitnesses, "racing instruction pairs reported with an interleaving")
      ->default_val(options.maxRaceWitnesses);
  app.add_flag("--json", json, "one JSON object per file on standard output, with every witness interleaving");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    int code = app.exit(e);
    return code == 0 ? kSafe : kBadInput;
  }

  bool malformed = false, unsafe = false, unknown = false;
  for (const std::string &path : files) {
    amk::ir::Schedule schedule = amk::ir::loadSchedule(path);
    if (!schedule.program) {
      malformed = true;
      if (schedule.source)
        std::cerr << schedule.renderDiagnostics();
      else
        std::cerr << path << ": error: " << schedule.readError << "\n";
      if (json)
        std::cout << nlohmann::json{{"file", path}, {"verdict", "malformed"}}.dump() << "\n";
      else
        std::cout << path << ": malformed\n";
      continue;
    }
    amk::replay::ExploreResult result = amk::replay::explore(*schedule.program, options);
    unsafe |= result.outcome == amk::replay::Outcome::Unsafe;
    unknown |= result.outcome == amk::replay::Outcome::Unknown;
    if (json)
      std::cout << amk::replay::toJson(result, *schedule.program).dump() << "\n";
    else
      std::cout << amk::replay::renderText(result, *schedule.program, schedule.source.get());
  }
  if (malformed)
    return kBadInput;
  if (unsafe)
    return kUnsafe;
  return unknown ? kUnknown : kSafe;
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "amk-explore: internal error: " << e.what() << "\n";
    return kInternal;
  }
}
