// Footprint conflicts: every pair of executed instructions of different blocks whose boxes in one
// buffer intersect, at least one of them writing, that happens-before does not order. Per buffer,
// the accesses are swept in the order of the maximal execution (a linear extension of
// happens-before); each one is compared only with earlier accesses of other blocks that lie in its
// happens-before window (positions from which another block's accesses stop happening before it,
// from the vector clocks) and whose projection on the buffer's key dimension meets its own (an
// interval index). So neither ordered pairs of earlier phases nor disjoint tiles of the same phase
// are enumerated.
#pragma once

#include "amk/checker/happens_before.h"
#include "amk/checker/progress.h"
#include "amk/checker/verdict.h"
#include "amk/ir/program.h"

#include <vector>

namespace amk::checker {

struct RaceSearch {
  // One per distinct pair of source instructions: its first instance in an all-pairs enumeration
  // (by buffer, then the higher-numbered block and its access, then the lower block and its access,
  // accesses in program order), in that order, whatever order the search visits them in.
  std::vector<RaceWitness> races;
  size_t accesses = 0;
  // Pairs of accesses of different blocks, one writing, whose projections on the key dimension
  // meet, inside the happens-before window of the later one:
  size_t candidates = 0;   // all of them (each then tested for happens-before)
  size_t pairsChecked = 0; // those not ordered by happens-before, whose whole boxes were compared
};

RaceSearch findRaces(const ir::Program &program, const ProgressResult &progress, const HappensBefore &hb);

ir::Region intersection(const ir::Region &a, const ir::Region &b);

} // namespace amk::checker
