#include "checker/conflicts.h"

#include <algorithm>
#include <set>

namespace amk::checker {
namespace {

struct Access {
  InstructionRef at;
  bool write;
  const ir::Region *region;
};

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
  const uint32_t blocks = static_cast<uint32_t>(progress.executed.size());
  // Per buffer and block, the block's accesses in program order; writes also on their own.
  struct PerBlock {
    std::vector<Access> all;
    std::vector<Access> writes;
  };
  std::vector<std::vector<PerBlock>> perBuffer(program.buffers.size(), std::vector<PerBlock>());
  for (uint32_t k = 0; k < blocks; ++k)
    for (uint32_t i = 0; i < progress.executed[k]; ++i) {
      const ir::Instruction &instruction = program.blockPrograms[k][i];
      if (instruction.kind != ir::InstructionKind::Task)
        continue;
      auto add = [&](const ir::Region &r, bool write) {
        std::vector<PerBlock> &lists = perBuffer[r.buffer];
        if (lists.empty())
          lists.resize(blocks);
        lists[k].all.push_back({{k, i}, write, &r});
        if (write)
          lists[k].writes.push_back({{k, i}, write, &r});
        ++result.accesses;
      };
      for (const ir::Region &r : instruction.outputs)
        add(r, true);
      for (const ir::Region &r : instruction.inputs)
        if (!program.buffers[r.buffer].readOnly()) // params and inputs are never written: no conflict
          add(r, false);
    }

  // Position of each executed instruction in the maximal execution, to name the earlier one first.
  std::vector<std::vector<uint32_t>> position(blocks);
  for (uint32_t k = 0; k < blocks; ++k)
    position[k].resize(progress.executed[k]);
  for (uint32_t p = 0; p < progress.order.size(); ++p)
    position[progress.order[p].block][progress.order[p].index] = p;

  std::set<std::pair<uint32_t, uint32_t>> seenSitePairs;
  auto report = [&](const Access &x, const Access &y) {
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

  // For an access b of block kb and another block ka, the instructions of ka that happen before b
  // are a prefix of ka's program (the first hb.prefixBefore(b, ka)), and those that happen after b
  // a suffix (clocks only grow along a block). Only the accesses in between can race with b, so
  // each block's list is entered by binary search and walked only while the access is unordered.
  for (std::vector<PerBlock> &lists : perBuffer) {
    if (lists.empty())
      continue;
    for (uint32_t kb = 0; kb < blocks; ++kb)
      for (const Access &b : lists[kb].all)
        for (uint32_t ka = 0; ka < kb; ++ka) {
          const std::vector<Access> &candidates = b.write ? lists[ka].all : lists[ka].writes;
          if (candidates.empty())
            continue;
          uint32_t before = hb.prefixBefore(b.at, ka);
          auto it = std::lower_bound(candidates.begin(), candidates.end(), before,
                                     [](const Access &a, uint32_t index) { return a.at.index < index; });
          for (; it != candidates.end() && !hb.ordered(b.at, it->at); ++it) {
            ++result.pairsChecked;
            if (it->region->overlaps(*b.region))
              report(*it, b);
          }
        }
  }
  return result;
}

} // namespace amk::checker
