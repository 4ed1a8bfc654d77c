// amk-run: greedy (or teacher-forced) decoding of a HF Llama checkpoint: on the GPU with a certified
// megakernel schedule, or with --cpu on the CPU, by the reference forward pass or by the executor on a
// certified schedule.
#include "amk/checker/verify.h"
#include "amk/lowering/plan.h"
#include "amk/megakernel/gpu_run_tool.h"
#include "amk/megakernel/run_tool.h"
#include "amk/version.h"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char **argv) {
  try {
    amk::megakernel::RunOptions options;
    amk::megakernel::GpuRunOptions gpu;
    CLI::App app{"amk-run: greedy or teacher-forced decoding of a HF Llama checkpoint (config.json + safetensors)"};
    app.set_version_flag("--version", std::string("amk-run ") + AMK_VERSION);
    app.add_option("model", gpu.modelDirectory, "checkpoint directory, run on the GPU with the megakernel");
    app.add_option("--cpu", options.cpuModelDirectory,
                   "run on the CPU with the checkpoint in this directory: the reference forward pass, or with "
                   "--schedule/--strategy the CPU executor on that schedule");
    app.add_option("--tokens,--prompt-tokens", options.tokens, "prompt token ids, comma-separated: 1,2,3")
        ->delimiter(',');
    app.add_option("--new", options.newTokens, "tokens to generate (default 16)")->check(CLI::NonNegativeNumber);
    app.add_flag("--bf16-rounding", options.roundToBf16,
                 "--cpu: round activations to bf16 where docs/numerics.md says (arithmetic stays fp32)");
    app.add_option("--schedule", gpu.schedulePath, "GPU: run this schedule (verified first)");
    app.add_option("--strategy", gpu.strategy,
                   "GPU: plan with this strategy (" + amk::lowering::strategyNamesText() + ")");
    app.add_option("--target", gpu.target, "GPU: plan for this target (default h100)");
    app.add_option("--weights", gpu.weights,
                   "GPU: projection weights as stored (model, the default) or int8 (W8A16: int8 rows with a scale "
                   "per row, quantised at load time)")
        ->check(CLI::IsMember({"model", "int8"}));
    app.add_option("--blocks", gpu.blocks, "GPU: blocks of the planned grid (default: one per SM of the target)");
    app.add_option("--rows", gpu.rows, "GPU: rows per projection task");
    app.add_option("--splits", gpu.splits, "GPU: KV splits (splitkv)");
    app.add_option("--threads", gpu.threads, "GPU: threads per block of the planned grid (default 256)");
    app.add_option("--context", gpu.context, "GPU: KV cache positions");
    app.add_option("--expect", gpu.expect, "GPU: tokens the continuation must equal; exit 1 otherwise")->delimiter(',');
    app.add_option("--expect-file", gpu.expectFile,
                   "GPU: read the expected tokens (and prompt) from hf_greedy.json or hf_zoo.json");
    app.add_option("--timeout", gpu.timeoutSeconds, "GPU: seconds a wait may spin before the kernel stops");
    app.add_option_function<size_t>(
           "--stage-kb", [&gpu](size_t kb) { gpu.stageBytes = kb * 1024; },
           "GPU: KiB of shared memory per block for weights copied ahead of their tasks (default 160; 0: none)")
        ->check(CLI::Range(size_t{0}, size_t{227}));
    app.add_option("--force-tokens", gpu.forceTokens,
                   "schedule: teacher forcing, feed exactly these tokens (position i gets token i) instead of the "
                   "greedy continuation; replaces --prompt-tokens and --new")
        ->delimiter(',');
    app.add_option("--logits-out", gpu.logitsOut,
                   "schedule: write the logits of every step to this .npy file (float32, [steps, vocab])");
    app.add_option("--delay-trials", gpu.delays.trials,
                   "schedule: relaunch the last step this many times with random per-instruction delays; every "
                   "output and state buffer must stay bit-identical (exit 1 otherwise)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--delay-max-ns", gpu.delays.maxDelayNs, "--delay-trials: longest delay in ns (default 10000)")
        ->check(CLI::Range(1u, 1'000'000u));
    app.add_option("--delay-seed", gpu.delays.seed, "--delay-trials: seed of the drawn delays (default 1)");
    app.add_flag("--op-check", gpu.opCheck,
                 "schedule: after decoding, run every task of the last step again with its CPU reference on the "
                 "inputs the device left and compare the outputs (exit 1 on any element off its tolerance)");
    app.add_option("--bench-kv", gpu.benchKv,
                   "schedule: after decoding, time one step at each of these KV lengths (e.g. 1,1024)")
        ->delimiter(',');
    app.add_option("--bench-steps", gpu.benchSteps, "--bench-kv: timed launches per KV length (default 200)")
        ->check(CLI::PositiveNumber);
    app.add_option("--profile", gpu.profilePrefix,
                   "--bench-kv: after timing each KV length, one more launch records every instruction's start and "
                   "end; prints where the time went and writes PREFIX.kvN.tsv");
    app.add_flag("-q,--quiet", options.quiet, "print only the generated token ids");
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      return app.exit(e) == 0 ? 0 : 2;
    }
    if (!options.cpuModelDirectory.empty() == !gpu.modelDirectory.empty()) {
      std::cerr << "amk-run: give a checkpoint directory (GPU) or --cpu DIR\n";
      return 2;
    }
    // --cpu with a schedule (--schedule or --strategy): the CPU executor runs the certified schedule.
    const bool cpuSchedule =
        !options.cpuModelDirectory.empty() && (app.count("--schedule") > 0 || app.count("--strategy") > 0);
    if (cpuSchedule) {
      gpu.modelDirectory = options.cpuModelDirectory;
      gpu.cpu = true;
    }
    if (!options.cpuModelDirectory.empty() && !cpuSchedule) {
      for (const char *scheduleOnly : {"--force-tokens", "--logits-out", "--delay-trials", "--op-check", "--bench-kv", "--profile", "--expect",
                                      "--expect-file"})
        if (app.count(scheduleOnly) > 0) {
          std::cerr << "amk-run: " << scheduleOnly
                    << " needs a schedule: with --cpu, give --strategy or --schedule (the CPU executor)\n";
          return 2;
        }
      if (options.tokens.empty()) {
        std::cerr << "amk-run: --tokens is required\n";
        return 2;
      }
      switch (amk::megakernel::runRunTool(options, std::cout, std::cerr)) {
      case amk::megakernel::RunOutcome::Ok:
        return 0;
      case amk::megakernel::RunOutcome::InputError:
        return 2;
      case amk::megakernel::RunOutcome::InternalError:
        return 101;
      }
      return 101;
    }
    if (!gpu.forceTokens.empty())
      for (const char *greedyOnly : {"--prompt-tokens", "--new", "--expect", "--expect-file"})
        if (app.count(greedyOnly) > 0) {
          std::cerr << "amk-run: --force-tokens feeds the whole sequence: it takes no " << greedyOnly << "\n";
          return 2;
        }
    gpu.prompt = options.tokens;
    gpu.newTokens = options.newTokens;
    gpu.quiet = options.quiet;
    switch (amk::megakernel::runGpuRunTool(gpu, amk::checker::certify, std::cout, std::cerr)) {
    case amk::megakernel::GpuRunOutcome::Ok:
      return 0;
    case amk::megakernel::GpuRunOutcome::Mismatch:
    case amk::megakernel::GpuRunOutcome::DelayFailure:
    case amk::megakernel::GpuRunOutcome::OpMismatch:
    case amk::megakernel::GpuRunOutcome::Refused:
      return 1;
    case amk::megakernel::GpuRunOutcome::InputError:
      return 2;
    case amk::megakernel::GpuRunOutcome::InternalError:
      return 101;
    }
    return 101;
  } catch (const std::exception &e) {
    std::cerr << "amk-run: internal error: " << e.what() << "\n";
    return 101;
  }
}
