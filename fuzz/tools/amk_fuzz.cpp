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

} // namespace

int main(int argc, char **argv) {
  try {
    CLI::App app{"amk-fuzz: adversarial and differential campaigns for the AMKIR checker"};
    app.set_version_flag("--version", std::string("amk-fuzz ") + AMK_VERSION);
    app.require_subcommand(1);
    bool quiet = false;

    amk::fuzz::DifferentialOptions differentialOptions;
    CLI::App *differential = app.add_subcommand("differential", "checker vs explorer vs Z3 on random schedules");
    differential->add_option("--seed", differentialOptions.firstSeed, "first seed (schedule i uses seed + i)");
    differential->add_option("--count", differentialOptions.count, "schedules to compare");
    differential->add_flag("--no-z3{false}", differentialOptions.useZ3, "skip the Z3 oracle");
    differential->add_option("--explorer-budget", differentialOptions.explorerStateBudget,
                             "explorer state budget per schedule");
    differential->add_option("--z3-timeout-ms", differentialOptions.z3TimeoutMs, "Z3 time-out per query");
    differential->add_option("--regressions", differentialOptions.regressionDirectory,
                             "write minimised false accepts here (e.g. corpus/regressions)");
    differential->add_flag("-q,--quiet", quiet, "no progress line");

    uint64_t generateSeed = 1;
    CLI::App *generate = app.add_subcommand("generate", "print the schedule of one seed");
    generate->add_option("--seed", generateSeed, "seed");

    amk::fuzz::CampaignOptions campaignOptions;
    std::string jsonPath;
    int64_t replayAttempt = -1;
    bool noExplorer = false, noZ3 = false;
    CLI::App *campaign = app.add_subcommand(
        "campaign", "mutate real lowerings, label every distinct mutant by an oracle, compare with the checker");
    campaign->add_option("sources", campaignOptions.sources, "lowerings to mutate (default: corpus/lowerings/*.amkir)");
    campaign->add_option("--seed", campaignOptions.seed, "campaign seed");
    campaign->add_option("--count", campaignOptions.count, "distinct well-formed mutants to label");
    campaign->add_option("--operators", campaignOptions.operators, "only these operators (ids, see 'operators')");
    campaign->add_option("--explorer-budget", campaignOptions.oracle.explorerBudget, "explorer states per mutant");
    campaign->add_flag("--no-explorer", noExplorer, "label by Z3 only");
    campaign->add_flag("--no-z3", noZ3, "never run Z3 (explorer unknowns stay inconclusive)");
    campaign->add_flag("--z3-always", campaignOptions.oracle.z3Always,
                       "also run Z3 where the explorer decided (cross-check)");
    campaign->add_option("--z3-timeout-ms", campaignOptions.oracle.z3QueryTimeoutMs, "Z3 time-out per query");
    campaign->add_option("--z3-total-ms", campaignOptions.oracle.z3TotalTimeoutMs, "Z3 time-out per mutant");
    campaign->add_option("--max-attempts-per-mutant", campaignOptions.maxAttemptsPerMutant,
                         "give up after count x this many attempts");
    campaign->add_option("--json", jsonPath, "write the table as JSON here");
    campaign->add_option("--adversarial", campaignOptions.adversarialDirectory,
                         "write one minimised true positive per operator and rule set here (e.g. corpus/adversarial)");
    campaign->add_option("--regressions", campaignOptions.regressionDirectory,
                         "write minimised false accepts here (e.g. corpus/regressions)");
    campaign->add_option("--false-rejects", campaignOptions.falseRejectDirectory, "write false rejects here, as is");
    campaign->add_option("--replay", replayAttempt, "print the mutant of this attempt and stop");
    campaign->add_flag("-q,--quiet", quiet, "no progress line");

    std::string mutateFile, mutateOperator, mutateOutput;
    uint64_t mutateSeed = 1;
    CLI::App *mutateCommand = app.add_subcommand("mutate", "apply one mutation operator to a schedule");
    mutateCommand->add_option("file", mutateFile, "schedule")->required();
    mutateCommand->add_option("--operator", mutateOperator, "operator id")->required();
    mutateCommand->add_option("--seed", mutateSeed, "seed of the operator's choices");
    mutateCommand->add_option("-o,--output", mutateOutput, "write the mutant here (default: standard output)");

    CLI::App *operators = app.add_subcommand("operators", "list the mutation operators and the bugs they model");

    std::string explicitFile, explicitOutput;
    CLI::App *explicitCommand =
        app.add_subcommand("explicit", "print a schedule's explicit form (one section per block, loops unrolled)");
    explicitCommand->add_option("file", explicitFile, "schedule")->required();
    explicitCommand->add_option("-o,--output", explicitOutput, "write it here (default: standard output)");

    std::string minimiseFile, minimiseOutput;
    bool confirm = false;
    CLI::App *minimiseCommand = app.add_subcommand(
        "minimise", "shrink a rejected schedule, keeping the checker's rules (and, with --confirm, the explorer's)");
    minimiseCommand->add_option("file", minimiseFile, "schedule the checker rejects")->required();
    minimiseCommand->add_flag("--confirm", confirm, "keep only shrinks the explorer confirms with the same rules");
    minimiseCommand->add_option("-o,--output", minimiseOutput, "write it here (default: standard output)");

    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      return app.exit(e) == 0 ? 0 : 2;
    }
    bool showProgress = !quiet && isatty(STDERR_FILENO);

    if (generate->parsed()) {
      amk::fuzz::Choices choices(generateSeed);
      std::cout << amk::fuzz::generateSchedule(choices);
      return 0;
    }

    if (operators->parsed()) {
      for (const amk::fuzz::MutationOperator &op : amk::fuzz::mutationOperators())
        std::cout << op.id << "\n  edit: " << op.summary << "\n  models: " << op.models << "\n";
      return 0;
    }

    if (explicitCommand->parsed()) {
      std::optional<amk::ir::Schedule> schedule = loadWellFormed(explicitFile);
      if (!schedule)
        return 2;
      return writeOrPrint(explicitOutput, amk::fuzz::printExplicit(amk::fuzz::explicitForm(*schedule->program)));
    }

    if (mutateCommand->parsed()) {
      const amk::fuzz::MutationOperator *op = amk::fuzz::findMutationOperator(mutateOperator);
      if (!op) {
        std::cerr << "amk-fuzz: unknown operator '" << mutateOperator << "' (see amk-fuzz operators)\n";
        return 2;
      }
      std::optional<amk::ir::Schedule> schedule = loadWellFormed(mutateFile);
      if (!schedule)
        return 2;
      amk::fuzz::Choices choices(mutateSeed);
      std::optional<amk::fuzz::Mutation> mutation =
          amk::fuzz::mutate(amk::fuzz::explicitForm(*schedule->program), *op, choices);
      if (!mutation) {
        std::cerr << "amk-fuzz: " << op->id << " does not apply to " << mutateFile << "\n";
        return 1;
      }
      return writeOrPrint(
          mutateOutput,
          amk::fuzz::printExplicit(mutation->schedule, {std::string(op->id) + " on " + mutateFile + " (seed " +
                                                        std::to_string(mutateSeed) + "): " + mutation->description}));
    }

    if (minimiseCommand->parsed()) {
      std::optional<amk::ir::Schedule> schedule = loadWellFormed(minimiseFile);
      if (!schedule)
        return 2;
      std::set<std::string> rules = amk::fuzz::checkerRules(*schedule->program);
      if (rules.empty()) {
        std::cerr << "amk-fuzz: " << minimiseFile << " is certified safe: nothing to minimise\n";
        return 2;
      }
      amk::fuzz::SchedulePredicate keeps =
          confirm ? amk::fuzz::confirmedUnsafeWith(rules) : amk::fuzz::checkerRejectsWith(rules);
      amk::fuzz::ExplicitSchedule start = amk::fuzz::explicitForm(*schedule->program);
      if (!keeps(start)) {
        std::cerr << "amk-fuzz: the explorer does not confirm " << amk::fuzz::ruleList(rules) << " on " << minimiseFile
                  << "\n";
        return 1;
      }
      amk::fuzz::MinimiseStats stats;
      amk::fuzz::ExplicitSchedule small = amk::fuzz::minimiseSchedule(start, keeps, 20'000, &stats);
      std::cerr << "minimised " << stats.instructionsBefore << " -> " << stats.instructionsAfter << " instructions, "
                << stats.blocksBefore << " -> " << stats.blocksAfter << " blocks (" << stats.tests << " tests)\n";
      std::string text = amk::fuzz::printExplicit(
          small, {"expect: unsafe " + amk::fuzz::ruleList(rules),
                  "minimised from " + minimiseFile + " by amk-fuzz minimise" + (confirm ? " --confirm" : "")});
      return writeOrPrint(minimiseOutput, amk::fuzz::canonicalText(text).value_or(text));
    }

    if (campaign->parsed()) {
      if (campaignOptions.sources.empty())
        campaignOptions.sources = defaultSources();
      if (campaignOptions.sources.empty()) {
        std::cerr << "amk-fuzz: no sources (give lowerings, or run from the repository root with corpus/lowerings)\n";
        return 2;
      }
      campaignOptions.oracle.useExplorer = !noExplorer;
      campaignOptions.oracle.z3WhenUndecided = !noZ3;
      if (replayAttempt >= 0) {
        std::string description;
        std::optional<std::string> text =
            amk::fuzz::campaignMutant(campaignOptions, static_cast<uint64_t>(replayAttempt), description);
        if (!text) {
          std::cerr << "amk-fuzz: attempt " << replayAttempt << " made no mutant\n";
          return 1;
        }
        std::cout << *text;
        return 0;
      }
      amk::fuzz::CampaignResult result =
          amk::fuzz::runCampaign(campaignOptions, [&](uint64_t done, uint64_t total, uint64_t attempts) {
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

    amk::fuzz::DifferentialSummary summary =
        amk::fuzz::runDifferential(differentialOptions, [&](uint64_t done, uint64_t total) {
          if (showProgress && (done % 50 == 0 || done == total))
            std::cerr << "\r" << done << " / " << total << " schedules" << (done == total ? "\n" : "") << std::flush;
        });
    std::cout << amk::fuzz::summaryTable(summary);
    if (summary.falseAccepts > 0 || summary.oracleDisagreements > 0)
      return 1;
    return 0;
  } catch (const std::invalid_argument &e) {
    std::cerr << "amk-fuzz: " << e.what() << "\n";
    return 2;
  } catch (const std::exception &e) {
    std::cerr << "amk-fuzz: internal error: " << e.what() << "\n";
    return 101;
  }
}
