// Footprint conflicts: every pair of executed instructions of different blocks whose boxes in one
// buffer intersect, at least one of them writing, found per buffer by a sweep along one dimension
// (reads are only ever compared with writes), each checked against happens-before.
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
  size_t pairsChecked = 0;
};

RaceSearch findRaces(const ir::Program &program, const ProgressResult &progress, const HappensBefore &hb);

ir::Region intersection(const ir::Region &a, const ir::Region &b);

} // namespace amk::checker
