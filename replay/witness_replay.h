// Witness replay on the CPU: takes the checker's witness of a rejected schedule and makes each
// violation happen on real data with the schedule's own ops. A deadlock or barrier mismatch is run
// along the checker's maximal execution to the stuck state; a race is run in two orders of the
// conflicting pair and the buffers are compared; a co-residency violation is run with only
// sms × occupancy resident blocks, in a dispatch order that hangs. docs/replay.md is the user's guide.
#pragma once

#include "amk/ir/program.h"
#include "amk/replay/simulator.h"
#include "amk/replay/verdict.h"
#include "amk/replay/witness.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace amk::replay {

struct ReplayOptions {
  uint64_t seed = 1;               // the data the params, inputs and state are filled with
  size_t listedElements = 8;       // differing elements listed per region
  uint64_t searchBudget = 200'000; // states for the dispatch-order search and the race search
};

// How the second order of a race was obtained.
enum class RaceOrdering : uint8_t {
  Interleaving, // a real interleaving: the first block held before its access until the second ran
  StaleView,    // no interleaving puts the second first; the memory model lets it miss the first's effect
};

// One element that differs between the two runs: its index in the buffer, the two values widened to
// double, and their bits (the opaque op stores hashes, which read best as bits).
struct ElementDiff {
  std::vector<int64_t> index;
  double first = 0, second = 0;
  uint64_t firstBits = 0, secondBits = 0;
};

struct RegionDiff {
  std::string what;    // "block 1's output y[0:16]"
  bool output = false; // a task's output (what a launch leaves), not the overlap as one access saw it
  uint32_t buffer = 0;
  ir::Region region;
  int64_t elements = 0;
  int64_t differing = 0;
  std::vector<ElementDiff> listed; // the first few
};

// One run of the simulator, as the report and the timeline show it.
struct ReplayRun {
  std::string title;
  std::string description;
  uint32_t residentSlots = 0;
  std::vector<SimEvent> events;
  std::vector<size_t> highlighted;    // the racing accesses' events
  std::vector<BlockPosition> blocked; // the unfinished blocks at the end
  bool finished = false;              // every block ran to completion
  bool stuck = false;                 // nothing could move and some block is unfinished
  std::string counters;               // final counter values
};

struct ViolationReplay {
  Rule rule = Rule::Race;
  std::string message; // the checker's
  bool exhibited = false;
  std::string summary;            // what the replay showed, or why it could not
  std::vector<std::string> notes; // further facts, one per line
  std::vector<ReplayRun> runs;
  // Races.
  std::optional<WitnessRace> race;
  std::optional<RaceOrdering> ordering;
  bool valuesDiffer = false;          // false with exhibited: both writes stored the same bits
  std::vector<RegionDiff> diffs;      // the accesses' effects, right after both ran
  std::vector<RegionDiff> finalDiffs; // every writable buffer at the end of the runs (not repeating diffs)
  bool endStatesDiffer = false;       // some writable buffer differs at the end: what a launch shows
  // Co-residency: the dispatch order and the residency simulated.
  uint32_t residentSlots = 0;
};

struct ReplayResult {
  std::string file;
  uint64_t seed = 0;
  std::vector<ViolationReplay> violations;
  bool allExhibited() const;
};

// Replays every violation of `witness` (which must have passed checkAgainst for `program`).
ReplayResult replayWitness(const ir::Program &program, const Witness &witness, const ReplayOptions &options = {});

// The report: one clang-style block per violation (file:line:col: note: ...), ending with a line
// that says whether it was exhibited.
std::string renderReplayText(const ReplayResult &result, const ir::Program &program);

// "block 0 waits at 12:3 'wait ready >= 1' (b=0): ready is 0 < 1; only block 1 still holds a signal on it"
std::string positionText(const ir::Program &program, const BlockPosition &position);

} // namespace amk::replay
