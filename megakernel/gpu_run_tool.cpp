// amk-run on the GPU: plan or load, certify, decode, report.
#include "megakernel/gpu_run_tool.h"

#include "ir/frontend.h"
#include "ir/printer.h"
#include "lowering/plan.h"
#include "megakernel/checkpoint.h"

#ifdef AMK_HAVE_GPU_RUNTIME
#include "megakernel/gpu_decode.h"
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
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
  std::vector<double> ms;
  for (const DecodeStep &s : result->steps)
    ms.push_back(s.milliseconds);
  if (options.quiet) {
    out << join(result->continuation) << "\n";
  } else {
    out << "device: " << result->device << ", " << schedule.program->blocks << " blocks x " << schedule.program->threads
        << " threads, occupancy " << result->occupancy << ", " << result->sharedBytes
        << " bytes of shared memory per block\n";
    out << "schedule: " << name << " (" << schedule.program->instructionCount() << " instructions)\n";
    out << "prompt: " << join(prompt) << "\n";
    out << "tokens: " << join(result->continuation) << "\n";
    out << std::fixed << std::setprecision(1) << "step latency us: median " << percentile(ms, 0.5) * 1000 << ", p10 "
        << percentile(ms, 0.1) * 1000 << ", p90 " << percentile(ms, 0.9) * 1000 << " over " << ms.size() << " steps\n";
  }
  if (!expect.empty()) {
    size_t n = std::min(expect.size(), result->continuation.size());
    size_t agree = 0;
    while (agree < n && expect[agree] == result->continuation[agree])
      ++agree;
    bool same = agree == n && expect.size() == result->continuation.size();
    out << (same ? "MATCH" : "MISMATCH") << ": " << agree << " of " << expect.size()
        << " tokens agree with the expected continuation" << (same ? "" : " (expected " + join(expect) + ")") << "\n";
    return same ? GpuRunOutcome::Ok : GpuRunOutcome::Mismatch;
  }
  return GpuRunOutcome::Ok;
#endif
}

} // namespace amk::megakernel
