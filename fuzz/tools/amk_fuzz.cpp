// amk-fuzz: adversarial campaigns on real lowerings (mutation operators, oracle labels, minimised
// counterexamples), differential campaigns of the checker against the explorer and Z3 on generated
// schedules, and the small tools around them (one mutant, the explicit form, the minimiser).
#include "amk/fuzz/campaign.h"
#include "amk/fuzz/differential.h"
#include "amk/fuzz/explicit.h"
#include "amk/fuzz/generator.h"
#include "amk/fuzz/minimise.h"
#include "amk/fuzz/mutation.h"
#include "amk/ir/frontend.h"
#include "amk/version.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

namespace {

std::vector<std::string> defaultSources() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto &entry : std::filesystem::directory_iterator("corpus/lowerings", ec))
    if (entry.path().extension() == ".amkir")
      out.push_back(entry.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

int writeOrPrint(const std::string &path, const std::string &text) {
  if (path.empty() || path == "-") {
    std::cout << text;
    return 0;
  }
  std::ofstream out(path);
  out << text;
  if (!out) {
    std::cerr << "amk-fuzz: cannot write " << path << "\n";
    return 2;
  }
  return 0;
}

// Loads a well-formed schedule or explains why not (exit code 2).
std::optional<amk::ir::Schedule> loadWellFormed(const std::string &path) {
  amk::ir::Schedule schedule = amk::ir::loadSchedule(path);
  if (!schedule.source) {
    std::cerr << "amk-fuzz: " << schedule.readError << "\n";
    return std::nullopt;
  }
  if (!schedule.program) {
    std::cerr << schedule.renderDiagnostics();
    return std::nullopt;
  }
  return schedule;
}

// Each subcommand: its options, registered on the app by add(), and run() once it is the one parsed,
// returning the exit code.

struct DifferentialCommand {
  amk::fuzz::DifferentialOptions options;
  bool quiet = false;
  CLI::App *command = nullptr;

  void add(CLI::App &app) {
    command = app.add_subcommand("differential", "checker vs explorer vs Z3 on random schedules");
    command->add_option("--seed", options.firstSeed, "first seed (schedule i uses seed + i)");
    command->add_option("--count", options.count, "schedules to compare");
    command->add_flag("--no-z3{false}", options.useZ3, "skip the Z3 oracle");
    command->add_option("--explorer-budget", options.explorerStateBudget, "explorer state budget per schedule");
    command->add_option("--z3-timeout-ms", options.z3TimeoutMs, "Z3 time-out per query");
    command->add_option("--regressions", options.regressionDirectory,
                        "write minimised false accepts here (e.g. corpus/regressions)");
    command->add_flag("-q,--quiet", quiet, "no progress line");
  }

  int run() const {
    const bool showProgress = !quiet && isatty(STDERR_FILENO);
    amk::fuzz::DifferentialSummary summary = amk::fuzz::runDifferential(options, [&](uint64_t done, uint64_t total) {
      if (showProgress && (done % 50 == 0 || done == total))
        std::cerr << "\r" << done << " / " << total << " schedules" << (done == total ? "\n" : "") << std::flush;
    });
    std::cout << amk::fuzz::summaryTable(summary);
    if (summary.falseAccepts > 0 || summary.oracleDisagreements > 0)
      return 1;
    return 0;
  }
};

struct GenerateCommand {
  uint64_t seed = 1;
  CLI::App *command = nullptr;

  void add(CLI::App &app) {
    command = app.add_subcommand("generate", "print the schedule of one seed");
    command->add_option("--seed", seed, "seed");
  }

  int run() const {
    amk::fuzz::Choices choices(seed);
    std::cout << amk::fuzz::generateSchedule(choices);
    return 0;
  }
};

struct CampaignCommand {
  amk::fuzz::CampaignOptions options;
  std::string jsonPath;
  int64_t replayAttempt = -1;
  bool noExplorer = false, noZ3 = false, quiet = false;
  CLI::App *command = nullptr;

  void add(CLI::App &app) {
    command = app.add_subcommand(
        "campaign", "mutate real lowerings, label every distinct mutant by an oracle, compare with the checker");
    command->add_option("sources", options.sources, "lowerings to mutate (default: corpus/lowerings/*.amkir)");
    command->add_option("--seed", options.seed, "campaign seed");
    command->add_option("--count", options.count, "distinct well-formed mutants to label");
    command->add_option("--operators", options.operators, "only these operators (ids, see 'operators')");
    command->add_option("--explorer-budget", options.oracle.explorerBudget, "explorer states per mutant");
    command->add_flag("--no-explorer", noExplorer, "label by Z3 only");
    command->add_flag("--no-z3", noZ3, "never run Z3 (explorer unknowns stay inconclusive)");
    command->add_flag("--z3-always", options.oracle.z3Always, "also run Z3 where the explorer decided (cross-check)");
    command->add_option("--z3-timeout-ms", options.oracle.z3QueryTimeoutMs, "Z3 time-out per query");
    command->add_option("--z3-total-ms", options.oracle.z3TotalTimeoutMs, "Z3 time-out per mutant");
    command->add_option("--max-attempts-per-mutant", options.maxAttemptsPerMutant,
                        "give up after count x this many attempts");
    command->add_option("--json", jsonPath, "write the table as JSON here");
    command->add_option("--adversarial", options.adversarialDirectory,
                        "write one minimised true positive per operator and rule set here (e.g. corpus/adversarial)");
    command->add_option("--regressions", options.regressionDirectory,
                        "write minimised false accepts here (e.g. corpus/regressions)");
    command->add_option("--false-rejects", options.falseRejectDirectory, "write false rejects here, as is");
    command->add_option("--replay", replayAttempt, "print the mutant of this attempt and stop");
    command->add_flag("-q,--quiet", quiet, "no progress line");
  }

  int run() {
    if (options.sources.empty())
      options.sources = defaultSources();
    if (options.sources.empty()) {
      std::cerr << "amk-fuzz: no sources (give lowerings, or run from the repository root with corpus/lowerings)\n";
      return 2;
    }
    options.oracle.useExplorer = !noExplorer;
    options.oracle.z3WhenUndecided = !noZ3;
    if (replayAttempt >= 0)
      return replay();
    const bool showProgress = !quiet && isatty(STDERR_FILENO);
    amk::fuzz::CampaignResult result =
        amk::fuzz::runCampaign(options, [&](uint64_t done, uint64_t total, uint64_t attempts) {
          if (showProgress && (done % 25 == 0 || done == total))
            std::cerr << "\r" << done << " / " << total << " mutants (" << attempts << " attempts)"
                      << (done == total ? "\n" : "") << std::flush;
        });
    if (showProgress)
      std::cerr << "\n";
    std::cout << amk::fuzz::campaignTable(result);
    if (!jsonPath.empty() && writeOrPrint(jsonPath, amk::fuzz::campaignJson(result).dump(2) + "\n") != 0)
      return 2;
    return result.passed() ? 0 : 1;
  }

  // Prints the mutant of one attempt, as the campaign would make it.
  int replay() const {
    std::string description;
    std::optional<std::string> text =
        amk::fuzz::campaignMutant(options, static_cast<uint64_t>(replayAttempt), description);
    if (!text) {
      std::cerr << "amk-fuzz: attempt " << replayAttempt << " made no mutant\n";
      return 1;
    }
    std::cout << *text;
    return 0;
  }
};

struct MutateCommand {
  std::string file, operatorId, output;
  uint64_t seed = 1;
  CLI::App *command = nullptr;

  void add(CLI::App &app) {
    command = app.add_subcommand("mutate", "apply one mutation operator to a schedule");
    command->add_option("file", file, "schedule")->required();
    command->add_option("--operator", operatorId, "operator id")->required();
    command->add_option("--seed", seed, "seed of the operator's choices");
    command->add_option("-o,--output", output, "write the mutant here (default: standard output)");
  }

  int run() const {
    const amk::fuzz::MutationOperator *op = amk::fuzz::findMutationOperator(operatorId);
    if (!op) {
      std::cerr << "amk-fuzz: unknown operator '" << operatorId << "' (see amk-fuzz operators)\n";
      return 2;
    }
    std::optional<amk::ir::Schedule> schedule = loadWellFormed(file);
    if (!schedule)
      return 2;
    amk::fuzz::Choices choices(seed);
    std::optional<amk::fuzz::Mutation> mutation =
        amk::fuzz::mutate(amk::fuzz::explicitForm(*schedule->program), *op, choices);
    if (!mutation) {
      std::cerr << "amk-fuzz: " << op->id << " does not apply to " << file << "\n";
      return 1;
    }
    return writeOrPrint(
        output, amk::fuzz::printExplicit(mutation->schedule, {std::string(op->id) + " on " + file + " (seed " +
                                                              std::to_string(seed) + "): " + mutation->description}));
  }
};

struct OperatorsCommand {
  CLI::App *command = nullptr;

  void add(CLI::App &app) {
    command = app.add_subcommand("operators", "list the mutation operators and the bugs they model");
  }

  int run() const {
    for (const amk::fuzz::MutationOperator &op : amk::fuzz::mutationOperators())
      std::cout << op.id << "\n  edit: " << op.summary << "\n  models: " << op.models << "\n";
    return 0;
  }
};

struct ExplicitCommand {
  std::string file, output;
  CLI::App *command = nullptr;

  void add(CLI::App &app) {
    command =
        app.add_subcommand("explicit", "print a schedule's explicit form (one section per block, loops unrolled)");
    command->add_option("file", file, "schedule")->required();
    command->add_option("-o,--output", output, "write it here (default: standard output)");
  }

  int run() const {
    std::optional<amk::ir::Schedule> schedule = loadWellFormed(file);
    if (!schedule)
      return 2;
    return writeOrPrint(output, amk::fuzz::printExplicit(amk::fuzz::explicitForm(*schedule->program)));
  }
};

struct MinimiseCommand {
  std::string file, output;
  bool confirm = false;
  CLI::App *command = nullptr;

  void add(CLI::App &app) {
    command = app.add_subcommand(
        "minimise", "shrink a rejected schedule, keeping the checker's rules (and, with --confirm, the explorer's)");
    command->add_option("file", file, "schedule the checker rejects")->required();
    command->add_flag("--confirm", confirm, "keep only shrinks the explorer confirms with the same rules");
    command->add_option("-o,--output", output, "write it here (default: standard output)");
  }

  int run() const {
    std::optional<amk::ir::Schedule> schedule = loadWellFormed(file);
    if (!schedule)
      return 2;
    std::set<std::string> rules = amk::fuzz::checkerRules(*schedule->program);
    if (rules.empty()) {
      std::cerr << "amk-fuzz: " << file << " is certified safe: nothing to minimise\n";
      return 2;
    }
    amk::fuzz::SchedulePredicate keeps =
        confirm ? amk::fuzz::confirmedUnsafeWith(rules) : amk::fuzz::checkerRejectsWith(rules);
    amk::fuzz::ExplicitSchedule start = amk::fuzz::explicitForm(*schedule->program);
    if (!keeps(start)) {
      std::cerr << "amk-fuzz: the explorer does not confirm " << amk::fuzz::ruleList(rules) << " on " << file << "\n";
      return 1;
    }
    amk::fuzz::MinimiseStats stats;
    amk::fuzz::ExplicitSchedule small = amk::fuzz::minimiseSchedule(start, keeps, 20'000, &stats);
    std::cerr << "minimised " << stats.instructionsBefore << " -> " << stats.instructionsAfter << " instructions, "
              << stats.blocksBefore << " -> " << stats.blocksAfter << " blocks (" << stats.tests << " tests)\n";
    std::string text = amk::fuzz::printExplicit(
        small, {"expect: unsafe " + amk::fuzz::ruleList(rules),
                "minimised from " + file + " by amk-fuzz minimise" + (confirm ? " --confirm" : "")});
    return writeOrPrint(output, amk::fuzz::canonicalText(text).value_or(text));
  }
};

} // namespace

int main(int argc, char **argv) {
  try {
    CLI::App app{"amk-fuzz: adversarial and differential campaigns for the AMKIR checker"};
    app.set_version_flag("--version", std::string("amk-fuzz ") + AMK_VERSION);
    app.require_subcommand(1);
    DifferentialCommand differential;
    GenerateCommand generate;
    CampaignCommand campaign;
    MutateCommand mutate;
    OperatorsCommand operators;
    ExplicitCommand explicitForm;
    MinimiseCommand minimise;
    // In this order in the help.
    differential.add(app);
    generate.add(app);
    campaign.add(app);
    mutate.add(app);
    operators.add(app);
    explicitForm.add(app);
    minimise.add(app);
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      return app.exit(e) == 0 ? 0 : 2;
    }

    if (generate.command->parsed())
      return generate.run();
    if (operators.command->parsed())
      return operators.run();
    if (explicitForm.command->parsed())
      return explicitForm.run();
    if (mutate.command->parsed())
      return mutate.run();
    if (minimise.command->parsed())
      return minimise.run();
    if (campaign.command->parsed())
      return campaign.run();
    return differential.run();
  } catch (const std::invalid_argument &e) {
    std::cerr << "amk-fuzz: " << e.what() << "\n";
    return 2;
  } catch (const std::exception &e) {
    std::cerr << "amk-fuzz: internal error: " << e.what() << "\n";
    return 101;
  }
}
