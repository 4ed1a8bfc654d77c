// Property tests over seeded random schedules (2-6 blocks, a few scratch buffers and counters,
// opaque tasks on random tiles, random signals and waits, barriers between segments). Each program
// is verified as generated and after four meaning-preserving rewrites, which must all give the same
// set of violated rules: (a) printing with ir::printSurface and parsing again, (b) renaming every
// buffer and counter consistently, (c) shuffling the declarations, (d) relabelling the blocks by a
// permutation (every block's instructions are written as `blocks b in k..k+1 { ... }` sections, so
// relabelling moves them). On top of that (e), every verdict is compared with a small independent
// reference of AMKIR §3 (naive simulation for progress, a boolean happens-before closure with the
// guaranteed-synchronizes-with fixpoint, all-pairs footprint conflicts), which must agree exactly
// on deadlock, barrier mismatch, co-residency, and on the number of racing instruction pairs.
//
// AMK_PROPERTY_SEED and AMK_PROPERTY_COUNT (environment) override the seed and the program count.
#include "amk/checker/happens_before.h"
#include "amk/checker/progress.h"
#include "amk/checker/verify.h"
#include "amk/ir/frontend.h"
#include "amk/ir/printer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bitset>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

namespace amk::checker {
namespace {

// ---------------------------------------------------------------------------------------------
// The model of a generated schedule.

struct Dim {
  enum Kind { Full, Point, Slice } kind = Full;
  int64_t lo = 0, hi = 0; // Point: lo; Slice: lo:hi
};

struct Reg {
  int buffer = 0;
  bool whole = false; // the bare buffer name
  std::vector<Dim> dims;
};

enum class Kind { Task, Signal, Wait, Barrier };
enum class Order { Default, Relaxed, Cta };

struct Instr {
  Kind kind = Kind::Task;
  std::vector<Reg> outs, ins;
  Order order = Order::Default;
  int counter = 0;
  int index = 0;        // element of an array counter
  uint64_t amount = 1;  // signal: increment; wait: threshold
  bool plusOne = false; // print `signal c + 1` instead of `signal c`
};

struct BufferDecl {
  std::string kind; // scratch, param, output, state
  std::vector<int64_t> shape;
};

struct CounterDecl {
  int size = 0; // 0: scalar
};

struct Model {
  int blocks = 2;
  int sms = 8;
  std::vector<BufferDecl> buffers;
  std::vector<CounterDecl> counters;
  // segments[s][k]: the instructions of block k in segment s; barrier s follows segment s.
  std::vector<std::vector<std::vector<Instr>>> segments;
  std::vector<std::vector<bool>> barrierIn; // per barrier, per block

  // Block k's whole program, barriers included.
  std::vector<Instr> program(int k) const {
    std::vector<Instr> out;
    for (size_t s = 0; s < segments.size(); ++s) {
      out.insert(out.end(), segments[s][k].begin(), segments[s][k].end());
      if (s < barrierIn.size() && barrierIn[s][k]) {
        Instr barrier;
        barrier.kind = Kind::Barrier;
        out.push_back(barrier);
      }
    }
    return out;
  }
};

class Rng {
public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(engine_); } // inclusive
  bool chance(int percent) { return between(0, 99) < percent; }
  template <class T> void shuffle(std::vector<T> &v) { std::shuffle(v.begin(), v.end(), engine_); }

private:
  std::mt19937_64 engine_;
};

Reg randomRegion(Rng &rng, const Model &m, int buffer) {
  Reg r;
  r.buffer = buffer;
  const auto &shape = m.buffers[buffer].shape;
  if (rng.chance(10)) {
    r.whole = true;
    return r;
  }
  for (int64_t extent : shape) {
    Dim d;
    int pick = rng.between(0, 9);
    if (pick == 0) {
      d.kind = Dim::Full;
    } else if (pick <= 2) {
      d.kind = Dim::Point;
      d.lo = rng.between(0, static_cast<int>(extent) - 1);
    } else {
      d.kind = Dim::Slice;
      int len = rng.between(1, std::max(1, static_cast<int>(extent) / 2));
      d.lo = rng.between(0, static_cast<int>(extent) - len);
      d.hi = d.lo + len;
    }
    r.dims.push_back(d);
  }
  return r;
}

void repairWaits(Model &m);

Model generate(Rng &rng) {
  Model m;
  m.blocks = rng.between(2, 6);
  m.sms = rng.chance(8) ? rng.between(1, m.blocks - 1) : 8; // sometimes too few for co-residency
  int scratch = rng.between(1, 3);
  for (int i = 0; i < scratch; ++i) {
    BufferDecl b;
    b.kind = rng.chance(15) ? (rng.chance(50) ? "output" : "state") : "scratch";
    if (rng.chance(30))
      b.shape = {rng.between(2, 4), rng.between(4, 8)};
    else
      b.shape = {rng.between(6, 16)};
    m.buffers.push_back(b);
  }
  if (rng.chance(40))
    m.buffers.push_back(BufferDecl{"param", {8}});
  // A third of the programs put all synchronisation on one scalar counter, where several signals
  // and thresholds meet and the guaranteed-synchronizes-with rule matters most.
  bool dense = rng.chance(33);
  int counters = dense ? 1 : rng.between(1, 3);
  for (int i = 0; i < counters; ++i)
    m.counters.push_back(CounterDecl{!dense && rng.chance(30) ? 2 : 0});

  std::vector<int> writable;
  for (size_t b = 0; b < m.buffers.size(); ++b)
    if (m.buffers[b].kind != "param")
      writable.push_back(static_cast<int>(b));

  int segments = rng.between(1, 3);
  std::vector<Instr *> waits;
  std::map<std::pair<int, int>, uint64_t> increments; // (counter, index) -> all increments
  m.segments.assign(segments, std::vector<std::vector<Instr>>(m.blocks));
  for (int s = 0; s < segments; ++s)
    for (int k = 0; k < m.blocks; ++k)
      for (int n = rng.between(0, 4); n > 0; --n) {
        Instr i;
        int pick = rng.between(0, 9);
        if (pick < 5) {
          i.kind = Kind::Task;
          std::vector<int> outBuffers = writable;
          rng.shuffle(outBuffers);
          outBuffers.resize(std::min<size_t>(outBuffers.size(), rng.between(0, 2)));
          for (int b : outBuffers)
            i.outs.push_back(randomRegion(rng, m, b));
          for (int r = rng.between(outBuffers.empty() ? 1 : 0, 2); r > 0; --r) {
            if (!i.outs.empty() && rng.chance(20)) {
              i.ins.push_back(i.outs[rng.between(0, static_cast<int>(i.outs.size()) - 1)]); // read-modify-write
              continue;
            }
            std::vector<int> candidates;
            for (size_t b = 0; b < m.buffers.size(); ++b)
              if (std::find(outBuffers.begin(), outBuffers.end(), static_cast<int>(b)) == outBuffers.end())
                candidates.push_back(static_cast<int>(b));
            if (candidates.empty())
              continue;
            i.ins.push_back(randomRegion(rng, m, candidates[rng.between(0, static_cast<int>(candidates.size()) - 1)]));
          }
          if (i.outs.empty() && i.ins.empty())
            i.outs.push_back(randomRegion(rng, m, writable[0]));
        } else {
          i.kind = pick < 8 ? Kind::Signal : Kind::Wait;
          int o = rng.between(0, 19);
          i.order = o == 0 ? Order::Relaxed : o == 1 ? Order::Cta : Order::Default;
          i.counter = rng.between(0, static_cast<int>(m.counters.size()) - 1);
          i.index = m.counters[i.counter].size ? rng.between(0, m.counters[i.counter].size - 1) : 0;
          if (i.kind == Kind::Signal) {
            i.amount = rng.chance(75) ? 1 : rng.between(2, 3);
            i.plusOne = i.amount == 1 && rng.chance(20);
            increments[{i.counter, i.index}] += i.amount;
          }
        }
        m.segments[s][k].push_back(i);
      }
  // Thresholds, once all increments are known: mostly reachable, sometimes exact, sometimes not.
  for (auto &segment : m.segments)
    for (auto &block : segment)
      for (Instr &i : block)
        if (i.kind == Kind::Wait) {
          uint64_t total = increments[{i.counter, i.index}];
          int pick = rng.between(0, 9);
          if (pick == 0)
            i.amount = total + 1;
          else if (pick <= 4 || total == 0)
            i.amount = std::max<uint64_t>(total, rng.chance(10) ? 0 : 1);
          else
            i.amount = rng.between(1, static_cast<int>(total));
        }
  for (int s = 0; s + 1 < segments; ++s) {
    std::vector<bool> in(m.blocks, true);
    if (rng.chance(8))
      in[rng.between(0, m.blocks - 1)] = false; // a barrier mismatch
    m.barrierIn.push_back(in);
  }
  if (rng.chance(60))
    repairWaits(m);
  return m;
}

// Progress, directly: take any enabled step until none is left.
struct Simulation {
  std::vector<size_t> pc, passed;
  std::map<std::pair<int, int>, uint64_t> value;
};

Simulation simulate(const std::vector<std::vector<Instr>> &code) {
  const size_t B = code.size();
  Simulation sim;
  sim.pc.assign(B, 0);
  sim.passed.assign(B, 0);
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t k = 0; k < B; ++k)
      while (sim.pc[k] < code[k].size()) {
        const Instr &i = code[k][sim.pc[k]];
        if (i.kind == Kind::Wait && sim.value[{i.counter, i.index}] < i.amount)
          break;
        if (i.kind == Kind::Barrier)
          break;
        if (i.kind == Kind::Signal)
          sim.value[{i.counter, i.index}] += i.amount;
        ++sim.pc[k];
        progress = true;
      }
    bool allAtBarrier = true;
    for (size_t k = 0; k < B; ++k)
      allAtBarrier = allAtBarrier && sim.pc[k] < code[k].size() && code[k][sim.pc[k]].kind == Kind::Barrier;
    if (allAtBarrier) {
      for (size_t k = 0; k < B; ++k) {
        ++sim.pc[k];
        ++sim.passed[k];
      }
      progress = true;
    }
  }
  return sim;
}

std::vector<std::vector<Instr>> programs(const Model &m) {
  std::vector<std::vector<Instr>> code(m.blocks);
  for (int k = 0; k < m.blocks; ++k)
    code[k] = m.program(k);
  return code;
}

// Lowers the threshold of each wait that the maximal execution leaves stuck to the value its
// counter ends at, until only barriers are left stuck: thresholds that are reachable but tight.
void repairWaits(Model &m) {
  for (int round = 0; round < 64; ++round) {
    std::vector<std::vector<Instr>> code = programs(m);
    Simulation sim = simulate(code);
    bool changed = false;
    for (int k = 0; k < m.blocks; ++k) {
      if (sim.pc[k] >= code[k].size() || code[k][sim.pc[k]].kind != Kind::Wait)
        continue;
      // Find the same instruction in the segments (barriers are not stored there).
      size_t index = sim.pc[k];
      for (size_t s = 0; s < m.segments.size(); ++s) {
        auto &segment = m.segments[s][k];
        if (index < segment.size()) {
          Instr &wait = segment[index];
          wait.amount = sim.value[{wait.counter, wait.index}];
          changed = true;
          break;
        }
        index -= segment.size();
        if (s < m.barrierIn.size() && m.barrierIn[s][k])
          index -= 1;
      }
    }
    if (!changed)
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering, with the rewrites as parameters.

struct Rendering {
  std::vector<std::string> bufferNames, counterNames;
  std::vector<int> declarationOrder; // indices into buffers then counters (counters offset by buffers.size())
  std::vector<int> blockOf;          // original block -> block id in the text
};

Rendering plainRendering(const Model &m) {
  Rendering r;
  for (size_t b = 0; b < m.buffers.size(); ++b)
    r.bufferNames.push_back("buf" + std::to_string(b));
  for (size_t c = 0; c < m.counters.size(); ++c)
    r.counterNames.push_back("cnt" + std::to_string(c));
  r.declarationOrder.resize(m.buffers.size() + m.counters.size());
  std::iota(r.declarationOrder.begin(), r.declarationOrder.end(), 0);
  r.blockOf.resize(m.blocks);
  std::iota(r.blockOf.begin(), r.blockOf.end(), 0);
  return r;
}

std::string regionText(const Reg &r, const Rendering &names) {
  std::string out = names.bufferNames[r.buffer];
  if (r.whole)
    return out;
  out += "[";
  for (size_t d = 0; d < r.dims.size(); ++d) {
    const Dim &dim = r.dims[d];
    out += d ? ", " : "";
    if (dim.kind == Dim::Full)
      out += ":";
    else if (dim.kind == Dim::Point)
      out += std::to_string(dim.lo);
    else
      out += std::to_string(dim.lo) + ":" + std::to_string(dim.hi);
  }
  return out + "]";
}

std::string instructionText(const Model &m, const Instr &i, const Rendering &names) {
  const char *suffix = i.order == Order::Relaxed ? ".relaxed" : i.order == Order::Cta ? ".cta" : "";
  auto counter = [&] {
    return names.counterNames[i.counter] + (m.counters[i.counter].size ? "[" + std::to_string(i.index) + "]" : "");
  };
  switch (i.kind) {
  case Kind::Task: {
    std::string out = "opaque";
    for (size_t r = 0; r < i.outs.size(); ++r)
      out += (r ? ", " : " ") + regionText(i.outs[r], names);
    out += " <-";
    for (size_t r = 0; r < i.ins.size(); ++r)
      out += (r ? ", " : " ") + regionText(i.ins[r], names);
    return out;
  }
  case Kind::Signal:
    return std::string("signal") + suffix + " " + counter() +
           (i.amount != 1 || i.plusOne ? " + " + std::to_string(i.amount) : "");
  case Kind::Wait:
    return std::string("wait") + suffix + " " + counter() + " >= " + std::to_string(i.amount);
  case Kind::Barrier:
    return "barrier";
  }
  return "";
}

std::string render(const Model &m, const Rendering &r) {
  std::string out = "amkir 1\ntarget sm_90 sms=" + std::to_string(m.sms) + "\ngrid blocks=" + std::to_string(m.blocks) +
                    " threads=128 occupancy=1\n";
  for (int d : r.declarationOrder) {
    if (d < static_cast<int>(m.buffers.size())) {
      const BufferDecl &b = m.buffers[d];
      out += b.kind + " " + r.bufferNames[d] + " : f32[";
      for (size_t i = 0; i < b.shape.size(); ++i)
        out += (i ? ", " : "") + std::to_string(b.shape[i]);
      out += "]\n";
    } else {
      int c = d - static_cast<int>(m.buffers.size());
      out += "counter " + r.counterNames[c] +
             (m.counters[c].size ? "[" + std::to_string(m.counters[c].size) + "]" : "") + "\n";
    }
  }
  // Sections in the order of the block ids in the text.
  std::vector<int> original(m.blocks);
  for (int k = 0; k < m.blocks; ++k)
    original[r.blockOf[k]] = k;
  auto section = [&](int id) { return "blocks b in " + std::to_string(id) + ".." + std::to_string(id + 1) + " {"; };
  for (size_t s = 0; s < m.segments.size(); ++s) {
    for (int id = 0; id < m.blocks; ++id) {
      const auto &code = m.segments[s][original[id]];
      if (code.empty())
        continue;
      out += section(id) + "\n";
      for (const Instr &i : code)
        out += "  " + instructionText(m, i, r) + "\n";
      out += "}\n";
    }
    if (s < m.barrierIn.size()) {
      const auto &in = m.barrierIn[s];
      if (std::all_of(in.begin(), in.end(), [](bool b) { return b; })) {
        out += "blocks b in 0.." + std::to_string(m.blocks) + " { barrier }\n";
      } else {
        for (int id = 0; id < m.blocks; ++id)
          if (in[original[id]])
            out += section(id) + " barrier }\n";
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// What is compared.

struct Summary {
  std::set<Rule> rules;
  size_t racesFound = 0;
  size_t stuck = 0;
  bool wellFormed = false;
  std::string diagnostics;
  friend bool operator==(const Summary &a, const Summary &b) {
    return a.rules == b.rules && a.racesFound == b.racesFound && a.stuck == b.stuck && a.wellFormed == b.wellFormed;
  }
};

std::string describe(const Summary &s) {
  if (!s.wellFormed)
    return "malformed:\n" + s.diagnostics;
  std::string out = "{";
  for (Rule r : s.rules)
    out += std::string(out.size() > 1 ? ", " : "") + ruleId(r);
  return out + "} races=" + std::to_string(s.racesFound) + " stuck=" + std::to_string(s.stuck);
}

Summary summarise(const ir::Schedule &schedule) {
  Summary s;
  s.wellFormed = schedule.program.has_value();
  if (!s.wellFormed) {
    s.diagnostics = schedule.renderDiagnostics();
    return s;
  }
  Verdict v = verify(*schedule.program);
  for (const Violation &violation : v.violations) {
    s.rules.insert(violation.rule);
    if (violation.deadlock)
      s.stuck = violation.deadlock->stuck.size();
  }
  s.racesFound = v.racesFound;
  return s;
}

Summary check(const std::string &text) { return summarise(ir::parseSchedule("property.amkir", text)); }

// ---------------------------------------------------------------------------------------------
// The reference: AMKIR §3 written out as directly as possible, on the model.

struct Box {
  int buffer;
  std::vector<int64_t> lo, hi;
};

Box boxOf(const Model &m, const Reg &r) {
  Box b{r.buffer, {}, {}};
  const auto &shape = m.buffers[r.buffer].shape;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (r.whole || r.dims[d].kind == Dim::Full) {
      b.lo.push_back(0);
      b.hi.push_back(shape[d]);
    } else if (r.dims[d].kind == Dim::Point) {
      b.lo.push_back(r.dims[d].lo);
      b.hi.push_back(r.dims[d].lo + 1);
    } else {
      b.lo.push_back(r.dims[d].lo);
      b.hi.push_back(r.dims[d].hi);
    }
  }
  return b;
}

bool overlap(const Box &a, const Box &b) {
  if (a.buffer != b.buffer)
    return false;
  for (size_t d = 0; d < a.lo.size(); ++d)
    if (a.hi[d] <= b.lo[d] || b.hi[d] <= a.lo[d])
      return false;
  return true;
}

struct Reference {
  Summary summary;
  std::vector<size_t> executed;
};

Reference reference(const Model &m) {
  Reference ref;
  Summary &s = ref.summary;
  s.wellFormed = true;
  const int B = m.blocks;
  const std::vector<std::vector<Instr>> code = programs(m);

  // Co-residency and barrier counts.
  bool anySync = false;
  std::vector<size_t> barrierCount(B, 0);
  for (int k = 0; k < B; ++k)
    for (const Instr &i : code[k]) {
      anySync = anySync || i.kind == Kind::Barrier || i.kind == Kind::Wait;
      barrierCount[k] += i.kind == Kind::Barrier;
    }
  if (B > m.sms && anySync)
    s.rules.insert(Rule::CoResidency);
  if (std::adjacent_find(barrierCount.begin(), barrierCount.end(), std::not_equal_to<>()) != barrierCount.end())
    s.rules.insert(Rule::BarrierMismatch);

  // Progress.
  const Simulation sim = simulate(code);
  const std::vector<size_t> &pc = sim.pc, &passed = sim.passed;
  bool allStuckAtBarriers = true;
  for (int k = 0; k < B; ++k)
    if (pc[k] < code[k].size()) {
      ++s.stuck;
      allStuckAtBarriers = allStuckAtBarriers && code[k][pc[k]].kind == Kind::Barrier;
    }
  // A deadlock where every stuck block waits at a barrier is the barrier mismatch itself (reported
  // once, as AMK-V002); with equal barrier counts, or a block stuck at a wait, it is AMK-V003.
  if (s.stuck && !(s.rules.count(Rule::BarrierMismatch) && allStuckAtBarriers))
    s.rules.insert(Rule::Deadlock);
  ref.executed = pc;

  // Happens-before over executed instructions, as a bit matrix closed transitively.
  std::vector<std::pair<int, size_t>> nodes;
  std::vector<std::vector<int>> id(B);
  for (int k = 0; k < B; ++k)
    for (size_t i = 0; i < pc[k]; ++i) {
      id[k].push_back(static_cast<int>(nodes.size()));
      nodes.push_back({k, i});
    }
  const size_t N = nodes.size();
  constexpr size_t kMax = 256;
  if (N > kMax) {
    ADD_FAILURE() << "reference limited to " << kMax << " instructions";
    return ref;
  }
  std::vector<std::bitset<kMax>> base(N);
  for (int k = 0; k < B; ++k)
    for (size_t i = 0; i < pc[k]; ++i)
      for (size_t j = i + 1; j < pc[k]; ++j)
        base[id[k][i]].set(id[k][j]);
  // Barrier order: everything up to a block's g-th barrier before everything after any block's g-th.
  std::vector<std::vector<size_t>> barrierAt(B);
  for (int k = 0; k < B; ++k)
    for (size_t i = 0; i < pc[k]; ++i)
      if (code[k][i].kind == Kind::Barrier)
        barrierAt[k].push_back(i);
  for (size_t g = 0; g < passed[0]; ++g)
    for (int a = 0; a < B; ++a)
      for (int b = 0; b < B; ++b)
        for (size_t i = 0; i <= barrierAt[a][g]; ++i)
          for (size_t j = barrierAt[b][g] + 1; j < pc[b]; ++j)
            base[id[a][i]].set(id[b][j]);
  auto close = [&](std::vector<std::bitset<kMax>> hb) {
    for (size_t mid = 0; mid < N; ++mid)
      for (size_t i = 0; i < N; ++i)
        if (hb[i][mid])
          hb[i] |= hb[mid];
    return hb;
  };
  std::vector<std::bitset<kMax>> hb = close(base);
  auto at = [&](size_t n) -> const Instr & { return code[nodes[n].first][nodes[n].second]; };
  // The guaranteed synchronizes-with fixpoint.
  for (bool added = true; added;) {
    added = false;
    std::vector<std::bitset<kMax>> next = base;
    for (size_t w = 0; w < N; ++w) {
      const Instr &wait = at(w);
      if (wait.kind != Kind::Wait || wait.order != Order::Default)
        continue;
      for (size_t sig = 0; sig < N; ++sig) {
        const Instr &signal = at(sig);
        if (signal.kind != Kind::Signal || signal.order != Order::Default || signal.counter != wait.counter ||
            signal.index != wait.index || hb[w][sig])
          continue;
        uint64_t others = 0;
        for (size_t t = 0; t < N; ++t) {
          const Instr &other = at(t);
          if (t != sig && other.kind == Kind::Signal && other.counter == wait.counter && other.index == wait.index &&
              !hb[sig][t] && !hb[w][t])
            others += other.amount;
        }
        if (others < wait.amount)
          next[sig].set(w);
      }
    }
    next = close(next);
    added = next != hb;
    hb = std::move(next);
  }

  // Conflicts: every pair of tasks of different blocks with overlapping boxes, one writing.
  auto writable = [&](int buffer) { return m.buffers[buffer].kind != "param"; };
  for (size_t x = 0; x < N; ++x)
    for (size_t y = x + 1; y < N; ++y) {
      if (nodes[x].first == nodes[y].first || at(x).kind != Kind::Task || at(y).kind != Kind::Task)
        continue;
      bool conflict = false;
      for (int xw = 0; xw < 2 && !conflict; ++xw)
        for (int yw = 0; yw < 2 && !conflict; ++yw) {
          if (!xw && !yw)
            continue;
          for (const Reg &rx : xw ? at(x).outs : at(x).ins)
            for (const Reg &ry : yw ? at(y).outs : at(y).ins)
              if (writable(rx.buffer) && overlap(boxOf(m, rx), boxOf(m, ry)))
                conflict = true;
        }
      if (conflict && !hb[x][y] && !hb[y][x])
        ++s.racesFound;
    }
  if (s.racesFound)
    s.rules.insert(Rule::Race);
  return ref;
}

// (f) Every order the checker's happens-before claims holds in every sequentially consistent
// interleaving: an independent, semantic check of the static rule on small programs. The states
// are the blocks' program counters (counter values follow from them); a barrier is one joint step
// once every block waits at it. In each reachable state, the last instruction each block ran must
// have every instruction that the checker orders before it already run. Returns a description of
// the first violation, or "" (also when the state space is too large to explore; `explored` says
// whether it was explored).
std::string interleavingViolation(const Model &m, const ir::Program &program, bool &explored) {
  explored = false;
  const std::vector<std::vector<Instr>> code = programs(m);
  const size_t B = code.size();
  ProgressResult progress = analyzeProgress(program);
  HappensBefore hb(program, progress);
  // need[j][b][i]: how many instructions of block i happen before instruction b of block j.
  std::vector<std::vector<std::vector<uint32_t>>> need(B);
  uint64_t states = 1;
  for (size_t j = 0; j < B; ++j) {
    states *= code[j].size() + 1;
    need[j].assign(progress.executed[j], std::vector<uint32_t>(B, 0));
    for (uint32_t b = 0; b < progress.executed[j]; ++b)
      for (uint32_t i = 0; i < B; ++i)
        if (i != j)
          for (uint32_t a = 0; a < progress.executed[i]; ++a)
            if (hb.ordered({i, a}, {static_cast<uint32_t>(j), b}))
              need[j][b][i] = a + 1;
  }
  if (states > 40000)
    return "";
  explored = true;
  auto encode = [&](const std::vector<size_t> &pc) {
    uint64_t key = 0;
    for (size_t k = 0; k < B; ++k)
      key = key * (code[k].size() + 1) + pc[k];
    return key;
  };
  std::unordered_set<uint64_t> seen;
  std::vector<std::vector<size_t>> stack{std::vector<size_t>(B, 0)};
  seen.insert(encode(stack.back()));
  while (!stack.empty()) {
    std::vector<size_t> pc = std::move(stack.back());
    stack.pop_back();
    for (size_t j = 0; j < B; ++j) {
      if (pc[j] == 0)
        continue;
      if (pc[j] > progress.executed[j])
        return "block " + std::to_string(j) + " runs instruction " + std::to_string(pc[j] - 1) +
               ", which the maximal execution never reaches";
      for (size_t i = 0; i < B; ++i)
        if (pc[i] < need[j][pc[j] - 1][i])
          return "block " + std::to_string(j) + " ran instruction " + std::to_string(pc[j] - 1) + " while block " +
                 std::to_string(i) + " had run only " + std::to_string(pc[i]) +
                 " instructions, but the checker orders " + std::to_string(need[j][pc[j] - 1][i]) +
                 " of them before it";
    }
    std::map<std::pair<int, int>, uint64_t> value;
    for (size_t k = 0; k < B; ++k)
      for (size_t i = 0; i < pc[k]; ++i)
        if (code[k][i].kind == Kind::Signal)
          value[{code[k][i].counter, code[k][i].index}] += code[k][i].amount;
    auto push = [&](std::vector<size_t> next) {
      if (seen.insert(encode(next)).second)
        stack.push_back(std::move(next));
    };
    bool allAtBarrier = true;
    for (size_t k = 0; k < B; ++k) {
      if (pc[k] == code[k].size()) {
        allAtBarrier = false;
        continue;
      }
      const Instr &i = code[k][pc[k]];
      allAtBarrier = allAtBarrier && i.kind == Kind::Barrier;
      if (i.kind == Kind::Barrier || (i.kind == Kind::Wait && value[{i.counter, i.index}] < i.amount))
        continue;
      std::vector<size_t> next = pc;
      ++next[k];
      push(std::move(next));
    }
    if (allAtBarrier) {
      std::vector<size_t> next = pc;
      for (size_t &p : next)
        ++p;
      push(std::move(next));
    }
  }
  return "";
}

uint64_t envOr(const char *name, uint64_t fallback) {
  const char *v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(Property, RewritesKeepTheVerdictAndTheReferenceAgrees) {
  const uint64_t seed = envOr("AMK_PROPERTY_SEED", 0x5eed2024);
  const uint64_t count = envOr("AMK_PROPERTY_COUNT", 600);
  Rng rng(seed);
  std::map<std::string, int> seen; // verdict shapes, to check the generator covers them
  int failures = 0;
  int explored = 0;
  for (uint64_t n = 0; n < count && failures < 10; ++n) {
    Model m = generate(rng);
    Rendering plain = plainRendering(m);
    const std::string text = render(m, plain);
    ir::Schedule schedule = ir::parseSchedule("property.amkir", text);
    Summary base = summarise(schedule);
    auto fail = [&](const std::string &what, const std::string &variant, const Summary &got) {
      ++failures;
      ADD_FAILURE() << "program " << n << " (seed " << seed << "): " << what << "\n  expected " << describe(base)
                    << "\n  got      " << describe(got) << "\n--- program ---\n"
                    << text << (variant.empty() ? "" : "--- rewritten ---\n" + variant);
    };
    if (!base.wellFormed) {
      fail("generated program is not well-formed", "", base);
      continue;
    }
    for (Rule r : base.rules)
      ++seen[ruleId(r)];
    ++seen[base.rules.empty() ? "safe" : "unsafe"];

    // (a) print the parsed AST and parse it again.
    const std::string printed = ir::printSurface(*schedule.ast);
    Summary reprinted = check(printed);
    if (!(reprinted == base))
      fail("(a) printSurface round trip changes the verdict", printed, reprinted);

    // (b) rename every buffer and counter: a shuffled mix of the old names and fresh ones.
    Rendering renamed = plain;
    {
      std::vector<std::string> pool = plain.bufferNames;
      pool.insert(pool.end(), plain.counterNames.begin(), plain.counterNames.end());
      for (int i = 0; i < 6; ++i)
        pool.push_back("n" + std::to_string(rng.between(0, 9)) + "_" + std::to_string(i));
      rng.shuffle(pool);
      size_t next = 0;
      for (std::string &name : renamed.bufferNames)
        name = pool[next++];
      for (std::string &name : renamed.counterNames)
        name = pool[next++];
    }
    const std::string renamedText = render(m, renamed);
    Summary afterRename = check(renamedText);
    if (!(afterRename == base))
      fail("(b) renaming buffers and counters changes the verdict", renamedText, afterRename);

    // (c) shuffle the declarations (all still before the sections).
    Rendering shuffled = plain;
    rng.shuffle(shuffled.declarationOrder);
    const std::string shuffledText = render(m, shuffled);
    Summary afterShuffle = check(shuffledText);
    if (!(afterShuffle == base))
      fail("(c) reordering the declarations changes the verdict", shuffledText, afterShuffle);

    // (d) relabel the blocks by a random permutation.
    Rendering permuted = plain;
    rng.shuffle(permuted.blockOf);
    const std::string permutedText = render(m, permuted);
    Summary afterPermute = check(permutedText);
    if (!(afterPermute == base))
      fail("(d) permuting the block ids changes the verdict", permutedText, afterPermute);

    // (e) the reference.
    Reference ref = reference(m);
    if (!(ref.summary == base))
      fail("(e) the checker and the reference of AMKIR §3 disagree (expected = checker, got = reference)", "",
           ref.summary);

    // (f) the checker's happens-before holds in every interleaving.
    bool wasExplored = false;
    std::string violation = interleavingViolation(m, *schedule.program, wasExplored);
    explored += wasExplored;
    if (!violation.empty()) {
      fail("(f) an interleaving contradicts the checker's happens-before: " + violation, "", base);
    }
  }
  if (std::getenv("AMK_PROPERTY_VERBOSE"))
    for (const auto &[shape, n] : seen)
      std::printf("%s: %d\n", shape.c_str(), n);
  if (std::getenv("AMK_PROPERTY_VERBOSE"))
    std::printf("interleavings explored for %d programs\n", explored);
  // The generator covers every verdict.
  if (count >= 500) {
    for (const char *shape : {"safe", "unsafe", "AMK-V001", "AMK-V002", "AMK-V003", "AMK-V004"}) {
      EXPECT_GE(seen[shape], 5) << shape << " seen only " << seen[shape] << " times";
    }
  }
  if (count >= 500) {
    EXPECT_GE(explored, static_cast<int>(count / 5)) << "too few programs small enough for (f)";
  }
  EXPECT_EQ(failures, 0);
}

} // namespace
} // namespace amk::checker
