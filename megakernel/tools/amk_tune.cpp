// amk-tune: search the planner's knobs for the fastest certified decode step (megakernel/tune.h).
#include "amk/checker/verify.h"
#include "amk/lowering/plan.h"
#include "amk/megakernel/tune.h"
#include "amk/version.h"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char **argv) {
  try {
    amk::megakernel::TuneOptions options;
    CLI::App app{"amk-tune: search strategies and knobs for the fastest certified megakernel schedule"};
    app.set_version_flag("--version", std::string("amk-tune ") + AMK_VERSION);
    app.add_option("model", options.modelDirectory, "checkpoint directory (config.json + safetensors)")->required();
    app.add_option("--target", options.target, "plan for this target (default h100)");
    app.add_option("--context", options.context, "KV cache positions (default 2048)");
    app.add_option("--strategies", options.strategies,
                   "strategies to try (default all: " + amk::lowering::strategyNamesText() + ")")
        ->delimiter(',');
    app.add_option("--rows", options.rows, "rows per projection task to try (default 8,16,32,64)")->delimiter(',');
    app.add_option("--threads", options.threads, "threads per block to try (default 256,512)")->delimiter(',');
    app.add_option("--splits", options.splits, "KV splits to try with splitkv (default 4)")->delimiter(',');
    app.add_option("--blocks", options.blocks, "grid sizes to try; 0: one block per SM (default 0)")->delimiter(',');
    app.add_option("--prompt-tokens", options.prompt, "prompt of the token check (default 1,17,42,99)")
        ->delimiter(',');
    app.add_option("--new", options.newTokens, "greedy tokens every candidate must reproduce (default 8)");
    app.add_option("--expect-file", options.expectFile,
                   "HF's tokens (hf_greedy.json); without it, the default schedule's tokens are the reference");
    app.add_option("--kv", options.kv, "KV length of the timed step (default 1)");
    app.add_option("--steps", options.steps, "timed launches per candidate, after 20 warm-up launches (default 100)");
    app.add_option("-o,--output", options.outputPath, "write the best schedule here");
    app.add_option("--trace", options.tracePath, "write one TSV row per candidate here");
    app.add_flag("--cpu", options.cpu, "run the candidates on the CPU executor (tests the search; times are not GPU times)");
    app.add_option("--timeout", options.timeoutSeconds, "seconds a wait may spin before a launch fails (default 5)");
    app.add_flag("-q,--quiet", options.quiet, "print only the summary");
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError &e) {
      return app.exit(e) == 0 ? 0 : 2;
    }
    switch (amk::megakernel::runTune(options, amk::checker::certify, std::cout, std::cerr)) {
    case amk::megakernel::TuneOutcome::Ok:
      return 0;
    case amk::megakernel::TuneOutcome::NoCandidate:
      return 1;
    case amk::megakernel::TuneOutcome::InputError:
      return 2;
    case amk::megakernel::TuneOutcome::InternalError:
      return 101;
    }
    return 101;
  } catch (const std::exception &e) {
    std::cerr << "amk-tune: internal error: " << e.what() << "\n";
    return 101;
  }
}
