#include "checker/conflicts.h"

#include <algorithm>
#include <set>
#include <unordered_set>

namespace amk::checker {
namespace {

struct Access {
  InstructionRef at;
  bool write;
  const ir::Region *region;
};

// The dimension whose starts vary most: sweeping along it keeps the active set small.
size_t sweepDimension(const std::vector<Access> &accesses) {
  size_t rank = accesses.front().region->lo.size();
  size_t best = 0, bestDistinct = 0;
  for (size_t d = 0; d < rank; ++d) {
    std::unordered_set<int64_t> starts;
    for (const Access &a : accesses)
      starts.insert(a.region->lo[d]);
    if (starts.size() > bestDistinct) {
      bestDistinct = starts.size();
      best = d;
    }
  }
  return best;
}

} // namespace

ir::Region intersection(const ir::Region &a, const ir::Region &b) {
  ir::Region r = a;
  for (size_t d = 0; d < a.lo.size(); ++d) {
    r.lo[d] = std::max(a.lo[d], b.lo[d]);
    r.hi[d] = std::min(a.hi[d], b.hi[d]);
  }
  r.pointDims = 0;
  return r;
}

RaceSearch findRaces(const ir::Program &program, const ProgressResult &progress, const HappensBefore &hb) {
  RaceSearch result;
  std::vector<std::vector<Access>> perBuffer(program.buffers.size());
  for (uint32_t k = 0; k < progress.executed.size(); ++k)
    for (uint32_t i = 0; i < progress.executed[k]; ++i) {
      const ir::Instruction &instruction = program.blockPrograms[k][i];
      if (instruction.kind != ir::InstructionKind::Task)
        continue;
      for (const ir::Region &r : instruction.outputs)
        perBuffer[r.buffer].push_back({{k, i}, true, &r});
      for (const ir::Region &r : instruction.inputs)
        if (!program.buffers[r.buffer].readOnly()) // params and inputs are never written: no conflict
          perBuffer[r.buffer].push_back({{k, i}, false, &r});
    }

  // Position of each executed instruction in the maximal execution, to name the earlier one first.
  std::vector<std::vector<uint32_t>> position(progress.executed.size());
  for (uint32_t k = 0; k < progress.executed.size(); ++k)
    position[k].resize(progress.executed[k]);
  for (uint32_t p = 0; p < progress.order.size(); ++p)
    position[progress.order[p].block][progress.order[p].index] = p;

  std::set<std::pair<uint32_t, uint32_t>> seenSitePairs;
  auto check = [&](const Access &x, const Access &y) {
    if (x.at.block == y.at.block || !x.region->overlaps(*y.region))
      return;
    ++result.pairsChecked;
    if (hb.ordered(x.at, y.at) || hb.ordered(y.at, x.at))
      return;
    const Access &first = position[x.at.block][x.at.index] < position[y.at.block][y.at.index] ? x : y;
    const Access &second = &first == &x ? y : x;
    uint32_t firstSite = program.blockPrograms[first.at.block][first.at.index].site;
    uint32_t secondSite = program.blockPrograms[second.at.block][second.at.index].site;
    if (!seenSitePairs.insert({std::min(firstSite, secondSite), std::max(firstSite, secondSite)}).second)
      return;
    RaceWitness w;
    w.first = first.at;
    w.second = second.at;
    w.firstWrites = first.write;
    w.secondWrites = second.write;
    w.buffer = x.region->buffer;
    w.overlap = intersection(*x.region, *y.region);
    result.races.push_back(std::move(w));
  };

  for (std::vector<Access> &accesses : perBuffer) {
    result.accesses += accesses.size();
    if (accesses.size() < 2)
      continue;
    size_t d = sweepDimension(accesses);
    std::sort(accesses.begin(), accesses.end(),
              [d](const Access &a, const Access &b) { return a.region->lo[d] < b.region->lo[d]; });
    std::vector<const Access *> activeWrites, activeReads;
    auto expire = [d](std::vector<const Access *> &active, int64_t start) {
      active.erase(std::remove_if(active.begin(), active.end(),
                                  [&](const Access *a) { return a->region->hi[d] <= start; }),
                   active.end());
    };
    size_t sinceCompaction = 0;
    for (const Access &x : accesses) {
      int64_t start = x.region->lo[d];
      if (++sinceCompaction >= 64) {
        expire(activeWrites, start);
        expire(activeReads, start);
        sinceCompaction = 0;
      }
      for (const Access *y : activeWrites)
        if (y->region->hi[d] > start)
          check(*y, x);
      if (x.write)
        for (const Access *y : activeReads)
          if (y->region->hi[d] > start)
            check(*y, x);
      (x.write ? activeWrites : activeReads).push_back(&x);
    }
  }
  return result;
}

} // namespace amk::checker
