// amk-verify: certify AMKIR schedules deadlock-free and race-free, or print counterexamples.
#include "amk/checker/report.h"
#include "amk/checker/verify.h"
#include "amk/checker/verify_tool.h"
#include "amk/ir/frontend.h"
#include "amk/version.h"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char **argv) {
  try {
    amk::checker::ToolOptions options;
    CLI::App app{"amk-verify: certify AMKIR schedules deadlock-free and race-free"};
    app.set_version_flag("--version", std::string("amk-verify ") + AMK_VERSION);
    app.add_option("files", options.files, "schedule files")->required();
    app.add_option("--format", options.format, "text, json or sarif")->check(CLI::IsMember({"text", "json", "sarif"}));
    app.add_option("--witness-out", options.witnessDirectory, "write one JSON witness per rejected file here");
    app.add_option("--dot", options.dotFile, "write the witness subgraph of the first rejected file (Graphviz)");
    app.add_flag("--expect", options.expect,
                 "compare each file with its '# expect:' line; print a table; exit 1 on any mismatch");
    app.add_flag("--stats", options.stats, "print instructions, blocks, edges and time per phase");
    app.add_option("--jobs,-j", options.jobs, "files checked in parallel")->check(CLI::PositiveNumber);
    app.add_option("--max-races", options.maxRaces, "race violations reported per file (all are counted)");
    app.add_flag("-q,--quiet", options.quiet, "no verdict lines, only diagnostics");
    app.add_flag("--z3", options.z3,
                 "cross-check each well-formed file with the Z3 model of its executions; exit 101 if Z3 proves a "
                 "violation the checker missed, 3 if Z3 cannot decide a file the checker certified");
    app.add_option("--z3-timeout-ms", options.z3TimeoutMs, "time limit of one Z3 query (default 10000)")
        ->check(CLI::PositiveNumber);
    app.add_option("--z3-total-timeout-ms", options.z3TotalTimeoutMs, "time limit of Z3 per file (default 60000)")
        ->check(CLI::PositiveNumber);
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      return app.exit(e) == 0 ? 0 : 2;
    }
    switch (amk::checker::runVerifyTool(options, std::cout, std::cerr)) {
    case amk::checker::ToolOutcome::AllSafe:
      return 0;
    case amk::checker::ToolOutcome::SomeUnsafe:
      return 1;
    case amk::checker::ToolOutcome::InputError:
      return 2;
    case amk::checker::ToolOutcome::Inconclusive:
      return 3;
    case amk::checker::ToolOutcome::InternalError:
      return 101;
    }
    return 101;
  } catch (const std::exception &e) {
    std::cerr << "amk-verify: internal error: " << e.what() << "\n";
    return 101;
  }
}
