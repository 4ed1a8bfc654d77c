// amk-run with a schedule: plan or load, certify, decode on the GPU or the CPU executor, report.
#include "amk/megakernel/gpu_run_tool.h"

#include "amk/ir/frontend.h"
#include "amk/ir/printer.h"
#include "amk/lowering/plan.h"
#include "amk/model/checkpoint.h"
#include "amk/executor/decode.h"
#include "amk/megakernel/npy.h"
#include "amk/megakernel/op_check.h"

#ifdef AMK_HAVE_GPU_RUNTIME
#include "amk/megakernel/gpu_decode.h"
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iomanip>

namespace amk::megakernel {

namespace {

std::string join(const std::vector<int32_t> &tokens) {
  std::string s;
  for (int32_t t : tokens)
    s += (s.empty() ? "" : ",") + std::to_string(t);
  return s;
}

// "--force-tokens: token 40 (position 1) is out of range; ..." for the first token outside the vocabulary.
std::optional<std::string> checkVocabulary(const char *option, const std::vector<int32_t> &tokens, int64_t vocab) {
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] < 0 || tokens[i] >= vocab)
      return std::string(option) + ": token " + std::to_string(tokens[i]) + " (position " + std::to_string(i) +
             ") is out of range; the model's vocab_size is " + std::to_string(vocab);
  return std::nullopt;
}

struct ScheduleSource {
  std::string text; // canonical
  std::string name;
};

// The schedule's canonical text, loaded from --schedule or planned for the checkpoint; nullopt after
// printing why not.
std::optional<ScheduleSource> loadOrPlan(const GpuRunOptions &options, const model::Checkpoint &checkpoint,
                                         std::ostream &err) {
  if (!options.schedulePath.empty()) {
    ir::Schedule loaded = ir::loadSchedule(options.schedulePath, ir::Stage::Parse);
    if (!loaded.ast) {
      err << (loaded.source ? loaded.renderDiagnostics() : loaded.readError + "\n");
      return std::nullopt;
    }
    return ScheduleSource{ir::printSurface(*loaded.ast), options.schedulePath};
  }
  std::optional<lowering::Strategy> strategy = lowering::parseStrategy(options.strategy);
  std::optional<lowering::Target> target = lowering::findTarget(options.target);
  std::optional<lowering::WeightFormat> weights = lowering::parseWeightFormat(options.weights);
  if (!strategy || !target || !weights) {
    err << "amk-run: error: unknown "
        << (!strategy ? "strategy '" + options.strategy
            : !target ? "target '" + options.target
                      : "weight format '" + options.weights + "' (model or int8)")
        << "'\n";
    return std::nullopt;
  }
  lowering::PlanOptions plan;
  plan.strategy = *strategy;
  plan.target = *target;
  plan.blocks = options.blocks;
  plan.rowsPerTile = options.rows;
  plan.splits = options.splits;
  plan.context = options.context;
  plan.threads = options.threads;
  plan.weights = *weights;
  Result<lowering::Plan> planned = lowering::planSchedule(checkpoint.config(), plan);
  if (!planned) {
    err << "amk-run: error: " << planned.error().message << "\n";
    return std::nullopt;
  }
  return ScheduleSource{planned->text, checkpoint.config().name + "-" + options.strategy +
                                           (*weights == lowering::WeightFormat::Int8 ? "-int8" : "") + ".amkir"};
}

// Positions 0..steps-1 must fit the KV cache, which the planner declares as k_cache[layers, kv_heads,
// positions, head_dim]; a schedule without one is not checked here.
std::optional<std::string> checkContext(const ir::Program &program, int64_t steps) {
  for (const ir::Buffer &b : program.buffers)
    if (b.name == "k_cache" && b.shape.size() == 4 && steps > b.shape[2])
      return std::to_string(steps) + " steps need KV positions 0.." + std::to_string(steps - 1) +
             " but the schedule's k_cache holds " + std::to_string(b.shape[2]) + " (plan with a larger --context)";
  return std::nullopt;
}

// What to feed and what to expect, from the options (and --expect-file), checked against the vocabulary.
struct RunInputs {
  executor::DecodeFeed feed;
  std::vector<int32_t> expect; // greedy only; empty: no check
};

Result<RunInputs> resolveInputs(const GpuRunOptions &options, int64_t vocab) {
  const std::vector<int32_t> sequence(options.forceTokens.begin(), options.forceTokens.end());
  std::vector<int32_t> prompt(options.prompt.begin(), options.prompt.end());
  std::vector<int32_t> expect(options.expect.begin(), options.expect.end());
  if (!sequence.empty()) {
    if (!prompt.empty() || !expect.empty() || !options.expectFile.empty())
      return Error("amk-run", "--force-tokens feeds the whole sequence: it takes no --prompt-tokens, --expect or "
                              "--expect-file");
    if (std::optional<std::string> e = checkVocabulary("--force-tokens", sequence, vocab))
      return Error("amk-run", *e);
    return RunInputs{executor::DecodeFeed::teacherForced(sequence), {}};
  }
  if (!options.expectFile.empty())
    if (std::optional<Error> e = readExpectFile(options.expectFile, expect, prompt))
      return *e;
  if (prompt.empty())
    return Error("amk-run", "give --prompt-tokens (or --expect-file with a prompt), or --force-tokens");
  if (std::optional<std::string> e = checkVocabulary("--prompt-tokens", prompt, vocab))
    return Error("amk-run", *e);
  return RunInputs{executor::DecodeFeed::greedy(prompt, options.newTokens), expect};
}

// Everything but the verdicts: where it ran, the tokens, the step latencies, the logits file.
void printRun(std::ostream &out, const GpuRunOptions &options, const executor::StepRunner &runner, const std::string &name,
              const executor::DecodeFeed &feed, const executor::DecodeRun &run) {
  std::vector<int32_t> predictions;
  std::vector<double> ms;
  for (const executor::DecodeStep &s : run.steps) {
    predictions.push_back(s.output);
    ms.push_back(s.milliseconds);
  }
  const bool forced = feed.mode == executor::DecodeFeed::Mode::TeacherForced;
  if (options.quiet) {
    out << join(forced ? predictions : run.continuation) << "\n";
    return;
  }
  const ir::Program &program = runner.program();
  out << "device: " << runner.description() << "; " << program.blocks << " blocks x " << program.threads
      << " threads\n";
  out << "schedule: " << name << " (" << program.instructionCount() << " instructions)\n";
  if (forced) {
    const std::vector<int32_t> &sequence = feed.tokens;
    int64_t agree = 0;
    for (size_t i = 0; i + 1 < sequence.size(); ++i)
      agree += predictions[i] == sequence[i + 1];
    out << "forced: " << join(sequence) << "\n";
    out << "predictions: " << join(predictions) << "\n";
    out << "teacher-forced: " << agree << " of " << sequence.size() - 1 << " predictions equal the next forced token\n";
  } else {
    out << "prompt: " << join(feed.tokens) << "\n";
    out << "tokens: " << join(run.continuation) << "\n";
  }
  out << std::fixed << std::setprecision(1) << "step latency us: median " << executor::percentile(ms, 0.5) * 1000 << ", p10 "
      << executor::percentile(ms, 0.1) * 1000 << ", p90 " << executor::percentile(ms, 0.9) * 1000 << " over " << ms.size() << " steps\n";
  if (!options.logitsOut.empty())
    out << "logits: " << run.steps.size() << " x " << run.vocab << " float32 written to " << options.logitsOut << "\n";
}

// The DELAYED line and a line per failure; true when every relaunch was bit-identical.
bool reportDelays(std::ostream &out, const executor::DelayReport &report, const executor::DelayTrialOptions &options) {
  out << summaryLine(report, options) << "\n";
  if (report.notIdempotent)
    out << "  " << *report.notIdempotent << "\n";
  for (const std::string &failure : report.failures)
    out << "  " << failure << "\n";
  return report.ok();
}

// The MATCH or MISMATCH line; true on a match.
bool reportExpected(std::ostream &out, const std::vector<int32_t> &expect, const std::vector<int32_t> &tokens) {
  const size_t n = std::min(expect.size(), tokens.size());
  size_t agree = 0;
  while (agree < n && expect[agree] == tokens[agree])
    ++agree;
  const bool same = agree == n && expect.size() == tokens.size();
  out << (same ? "MATCH" : "MISMATCH") << ": " << agree << " of " << expect.size()
      << " tokens agree with the expected continuation" << (same ? "" : " (expected " + join(expect) + ")") << "\n";
  return same;
}

// Every buffer of the runner's program as the last launch left it.
Result<std::vector<executor::HostBuffer>> readAllBuffers(const executor::StepRunner &runner) {
  std::vector<executor::HostBuffer> buffers;
  for (const ir::Buffer &b : runner.program().buffers) {
    Result<std::vector<std::byte>> bytes = runner.readBytes(b.name);
    if (!bytes)
      return bytes.error();
    executor::HostBuffer buffer(b.dtype, b.shape);
    if (bytes->size() != buffer.bytes().size())
      return Error("amk-run", "buffer " + b.name + " read back with " + std::to_string(bytes->size()) +
                                  " bytes, expected " + std::to_string(buffer.bytes().size()));
    std::copy(bytes->begin(), bytes->end(), buffer.bytes().begin());
    buffers.push_back(std::move(buffer));
  }
  return buffers;
}

struct BenchRow {
  int64_t kv = 0;
  std::vector<double> microseconds;
  std::optional<ProfileSummary> profile;
};

// One step at each KV length: position kv - 1, a fixed token, warm-up launches first.
Result<std::vector<BenchRow>> benchSteps(executor::StepRunner &runner, const std::vector<int64_t> &kvLengths, int64_t steps,
                                         const std::string &profilePrefix) {
  std::vector<BenchRow> rows;
  for (int64_t kv : kvLengths) {
    Result<std::vector<double>> timed = executor::timeSteps(runner, kv, steps);
    if (!timed)
      return Error("amk-run", "--bench-kv " + std::to_string(kv) + ": " + timed.error().message);
    BenchRow row{kv, std::move(*timed), std::nullopt};
    if (!profilePrefix.empty()) {
      Result<std::vector<executor::ProfiledInstruction>> profiled = runner.profiledLaunch();
      if (!profiled)
        return profiled.error();
      const std::string path = profilePrefix + ".kv" + std::to_string(kv) + ".tsv";
      std::ofstream file(path);
      file << profileTsv(*profiled);
      if (!file)
        return Error(path, "cannot write the profile");
      row.profile = summariseProfile(*profiled);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

} // namespace

std::optional<Error> readExpectFile(const std::string &path, std::vector<int32_t> &expect,
                                    std::vector<int32_t> &prompt) {
  std::ifstream in(path);
  if (!in)
    return Error(path, "cannot open the expected tokens");
  nlohmann::json record = nlohmann::json::parse(in, nullptr, false);
  const auto isTokenList = [&](const char *key) {
    if (!record.contains(key) || !record[key].is_array())
      return false;
    return std::all_of(record[key].begin(), record[key].end(),
                       [](const nlohmann::json &t) { return t.is_number_integer(); });
  };
  if (record.is_discarded() || !record.is_object() || !isTokenList("tokens"))
    return Error(path, "not an hf_greedy.json or hf_zoo.json record: it needs \"tokens\", a list of token ids");
  expect = record["tokens"].get<std::vector<int32_t>>();
  if (prompt.empty() && isTokenList("prompt"))
    prompt = record["prompt"].get<std::vector<int32_t>>();
  return std::nullopt;
}


Result<std::unique_ptr<executor::StepRunner>> makeStepRunner(bool cpu, double timeoutSeconds,
                                                             const ir::Schedule &schedule,
                                                             [[maybe_unused]] const ir::Certificate &certificate,
                                                             const model::Checkpoint &checkpoint,
                                                             [[maybe_unused]] size_t stageBytes) {
#ifdef AMK_HAVE_GPU_RUNTIME
  if (!cpu) {
    GpuOptions gpu;
    gpu.timeoutSeconds = timeoutSeconds;
    gpu.stageBytes = stageBytes;
    return makeGpuStepRunner(schedule, certificate, checkpoint, gpu);
  }
#endif
  (void)cpu;
  return executor::makeExecutorStepRunner(*schedule.program, checkpoint,
                                          std::chrono::milliseconds(static_cast<int64_t>(timeoutSeconds * 1000)));
}

GpuRunOutcome runGpuRunTool(const GpuRunOptions &options, const Certifier &certify, std::ostream &out,
                            std::ostream &err) {
  Result<model::Checkpoint> checkpoint = model::Checkpoint::open(options.modelDirectory);
  if (!checkpoint) {
    err << checkpoint.error().render() << "\n";
    return GpuRunOutcome::InputError;
  }
  Result<RunInputs> inputs = resolveInputs(options, checkpoint->config().vocabSize);
  if (!inputs) {
    err << inputs.error().render() << "\n";
    return GpuRunOutcome::InputError;
  }
  std::optional<ScheduleSource> source = loadOrPlan(options, *checkpoint, err);
  if (!source)
    return GpuRunOutcome::InputError;
  ir::Schedule schedule = ir::parseSchedule(source->name, source->text);
  if (!schedule.wellFormed()) {
    err << schedule.renderDiagnostics();
    return GpuRunOutcome::InputError;
  }
  const ir::Certificate certificate = certify(schedule);
  if (!certificate.certified) {
    err << certificate.rejection << "amk-run: refusing to launch " << source->name << ": the checker rejects it\n";
    return GpuRunOutcome::Refused;
  }
  if (std::optional<std::string> e = checkContext(*schedule.program, inputs->feed.steps())) {
    err << "amk-run: error: " << *e << "\n";
    return GpuRunOutcome::InputError;
  }
  for (int64_t kv : options.benchKv)
    if (std::optional<std::string> e = checkContext(*schedule.program, kv); e || kv < 1) {
      err << "amk-run: error: --bench-kv " << kv << ": " << (e ? *e : "a KV length is at least 1") << "\n";
      return GpuRunOutcome::InputError;
    }
  if (!options.profilePrefix.empty() && options.benchKv.empty()) {
    err << "amk-run: error: --profile profiles the --bench-kv launches; give --bench-kv too\n";
    return GpuRunOutcome::InputError;
  }
#ifndef AMK_HAVE_GPU_RUNTIME
  if (!options.cpu) {
    err << "amk-run: error: this build has no GPU runtime (configure with the CUDA toolkit); --cpu runs on the CPU\n";
    return GpuRunOutcome::InputError;
  }
#endif
  Result<std::unique_ptr<executor::StepRunner>> runner =
      makeStepRunner(options.cpu, options.timeoutSeconds, schedule, certificate, *checkpoint, options.stageBytes);
  if (!runner) {
    err << runner.error().render() << "\n";
    return GpuRunOutcome::InternalError;
  }

  Result<executor::DecodeRun> run = decode(**runner, inputs->feed, !options.logitsOut.empty());
  if (!run) {
    err << run.error().render() << "\n";
    return GpuRunOutcome::InternalError;
  }
  if (!options.logitsOut.empty())
    if (std::optional<Error> e =
            writeNpyFloat32(options.logitsOut, run->logits, {static_cast<int64_t>(run->steps.size()), run->vocab})) {
      err << e->render() << "\n";
      return GpuRunOutcome::InputError;
    }
  // The op check reads what the last step left, so it comes before any relaunch.
  std::optional<OpCheckResult> opCheck;
  if (options.opCheck) {
    Result<std::vector<executor::HostBuffer>> buffers = readAllBuffers(**runner);
    if (!buffers) {
      err << buffers.error().render() << "\n";
      return GpuRunOutcome::InternalError;
    }
    opCheck = checkOps(*schedule.program, *buffers);
  }
  std::optional<executor::DelayReport> delayed;
  if (options.delays.trials > 0) {
    Result<executor::DelayReport> report = executor::runDelayTrials(**runner, options.delays);
    if (!report) {
      err << report.error().render() << "\n";
      return GpuRunOutcome::InternalError;
    }
    delayed = std::move(*report);
  }
  Result<std::vector<BenchRow>> bench = benchSteps(**runner, options.benchKv, options.benchSteps, options.profilePrefix);
  if (!bench) {
    err << bench.error().render() << "\n";
    return GpuRunOutcome::InternalError;
  }

  printRun(out, options, **runner, source->name, inputs->feed, *run);
  for (const BenchRow &row : *bench)
    out << std::fixed << std::setprecision(1) << "bench: kv " << row.kv << ": step us median "
        << executor::percentile(row.microseconds, 0.5) << ", p10 " << executor::percentile(row.microseconds, 0.1) << ", p90 "
        << executor::percentile(row.microseconds, 0.9) << " over " << row.microseconds.size()
        << " launches (kernel time, CUDA events; 20 warm-up launches before)\n";
  for (const BenchRow &row : *bench)
    if (row.profile)
      out << "kv " << row.kv << " " << formatProfile(*row.profile);
  bool opsHeld = true;
  if (opCheck) {
    out << "op check: the last step's tasks run again with their CPU references on the device's inputs\n";
    printOpCheck(*opCheck, out);
    opsHeld = opCheck->ok();
    out << (opsHeld ? "OPS MATCH" : "OPS MISMATCH") << "\n";
  }
  const bool delaysHeld = !delayed || reportDelays(out, *delayed, options.delays);
  const bool matched = inputs->expect.empty() || reportExpected(out, inputs->expect, run->continuation);
  return !delaysHeld ? GpuRunOutcome::DelayFailure
         : !opsHeld  ? GpuRunOutcome::OpMismatch
         : !matched  ? GpuRunOutcome::Mismatch
                     : GpuRunOutcome::Ok;
}

} // namespace amk::megakernel
