#include "amk/megakernel/tune.h"

#include "amk/ir/frontend.h"
#include "amk/lowering/plan.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace amk::megakernel {

namespace {

enum class Status { Timed, Unplannable, Rejected, Failed, WrongTokens };

const char *statusName(Status s) {
  switch (s) {
  case Status::Timed:
    return "timed";
  case Status::Unplannable:
    return "unplannable";
  case Status::Rejected:
    return "rejected by the checker";
  case Status::Failed:
    return "failed";
  case Status::WrongTokens:
    return "wrong tokens";
  }
  return "?";
}

struct Candidate {
  lowering::PlanOptions plan;
  std::string label;
  Status status = Status::Failed;
  std::string note;
  std::string text; // canonical schedule, when planned
  double medianUs = 0, p10Us = 0, p90Us = 0, certifySeconds = 0;
};

std::string label(const lowering::PlanOptions &p) {
  std::string s = std::string(lowering::strategyName(p.strategy)) + " rows=" + std::to_string(p.rowsPerTile) +
                  " threads=" + std::to_string(p.threads);
  if (p.strategy == lowering::Strategy::SplitKv)
    s += " splits=" + std::to_string(p.splits);
  if (p.blocks != 0)
    s += " blocks=" + std::to_string(p.blocks);
  return s;
}

} // namespace

TuneOutcome runTune(const TuneOptions &options, const Certifier &certify, std::ostream &out, std::ostream &err) {
  Result<model::Checkpoint> checkpoint = model::Checkpoint::open(options.modelDirectory);
  if (!checkpoint) {
    err << checkpoint.error().render() << "\n";
    return TuneOutcome::InputError;
  }
  std::optional<lowering::Target> target = lowering::findTarget(options.target);
  if (!target) {
    err << "amk-tune: error: unknown target '" << options.target << "'\n";
    return TuneOutcome::InputError;
  }
  if (options.prompt.empty() || options.newTokens < 1 || options.kv < 1 || options.steps < 1) {
    err << "amk-tune: error: the prompt, --new, --kv and --steps must not be empty or zero\n";
    return TuneOutcome::InputError;
  }
  for (int64_t t : options.prompt)
    if (t < 0 || t >= checkpoint->config().vocabSize) {
      err << "amk-tune: error: prompt token " << t << " is outside the vocabulary of " << checkpoint->config().vocabSize
          << "\n";
      return TuneOutcome::InputError;
    }
  std::vector<int32_t> reference;
  if (!options.expectFile.empty()) {
    // The file's tokens continue the file's prompt: a check against them must decode that prompt.
    std::vector<int32_t> filePrompt;
    if (std::optional<Error> e = readExpectFile(options.expectFile, reference, filePrompt)) {
      err << e->render() << "\n";
      return TuneOutcome::InputError;
    }
    if (!filePrompt.empty() && std::vector<int64_t>(filePrompt.begin(), filePrompt.end()) != options.prompt) {
      err << "amk-tune: error: " << options.expectFile << " continues another prompt than --prompt-tokens; give its prompt\n";
      return TuneOutcome::InputError;
    }
  }

  // The default schedule first (its tokens are the reference without --expect-file), then the space.
  std::vector<Candidate> candidates;
  auto add = [&](lowering::Strategy strategy, int64_t rows, int64_t threads, int64_t splits, int64_t blocks) {
    Candidate c;
    c.plan.strategy = strategy;
    c.plan.target = *target;
    c.plan.rowsPerTile = rows;
    c.plan.threads = threads;
    c.plan.splits = splits;
    c.plan.blocks = blocks;
    c.plan.context = options.context;
    c.label = label(c.plan);
    for (const Candidate &seen : candidates)
      if (seen.label == c.label)
        return;
    candidates.push_back(std::move(c));
  };
  const lowering::PlanOptions defaults;
  add(defaults.strategy, defaults.rowsPerTile, defaults.threads, defaults.splits, defaults.blocks);
  for (const std::string &name : options.strategies) {
    std::optional<lowering::Strategy> strategy = lowering::parseStrategy(name);
    if (!strategy) {
      err << "amk-tune: error: unknown strategy '" << name << "'\n";
      return TuneOutcome::InputError;
    }
    for (int64_t blocks : options.blocks)
      for (int64_t threads : options.threads)
        for (int64_t rows : options.rows)
          for (int64_t splits : *strategy == lowering::Strategy::SplitKv ? options.splits
                                                                          : std::vector<int64_t>{defaults.splits})
            add(*strategy, rows, threads, splits, blocks);
  }

  const std::string model = checkpoint->config().name;
  if (!options.quiet)
    out << "amk-tune: " << model << ", " << candidates.size() << " candidates, each certified before it runs; "
        << options.newTokens << " greedy tokens checked against "
        << (reference.empty() ? "the default schedule's" : options.expectFile) << ", then " << options.steps
        << " timed launches at KV " << options.kv << " (" << (options.cpu ? "CPU executor" : "GPU") << ")\n";
  const executor::DecodeFeed feed =
      executor::DecodeFeed::greedy(std::vector<int32_t>(options.prompt.begin(), options.prompt.end()), options.newTokens);
  for (size_t i = 0; i < candidates.size(); ++i) {
    Candidate &c = candidates[i];
    Result<lowering::Plan> planned = lowering::planSchedule(checkpoint->config(), c.plan);
    if (!planned) {
      c.status = Status::Unplannable;
      c.note = planned.error().message;
    } else {
      c.text = planned->text;
      ir::Schedule schedule = ir::parseSchedule(model + ".amkir", c.text);
      const auto started = std::chrono::steady_clock::now();
      ir::Certificate certificate;
      if (schedule.wellFormed())
        certificate = certify(schedule);
      else
        certificate.rejection = schedule.renderDiagnostics();
      c.certifySeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
      if (!certificate.certified) {
        c.status = Status::Rejected; // never launched
        c.note = certificate.rejection.substr(0, certificate.rejection.find('\n'));
      } else {
        Result<std::unique_ptr<executor::StepRunner>> runner =
            makeStepRunner(options.cpu, options.timeoutSeconds, schedule, certificate, *checkpoint);
        Result<executor::DecodeRun> run = runner ? decode(**runner, feed, false) : Result<executor::DecodeRun>(runner.error());
        if (!run) {
          c.status = Status::Failed;
          c.note = run.error().message;
        } else if (!reference.empty() && run->continuation != reference) {
          c.status = Status::WrongTokens;
          c.note = "tokens differ from the reference";
        } else {
          if (reference.empty())
            reference = run->continuation; // the default schedule's
          Result<std::vector<double>> timed = executor::timeSteps(**runner, options.kv, options.steps);
          if (!timed) {
            c.status = Status::Failed;
            c.note = timed.error().message;
          } else {
            c.status = Status::Timed;
            c.medianUs = executor::percentile(*timed, 0.5);
            c.p10Us = executor::percentile(*timed, 0.1);
            c.p90Us = executor::percentile(*timed, 0.9);
          }
        }
      }
    }
    if (!options.quiet) {
      out << "[" << (i + 1) << "/" << candidates.size() << "] " << c.label << ": ";
      if (c.status == Status::Timed)
        out << std::fixed << std::setprecision(1) << "certified in " << c.certifySeconds * 1000
            << " ms, tokens agree, median " << std::setprecision(1) << c.medianUs << " us (p10 " << c.p10Us << ", p90 "
            << c.p90Us << ")\n";
      else
        out << statusName(c.status) << ": " << c.note << "\n";
      out.flush();
    }
    if (i == 0 && c.status != Status::Timed) {
      err << "amk-tune: error: the default schedule (" << c.label << ") was not timed: " << c.note << "\n";
      return TuneOutcome::NoCandidate;
    }
  }

  const Candidate *best = nullptr;
  int counts[5] = {0, 0, 0, 0, 0};
  for (const Candidate &c : candidates) {
    ++counts[static_cast<int>(c.status)];
    if (c.status == Status::Timed && (!best || c.medianUs < best->medianUs))
      best = &c;
  }
  const Candidate &standard = candidates.front();
  out << std::fixed << std::setprecision(1) << "best: " << best->label << ", " << best->medianUs
      << " us per step at KV " << options.kv << "; default (" << standard.label << ") " << standard.medianUs
      << " us; speedup " << std::setprecision(2) << standard.medianUs / best->medianUs << "x\n";
  out << "candidates: " << candidates.size() << "; timed " << counts[0] << ", rejected by the checker (never launched) "
      << counts[2] << ", unplannable " << counts[1] << ", failed " << counts[3] << ", wrong tokens " << counts[4] << "\n";
  if (!options.tracePath.empty()) {
    std::ofstream trace(options.tracePath);
    trace << "candidate\tstatus\tcertify_s\tmedian_us\tp10_us\tp90_us\tnote\n";
    for (const Candidate &c : candidates)
      trace << c.label << "\t" << statusName(c.status) << "\t" << c.certifySeconds << "\t" << c.medianUs << "\t"
            << c.p10Us << "\t" << c.p90Us << "\t" << c.note << "\n";
    if (!trace) {
      err << "amk-tune: error: cannot write " << options.tracePath << "\n";
      return TuneOutcome::InputError;
    }
  }
  if (!options.outputPath.empty()) {
    std::ofstream schedule(options.outputPath);
    schedule << best->text;
    if (!schedule) {
      err << "amk-tune: error: cannot write " << options.outputPath << "\n";
      return TuneOutcome::InputError;
    }
    out << "wrote " << options.outputPath << "\n";
  }
  return TuneOutcome::Ok;
}

} // namespace amk::megakernel
