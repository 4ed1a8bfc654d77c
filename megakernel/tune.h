// amk-tune: a search over the planner's knobs (strategy, rows per tile, threads per block, KV splits,
// blocks) for the fastest decode step of one checkpoint. Every candidate schedule is certified by the
// checker before anything runs; a rejected one is counted and never launched. Each certified
// candidate decodes the prompt greedily (its tokens must equal the reference tokens: HF's, or those
// of the default schedule) and is then timed at one KV length. The best schedule is written out.
#pragma once

#include "amk/lowering/plan.h"
#include "amk/megakernel/gpu_run_tool.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace amk::megakernel {

struct TuneOptions {
  std::string modelDirectory;
  std::string target = "h100";
  int64_t context = 2048;
  std::vector<std::string> strategies = lowering::allStrategyNames();
  std::vector<int64_t> rows = {8, 16, 32, 64};
  std::vector<int64_t> threads = {256, 512};
  std::vector<int64_t> splits = {4};  // splitkv only
  std::vector<int64_t> blocks = {0};  // 0: one per SM of the target
  std::vector<int64_t> prompt = {1, 17, 42, 99};
  int64_t newTokens = 8;
  std::string expectFile; // HF's tokens (hf_greedy.json); empty: the default schedule's tokens
  int64_t kv = 1;         // KV length of the timed step
  int64_t steps = 100;    // timed launches per candidate, after 20 warm-up launches
  std::string outputPath; // the best schedule (canonical AMKIR); empty: not written
  std::string tracePath;  // one TSV row per candidate; empty: not written
  bool cpu = false;       // time on the CPU executor instead (for testing the search itself)
  double timeoutSeconds = 5.0;
  bool quiet = false; // only the summary
};

enum class TuneOutcome { Ok, NoCandidate, InputError, InternalError };

TuneOutcome runTune(const TuneOptions &options, const Certifier &certify, std::ostream &out, std::ostream &err);

} // namespace amk::megakernel
