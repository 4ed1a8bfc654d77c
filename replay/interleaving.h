// One concrete execution of a core program as the explorer found it and as replay follows it: the
// steps taken from the initial state, each naming the block and the instruction it executes, with the
// position a wait read in its counter's modification order. Serialised as
// {"schema": "amk-interleaving/1", "steps": [...]}.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace amk::replay {

inline constexpr const char *kInterleavingSchema = "amk-interleaving/1";

enum class StepKind : uint8_t { Task, Signal, Wait, Barrier, Dispatch };
const char *stepKindName(StepKind kind);

struct Step {
  StepKind kind = StepKind::Task;
  uint32_t block = 0;
  uint32_t index = 0; // position in the block's program (0 for a dispatch)
  // Waits: how many increments of the counter's modification order the wait read (0 = none, the
  // initial value). A barrier step is one block's arrival; the barrier completes with the last one.
  std::optional<uint64_t> readPosition;
  friend bool operator==(const Step &, const Step &) = default;
};

struct Interleaving {
  // 0: every block resident from the start. N > 0: only N blocks are resident at a time, a block
  // starts only at its Dispatch step, and a dispatch needs a free slot (a resident block finished).
  uint32_t residentSlots = 0;
  std::vector<Step> steps;
  friend bool operator==(const Interleaving &, const Interleaving &) = default;
};

nlohmann::json toJson(const Interleaving &interleaving);
// nullopt with `error` set when `json` is not an amk-interleaving/1 object.
std::optional<Interleaving> interleavingFromJson(const nlohmann::json &json, std::string &error);

} // namespace amk::replay
