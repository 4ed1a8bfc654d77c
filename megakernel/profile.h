// Where a profiled megakernel launch spent its time: every executed instruction's start and end
// (%globaltimer) summarised per kind of instruction (each op, barrier, signal, wait) and the
// interpreter's own time between instructions. amk-run --profile prints it (docs/megakernel.md).
#pragma once

#include "amk/executor/decode.h"

#include <cstdint>
#include <string>
#include <vector>

namespace amk::megakernel {

struct ProfileRow {
  std::string what;        // an op name, "barrier", "signal", "wait" or "between instructions"
  uint64_t count = 0;      // instructions executed (all blocks)
  double totalUs = 0;      // summed over blocks
  double meanUs = 0;       // per instruction
  double maxUs = 0;        // the longest one
  double perBlockUs = 0;   // totalUs / blocks that ran anything
  double share = 0;        // of the summed block time (first start to last end of each block)
};

struct ProfileSummary {
  double spanUs = 0;        // first start to last end over all blocks
  double meanBlockUs = 0;   // mean over blocks of (last end - first start)
  uint64_t blocks = 0;
  std::vector<ProfileRow> rows; // by total time, largest first
};

ProfileSummary summariseProfile(const std::vector<executor::ProfiledInstruction> &instructions);
std::string formatProfile(const ProfileSummary &summary);
// One line per instruction: block, index, site, what, start and end in ns from the launch's first start.
std::string profileTsv(const std::vector<executor::ProfiledInstruction> &instructions);

} // namespace amk::megakernel
