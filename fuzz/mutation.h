// Mutation operators on the explicit form of a schedule: each one makes one edit that models a bug a
// real lowering, planner or hand-written kernel has been known to make (docs/fuzzing.md lists them
// with the bug). An operator says what it did; whether the result is unsafe is for an oracle to say,
// never for the operator: many edits are harmless in context (a threshold raised on a wait nobody
// else depends on is still exact if the extra signal exists).
#pragma once

#include "amk/fuzz/explicit.h"
#include "amk/fuzz/generator.h"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace amk::fuzz {

struct MutationOperator {
  std::string_view id;      // "drop-signal"
  std::string_view summary; // what the edit is
  std::string_view models;  // the real bug it stands for
  // Applies the edit in place and describes it ("block 1 #4: dropped 'signal done[0]'"), or returns
  // nullopt (leaving the schedule as it was) when the schedule has no place for it.
  std::optional<std::string> (*apply)(ExplicitSchedule &schedule, Choices &choices);
};

std::span<const MutationOperator> mutationOperators();
const MutationOperator *findMutationOperator(std::string_view id);

struct Mutation {
  const MutationOperator *op = nullptr;
  std::string description;
  ExplicitSchedule schedule;
};

// Tries `op` on a copy of `source` a few times (the choices of a failed try are spent, so every try
// differs); nullopt when it never applies.
std::optional<Mutation> mutate(const ExplicitSchedule &source, const MutationOperator &op, Choices &choices);

} // namespace amk::fuzz
