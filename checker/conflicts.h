// Footprint conflicts: every pair of executed instructions of different blocks whose boxes in one
// buffer intersect, at least one of them writing, that happens-before does not order. Per buffer
// and pair of blocks, only the window of accesses that is unordered with a given access is visited
// (found by binary search on the vector clocks), so ordered pairs are never enumerated.
#pragma once

#include "checker/happens_before.h"
#include "checker/progress.h"
#include "checker/verdict.h"
#include "ir/program.h"

#include <vector>

namespace amk::checker {

struct RaceSearch {
  std::vector<RaceWitness> races; // one per distinct pair of source instructions, in discovery order
  size_t accesses = 0;
  size_t pairsChecked = 0; // unordered pairs (one writing) whose boxes were compared
};

RaceSearch findRaces(const ir::Program &program, const ProgressResult &progress, const HappensBefore &hb);

ir::Region intersection(const ir::Region &a, const ir::Region &b);

} // namespace amk::checker
