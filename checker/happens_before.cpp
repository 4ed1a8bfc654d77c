#include "amk/checker/happens_before.h"

#include <boost/graph/compressed_sparse_row_graph.hpp>
#include <boost/graph/topological_sort.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <stdexcept>
#include <unordered_map>

namespace amk::checker {
namespace {

using ir::InstructionKind;
using ir::SyncOrder;
// into = max(into, from), entry by entry (the two never alias, so the loop vectorizes).
void joinClock(uint32_t *__restrict into, const uint32_t *__restrict from, size_t width) {
  for (size_t j = 0; j < width; ++j)
    into[j] = into[j] < from[j] ? from[j] : into[j];
}

// Waits with at least this many guaranteed signals share the join of their signals' clocks (and a
// vertex of the graph) with the other waits on the element that have the same set.
constexpr size_t kShared = 8;

// The set of signals of a wait at (block, index) on a counter element, as a bit per signal of the
// element: its guaranteed signals and its own block's earlier signals. The wait's clock already
// holds the latter (program order), so they change nothing for it; with them, the sets of waits of
// different blocks that wait for every block's signal coincide.
void signalSetOf(const std::vector<InstructionRef> &onElement, uint32_t block, uint32_t index,
                 const std::vector<uint32_t> &guaranteed, std::vector<uint64_t> &set) {
  set.assign((onElement.size() + 63) / 64, 0);
  for (uint32_t t : guaranteed)
    set[t / 64] |= uint64_t(1) << (t % 64);
  for (uint32_t t = 0; t < onElement.size(); ++t)
    if (onElement[t].block == block && onElement[t].index < index)
      set[t / 64] |= uint64_t(1) << (t % 64);
}

bool inSet(const std::vector<uint64_t> &set, uint32_t t) { return set[t / 64] >> (t % 64) & 1; }

// Compressed sparse rows: one allocation for millions of edges, where an adjacency list makes one
// per vertex.
using Graph = boost::compressed_sparse_row_graph<boost::directedS, boost::no_property, boost::no_property,
                                                 boost::no_property, uint32_t, uint32_t>;

} // namespace

HappensBefore::HappensBefore(const ir::Program &program, const ProgressResult &progress)
    : program_(program), progress_(progress), blocks_(static_cast<uint32_t>(program.blockPrograms.size())) {
  blockOffset_.resize(blocks_ + 1, 0);
  for (uint32_t k = 0; k < blocks_; ++k)
    blockOffset_[k + 1] = blockOffset_[k] + progress.executed[k];
  // Counter elements by number when there are not too many of them (a table), else by key.
  uint64_t elements = 0;
  for (const ir::Counter &counter : program.counters) {
    elementBase_.push_back(elements);
    elements += static_cast<uint64_t>(std::max<int64_t>(counter.size, 1));
  }
  if (elements <= (uint64_t(1) << 24))
    elementSlot_.assign(elements, kNoSlot);
  segmentOf_.assign(blockOffset_[blocks_], 0);
  flags_.assign(blockOffset_[blocks_], 0);
  waitCounter_.assign(blockOffset_[blocks_], 0);
  waitIndex_.assign(blockOffset_[blocks_], 0);

  for (uint32_t k = 0; k < blocks_; ++k)
    for (uint32_t i = 0; i < progress.executed[k]; ++i) {
      const ir::Instruction &instruction = program.blockPrograms[k][i];
      const bool afterBarrier = i > 0 && program.blockPrograms[k][i - 1].kind == InstructionKind::Barrier;
      const bool acquire = instruction.kind == InstructionKind::Wait && instruction.order == SyncOrder::Default;
      flags_[blockOffset_[k] + i] =
          (i == 0 || afterBarrier || acquire ? kStartsSegment : 0) | (afterBarrier ? kAfterBarrier : 0) |
          (instruction.kind == InstructionKind::Barrier ? kBarrier : 0) | (acquire ? kAcquire : 0);
      if (instruction.kind != InstructionKind::Signal && instruction.kind != InstructionKind::Wait)
        continue;
      const size_t slot = addSlot(instruction.counter, instruction.counterIndex);
      CounterAccesses &accesses = perCounter_[slot];
      if (instruction.kind == InstructionKind::Signal) {
        accesses.signals.push_back({k, i});
      } else if (acquire) { // relaxed and .cta waits synchronize with nothing
        accesses.waits.push_back({k, i});
        accesses.waitThreshold.push_back(instruction.amount);
        waitCounter_[blockOffset_[k] + i] = static_cast<uint32_t>(slot);
        waitIndex_[blockOffset_[k] + i] = static_cast<uint32_t>(accesses.waits.size() - 1);
      }
    }
  for (CounterAccesses &accesses : perCounter_) {
    accesses.settled.assign(accesses.waits.size(), false);
    accesses.incoming.resize(accesses.waits.size());
    accesses.prefixes.resize(accesses.waits.size());
  }
  position_.resize(blockOffset_[blocks_]);
  for (uint32_t p = 0; p < progress.order.size(); ++p)
    position_[blockOffset_[progress.order[p].block] + progress.order[p].index] = p;
  for (CounterAccesses &accesses : perCounter_)
    for (InstructionRef t : accesses.signals) {
      accesses.signalPosition.push_back(position_[blockOffset_[t.block] + t.index]);
      accesses.signalAmount.push_back(at(t).amount);
      accesses.signalReleases.push_back(at(t).order == SyncOrder::Default);
    }

  // The first round's relation is program and barrier order only: a happens before b in another
  // block iff a is at or before its block's last barrier that b's block passed before b. That is
  // what the vector clocks of the first round would say, without computing them.
  barrierAt_.resize(blocks_);
  std::vector<uint32_t> passed(blockOffset_[blocks_]); // per vertex: the barriers before it in its block
  for (uint32_t k = 0; k < blocks_; ++k)
    for (uint32_t v = blockOffset_[k]; v < blockOffset_[k + 1]; ++v) {
      passed[v] = static_cast<uint32_t>(barrierAt_[k].size());
      if (flags_[v] & kBarrier)
        barrierAt_[k].push_back(v - blockOffset_[k]);
    }
  rounds_ = 1;
  const bool added = addGuaranteedEdges([&](InstructionRef a, InstructionRef b) {
    if (a.block == b.block)
      return a.index < b.index;
    const uint32_t g = passed[blockOffset_[b.block] + b.index];
    return g > 0 && a.index <= barrierAt_[a.block].at(g - 1);
  });
  passed = {};
  computeClocks(); // the relation with the first round's edges (the same relation if there are none)
  // Both rules under the current clocks, until neither adds an edge. The signal rule needs another
  // round only when the relation grew since it last ran.
  if (added)
    ++rounds_;
  bool relationGrew = added;
  auto byClocks = [this](InstructionRef a, InstructionRef b) { return ordered(a, b); };
  for (;;) {
    const bool signalEdges = relationGrew && addGuaranteedEdges(byClocks);
    const bool prefixEdges = addPrefixEdges();
    if (!signalEdges && !prefixEdges)
      break;
    computeClocks();
    ++rounds_;
    relationGrew = true;
  }
  barrierAt_ = {};
  buildGraph();
}

// Clocks are computed in the order of the maximal execution: it runs every instruction after its
// program-order predecessor, after every block's arrival at a barrier it passes, and after every
// signal a guaranteed edge brings to a wait (the wait cannot pass without it in any execution, that
// one included), so it is a topological order of the graph.
void HappensBefore::computeClocks() {
  const size_t width = blocks_;
  // Completed barriers: every block passed the same number of them.
  std::vector<uint32_t> barriersPassed(blocks_, 0);
  std::vector<uint32_t> generationArrivals;
  std::vector<uint32_t> barrierClock; // per generation, `width` entries
  if (clocks_.empty()) {              // first round: every segment's row at once (the segments never change)
    const size_t segments = std::count_if(flags_.begin(), flags_.end(), [](uint8_t f) { return f & kStartsSegment; });
    clocks_.assign(segments * width, 0);
  }
  uint32_t segments = 0;
  auto joinInstruction = [&](uint32_t *into, InstructionRef from) {
    joinClock(into, clocks_.data() + size_t(segmentOf_[blockOffset_[from.block] + from.index]) * width, width);
    into[from.block] = std::max(into[from.block], from.index + 1);
  };
  // The join of the signals that synchronize with a wait is kept for the next wait on the same
  // counter element with the same set of signals (signalSetOf), so that a wait for every block's
  // signal costs one join rather than one per signal. A few entries, indexed by the element.
  struct JoinCache {
    size_t slot = SIZE_MAX;
    std::vector<uint64_t> signals; // bit per signal of the element
    std::vector<uint32_t> clock;
  };
  std::vector<JoinCache> joinCache(64);
  std::vector<uint64_t> signalSet;
  for (InstructionRef at : progress_.order) {
    const uint32_t k = at.block, i = at.index, vertex = blockOffset_[k] + i;
    const uint8_t flags = flags_[vertex];
    if (!(flags & kStartsSegment)) {
      segmentOf_[vertex] = segmentOf_[vertex - 1];
    } else {
      segmentOf_[vertex] = segments;
      uint32_t *clock = clocks_.data() + size_t(segments++) * width;
      if (i > 0) { // the previous instruction's clock, and the previous instruction itself
        std::copy_n(clocks_.data() + size_t(segmentOf_[vertex - 1]) * width, width, clock);
        clock[k] = std::max(clock[k], i);
      } else {
        std::fill_n(clock, width, 0);
      }
      if (flags & kAfterBarrier)
        joinClock(clock, barrierClock.data() + size_t(barriersPassed[k] - 1) * width, width);
      if (flags & kAcquire) {
        const CounterAccesses &accesses = perCounter_[waitCounter_[vertex]];
        for (InstructionRef source : accesses.prefixes[waitIndex_[vertex]])
          joinInstruction(clock, source);
        const std::vector<uint32_t> &incoming = accesses.incoming[waitIndex_[vertex]];
        if (incoming.size() < kShared) {
          for (uint32_t t : incoming)
            joinInstruction(clock, accesses.signals[t]);
        } else {
          signalSetOf(accesses.signals, k, i, incoming, signalSet);
          JoinCache &cached = joinCache[waitCounter_[vertex] % joinCache.size()];
          if (cached.slot != waitCounter_[vertex] || cached.signals != signalSet) {
            cached.slot = waitCounter_[vertex];
            cached.signals = signalSet;
            cached.clock.assign(width, 0);
            for (uint32_t t = 0; t < accesses.signals.size(); ++t)
              if (inSet(signalSet, t))
                joinInstruction(cached.clock.data(), accesses.signals[t]);
          }
          joinClock(clock, cached.clock.data(), width);
        }
      }
    }
    if (flags & kBarrier) {
      // The maximal execution lists all blocks' k-th barriers together, after every arrival.
      uint32_t g = barriersPassed[k]++;
      if (generationArrivals.size() <= g) {
        generationArrivals.resize(g + 1, 0);
        barrierClock.resize((g + 1) * width, 0);
      }
      ++generationArrivals[g];
      joinInstruction(barrierClock.data() + size_t(g) * width, at);
    }
  }
  for (uint32_t g = 0; g < generationArrivals.size(); ++g)
    if (generationArrivals[g] != blocks_)
      throw std::logic_error("a barrier generation in the maximal execution misses some block");
}

// The graph is built reversed (each edge from its target to its source), which is acyclic exactly
// when the graph is: grouped by target, the edges come out already sorted (each instruction's
// program-order predecessor, the barrier generation before it, the signals that synchronize with
// it; then each generation's arrivals), so the compressed rows are filled in one pass.
//
// Waits that synchronize with the same many signals (every block waiting for every block's
// signal) share them through one extra vertex: signal -> shared vertex -> wait. The set of a wait
// (signalSetOf) holds, besides its guaranteed signals, only signals before it in its own block,
// so the shared vertex adds paths only from signals that already reach the wait: every vertex
// reaches the same vertices as in the graph of the relation, and one is acyclic exactly when the
// other is. The statistics count the relation's vertices and edges.
void HappensBefore::buildGraph() {
  const uint32_t instructions = blockOffset_[blocks_];
  // Barrier vertices per generation (all blocks passed the same number of barriers).
  std::vector<uint32_t> arrivals;
  uint32_t generations = 0;
  for (uint32_t k = 0; k < blocks_; ++k) {
    uint32_t g = 0;
    for (uint32_t v = blockOffset_[k]; v < blockOffset_[k + 1]; ++v)
      if (flags_[v] & kBarrier) {
        if (k == 0)
          arrivals.resize(size_t(++generations) * blocks_);
        if (g >= generations)
          throw std::logic_error("blocks passed different numbers of barriers in the maximal execution");
        arrivals[size_t(g++) * blocks_ + k] = v;
      }
    if (g != generations)
      throw std::logic_error("blocks passed different numbers of barriers in the maximal execution");
  }
  vertices_ = instructions + generations;

  // Shared vertices: per counter element, the signal sets seen so far and their vertex.
  struct Shared {
    std::vector<uint64_t> signals; // bit per signal of the element
    uint32_t vertex;
  };
  std::vector<std::vector<Shared>> sharedOf(perCounter_.size());
  std::vector<uint64_t> signalSet;
  uint32_t nextVertex = static_cast<uint32_t>(vertices_);
  auto sharedVertex = [&](uint32_t slot, uint32_t k, uint32_t i, const std::vector<uint32_t> &incoming) {
    signalSetOf(perCounter_[slot].signals, k, i, incoming, signalSet);
    std::vector<Shared> &sets = sharedOf[slot];
    for (const Shared &shared : sets)
      if (shared.signals == signalSet)
        return shared.vertex;
    if (sets.size() == 8) // many different sets on one element: no sharing
      return kNoSlot;
    sets.push_back({signalSet, nextVertex});
    return nextVertex++;
  };

  std::vector<std::pair<uint32_t, uint32_t>> edges;
  edges.reserve(instructions + 2 * size_t(generations) * blocks_);
  programOrderEdges_ = 0;
  barrierEdges_ = 0;
  for (uint32_t k = 0; k < blocks_; ++k) {
    uint32_t passed = 0; // barriers of block k before the current instruction
    for (uint32_t v = blockOffset_[k]; v < blockOffset_[k + 1]; ++v) {
      if (v > blockOffset_[k]) {
        edges.emplace_back(v, v - 1);
        ++programOrderEdges_;
        if (flags_[v] & kAfterBarrier) {
          edges.emplace_back(v, instructions + passed - 1);
          ++barrierEdges_;
        }
      }
      if (flags_[v] & kBarrier)
        ++passed;
      if (flags_[v] & kAcquire) {
        const CounterAccesses &accesses = perCounter_[waitCounter_[v]];
        const std::vector<uint32_t> &incoming = accesses.incoming[waitIndex_[v]];
        const uint32_t shared =
            incoming.size() < kShared ? kNoSlot : sharedVertex(waitCounter_[v], k, v - blockOffset_[k], incoming);
        if (shared != kNoSlot) {
          edges.emplace_back(v, shared);
        } else {
          for (uint32_t t : incoming)
            edges.emplace_back(v, blockOffset_[accesses.signals[t].block] + accesses.signals[t].index);
        }
        for (InstructionRef source : accesses.prefixes[waitIndex_[v]])
          edges.emplace_back(v, blockOffset_[source.block] + source.index);
      }
    }
  }
  for (uint32_t g = 0; g < generations; ++g)
    for (uint32_t k = 0; k < blocks_; ++k) {
      edges.emplace_back(instructions + g, arrivals[size_t(g) * blocks_ + k]);
      ++barrierEdges_;
    }
  // The shared vertices, in the order they were numbered.
  std::vector<std::pair<uint32_t, const Shared *>> shared;
  for (uint32_t slot = 0; slot < sharedOf.size(); ++slot)
    for (const Shared &set : sharedOf[slot])
      shared.emplace_back(slot, &set);
  std::sort(shared.begin(), shared.end(),
            [](const auto &x, const auto &y) { return x.second->vertex < y.second->vertex; });
  for (const auto &[slot, set] : shared) {
    const std::vector<InstructionRef> &onElement = perCounter_[slot].signals;
    for (uint32_t t = 0; t < onElement.size(); ++t)
      if (inSet(set->signals, t))
        edges.emplace_back(set->vertex, blockOffset_[onElement[t].block] + onElement[t].index);
  }
  if (edges.size() > UINT32_MAX)
    throw std::length_error("more than 2^32 - 1 happens-before edges");
  Graph reversed(boost::edges_are_sorted, edges.begin(), edges.end(), nextVertex, static_cast<uint32_t>(edges.size()));
  edges = {};
  std::vector<Graph::vertex_descriptor> order;
  order.reserve(nextVertex);
  boost::topological_sort(reversed, std::back_inserter(order)); // throws boost::not_a_dag on a cycle
}

size_t HappensBefore::addSlot(uint32_t counter, int64_t index) {
  if (!elementSlot_.empty()) {
    if (counter >= elementBase_.size() || index < 0 || index >= std::max<int64_t>(program_.counters[counter].size, 1))
      throw std::logic_error("a counter element out of bounds in an elaborated program");
    uint32_t &slot = elementSlot_[elementBase_[counter] + index];
    if (slot == kNoSlot) {
      slot = static_cast<uint32_t>(perCounter_.size());
      perCounter_.emplace_back();
    }
    return slot;
  }
  auto [it, inserted] = counterSlot_.emplace(counterKey(counter, index), perCounter_.size());
  if (inserted)
    perCounter_.emplace_back();
  return it->second;
}

size_t HappensBefore::findSlot(uint32_t counter, int64_t index) const {
  if (!elementSlot_.empty()) {
    if (counter >= elementBase_.size() || index < 0 || index >= std::max<int64_t>(program_.counters[counter].size, 1))
      return kNoSlot;
    return elementSlot_[elementBase_[counter] + index];
  }
  auto it = counterSlot_.find(counterKey(counter, index));
  return it == counterSlot_.end() ? kNoSlot : it->second;
}

uint64_t HappensBefore::readableWithout(InstructionRef signal, InstructionRef wait) const {
  const ir::Instruction &w = at(wait);
  const size_t slot = findSlot(w.counter, w.counterIndex);
  uint64_t sum = 0;
  if (slot == kNoSlot)
    return sum;
  for (InstructionRef t : perCounter_[slot].signals)
    if (!(t == signal) && !ordered(wait, t) && !ordered(signal, t))
      sum += at(t).amount;
  return sum;
}

bool HappensBefore::guaranteed(InstructionRef signal, InstructionRef wait) const {
  const ir::Instruction &s = at(signal), &w = at(wait);
  if (s.kind != InstructionKind::Signal || w.kind != InstructionKind::Wait)
    return false;
  if (s.order != SyncOrder::Default || w.order != SyncOrder::Default)
    return false;
  if (s.counter != w.counter || s.counterIndex != w.counterIndex || ordered(wait, signal))
    return false;
  return readableWithout(signal, wait) < w.amount;
}

template <class Order> bool HappensBefore::addGuaranteedEdges(const Order &ordered) {
  bool added = false;
  std::vector<uint32_t> readable, found; // places in the element's list of signals
  for (size_t c = 0; c < perCounter_.size(); ++c) {
    CounterAccesses &accesses = perCounter_[c];
    for (size_t wi = 0; wi < accesses.waits.size(); ++wi) {
      if (accesses.settled[wi])
        continue;
      InstructionRef wait = accesses.waits[wi];
      const uint64_t threshold = accesses.waitThreshold[wi];
      const uint32_t waitVertex = blockOffset_[wait.block] + wait.index;
      const uint32_t waitPosition = position_[waitVertex];
      // Signals the wait can read: all but those that happen after it (which the maximal
      // execution, a linear extension of happens-before, runs after it).
      readable.clear();
      uint64_t total = 0;
      for (uint32_t t = 0; t < accesses.signals.size(); ++t)
        if (accesses.signalPosition[t] < waitPosition || !ordered(wait, accesses.signals[t])) {
          readable.push_back(t);
          total += accesses.signalAmount[t];
        }
      bool pending = false;
      found.clear();
      for (uint32_t slot : readable) {
        const InstructionRef s = accesses.signals[slot];
        if (!accesses.signalReleases[slot] || s.block == wait.block || ordered(s, wait))
          continue; // not a release, the same block, or already ordered before the wait
        uint64_t others = total - accesses.signalAmount[slot];
        if (others >= threshold) {
          // Signals that happen after s are in the modification order after it: reading them means
          // reading s too, so they do not count towards passing without s.
          for (uint32_t t : readable)
            if (t != slot && accesses.signalPosition[t] > accesses.signalPosition[slot] &&
                ordered(s, accesses.signals[t]))
              others -= accesses.signalAmount[t];
        }
        if (others < threshold) {
          // computeClocks relies on this: a guaranteed signal ran before the wait in the maximal execution.
          if (accesses.signalPosition[slot] > waitPosition)
            throw std::logic_error("a guaranteed signal runs after its wait in the maximal execution");
          found.push_back(slot);
        } else {
          pending = true;
        }
      }
      if (!found.empty()) {
        accesses.incoming[wi].insert(accesses.incoming[wi].end(), found.begin(), found.end());
        synchronizesWithEdges_ += found.size();
        added = true;
      }
      if (!pending)
        accesses.settled[wi] = true;
    }
  }
  return added;
}

// The generalised rule (AMKIR §3): an instruction X happens before an acquire wait `wait C >= n` if
// the signals on C that could let the wait pass without a release signal after X — every relaxed or
// .cta signal, and every release signal X does not happen before, leaving out those that happen after
// the wait — add up to less than n: every value the wait can read then holds a release signal that X
// happens before. X = (b, x) happens before a signal t exactly when x < reach(t, b), with reach(t, b)
// = t's index if t is in block b, else how many of b's instructions happen before t (its clock), so
// the instructions that qualify form a prefix of b's program. Only a wait with some readable release
// signal not yet ordered before it can gain anything (an X beyond what already happens before the
// wait can happen before no signal that does), and only through those signals: X qualifies iff the
// unordered release signals it happens before carry more than `total - n`, where `total` is all that
// the wait can read.
bool HappensBefore::addPrefixEdges() {
  bool added = false;
  struct Candidate {
    uint32_t reach;
    uint64_t amount;
  };
  std::vector<uint32_t> unordered; // places in the element's list of signals
  std::vector<Candidate> candidates;
  std::vector<uint32_t> blocksReached;
  for (CounterAccesses &accesses : perCounter_) {
    for (size_t wi = 0; wi < accesses.waits.size(); ++wi) {
      if (accesses.settled[wi])
        continue; // every readable release signal already happens before it
      const InstructionRef wait = accesses.waits[wi];
      const uint64_t threshold = accesses.waitThreshold[wi];
      const uint32_t waitVertex = blockOffset_[wait.block] + wait.index;
      const uint32_t waitPosition = position_[waitVertex];
      const uint32_t *waitClock = clock(segmentOf_[waitVertex]);
      uint64_t total = 0;
      unordered.clear();
      for (uint32_t t = 0; t < accesses.signals.size(); ++t) {
        const InstructionRef s = accesses.signals[t];
        if (accesses.signalPosition[t] > waitPosition && ordered(wait, s))
          continue; // happens after the wait: never read by it
        total += accesses.signalAmount[t];
        if (accesses.signalReleases[t] && s.block != wait.block && !ordered(s, wait))
          unordered.push_back(t);
      }
      if (unordered.empty() || total < threshold)
        continue;
      const uint64_t mustCarry = total - threshold; // X qualifies iff its signals carry more than this
      blocksReached.clear();
      for (uint32_t t : unordered) {
        const InstructionRef s = accesses.signals[t];
        for (uint32_t b = 0; b < blocks_; ++b)
          if (b != wait.block && (b == s.block ? s.index : clock(segmentOf_[blockOffset_[s.block] + s.index])[b]) >
                                     waitClock[b])
            blocksReached.push_back(b);
      }
      std::sort(blocksReached.begin(), blocksReached.end());
      blocksReached.erase(std::unique(blocksReached.begin(), blocksReached.end()), blocksReached.end());
      for (uint32_t b : blocksReached) {
        // By reach, largest first: the prefix ends where the signals X reaches stop carrying enough.
        candidates.clear();
        for (uint32_t t : unordered) {
          const InstructionRef s = accesses.signals[t];
          const uint32_t reach = b == s.block ? s.index : clock(segmentOf_[blockOffset_[s.block] + s.index])[b];
          candidates.push_back({reach, accesses.signalAmount[t]});
        }
        std::sort(candidates.begin(), candidates.end(),
                  [](const Candidate &x, const Candidate &y) { return x.reach > y.reach; });
        uint64_t carried = 0;
        uint32_t prefix = 0; // instructions of b that qualify: (b, x) for x < prefix
        for (const Candidate &c : candidates) {
          carried += c.amount;
          if (carried > mustCarry) {
            prefix = c.reach;
            break;
          }
        }
        if (prefix <= waitClock[b])
          continue; // nothing beyond what already happens before the wait
        const InstructionRef source{b, prefix - 1};
        // computeClocks relies on this, as for guaranteed signals: X runs before the wait in the
        // maximal execution (some release signal it happens before ran before the wait there).
        if (position_[blockOffset_[b] + source.index] > waitPosition)
          throw std::logic_error("a prefix of the generalised rule runs after its wait in the maximal execution");
        std::vector<InstructionRef> &prefixes = accesses.prefixes[wi];
        auto same = std::find_if(prefixes.begin(), prefixes.end(), [&](InstructionRef r) { return r.block == b; });
        if (same == prefixes.end()) {
          prefixes.push_back(source);
          ++prefixEdges_;
        } else {
          *same = source;
        }
        added = true;
      }
    }
  }
  return added;
}

} // namespace amk::checker
