// The Z3 model of a core program's executions (docs/smt.md) and the queries that decide deadlock-
// and race-freedom on it. The only file of the project that includes z3++.h. It reads the program
// and nothing of the checker's analysis: conflicting pairs come from a plain all-pairs loop over the
// footprints, happens-before from vector clocks over the model's own synchronisation.
#include "amk/checker/smt.h"

#include "amk/checker/verify.h"

#include <z3++.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <map>
#include <stdexcept>

namespace amk::checker {
namespace {

using ir::InstructionKind;
using ir::SyncOrder;
using SteadyClock = std::chrono::steady_clock;

struct CounterElement {
  uint32_t counter = 0;
  int64_t index = 0;
  auto operator<=>(const CounterElement &) const = default;
};

CounterElement elementOf(const ir::Instruction &i) { return {i.counter, i.counterIndex}; }

// Two instructions of different blocks whose footprints overlap in one buffer, one writing.
struct ConflictPair {
  InstructionRef a; // a.block < b.block
  InstructionRef b;
  bool aWrites = false;
  bool bWrites = false;
  uint32_t buffer = 0;
  ir::Region overlap;
  std::pair<uint32_t, uint32_t> sites; // smaller site first: races are counted per source-line pair
};

ir::Region overlapOf(const ir::Region &x, const ir::Region &y) {
  ir::Region r = x;
  for (size_t d = 0; d < r.lo.size(); ++d) {
    r.lo[d] = std::max(x.lo[d], y.lo[d]);
    r.hi[d] = std::min(x.hi[d], y.hi[d]);
  }
  r.pointDims = x.pointDims | y.pointDims; // a point on either side leaves one index there
  return r;
}

// Every conflicting pair, by brute force over the footprints (a write-write overlap is preferred
// as the pair's description, then write-read, then read-write).
std::vector<ConflictPair> conflictingPairs(const ir::Program &program) {
  std::vector<ConflictPair> pairs;
  const auto &blocks = program.blockPrograms;
  auto firstOverlap =
      [](const std::vector<ir::Region> &xs,
         const std::vector<ir::Region> &ys) -> std::optional<std::pair<const ir::Region *, const ir::Region *>> {
    for (const ir::Region &x : xs)
      for (const ir::Region &y : ys)
        if (x.overlaps(y))
          return std::make_pair(&x, &y);
    return std::nullopt;
  };
  for (uint32_t ja = 0; ja < blocks.size(); ++ja)
    for (uint32_t ia = 0; ia < blocks[ja].size(); ++ia) {
      const ir::Instruction &a = blocks[ja][ia];
      if (a.kind != InstructionKind::Task)
        continue;
      for (uint32_t jb = ja + 1; jb < blocks.size(); ++jb)
        for (uint32_t ib = 0; ib < blocks[jb].size(); ++ib) {
          const ir::Instruction &b = blocks[jb][ib];
          if (b.kind != InstructionKind::Task)
            continue;
          ConflictPair pair;
          pair.a = {ja, ia};
          pair.b = {jb, ib};
          auto hit = firstOverlap(a.outputs, b.outputs);
          if (hit) {
            pair.aWrites = pair.bWrites = true;
          } else if ((hit = firstOverlap(a.outputs, b.inputs))) {
            pair.aWrites = true;
          } else if ((hit = firstOverlap(a.inputs, b.outputs))) {
            pair.bWrites = true;
          } else {
            continue;
          }
          pair.buffer = hit->first->buffer;
          pair.overlap = overlapOf(*hit->first, *hit->second);
          pair.sites = {std::min(a.site, b.site), std::max(a.site, b.site)};
          pairs.push_back(std::move(pair));
        }
    }
  return pairs;
}

// The executions of the program as the models of one set of constraints (docs/smt.md, "The
// encoding"). Base constraints are asserted once; each query adds its own inside push/pop.
class ExecutionModel {
public:
  ExecutionModel(const ir::Program &program, z3::context &context, z3::solver &solver)
      : program_(program), context_(context), solver_(solver), horizon_(context.int_const("horizon")) {
    blocks_ = static_cast<uint32_t>(program.blockPrograms.size());
    declareEvents();
    assignClockStates();
    constrainWaits();
  }

  const std::vector<uint32_t> &barrierCounts() const { return barrierCounts_; }
  bool barriersMatch() const {
    return std::adjacent_find(barrierCounts_.begin(), barrierCounts_.end(), std::not_equal_to<>()) ==
           barrierCounts_.end();
  }
  // Where block j stops when every wait passes: its end, or its first barrier that not every block has.
  uint32_t goal(uint32_t block) const { return goal_[block]; }
  size_t clockVariables() const { return clockVariables_; }

  // The event ran in this execution: the executed events are exactly those before the horizon.
  z3::expr executed(InstructionRef r) const { return time(r) < horizon_; }

  // The number of block-k events that happen before r or are r.
  z3::expr clockOf(InstructionRef r, uint32_t k) const {
    if (k == r.block)
      return context_.int_val(static_cast<int64_t>(r.index) + 1);
    return states_[stateAt_[r.block][r.index]][k];
  }

  z3::expr unordered(const ConflictPair &p) const {
    return executed(p.a) && executed(p.b) && clockOf(p.b, p.a.block) <= number(p.a.index) &&
           clockOf(p.a, p.b.block) <= number(p.b.index);
  }

  // Ordered in every execution that runs both, as far as constant clocks (program start, barriers)
  // already show: the query would be trivially unsatisfiable.
  bool orderedByConstants(const ConflictPair &p) const {
    int64_t v = 0;
    if (clockOf(p.b, p.a.block).is_numeral_i64(v) && v > static_cast<int64_t>(p.a.index))
      return true;
    return clockOf(p.a, p.b.block).is_numeral_i64(v) && v > static_cast<int64_t>(p.b.index);
  }

  // Every block reaches its goal and every wait reads the latest value (AMKIR §3: by monotonicity a
  // complete execution exists iff every fair execution completes).
  z3::expr completeExecution() const {
    z3::expr_vector all(context_);
    for (uint32_t j = 0; j < blocks_; ++j)
      if (goal_[j] > 0)
        all.push_back(executed({j, goal_[j] - 1}));
    for (const auto &[ref, readPoint] : readPoints_)
      all.push_back(readPoint == time(ref));
    return all.empty() ? context_.bool_val(true) : z3::mk_and(all);
  }

  int64_t timeIn(const z3::model &model, InstructionRef r) const { return valueIn(model, time(r)); }

  // The model's execution: executed events up to time `until`, as one interleaving with a step
  // number each (the k-th barriers of all blocks share one). Events of different blocks may share a
  // time; they are interleaved as docs/smt.md says: a wait that reads before that instant first,
  // then signals and tasks, then a wait that reads everything up to that instant.
  std::vector<SmtEvent> execution(const z3::model &model, int64_t until) const {
    const int64_t horizon = valueIn(model, horizon_);
    struct Timed {
      SmtEvent event;
      int64_t time = 0;
      int tie = 1;
    };
    std::vector<Timed> timed;
    for (uint32_t j = 0; j < blocks_; ++j)
      for (uint32_t i = 0; i < program_.blockPrograms[j].size(); ++i) {
        const int64_t t = timeIn(model, {j, i});
        if (t >= horizon || t > until)
          break; // times grow along the block
        Timed e{{{j, i}, 0, std::nullopt}, t};
        if (auto it = valueRead_.find({j, i}); it != valueRead_.end()) {
          e.event.valueRead = static_cast<uint64_t>(valueIn(model, it->second));
          e.tie = valueIn(model, readPoints_.at({j, i})) < t ? 0 : 2;
        }
        timed.push_back(e);
      }
    std::stable_sort(timed.begin(), timed.end(), [](const Timed &x, const Timed &y) {
      if (x.time != y.time)
        return x.time < y.time;
      return x.tie != y.tie ? x.tie < y.tie : x.event.at.block < y.event.at.block;
    });
    std::vector<SmtEvent> events;
    int64_t step = -1;
    for (size_t n = 0; n < timed.size(); ++n) {
      const bool sameBarrier = n > 0 && timed[n].time == timed[n - 1].time && isBarrier(timed[n].event.at) &&
                               isBarrier(timed[n - 1].event.at);
      step += sameBarrier ? 0 : 1;
      events.push_back(timed[n].event);
      events.back().step = step;
    }
    return events;
  }

private:
  struct RefLess {
    bool operator()(InstructionRef x, InstructionRef y) const {
      return x.block != y.block ? x.block < y.block : x.index < y.index;
    }
  };

  const z3::expr &time(InstructionRef r) const { return times_[r.block][r.index]; }
  bool isBarrier(InstructionRef r) const {
    return program_.blockPrograms[r.block][r.index].kind == InstructionKind::Barrier;
  }
  z3::expr number(int64_t value) const { return context_.int_val(value); }

  static int64_t valueIn(const z3::model &model, const z3::expr &e) {
    int64_t v = 0;
    if (!model.eval(e, true).is_numeral_i64(v))
      throw std::runtime_error("z3: a model value is not a 64-bit integer");
    return v;
  }

  std::string name(const char *what, InstructionRef r) const {
    return std::string(what) + "_" + std::to_string(r.block) + "_" + std::to_string(r.index);
  }

  // Times, program order, barriers, the modification order of each counter element.
  void declareEvents() {
    barrierCounts_.assign(blocks_, 0);
    barrierIndex_.assign(blocks_, {});
    for (uint32_t j = 0; j < blocks_; ++j)
      for (uint32_t i = 0; i < program_.blockPrograms[j].size(); ++i)
        if (program_.blockPrograms[j][i].kind == InstructionKind::Barrier) {
          barrierIndex_[j].push_back(i);
          ++barrierCounts_[j];
        }
    matchedBarriers_ = blocks_ == 0 ? 0 : *std::min_element(barrierCounts_.begin(), barrierCounts_.end());
    std::vector<z3::expr> barrierTimes;
    for (uint32_t m = 0; m < matchedBarriers_; ++m)
      barrierTimes.push_back(context_.int_const(("barrier_" + std::to_string(m)).c_str()));

    goal_.assign(blocks_, 0);
    for (uint32_t j = 0; j < blocks_; ++j) {
      const auto &block = program_.blockPrograms[j];
      goal_[j] = barrierCounts_[j] > matchedBarriers_ ? barrierIndex_[j][matchedBarriers_]
                                                      : static_cast<uint32_t>(block.size());
      times_.emplace_back();
      uint32_t barriers = 0;
      for (uint32_t i = 0; i < block.size(); ++i) {
        const ir::Instruction &instruction = block[i];
        if (instruction.kind == InstructionKind::Barrier && barriers < matchedBarriers_) {
          // The k-th barrier of every block completes at one instant: one shared time.
          times_[j].push_back(barrierTimes[barriers++]);
          continue;
        }
        times_[j].push_back(context_.int_const(name("t", {j, i}).c_str()));
        if (instruction.kind == InstructionKind::Barrier) {
          ++barriers;
          solver_.add(times_[j].back() >= horizon_); // an unmatched barrier never completes
        }
        if (instruction.kind == InstructionKind::Signal)
          signalsOf_[elementOf(instruction)].push_back({j, i});
      }
      for (uint32_t i = 0; i + 1 < block.size(); ++i)
        solver_.add(times_[j][i] < times_[j][i + 1]);
    }
    // The increments of one counter element are totally ordered: their times are their
    // modification order.
    for (const auto &[element, signals] : signalsOf_) {
      if (signals.size() < 2)
        continue;
      z3::expr_vector signalTimes(context_);
      for (InstructionRef s : signals)
        signalTimes.push_back(time(s));
      solver_.add(z3::distinct(signalTimes));
    }
  }

  // Vector clocks are piecewise constant along a block: they change only at barriers (to a constant
  // vector) and at plain waits (fresh variables, bounded below in constrainWaits).
  void assignClockStates() {
    std::vector<z3::expr> zero;
    for (uint32_t k = 0; k < blocks_; ++k)
      zero.push_back(context_.int_val(0));
    states_.push_back(zero);
    std::vector<uint32_t> barrierState;
    for (uint32_t m = 0; m < matchedBarriers_; ++m) {
      std::vector<z3::expr> state;
      for (uint32_t k = 0; k < blocks_; ++k)
        state.push_back(context_.int_val(static_cast<int64_t>(barrierIndex_[k][m]) + 1));
      barrierState.push_back(static_cast<uint32_t>(states_.size()));
      states_.push_back(state);
    }
    stateBefore_.assign(blocks_, {});
    stateAt_.assign(blocks_, {});
    for (uint32_t j = 0; j < blocks_; ++j) {
      uint32_t current = 0, barriers = 0;
      for (uint32_t i = 0; i < program_.blockPrograms[j].size(); ++i) {
        const ir::Instruction &instruction = program_.blockPrograms[j][i];
        stateBefore_[j].push_back(current);
        if (instruction.kind == InstructionKind::Barrier && barriers < matchedBarriers_) {
          current = barrierState[barriers++];
        } else if (instruction.kind == InstructionKind::Wait && instruction.order == SyncOrder::Default) {
          std::vector<z3::expr> state;
          for (uint32_t k = 0; k < blocks_; ++k) {
            if (k == j) {
              state.push_back(context_.int_val(0)); // never read: a block's own component is the index
            } else {
              state.push_back(context_.int_const((name("hb", {j, i}) + "_" + std::to_string(k)).c_str()));
              ++clockVariables_;
            }
          }
          current = static_cast<uint32_t>(states_.size());
          states_.push_back(state);
        }
        stateAt_[j].push_back(current);
      }
    }
  }

  // Each wait's read point in its counter's modification order, what it may read, what it must
  // have read to pass, and (plain waits) the clocks it acquires.
  void constrainWaits() {
    for (uint32_t j = 0; j < blocks_; ++j) {
      std::map<CounterElement, std::vector<z3::expr>> earlierReads;
      for (uint32_t i = 0; i < program_.blockPrograms[j].size(); ++i) {
        const ir::Instruction &wait = program_.blockPrograms[j][i];
        if (wait.kind != InstructionKind::Wait)
          continue;
        const InstructionRef w{j, i};
        const CounterElement element = elementOf(wait);
        const std::vector<InstructionRef> &signals = signalsOf_[element];
        z3::expr readPoint = context_.int_const(name("rp", w).c_str());
        readPoints_.emplace(w, readPoint);
        z3::expr ran = executed(w);
        z3::expr_vector conditions(context_);
        conditions.push_back(readPoint <= time(w)); // a wait reads a value that exists when it passes

        z3::expr_vector increments(context_);
        for (InstructionRef s : signals)
          increments.push_back(z3::ite(time(s) <= readPoint,
                                       context_.int_val(program_.blockPrograms[s.block][s.index].amount),
                                       context_.int_val(0)));
        z3::expr value = increments.empty() ? context_.int_val(0) : z3::sum(increments);
        valueRead_.emplace(w, value);
        conditions.push_back(value >= context_.int_val(wait.amount));

        // At least as new as every increment that happens before the wait (read through the clock
        // before the wait: an increment ordered only through this wait's own read is read anyway).
        const std::vector<z3::expr> &before = states_[stateBefore_[j][i]];
        for (InstructionRef s : signals) {
          if (s.block == j) {
            if (s.index < i)
              conditions.push_back(readPoint >= time(s));
            continue;
          }
          int64_t constant = 0;
          if (!before[s.block].is_numeral_i64(constant))
            conditions.push_back(z3::implies(before[s.block] > number(s.index), readPoint >= time(s)));
          else if (constant > static_cast<int64_t>(s.index))
            conditions.push_back(readPoint >= time(s));
        }
        // ... and as every value this block already read from the element.
        for (const z3::expr &earlier : earlierReads[element])
          conditions.push_back(readPoint >= earlier);
        earlierReads[element].push_back(readPoint);
        solver_.add(z3::implies(ran, z3::mk_and(conditions)));

        if (wait.order != SyncOrder::Default)
          continue; // relaxed and .cta waits acquire nothing from other blocks
        // Lower bounds suffice: queries only ever bound clocks from above, so a model may always
        // lower a clock to its least solution, which is exactly happens-before (docs/smt.md).
        const std::vector<z3::expr> &after = states_[stateAt_[j][i]];
        for (uint32_t k = 0; k < blocks_; ++k)
          if (k != j)
            solver_.add(after[k] >= before[k]);
        for (InstructionRef s : signals) {
          if (s.block == j || program_.blockPrograms[s.block][s.index].order != SyncOrder::Default)
            continue;
          z3::expr released = time(s) <= readPoint; // s is in the prefix of the modification order read
          for (uint32_t k = 0; k < blocks_; ++k) {
            if (k == j)
              continue;
            z3::expr known = clockOf(s, k);
            int64_t constant = 0;
            if (known.is_numeral_i64(constant) && constant == 0)
              continue;
            solver_.add(z3::implies(released, after[k] >= known));
          }
        }
      }
    }
  }

  const ir::Program &program_;
  z3::context &context_;
  z3::solver &solver_;
  z3::expr horizon_;
  uint32_t blocks_ = 0;
  uint32_t matchedBarriers_ = 0;
  std::vector<uint32_t> barrierCounts_;
  std::vector<std::vector<uint32_t>> barrierIndex_; // [block][m]: index of the block's m-th barrier
  std::vector<uint32_t> goal_;
  std::vector<std::vector<z3::expr>> times_;
  std::map<CounterElement, std::vector<InstructionRef>> signalsOf_;
  std::vector<std::vector<z3::expr>> states_; // clock vectors; states_[0] is the start of every block
  std::vector<std::vector<uint32_t>> stateBefore_;
  std::vector<std::vector<uint32_t>> stateAt_;
  std::map<InstructionRef, z3::expr, RefLess> readPoints_;
  std::map<InstructionRef, z3::expr, RefLess> valueRead_;
  size_t clockVariables_ = 0;
};

// One solver call at a time, under the per-query limit and what is left of the total.
class QueryRunner {
public:
  QueryRunner(z3::context &context, z3::solver &solver, const SmtOptions &options, SmtStats &stats)
      : context_(context), solver_(solver), options_(options), stats_(stats),
        deadline_(SteadyClock::now() + std::chrono::milliseconds(options.totalTimeoutMs)) {}

  // sat: the model is kept in `model`.
  z3::check_result check(const z3::expr &query, std::optional<z3::model> &model) {
    model.reset();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - SteadyClock::now()).count();
    if (left <= 0) {
      ++stats_.undecided;
      return z3::unknown;
    }
    z3::params params(context_);
    params.set("timeout", static_cast<unsigned>(std::min<long long>(options_.queryTimeoutMs, left)));
    solver_.set(params);
    ++stats_.queries;
    solver_.push();
    solver_.add(query);
    z3::check_result result = solver_.check();
    if (result == z3::sat) {
      model.emplace(solver_.get_model());
      ++stats_.satisfiable;
    } else if (result == z3::unsat) {
      ++stats_.unsatisfiable;
    } else {
      ++stats_.undecided;
    }
    solver_.pop();
    return result;
  }

private:
  z3::context &context_;
  z3::solver &solver_;
  const SmtOptions &options_;
  SmtStats &stats_;
  SteadyClock::time_point deadline_;
};

std::string blockCounts(const std::vector<uint32_t> &counts) {
  std::string out;
  for (size_t k = 0; k < counts.size(); ++k)
    out += (k ? ", " : "") + std::to_string(counts[k]);
  return out;
}

std::string raceMessage(const ir::Program &program, const SmtRace &race) {
  const ir::Buffer &buffer = program.buffers[race.buffer];
  return "data race on " + std::string(ir::ast::bufferKindName(buffer.kind)) + " '" + buffer.name + "' " +
         program.regionText(race.overlap) + ": block " + std::to_string(race.first.block) + " " +
         (race.firstWrites ? "writes" : "reads") + " it and block " + std::to_string(race.second.block) + " " +
         (race.secondWrites ? "writes" : "reads") +
         " it, and z3 found an execution in which neither happens before the other";
}

// Which instruction of block j no execution gets past (the smallest index no execution runs).
std::optional<uint32_t> stuckPosition(ExecutionModel &model, QueryRunner &queries, uint32_t j, bool &complete) {
  std::optional<z3::model> m;
  uint32_t goal = model.goal(j);
  if (goal == 0)
    return std::nullopt;
  z3::check_result r = queries.check(model.executed({j, goal - 1}), m);
  if (r == z3::sat)
    return std::nullopt;
  if (r == z3::unknown) {
    complete = false;
    return std::nullopt;
  }
  uint32_t lo = 0, hi = goal - 1; // the answer is in [lo, hi]: hi is known unreachable
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    r = queries.check(model.executed({j, mid}), m);
    if (r == z3::unknown) {
      complete = false;
      return hi; // proved never to run, though an earlier instruction may be the first such
    }
    if (r == z3::sat)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

// What needs no query: a grid larger than can be resident while blocks synchronise, and blocks
// reaching different numbers of barriers.
void structuralFindings(const ir::Program &program, const ExecutionModel &model, SmtVerdict &verdict) {
  bool synchronises = false;
  for (const auto &block : program.blockPrograms)
    for (const ir::Instruction &i : block)
      synchronises = synchronises || i.kind == InstructionKind::Barrier || i.kind == InstructionKind::Wait;
  if (program.blocks > program.sms * program.occupancy && synchronises) {
    SmtFinding f;
    f.rule = Rule::CoResidency;
    f.message = "the grid has " + std::to_string(program.blocks) + " blocks but only " +
                std::to_string(program.sms * program.occupancy) +
                " can be resident at once, and the schedule has barriers or waits";
    verdict.findings.push_back(std::move(f));
  }
  if (!model.barriersMatch()) {
    SmtFinding f;
    f.rule = Rule::BarrierMismatch;
    f.message = "blocks reach different numbers of barriers (" + blockCounts(model.barrierCounts()) +
                "): the barrier that only some blocks reach never completes";
    verdict.findings.push_back(std::move(f));
  }
}

// Deadlock: does an execution exist that runs every block to its goal? The model of one, if any, is
// left in `completeModel`.
void findDeadlock(const ir::Program &program, ExecutionModel &model, QueryRunner &queries, SmtVerdict &verdict,
                  std::vector<std::string> &undecided, std::optional<z3::model> &completeModel) {
  const size_t blocks = program.blockPrograms.size();
  z3::check_result complete = queries.check(model.completeExecution(), completeModel);
  if (complete == z3::unknown) {
    undecided.push_back("whether a complete execution exists");
  } else if (complete == z3::unsat) {
    SmtDeadlock deadlock;
    for (uint32_t j = 0; j < blocks; ++j)
      if (std::optional<uint32_t> at = stuckPosition(model, queries, j, deadlock.stuckComplete))
        deadlock.stuck.push_back({j, *at});
    SmtFinding f;
    f.rule = Rule::Deadlock;
    f.message = std::string("no complete execution exists") +
                (model.barriersMatch() ? "" : " (up to the unmatched barriers)") + ": " +
                std::to_string(deadlock.stuck.size()) + " of " + std::to_string(blocks) + " blocks can never " +
                (model.barriersMatch() ? "finish" : "reach their end or unmatched barrier") +
                (deadlock.stuckComplete ? "" : " (some blocks undecided: time-out)");
    f.deadlock = std::move(deadlock);
    verdict.findings.push_back(std::move(f));
  }
}

// Races: is there an execution in which a conflicting pair is unordered? Asked for the pairs whose
// source-line pair is not yet known to race (races are counted per line pair, as by the checker).
class RaceQueries {
public:
  RaceQueries(const ir::Program &program, z3::context &context, ExecutionModel &model, QueryRunner &queries,
              const SmtOptions &options, SmtVerdict &verdict)
      : program_(program), context_(context), model_(model), queries_(queries), options_(options), verdict_(verdict),
        pairs_(conflictingPairs(program)) {
    verdict_.stats.conflictPairs = pairs_.size();
    for (size_t n = 0; n < pairs_.size(); ++n)
      if (!model_.orderedByConstants(pairs_[n]))
        pending_.push_back(n);
  }

  void run(std::vector<std::string> &undecided) {
    if (options_.batchRaceQueries)
      askBatched();
    const size_t undecidedPairs = askEach();
    if (undecidedPairs > 0)
      undecided.push_back(std::to_string(undecidedPairs) + " of " + std::to_string(pairs_.size()) +
                          " conflicting pairs");
  }

private:
  void record(const ConflictPair &p, const z3::model &m) {
    racingSites_.insert(p.sites);
    ++verdict_.racesFound;
    if (verdict_.racesFound > std::max<size_t>(options_.maxRaces, 1))
      return;
    SmtRace race;
    race.execution = model_.execution(m, std::max(model_.timeIn(m, p.a), model_.timeIn(m, p.b)));
    bool aFirst = true;
    for (const SmtEvent &e : race.execution)
      if (e.at == p.a || e.at == p.b) {
        aFirst = e.at == p.a;
        break;
      }
    race.first = aFirst ? p.a : p.b;
    race.second = aFirst ? p.b : p.a;
    race.firstWrites = aFirst ? p.aWrites : p.bWrites;
    race.secondWrites = aFirst ? p.bWrites : p.aWrites;
    race.buffer = p.buffer;
    race.overlap = p.overlap;
    SmtFinding f;
    f.rule = Rule::Race;
    f.message = raceMessage(program_, race);
    f.race = std::move(race);
    verdict_.findings.push_back(std::move(f));
  }

  // Every pending pair the model shows unordered races; pairs of a source-line pair already known to
  // race need no query.
  size_t harvest(const z3::model &m) {
    size_t found = 0;
    for (size_t n : pending_)
      if (!racingSites_.count(pairs_[n].sites) && m.eval(model_.unordered(pairs_[n]), true).is_true()) {
        record(pairs_[n], m);
        ++found;
      }
    std::erase_if(pending_, [&](size_t n) { return racingSites_.count(pairs_[n].sites) > 0; });
    if (found > 1)
      verdict_.stats.pairsByModelReuse += found - 1;
    return found;
  }

  // "Does any pending pair race?" until the answer is no: one query for a race-free program, one
  // more per model that shows new races. A time-out leaves the rest to the per-pair queries.
  void askBatched() {
    while (!pending_.empty()) {
      z3::expr_vector any(context_);
      for (size_t n : pending_)
        any.push_back(model_.unordered(pairs_[n]));
      std::optional<z3::model> m;
      z3::check_result r = queries_.check(z3::mk_or(any), m);
      if (r == z3::unsat)
        pending_.clear();
      if (r != z3::sat || harvest(*m) == 0)
        break;
    }
  }

  // One query per pair; returns how many the solver left undecided.
  size_t askEach() {
    size_t undecidedPairs = 0;
    while (!pending_.empty()) {
      const size_t n = pending_.front();
      std::optional<z3::model> m;
      z3::check_result r = queries_.check(model_.unordered(pairs_[n]), m);
      if (r == z3::sat && harvest(*m) > 0)
        continue;
      if (r == z3::unknown)
        ++undecidedPairs;
      pending_.erase(pending_.begin());
    }
    return undecidedPairs;
  }

  const ir::Program &program_;
  z3::context &context_;
  ExecutionModel &model_;
  QueryRunner &queries_;
  const SmtOptions &options_;
  SmtVerdict &verdict_;
  std::vector<ConflictPair> pairs_;
  std::set<std::pair<uint32_t, uint32_t>> racingSites_;
  std::vector<size_t> pending_; // indices into pairs_ of those not yet decided
};

} // namespace

const char *smtStatusName(SmtStatus status) {
  switch (status) {
  case SmtStatus::Safe:
    return "safe";
  case SmtStatus::Unsafe:
    return "unsafe";
  case SmtStatus::Inconclusive:
    return "inconclusive";
  }
  return "?";
}

std::set<Rule> SmtVerdict::rules() const {
  std::set<Rule> out;
  for (const SmtFinding &f : findings)
    out.insert(f.rule);
  if (racesFound > 0)
    out.insert(Rule::Race);
  return out;
}

SmtVerdict verifySmt(const ir::Program &program, const SmtOptions &options) {
  const auto start = SteadyClock::now();
  SmtVerdict verdict;
  verdict.stats.events = program.instructionCount();
  std::vector<std::string> undecided;

  z3::context context;
  z3::solver solver(context);
  ExecutionModel model(program, context, solver);
  verdict.stats.clockVariables = model.clockVariables();
  QueryRunner queries(context, solver, options, verdict.stats);

  structuralFindings(program, model, verdict);
  // Held until the race queries are done: Z3 reuses the ids of terms it frees, and the ids of the
  // terms it makes next steer its search, so freeing this model sooner changes the races' models.
  std::optional<z3::model> completeModel;
  findDeadlock(program, model, queries, verdict, undecided, completeModel);
  RaceQueries(program, context, model, queries, options, verdict).run(undecided);

  std::stable_sort(verdict.findings.begin(), verdict.findings.end(),
                   [](const SmtFinding &x, const SmtFinding &y) { return x.rule < y.rule; });
  for (const std::string &u : undecided)
    verdict.undecided += (verdict.undecided.empty() ? "" : "; ") + u;
  if (!verdict.findings.empty())
    verdict.status = SmtStatus::Unsafe;
  else
    verdict.status = undecided.empty() ? SmtStatus::Safe : SmtStatus::Inconclusive;
  verdict.stats.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  return verdict;
}

std::vector<ir::Diagnostic> smtDiagnostics(const SmtVerdict &verdict, const ir::Program &program) {
  std::vector<ir::Diagnostic> out;
  auto rangeOf = [&](InstructionRef r) { return program.sites[program.blockPrograms[r.block][r.index].site].range; };
  auto firstSync = [&]() -> std::optional<ir::SourceRange> {
    for (const auto &block : program.blockPrograms)
      for (const ir::Instruction &i : block)
        if (i.kind == InstructionKind::Barrier || i.kind == InstructionKind::Wait)
          return program.sites[i.site].range;
    return std::nullopt;
  };
  for (const SmtFinding &f : verdict.findings) {
    ir::Diagnostic d;
    d.ruleId = ruleId(f.rule);
    d.message = "z3: " + f.message;
    if (f.race) {
      d.range = rangeOf(f.race->first);
      d.notes.push_back({rangeOf(f.race->second), "the other access: " + describeInstruction(program, f.race->second)});
      size_t tasks = 0;
      for (const SmtEvent &e : f.race->execution) {
        const ir::Instruction &i = program.blockPrograms[e.at.block][e.at.index];
        bool racing = e.at == f.race->first || e.at == f.race->second;
        if (i.kind == InstructionKind::Task && !racing) {
          ++tasks;
          continue;
        }
        std::string text = "z3 execution, step " + std::to_string(e.step) + ": " + describeInstruction(program, e.at);
        if (e.valueRead)
          text += " reads " + std::to_string(*e.valueRead);
        if (racing)
          text += " (racing access)";
        d.notes.push_back({{}, text, false});
      }
      if (tasks > 0)
        d.notes.push_back({{}, "z3 execution: " + std::to_string(tasks) + " other tasks not shown", false});
    } else if (f.deadlock) {
      if (!f.deadlock->stuck.empty())
        d.range = rangeOf(f.deadlock->stuck.front());
      else if (auto r = firstSync())
        d.range = *r;
      for (InstructionRef s : f.deadlock->stuck)
        d.notes.push_back({rangeOf(s), "no execution gets past " + describeInstruction(program, s)});
    } else {
      if (auto r = firstSync())
        d.range = *r;
      else
        d.hasLocation = false;
    }
    out.push_back(std::move(d));
  }
  return out;
}

} // namespace amk::checker
