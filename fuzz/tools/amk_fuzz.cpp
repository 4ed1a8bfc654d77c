// amk-fuzz: differential campaigns of the checker against the explorer and Z3, and schedule generation.
#include "fuzz/differential.h"
#include "fuzz/generator.h"

#include <CLI/CLI.hpp>

#include <iostream>
#include <unistd.h>

int main(int argc, char **argv) {
  try {
    CLI::App app{"amk-fuzz: random schedules, and the checker against its two oracles"};
    app.require_subcommand(1);
    amk::fuzz::DifferentialOptions options;
    bool quiet = false;
    CLI::App *differential = app.add_subcommand("differential", "checker vs explorer vs Z3 on random schedules");
    differential->add_option("--seed", options.firstSeed, "first seed (schedule i uses seed + i)");
    differential->add_option("--count", options.count, "schedules to compare");
    differential->add_flag("--no-z3{false}", options.useZ3, "skip the Z3 oracle");
    differential->add_option("--explorer-budget", options.explorerStateBudget, "explorer state budget per schedule");
    differential->add_option("--z3-timeout-ms", options.z3TimeoutMs, "Z3 time-out per query");
    differential->add_option("--regressions", options.regressionDirectory,
                             "write minimised false accepts here (e.g. corpus/regressions)");
    differential->add_flag("-q,--quiet", quiet, "no progress line");
    uint64_t generateSeed = 1;
    CLI::App *generate = app.add_subcommand("generate", "print the schedule of one seed");
    generate->add_option("--seed", generateSeed, "seed");
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      return app.exit(e) == 0 ? 0 : 2;
    }
    if (generate->parsed()) {
      amk::fuzz::Choices choices(generateSeed);
      std::cout << amk::fuzz::generateSchedule(choices);
      return 0;
    }
    bool showProgress = !quiet && isatty(STDERR_FILENO);
    amk::fuzz::DifferentialSummary summary = amk::fuzz::runDifferential(options, [&](uint64_t done, uint64_t total) {
      if (showProgress && (done % 50 == 0 || done == total))
        std::cerr << "\r" << done << " / " << total << " schedules" << (done == total ? "\n" : "") << std::flush;
    });
    std::cout << amk::fuzz::summaryTable(summary);
    if (summary.falseAccepts > 0 || summary.oracleDisagreements > 0)
      return 1;
    return 0;
  } catch (const std::exception &e) {
    std::cerr << "amk-fuzz: internal error: " << e.what() << "\n";
    return 101;
  }
}
