// amk-plan: lower a HF Llama config to an AMKIR decode-step schedule, or the whole matrix of models,
// targets and strategies, each lowering verified by the checker.
#include "amk/checker/verify.h"
#include "amk/ir/frontend.h"
#include "amk/lowering/matrix.h"
#include "amk/lowering/plan.h"
#include "amk/version.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

namespace {

using namespace amk;

lowering::VerifyOutcome verifySchedule(const std::string &name, const std::string &text) {
  auto start = std::chrono::steady_clock::now();
  lowering::VerifyOutcome outcome;
  ir::Schedule schedule = ir::parseSchedule(name, text);
  if (!schedule.wellFormed()) {
    outcome.verdict = "malformed\n" + schedule.renderDiagnostics();
  } else {
    checker::Verdict verdict = checker::verify(*schedule.program);
    outcome.instructions = static_cast<int64_t>(schedule.program->instructionCount());
    outcome.accepted = verdict.safe();
    outcome.verdict = "safe";
    if (!verdict.safe()) {
      outcome.verdict = "unsafe";
      for (const checker::Violation &v : verdict.violations)
        outcome.verdict += std::string("\n  [") + checker::ruleId(v.rule) + "] " + v.message;
    }
  }
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return outcome;
}

// The command line: one lowering (config, --target and its knobs) or the whole matrix (--matrix).
struct Arguments {
  std::string config, strategyName = "fused", weightsName = "model", targetName, outputFile, matrixDirectory;
  lowering::PlanOptions plan;
  lowering::MatrixOptions matrix;
  bool quiet = false, noVerify = false;

  void add(CLI::App &app) {
    app.add_option("config", config, "checkpoint directory or config.json");
    app.add_option("--strategy,-s", strategyName, "one of " + lowering::strategyNamesText() + " (default fused)")
        ->check(CLI::IsMember(lowering::allStrategyNames()));
    app.add_option("--weights", weightsName,
                   "projection weights: model (the checkpoint's dtype) or int8 (W8A16, quantised at load time)")
        ->check(CLI::IsMember({"model", "int8"}));
    app.add_option("--target,-t", targetName, "a100, l4, l40s, h100, rtx5090, or sm_80/sm_89/sm_90/sm_120");
    app.add_option("--blocks,-b", plan.blocks, "blocks in the grid (default: one per SM)");
    app.add_option("--rows,-r", plan.rowsPerTile, "rows of a weight matrix per task (rounded down to a divisor)");
    app.add_option("--splits", plan.splits, "KV position splits (splitkv)");
    app.add_option("--threads", plan.threads, "threads per block (a multiple of 32, default 256)");
    app.add_option("--context", plan.context, "KV cache positions (default: max_position_embeddings, at most 4096)");
    app.add_option("-o,--output", outputFile, "write the schedule here (default: standard output)");
    app.add_flag("--no-verify", noVerify, "do not run the checker on the schedule");
    app.add_option("--matrix", matrixDirectory,
                   "plan and verify the whole matrix, writing schedules and a summary here");
    app.add_option("--models", matrix.modelsDirectory, "matrix: folder of model folders (default: models)");
    app.add_option("--model", matrix.models, "matrix: only these model folders");
    app.add_option("--matrix-target", matrix.targets, "matrix: only these targets");
    app.add_option("--jobs,-j", matrix.jobs, "matrix: lowerings planned and verified in parallel")
        ->check(CLI::PositiveNumber);
    app.add_flag("-q,--quiet", quiet, "matrix: no progress line");
  }
};

// Plans and verifies every lowering of the matrix; 0 when all are accepted.
int planMatrix(Arguments &args) {
  args.matrix.outputDirectory = args.matrixDirectory;
  bool showProgress = !args.quiet && isatty(STDERR_FILENO);
  lowering::MatrixSummary summary =
      lowering::runMatrix(args.matrix, verifySchedule, [&](size_t done, size_t total, const lowering::MatrixRow &row) {
        if (showProgress)
          std::cerr << "\r\033[K[" << done << "/" << total << "] " << row.model << " " << row.target << " "
                    << row.variant << (done == total ? "\n" : "") << std::flush;
      });
  std::string table = summary.table();
  std::cout << table;
  std::ofstream(std::filesystem::path(args.matrixDirectory) / "summary.txt") << table;
  std::ofstream(std::filesystem::path(args.matrixDirectory) / "summary.json") << summary.json();
  return summary.accepted() == summary.lowerings() && summary.modelErrors.empty() && summary.lowerings() > 0 ? 0 : 1;
}

// The knobs of one lowering, checked: an exit code where they do not make one.
std::optional<int> resolvePlanOptions(Arguments &args) {
  if (args.config.empty() || args.targetName.empty()) {
    std::cerr << "amk-plan: give a config (checkpoint directory or config.json) and --target, or --matrix DIR\n";
    return 2;
  }
  std::optional<lowering::Target> target = lowering::findTarget(args.targetName);
  if (!target) {
    std::cerr << "amk-plan: unknown target '" << args.targetName << "' (known: a100, l4, l40s, h100, rtx5090, sm_80, "
              << "sm_89, sm_90, sm_120)\n";
    return 2;
  }
  args.plan.target = *target;
  args.plan.strategy = *lowering::parseStrategy(args.strategyName);
  args.plan.weights = *lowering::parseWeightFormat(args.weightsName);
  return std::nullopt;
}

// Plans one model's schedule, verifies it unless --no-verify, and writes it out.
int planOne(Arguments &args) {
  if (std::optional<int> exitCode = resolvePlanOptions(args))
    return *exitCode;
  Result<model::ModelConfig> model = model::loadModelConfig(args.config);
  if (!model.ok()) {
    std::cerr << model.error().render();
    return 2;
  }
  Result<lowering::Plan> result = lowering::planSchedule(*model, args.plan);
  if (!result) {
    std::cerr << "amk-plan: " << result.error().message << "\n";
    return result.error().message.starts_with("internal error") ? 101 : 2;
  }
  if (!args.noVerify) {
    lowering::VerifyOutcome outcome = verifySchedule(model->name + ".amkir", result->text);
    if (!outcome.accepted) {
      std::cerr << "amk-plan: internal error: the checker rejects the planned schedule: " << outcome.verdict << "\n";
      return 101;
    }
  }
  if (args.outputFile.empty()) {
    std::cout << result->text;
    return 0;
  }
  std::ofstream out(args.outputFile, std::ios::binary);
  out << result->text;
  if (!out) {
    std::cerr << "amk-plan: " << args.outputFile << ": cannot write\n";
    return 2;
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  try {
    CLI::App app{"amk-plan: lower a HuggingFace Llama config.json to an AMKIR decode-step schedule"};
    app.set_version_flag("--version", std::string("amk-plan ") + AMK_VERSION);
    Arguments args;
    args.add(app);
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      return app.exit(e) == 0 ? 0 : 2;
    }
    return args.matrixDirectory.empty() ? planOne(args) : planMatrix(args);
  } catch (const std::exception &e) {
    std::cerr << "amk-plan: internal error: " << e.what() << "\n";
    return 101;
  }
}
