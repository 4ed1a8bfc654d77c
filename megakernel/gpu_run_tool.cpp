// amk-run on the GPU: plan or load, certify, decode, report.
#include "megakernel/gpu_run_tool.h"

#include "ir/frontend.h"
#include "ir/printer.h"
#include "lowering/plan.h"
#include "megakernel/checkpoint.h"
#include "megakernel/executor.h"
#include "megakernel/weights.h"

#ifdef AMK_HAVE_GPU_RUNTIME
#include "megakernel/gpu_decode.h"
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iomanip>

namespace amk::megakernel {

namespace {

double percentile(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

struct Decoded {
  std::vector<int32_t> continuation;
  std::vector<double> milliseconds;
  std::string device;
};

// Greedy decoding with the CPU executor, one run per position (the reference's semantics for a
// schedule, without a GPU).
Result<Decoded> executorDecode(const ir::Program &program, const Checkpoint &checkpoint,
                               const std::vector<int32_t> &prompt, int64_t newTokens, double timeoutSeconds) {
  Executor executor(program);
  Result<std::vector<ParamBytes>> params = bindParams(program, checkpoint);
  if (!params)
    return params.error();
  for (const ParamBytes &p : *params)
    if (std::optional<Error> e = executor.setBytes(p.param, p.bytes))
      return *e;
  Decoded decoded;
  decoded.device = "CPU executor, one thread per block";
  const int64_t steps = static_cast<int64_t>(prompt.size()) + std::max<int64_t>(newTokens - 1, 0);
  int32_t token = prompt[0];
  ExecutorOptions options;
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeoutSeconds * 1000));
  options.recordTrace = false;
  for (int64_t pos = 0; pos < steps; ++pos) {
    if (pos < static_cast<int64_t>(prompt.size()))
      token = prompt[static_cast<size_t>(pos)];
    const int32_t position = static_cast<int32_t>(pos);
    for (auto e : {executor.setInts("tok", std::span<const int32_t>(&token, 1)),
                   executor.setInts("pos", std::span<const int32_t>(&position, 1))})
      if (e)
        return *e;
    auto start = std::chrono::steady_clock::now();
    ExecutionResult run = executor.run(options);
    decoded.milliseconds.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (run.status != ExecutionStatus::Completed)
      return Error(program.sourceName, "the executor stopped at position " + std::to_string(pos) + ": " + run.report);
    const int32_t output = static_cast<int32_t>(executor.buffer("next_token")->loadInt(0));
    if (pos + 1 >= static_cast<int64_t>(prompt.size())) {
      if (static_cast<int64_t>(decoded.continuation.size()) < newTokens)
        decoded.continuation.push_back(output);
      token = output;
    }
  }
  return decoded;
}

std::string join(const std::vector<int32_t> &tokens) {
  std::string s;
  for (int32_t t : tokens)
    s += (s.empty() ? "" : ",") + std::to_string(t);
  return s;
}

} // namespace

GpuRunOutcome runGpuRunTool(const GpuRunOptions &options, const Certifier &certify, std::ostream &out,
                            std::ostream &err) {
  Result<Checkpoint> checkpoint = Checkpoint::open(options.modelDirectory);
  if (!checkpoint) {
    err << checkpoint.error().render() << "\n";
    return GpuRunOutcome::InputError;
  }
  std::vector<int32_t> prompt(options.prompt.begin(), options.prompt.end());
  std::vector<int32_t> expect(options.expect.begin(), options.expect.end());
  if (!options.expectFile.empty()) {
    std::ifstream in(options.expectFile);
    nlohmann::json record = nlohmann::json::parse(in, nullptr, false);
    if (!in || record.is_discarded() || !record.contains("tokens")) {
      err << options.expectFile << ": error: not an hf_greedy.json record with \"tokens\"\n";
      return GpuRunOutcome::InputError;
    }
    expect = record["tokens"].get<std::vector<int32_t>>();
    if (prompt.empty() && record.contains("prompt"))
      prompt = record["prompt"].get<std::vector<int32_t>>();
  }
  if (prompt.empty()) {
    err << "amk-run: error: give --prompt-tokens (or --expect-file with a prompt)\n";
    return GpuRunOutcome::InputError;
  }

  std::string text, name;
  if (!options.schedulePath.empty()) {
    ir::Schedule loaded = ir::loadSchedule(options.schedulePath, ir::Stage::Parse);
    if (!loaded.ast) {
      err << (loaded.source ? loaded.renderDiagnostics() : loaded.readError + "\n");
      return GpuRunOutcome::InputError;
    }
    text = ir::printSurface(*loaded.ast);
    name = options.schedulePath;
  } else {
    std::optional<lowering::Strategy> strategy = lowering::parseStrategy(options.strategy);
    std::optional<lowering::Target> target = lowering::findTarget(options.target);
    if (!strategy || !target) {
      err << "amk-run: error: unknown " << (!strategy ? "strategy '" + options.strategy : "target '" + options.target)
          << "'\n";
      return GpuRunOutcome::InputError;
    }
    lowering::PlanOptions plan;
    plan.strategy = *strategy;
    plan.target = *target;
    plan.blocks = options.blocks;
    plan.rowsPerTile = options.rows;
    plan.splits = options.splits;
    plan.context = options.context;
    lowering::PlanResult planned = lowering::planSchedule(checkpoint->config(), plan);
    if (!planned.plan) {
      err << "amk-run: error: " << planned.error << "\n";
      return GpuRunOutcome::InputError;
    }
    text = planned.plan->text;
    name = checkpoint->config().name + "-" + options.strategy + ".amkir";
  }
  ir::Schedule schedule = ir::parseSchedule(name, text);
  if (!schedule.wellFormed()) {
    err << schedule.renderDiagnostics();
    return GpuRunOutcome::InputError;
  }
  if (std::optional<std::string> rejection = certify(*schedule.program)) {
    err << *rejection << "amk-run: refusing to launch " << name << ": the checker rejects it\n";
    return GpuRunOutcome::Refused;
  }
  Decoded decoded;
  std::string details;
  if (options.cpu) {
    Result<Decoded> result =
        executorDecode(*schedule.program, *checkpoint, prompt, options.newTokens, options.timeoutSeconds);
    if (!result) {
      err << result.error().render() << "\n";
      return GpuRunOutcome::InternalError;
    }
    decoded = std::move(*result);
    details = decoded.device;
  } else {
#ifndef AMK_HAVE_GPU_RUNTIME
    err << "amk-run: error: this build has no GPU runtime (configure with the CUDA toolkit); --cpu runs on the CPU\n";
    return GpuRunOutcome::InputError;
#else
    GpuDecodeOptions decode;
    decode.gpu.timeoutSeconds = options.timeoutSeconds;
    decode.gpu.checkerVersion = options.checkerVersion;
    Result<GpuDecodeResult> result = gpuDecode(*schedule.program, text, *checkpoint, prompt, options.newTokens, decode);
    if (!result) {
      err << result.error().render() << "\n";
      return GpuRunOutcome::InternalError;
    }
    decoded.continuation = result->continuation;
    for (const DecodeStep &s : result->steps)
      decoded.milliseconds.push_back(s.milliseconds);
    details = result->device + ", occupancy " + std::to_string(result->occupancy) + ", " +
              std::to_string(result->sharedBytes) + " bytes of shared memory per block";
#endif
  }
  const std::vector<double> &ms = decoded.milliseconds;
  if (options.quiet) {
    out << join(decoded.continuation) << "\n";
  } else {
    out << "device: " << details << "; " << schedule.program->blocks << " blocks x " << schedule.program->threads
        << " threads\n";
    out << "schedule: " << name << " (" << schedule.program->instructionCount() << " instructions)\n";
    out << "prompt: " << join(prompt) << "\n";
    out << "tokens: " << join(decoded.continuation) << "\n";
    out << std::fixed << std::setprecision(1) << "step latency us: median " << percentile(ms, 0.5) * 1000 << ", p10 "
        << percentile(ms, 0.1) * 1000 << ", p90 " << percentile(ms, 0.9) * 1000 << " over " << ms.size() << " steps\n";
  }
  if (!expect.empty()) {
    size_t n = std::min(expect.size(), decoded.continuation.size());
    size_t agree = 0;
    while (agree < n && expect[agree] == decoded.continuation[agree])
      ++agree;
    bool same = agree == n && expect.size() == decoded.continuation.size();
    out << (same ? "MATCH" : "MISMATCH") << ": " << agree << " of " << expect.size()
        << " tokens agree with the expected continuation" << (same ? "" : " (expected " + join(expect) + ")") << "\n";
    return same ? GpuRunOutcome::Ok : GpuRunOutcome::Mismatch;
  }
  return GpuRunOutcome::Ok;
}

} // namespace amk::megakernel
