// The checker's witness file (`amk-verify --witness-out`, schema amk-witness/1) as replay reads it:
// the violations with the instructions they name, and the maximal execution replay follows. Read
// from JSON only, so that replay/ stays independent of checker/ (docs/checker.md defines the format).
#pragma once

#include "amk/ir/program.h"
#include "amk/replay/verdict.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace amk::replay {

inline constexpr const char *kWitnessSchema = "amk-witness/1";

struct WitnessStuck {
  InstructionRef at;
  bool atBarrier = false;
};

struct WitnessRace {
  InstructionRef first; // the earlier one in the maximal execution
  InstructionRef second;
  bool firstWrites = false;
  bool secondWrites = false;
  std::string buffer; // the overlap's buffer and box
  std::vector<int64_t> lo;
  std::vector<int64_t> hi;
  std::string why;
};

struct WitnessViolation {
  Rule rule = Rule::Race;
  std::string message;
  std::vector<WitnessStuck> stuck;     // deadlock witnesses
  std::vector<uint32_t> barrierCounts; // barrier mismatch
  std::optional<WitnessRace> race;
};

struct Witness {
  std::string file;        // the schedule as the checker was given it
  std::string contentHash; // of its canonical text (ir::scheduleHash)
  std::string checker;
  int64_t blocks = 0, sms = 0, occupancy = 0;
  std::vector<WitnessViolation> violations;
  std::vector<InstructionRef> maximalExecution;
};

// nullopt with `error` set when `json` is not an amk-witness/1 document.
std::optional<Witness> witnessFromJson(const nlohmann::json &json, std::string &error);

// Empty when every instruction the witness names exists in `program` and its grid matches, else why not.
std::string checkAgainst(const Witness &witness, const ir::Program &program);

} // namespace amk::replay
