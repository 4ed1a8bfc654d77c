#include "amk/checker/conflicts.h"

#include <algorithm>
#include <array>
#include <limits>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

namespace amk::checker {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();

// One access of one buffer: a task's output (write) or input (read) region.
struct Access {
  InstructionRef at;
  uint32_t pos = 0; // the instruction's place in the maximal execution (the sweep order)
  uint32_t seq = 0; // its place among its block's accesses of this buffer, in program order
  const ir::Region *region = nullptr;
  // [lo, hi): the box's projection on the buffer's key dimension; first its coordinates, then
  // their ranks (a range of elementary intervals between consecutive coordinates).
  int64_t lo = 0;
  int64_t hi = 0;
  bool write = false;
};

// How the accesses of one buffer spread along each dimension.
struct Spread {
  std::vector<int64_t> lo, hi;
  std::vector<double> width;
  size_t count = 0;

  void add(const ir::Region &r) {
    if (count++ == 0) {
      lo = r.lo;
      hi = r.hi;
      width.assign(r.lo.size(), 0);
    }
    for (size_t d = 0; d < std::min(r.lo.size(), width.size()); ++d) {
      lo[d] = std::min(lo[d], r.lo[d]);
      hi[d] = std::max(hi[d], r.hi[d]);
      width[d] += static_cast<double>(r.hi[d] - r.lo[d]);
    }
  }

  // The dimension whose projections separate the accesses best: the one where boxes cover the
  // smallest fraction of the range the accesses span (tiles along it, not whole rows of it). Any
  // choice is sound; this one only saves comparisons.
  size_t keyDimension() const {
    size_t best = 0;
    double bestFraction = std::numeric_limits<double>::infinity();
    for (size_t d = 0; d < width.size(); ++d) {
      double fraction = width[d] / static_cast<double>(std::max<int64_t>(hi[d] - lo[d], 1));
      if (fraction < bestFraction) {
        bestFraction = fraction;
        best = d;
      }
    }
    return best;
  }
};

// The accesses of one buffer seen so far in the sweep, indexed by their projection on the key
// dimension: a segment tree over the elementary intervals, each access stored at the O(log n)
// nodes that cover its range exactly. Two ranges intersect iff a node of one is an ancestor of, or
// equal to, a node of the other (both contain the leaf of a common elementary interval). Each
// node lists its accesses newest first and records the newest position stored in its subtree, so
// a query for accesses at positions >= `since` reads only the recent end of each list and skips
// subtrees with nothing recent: nothing is ever deleted, old accesses are just never read again.
class IntervalIndex {
public:
  explicit IntervalIndex(uint32_t leaves) {
    size_ = 1;
    while (size_ < leaves)
      size_ <<= 1;
    head_.assign(2 * size_, kNone);
    recent_.assign(2 * size_, 0);
    visited_.assign(2 * size_, 0);
  }

  bool empty() const { return entries_.empty(); }

  // Accesses are inserted in the sweep order: `pos` never decreases.
  void insert(uint32_t item, uint32_t pos, uint32_t lo, uint32_t hi) {
    for (lo += size_, hi += size_; lo < hi; lo >>= 1, hi >>= 1) {
      if (lo & 1)
        add(lo++, item, pos);
      if (hi & 1)
        add(--hi, item, pos);
    }
  }

  // Calls visit(item) for every inserted access at a position >= since whose range meets [lo, hi),
  // possibly more than once for one access (when several of its nodes meet the query's).
  template <class Visit> void query(uint32_t lo, uint32_t hi, uint32_t since, Visit &&visit) {
    if (entries_.empty() || recent_[1] <= since)
      return;
    if (++stamp_ == 0) { // wrapped: forget every mark
      std::fill(visited_.begin(), visited_.end(), 0);
      stamp_ = 1;
    }
    for (lo += size_, hi += size_; lo < hi; lo >>= 1, hi >>= 1) {
      if (lo & 1)
        around(lo++, since, visit);
      if (hi & 1)
        around(--hi, since, visit);
    }
  }

private:
  struct Entry {
    uint32_t item;
    uint32_t pos;
    uint32_t next; // the node's previous (older) entry
  };

  void add(uint32_t node, uint32_t item, uint32_t pos) {
    entries_.push_back({item, pos, head_[node]});
    head_[node] = static_cast<uint32_t>(entries_.size() - 1);
    // Positions never decrease, so a node already at pos + 1 has all its ancestors there too.
    for (uint32_t u = node; u >= 1 && recent_[u] != pos + 1; u >>= 1)
      recent_[u] = pos + 1;
  }

  template <class Visit> void scan(uint32_t node, uint32_t since, Visit &visit) {
    for (uint32_t e = head_[node]; e != kNone && entries_[e].pos >= since; e = entries_[e].next)
      visit(entries_[e].item);
  }

  // One node of the query's cover: the accesses stored at it and at its ancestors (their ranges
  // contain the node's), and those stored below it (their ranges lie inside it).
  template <class Visit> void around(uint32_t node, uint32_t since, Visit &visit) {
    for (uint32_t u = node; u >= 1 && visited_[u] != stamp_; u >>= 1) {
      visited_[u] = stamp_;
      scan(u, since, visit);
    }
    if (node >= size_)
      return;
    stack_.clear();
    stack_.push_back(2 * node);
    stack_.push_back(2 * node + 1);
    while (!stack_.empty()) {
      uint32_t u = stack_.back();
      stack_.pop_back();
      if (recent_[u] <= since)
        continue;
      scan(u, since, visit);
      if (u < size_) {
        stack_.push_back(2 * u);
        stack_.push_back(2 * u + 1);
      }
    }
  }

  uint32_t size_ = 1;
  std::vector<uint32_t> head_;    // per node: its newest entry, kNone if none
  std::vector<uint32_t> recent_;  // per node: 1 + the newest position stored in its subtree, 0 if none
  std::vector<uint32_t> visited_; // per node: the last query that read its list
  std::vector<Entry> entries_;
  std::vector<uint32_t> stack_;
  uint32_t stamp_ = 0;
};

// findRaces, step by step: the key dimension of each buffer, its accesses in the sweep order, the
// happens-before windows, then one sweep per buffer that records each racing pair of source
// instructions once.
class RaceFinder {
public:
  RaceFinder(const ir::Program &program, const ProgressResult &progress, const HappensBefore &hb)
      : program_(program), progress_(progress), hb_(hb), blocks_(static_cast<uint32_t>(progress.executed.size())),
        readOnly_(program.buffers.size()), key_(program.buffers.size(), kUnresolved),
        expected_(program.buffers.size(), 0), perBuffer_(program.buffers.size()) {
    for (size_t b = 0; b < program.buffers.size(); ++b)
      readOnly_[b] = program.buffers[b].readOnly(); // params and inputs are never written: no conflict
  }

  RaceSearch run() {
    chooseKeyDimensions();
    collectAccesses();
    keyUnsampledBuffers();
    indexPositions();
    if (progress_.order.size() >= kUnknown)
      throw std::length_error("findRaces: more than 2^32 - 2 executed instructions");
    windows_.assign(hb_.segments(), Window{});
    seq_.assign(blocks_, 0);
    for (uint32_t buffer = 0; buffer < perBuffer_.size(); ++buffer)
      sweep(buffer);
    return witnesses();
  }

private:
  static constexpr size_t kUnresolved = std::numeric_limits<size_t>::max();
  static constexpr uint32_t kUnknown = kNone - 1; // positions are below: order.size() < kUnknown
  static constexpr size_t kFarBehind = 4;         // laggard candidates per window, at most
  static constexpr size_t kLaggardAccesses = 64;  // accesses compared one by one per access, at most

  struct Laggard {
    uint32_t start;
    uint32_t block;
  };
  struct Window {
    uint32_t start = kUnknown;                       // of the blocks that are not laggard candidates
    uint32_t candidatesBegin = 0, candidatesEnd = 0; // into `candidates_`
  };
  // Where a pair stands in the all-pairs enumeration: buffer, the higher block and its access in
  // program order, the lower block and its access in program order.
  using Key = std::tuple<uint32_t, uint32_t, uint32_t, uint32_t, uint32_t>;
  struct Found {
    Key key;
    Access low; // the access of the lower-numbered block
    Access high;
  };

  template <class Visit> void forEachAccess(const ir::Instruction &instruction, Visit &&visit) const {
    for (const ir::Region &r : instruction.outputs)
      visit(r, true);
    for (const ir::Region &r : instruction.inputs)
      if (!readOnly_[r.buffer])
        visit(r, false);
  }

  // The key dimension of each buffer, judged on the tasks at a stride through the maximal
  // execution (so that each region is read once below); a buffer that the stride misses is judged
  // on all its accesses once they are collected.
  void chooseKeyDimensions() {
    std::vector<Spread> spread(program_.buffers.size());
    const size_t stride = std::max<size_t>(progress_.order.size() / 2048, 1);
    for (size_t p = 0; p < progress_.order.size(); p += stride) {
      const ir::Instruction &instruction = program_.blockPrograms[progress_.order[p].block][progress_.order[p].index];
      if (instruction.kind == ir::InstructionKind::Task)
        forEachAccess(instruction, [&](const ir::Region &r, bool) { spread[r.buffer].add(r); });
    }
    for (size_t b = 0; b < spread.size(); ++b)
      if (spread[b].count > 0) {
        key_[b] = spread[b].keyDimension();
        expected_[b] = spread[b].count * stride + stride / 8;
      }
  }

  // Per buffer, the accesses in the order of the maximal execution: a linear extension of
  // happens-before that runs each block's instructions in program order.
  void collectAccesses() {
    for (size_t b = 0; b < perBuffer_.size(); ++b)
      perBuffer_[b].reserve(expected_[b]);
    for (uint32_t p = 0; p < progress_.order.size(); ++p) {
      const InstructionRef at = progress_.order[p];
      const ir::Instruction &instruction = program_.blockPrograms[at.block][at.index];
      if (instruction.kind != ir::InstructionKind::Task)
        continue;
      forEachAccess(instruction, [&](const ir::Region &r, bool write) {
        Access a{at, p, 0, &r, 0, 1, write}; // rank 0: one element, every projection [0, 1)
        const size_t d = key_[r.buffer];
        if (d != kUnresolved && !r.lo.empty()) {
          if (d >= r.lo.size())
            throw std::logic_error("findRaces: regions of one buffer with different ranks");
          a.lo = r.lo[d];
          a.hi = r.hi[d];
        }
        perBuffer_[r.buffer].push_back(a);
      });
    }
  }

  void keyUnsampledBuffers() {
    for (size_t b = 0; b < perBuffer_.size(); ++b)
      if (key_[b] == kUnresolved && !perBuffer_[b].empty() && !perBuffer_[b].front().region->lo.empty()) {
        Spread spread;
        for (const Access &a : perBuffer_[b])
          spread.add(*a.region);
        const size_t d = spread.keyDimension();
        for (Access &a : perBuffer_[b]) {
          if (d >= a.region->lo.size())
            throw std::logic_error("findRaces: regions of one buffer with different ranks");
          a.lo = a.region->lo[d];
          a.hi = a.region->hi[d];
        }
      }
  }

  // Position of each executed instruction in the maximal execution, per block, with kNone after
  // the block's last executed instruction.
  void indexPositions() {
    offset_.assign(blocks_ + 1, 0);
    for (uint32_t k = 0; k < blocks_; ++k)
      offset_[k + 1] = offset_[k] + progress_.executed[k] + 1;
    position_.assign(offset_[blocks_], kNone);
    for (uint32_t p = 0; p < progress_.order.size(); ++p)
      position_[offset_[progress_.order[p].block] + progress_.order[p].index] = p;
  }

  // The window of an access b: every access of another block ka that does not happen before b is
  // at an index >= clock(b)[ka] of ka, so at a position >= start(ka), the position of that
  // instruction. The smallest start over ka bounds from below the positions of the accesses that
  // can race with b and come before it in the sweep; it depends on b's segment only.
  //
  // One block far behind the others (one that runs ahead of everybody in the maximal execution
  // and tells b nothing, say) would stretch that window back to its start for every access, over
  // the accesses of all the other blocks that do happen before b. So when the earliest few starts
  // (up to kFarBehind of them) lie before a gap longer than the rest of the window, those blocks
  // are laggard candidates: the window is bounded by the other blocks' starts, and a candidate
  // with few of the buffer's accesses between its start and the window (a small part of all of
  // them there) is a laggard, whose accesses there are compared one by one; otherwise its start
  // bounds the window after all.
  const Window &windowOf(InstructionRef b, uint32_t pos) {
    Window &w = windows_[hb_.segment(b)];
    if (w.start != kUnknown)
      return w;
    const uint32_t *clock = hb_.segmentClock(hb_.segment(b));
    std::array<Laggard, kFarBehind + 1> earliest; // the smallest starts, in order
    size_t n = 0;
    for (uint32_t ka = 0; ka < blocks_; ++ka) {
      if (ka == b.block)
        continue;
      Laggard l{position_[offset_[ka] + clock[ka]], ka};
      if (n == earliest.size() && l.start >= earliest.back().start)
        continue;
      size_t i = n < earliest.size() ? n++ : n - 1;
      for (; i > 0 && earliest[i - 1].start > l.start; --i)
        earliest[i] = earliest[i - 1];
      earliest[i] = l;
    }
    w.start = n ? earliest[0].start : kNone;
    w.candidatesBegin = w.candidatesEnd = static_cast<uint32_t>(candidates_.size());
    for (size_t split = n - (n > 0); split >= 1 && split < n; --split) {
      const int64_t rest = std::max<int64_t>(int64_t(pos) - int64_t(earliest[split].start), 0);
      if (int64_t(earliest[split].start) - int64_t(earliest[split - 1].start) > rest + 64) {
        candidates_.insert(candidates_.end(), earliest.begin(), earliest.begin() + split);
        w.start = earliest[split].start;
        break;
      }
    }
    w.candidatesEnd = static_cast<uint32_t>(candidates_.size());
    return w;
  }

  // Racing pairs, one per pair of source instructions: the first instance in the order in which
  // the all-pairs search enumerates them, so that the report does not depend on the order of this
  // search.
  void record(uint32_t buffer, const Access &x, const Access &y) {
    const Access &low = x.at.block < y.at.block ? x : y;
    const Access &high = x.at.block < y.at.block ? y : x;
    const Key key{buffer, high.at.block, high.seq, low.at.block, low.seq};
    uint32_t s1 = program_.blockPrograms[x.at.block][x.at.index].site;
    uint32_t s2 = program_.blockPrograms[y.at.block][y.at.index].site;
    const uint64_t sitePair = (uint64_t(std::min(s1, s2)) << 32) | std::max(s1, s2);
    auto [it, inserted] = bySitePair_.emplace(sitePair, found_.size());
    if (inserted)
      found_.push_back({key, low, high});
    else if (key < found_[it->second].key)
      found_[it->second] = {key, low, high};
  }

  // Ranks of the coordinates of the key dimension (a buffer of rank 0 has one element: every
  // access projects to [0, 1)): a table when they span a short range, else sorted and searched.
  // Replaces each access's projection by its ranks; returns how many distinct coordinates there are.
  size_t rankKeyCoordinates(std::vector<Access> &accesses) {
    int64_t low = accesses.front().lo, high = accesses.front().hi;
    for (const Access &a : accesses) {
      low = std::min({low, a.lo, a.hi});
      high = std::max({high, a.lo, a.hi});
    }
    size_t distinct = 0;
    if (static_cast<uint64_t>(high - low) <= 4 * accesses.size() + 4096) {
      rankTable_.assign(static_cast<size_t>(high - low) + 1, 0);
      for (const Access &a : accesses)
        rankTable_[a.lo - low] = rankTable_[a.hi - low] = 1;
      for (uint32_t &r : rankTable_) {
        const uint32_t present = r;
        r = static_cast<uint32_t>(distinct);
        distinct += present;
      }
      for (Access &a : accesses) {
        a.lo = rankTable_[a.lo - low];
        a.hi = rankTable_[a.hi - low];
      }
    } else {
      coords_.clear();
      for (const Access &a : accesses) {
        coords_.push_back(a.lo);
        coords_.push_back(a.hi);
      }
      std::sort(coords_.begin(), coords_.end());
      coords_.erase(std::unique(coords_.begin(), coords_.end()), coords_.end());
      distinct = coords_.size();
      auto rankOf = [&](int64_t c) {
        return static_cast<uint32_t>(std::lower_bound(coords_.begin(), coords_.end(), c) - coords_.begin());
      };
      for (Access &a : accesses) {
        a.lo = rankOf(a.lo);
        a.hi = rankOf(a.hi);
      }
    }
    return distinct;
  }

  // The first of a block's accesses of the swept buffer at a position >= p; the first of all of them.
  std::vector<uint32_t>::const_iterator firstFrom(const std::vector<uint32_t> &own, uint32_t p) const {
    return std::lower_bound(own.begin(), own.end(), p, [&](uint32_t i, uint32_t x) { return (*accesses_)[i].pos < x; });
  }
  std::vector<Access>::const_iterator firstOf(uint32_t p) const {
    return std::lower_bound(accesses_->begin(), accesses_->end(), p,
                            [](const Access &a, uint32_t x) { return a.pos < x; });
  }

  // On entering a new segment of happens-before: the start of its window (start_) and the laggard
  // candidates whose accesses are few enough to be walked one by one instead (walk_).
  void enterWindow(const Window &window) {
    const std::vector<Access> &accesses = *accesses_;
    start_ = window.start;
    walk_.clear();
    size_t walked = 0;
    for (uint32_t c = window.candidatesBegin; c < window.candidatesEnd; ++c) {
      if (byBlock_.empty()) {
        byBlock_.resize(blocks_);
        for (uint32_t i = 0; i < accesses.size(); ++i)
          byBlock_[accesses[i].at.block].push_back(i);
      }
      const std::vector<uint32_t> &own = byBlock_[candidates_[c].block];
      const size_t mine = firstFrom(own, window.start) - firstFrom(own, candidates_[c].start);
      const size_t all = firstOf(window.start) - firstOf(candidates_[c].start);
      if (walked + mine <= kLaggardAccesses && 16 * mine <= all) {
        walk_.push_back(candidates_[c]);
        walked += mine;
      } else {
        start_ = std::min(start_, candidates_[c].start);
      }
    }
  }

  // Compares access i, earlier in the sweep, with access q, once per pair.
  void compare(uint32_t buffer, uint32_t i, uint32_t q) {
    const Access &a = (*accesses_)[i];
    const Access &b = (*accesses_)[q];
    if (a.at.block == b.at.block || comparedWith_[i] == q)
      return;
    comparedWith_[i] = q;
    ++result_.candidates;
    if (hb_.ordered(a.at, b.at) || hb_.ordered(b.at, a.at))
      return;
    ++result_.pairsChecked;
    if (a.region->overlaps(*b.region))
      record(buffer, a, b);
  }

  // Sweeps one buffer's accesses in the maximal execution's order. Each access b is compared with
  // the earlier accesses of other blocks inside its window whose projections meet its own (reads
  // only with writes); every pair that races has one access before the other in the sweep, so it
  // is compared when the later one is swept.
  void sweep(uint32_t buffer) {
    std::vector<Access> &accesses = perBuffer_[buffer];
    result_.accesses += accesses.size();
    if (accesses.size() < 2)
      return;
    accesses_ = &accesses;
    std::fill(seq_.begin(), seq_.end(), 0);
    for (Access &a : accesses)
      a.seq = seq_[a.at.block]++;
    const size_t distinct = rankKeyCoordinates(accesses);
    const uint32_t leaves = static_cast<uint32_t>(std::max<size_t>(distinct, 2) - 1);
    IntervalIndex reads(leaves), writes(leaves);
    comparedWith_.assign(accesses.size(), kNone);
    byBlock_.clear(); // per block, its accesses of this buffer (indices, in order): made for laggards
    uint32_t lastSegment = kNone;
    start_ = kNone;
    walk_.clear();

    for (uint32_t q = 0; q < accesses.size(); ++q) {
      const Access &b = accesses[q];
      if (b.lo >= b.hi) // empty in the key dimension: overlaps nothing
        continue;
      if (const uint32_t segment = hb_.segment(b.at); segment != lastSegment) {
        enterWindow(windowOf(b.at, b.pos));
        lastSegment = segment;
      }
      auto compareWithQ = [&](uint32_t i) { compare(buffer, i, q); };
      if (start_ < b.pos) {
        writes.query(uint32_t(b.lo), uint32_t(b.hi), start_, compareWithQ);
        if (b.write)
          reads.query(uint32_t(b.lo), uint32_t(b.hi), start_, compareWithQ);
      }
      // A laggard's accesses from its start up to the window: none happens before b (they are
      // at or after its start) or after b (they run before b in a linear extension).
      for (const Laggard &laggard : walk_) {
        const std::vector<uint32_t> &own = byBlock_[laggard.block];
        for (auto it = firstFrom(own, laggard.start); it != own.end() && accesses[*it].pos < std::min(start_, b.pos);
             ++it)
          if (b.write || accesses[*it].write)
            compare(buffer, *it, q);
      }
      (b.write ? writes : reads).insert(q, b.pos, uint32_t(b.lo), uint32_t(b.hi));
    }
  }

  // The recorded pairs in the all-pairs order, each as a witness: its two accesses in the order of
  // the maximal execution, and where their boxes meet.
  RaceSearch witnesses() {
    std::sort(found_.begin(), found_.end(), [](const Found &x, const Found &y) { return x.key < y.key; });
    result_.races.reserve(found_.size());
    for (const Found &f : found_) {
      const Access &first = f.low.pos < f.high.pos ? f.low : f.high;
      const Access &second = &first == &f.low ? f.high : f.low;
      RaceWitness w;
      w.first = first.at;
      w.second = second.at;
      w.firstWrites = first.write;
      w.secondWrites = second.write;
      w.buffer = f.low.region->buffer;
      w.overlap = intersection(*f.low.region, *f.high.region);
      result_.races.push_back(std::move(w));
    }
    return std::move(result_);
  }

  const ir::Program &program_;
  const ProgressResult &progress_;
  const HappensBefore &hb_;
  const uint32_t blocks_;
  std::vector<uint8_t> readOnly_;              // per buffer
  std::vector<size_t> key_;                    // per buffer: its key dimension, kUnresolved until chosen
  std::vector<size_t> expected_;               // per buffer: its accesses, as the stride suggests
  std::vector<std::vector<Access>> perBuffer_; // per buffer: its accesses in the sweep order
  std::vector<uint32_t> offset_, position_;    // see indexPositions
  std::vector<Window> windows_;                // per segment of happens-before
  std::vector<Laggard> candidates_;            // laggard candidates, by window
  std::vector<Found> found_;
  std::unordered_map<uint64_t, size_t> bySitePair_; // into found_
  RaceSearch result_;

  // The sweep of one buffer.
  const std::vector<Access> *accesses_ = nullptr;
  std::vector<uint32_t> seq_;          // per block: its accesses numbered so far
  std::vector<uint32_t> comparedWith_; // per access: the last access it was compared with
  std::vector<std::vector<uint32_t>> byBlock_;
  std::vector<uint32_t> rankTable_;
  std::vector<int64_t> coords_;
  uint32_t start_ = kNone;    // the window of the current segment, laggards aside
  std::vector<Laggard> walk_; // its laggards
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
  return RaceFinder(program, progress, hb).run();
}

} // namespace amk::checker
