// The mutation operators. Each picks its place with the caller's Choices (seeded or fuzzer bytes),
// edits the explicit form and says what it did. They edit text-level facts only (which instruction,
// which index, which counter); well-formedness is the front end's to judge when the mutant is
// printed and parsed again, and safety is the oracles'.
#include "amk/fuzz/mutation.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace amk::fuzz {
namespace {

using Kind = ir::InstructionKind;
using Order = ir::SyncOrder;

struct Place {
  size_t block = 0;
  size_t index = 0;
};

using Predicate = std::function<bool(const ExplicitSchedule &, size_t block, size_t index)>;

std::vector<Place> placesWhere(const ExplicitSchedule &s, const Predicate &wanted) {
  std::vector<Place> out;
  for (size_t k = 0; k < s.programs.size(); ++k)
    for (size_t i = 0; i < s.programs[k].size(); ++i)
      if (wanted(s, k, i))
        out.push_back({k, i});
  return out;
}

std::optional<Place> pickWhere(const ExplicitSchedule &s, Choices &c, const Predicate &wanted) {
  std::vector<Place> all = placesWhere(s, wanted);
  if (all.empty())
    return std::nullopt;
  return all[c.below(all.size())];
}

Predicate ofKind(Kind kind) {
  return [kind](const ExplicitSchedule &s, size_t k, size_t i) { return s.programs[k][i].kind == kind; };
}

Predicate plainOfKind(Kind kind) {
  return [kind](const ExplicitSchedule &s, size_t k, size_t i) {
    return s.programs[k][i].kind == kind && s.programs[k][i].order == Order::Default;
  };
}

ExplicitInstruction barrierInstruction() {
  ExplicitInstruction barrier;
  barrier.kind = Kind::Barrier;
  return barrier;
}

ExplicitInstruction &at(ExplicitSchedule &s, Place p) { return s.programs[p.block][p.index]; }

std::string where(Place p) { return "block " + std::to_string(p.block) + " #" + std::to_string(p.index); }

std::string quoted(const ExplicitInstruction &in) { return "'" + instructionText(in) + "'"; }

// "done[3]" or "done": the identity of a counter element.
std::string elementKey(const std::string &counter, std::optional<int64_t> element) {
  return counter + (element ? "[" + std::to_string(*element) + "]" : "");
}
std::string elementKey(const ExplicitInstruction &in) { return elementKey(in.counter, in.counterElement); }

// The sum of all increments each counter element receives.
std::map<std::string, uint64_t> signalTotals(const ExplicitSchedule &s) {
  std::map<std::string, uint64_t> totals;
  for (const auto &program : s.programs)
    for (const ExplicitInstruction &in : program)
      if (in.kind == Kind::Signal)
        totals[elementKey(in)] += in.amount;
  return totals;
}

void moveInstruction(std::vector<ExplicitInstruction> &program, size_t from, size_t to) {
  ExplicitInstruction moved = std::move(program[from]);
  program.erase(program.begin() + static_cast<std::ptrdiff_t>(from));
  program.insert(program.begin() + static_cast<std::ptrdiff_t>(to), std::move(moved));
}

// A non-empty set of blocks: all of them, one, or a random subset (the three ways a barrier edit
// goes wrong: everywhere, in the one block a special case touches, in some of them).
std::vector<size_t> someBlocks(const ExplicitSchedule &s, Choices &c, bool strict) {
  size_t n = s.programs.size();
  std::vector<size_t> out;
  uint64_t mode = c.below(10);
  if (!strict && mode < 4) {
    for (size_t k = 0; k < n; ++k)
      out.push_back(k);
    return out;
  }
  if (mode < 8 || n <= 2) {
    out.push_back(c.below(n));
    return out;
  }
  for (size_t k = 0; k < n; ++k)
    if (c.chance(50))
      out.push_back(k);
  if (out.empty() || (strict && out.size() == n))
    out = {c.below(n)};
  return out;
}

std::string blockList(const std::vector<size_t> &blocks) {
  std::string out;
  for (size_t k : blocks)
    out += (out.empty() ? "" : ",") + std::to_string(k);
  return "blocks {" + out + "}";
}

// Index of the n-th barrier of a program, or nullopt.
std::optional<size_t> nthBarrier(const std::vector<ExplicitInstruction> &program, size_t n) {
  size_t seen = 0;
  for (size_t i = 0; i < program.size(); ++i)
    if (program[i].kind == Kind::Barrier && seen++ == n)
      return i;
  return std::nullopt;
}

size_t barrierCount(const std::vector<ExplicitInstruction> &program) {
  return static_cast<size_t>(std::count_if(program.begin(), program.end(),
                                           [](const ExplicitInstruction &in) { return in.kind == Kind::Barrier; }));
}

bool writableBuffer(const ExplicitSchedule &s, const std::string &name) {
  const ExplicitBuffer *b = s.findBuffer(name);
  return b && b->kind != ir::ast::BufferKind::Param && b->kind != ir::ast::BufferKind::Input;
}

// ---------------------------------------------------------------------------------------------
// Counters

std::optional<std::string> dropSignal(ExplicitSchedule &s, Choices &c) {
  auto p = pickWhere(s, c, ofKind(Kind::Signal));
  if (!p)
    return std::nullopt;
  std::string what = where(*p) + ": dropped " + quoted(at(s, *p));
  s.programs[p->block].erase(s.programs[p->block].begin() + static_cast<std::ptrdiff_t>(p->index));
  return what;
}

std::optional<std::string> dropWait(ExplicitSchedule &s, Choices &c) {
  auto p = pickWhere(s, c, ofKind(Kind::Wait));
  if (!p)
    return std::nullopt;
  std::string what = where(*p) + ": dropped " + quoted(at(s, *p));
  s.programs[p->block].erase(s.programs[p->block].begin() + static_cast<std::ptrdiff_t>(p->index));
  return what;
}

std::optional<std::string> thresholdOffByOne(ExplicitSchedule &s, Choices &c) {
  auto p = pickWhere(s, c, ofKind(Kind::Wait));
  if (!p)
    return std::nullopt;
  ExplicitInstruction &w = at(s, *p);
  std::string before = quoted(w);
  w.amount = (w.amount == 0 || c.chance(50)) ? w.amount + 1 : w.amount - 1;
  return where(*p) + ": " + before + " -> " + quoted(w);
}

std::optional<std::string> thresholdOffByK(ExplicitSchedule &s, Choices &c) {
  auto p = pickWhere(s, c, ofKind(Kind::Wait));
  if (!p)
    return std::nullopt;
  ExplicitInstruction &w = at(s, *p);
  // k: one producer's increment on this element (the "short by one producer" bug) or a small count.
  std::vector<uint64_t> increments;
  for (const auto &program : s.programs)
    for (const ExplicitInstruction &in : program)
      if (in.kind == Kind::Signal && elementKey(in) == elementKey(w) && in.amount >= 2)
        increments.push_back(in.amount);
  uint64_t k = !increments.empty() && c.chance(50)
                   ? increments[c.below(increments.size())]
                   : static_cast<uint64_t>(c.between(2, std::max<int64_t>(2, static_cast<int64_t>(w.amount))));
  std::string before = quoted(w);
  w.amount = (w.amount >= k && c.chance(60)) ? w.amount - k : w.amount + k;
  return where(*p) + ": " + before + " -> " + quoted(w);
}

std::optional<std::string> otherElement(ExplicitSchedule &s, Choices &c, Kind kind) {
  auto p = pickWhere(s, c, [kind](const ExplicitSchedule &sc, size_t k, size_t i) {
    const ExplicitInstruction &in = sc.programs[k][i];
    const ExplicitCounter *counter = in.kind == kind ? sc.findCounter(in.counter) : nullptr;
    return counter && counter->isArray && counter->size >= 2;
  });
  if (!p)
    return std::nullopt;
  ExplicitInstruction &in = at(s, *p);
  int64_t size = s.findCounter(in.counter)->size;
  int64_t old = *in.counterElement;
  int64_t next = old;
  if (c.chance(60)) // the neighbouring element: the usual index-arithmetic slip
    next = (old + 1 < size && (old == 0 || c.chance(50))) ? old + 1 : old - 1;
  else
    while (next == old)
      next = static_cast<int64_t>(c.below(static_cast<uint64_t>(size)));
  std::string before = quoted(in);
  in.counterElement = next;
  return where(*p) + ": " + before + " -> " + quoted(in);
}

std::optional<std::string> signalWrongElement(ExplicitSchedule &s, Choices &c) {
  return otherElement(s, c, Kind::Signal);
}

std::optional<std::string> waitWrongElement(ExplicitSchedule &s, Choices &c) { return otherElement(s, c, Kind::Wait); }

std::optional<std::string> signalWrongCounter(ExplicitSchedule &s, Choices &c) {
  if (s.counters.size() < 2)
    return std::nullopt;
  auto p = pickWhere(s, c, ofKind(Kind::Signal));
  if (!p)
    return std::nullopt;
  ExplicitInstruction &in = at(s, *p);
  const ExplicitCounter *target = nullptr;
  while (!target || target->name == in.counter)
    target = &s.counters[c.below(s.counters.size())];
  std::string before = quoted(in);
  int64_t element = in.counterElement.value_or(0);
  in.counter = target->name;
  if (!target->isArray)
    in.counterElement.reset();
  else
    in.counterElement = element < target->size && c.chance(60)
                            ? element
                            : static_cast<int64_t>(c.below(static_cast<uint64_t>(target->size)));
  return where(*p) + ": " + before + " -> " + quoted(in);
}

std::optional<std::string> changeIncrement(ExplicitSchedule &s, Choices &c) {
  auto p = pickWhere(s, c, ofKind(Kind::Signal));
  if (!p)
    return std::nullopt;
  ExplicitInstruction &in = at(s, *p);
  std::string before = quoted(in);
  uint64_t r = c.below(3);
  if (r == 0 || in.amount <= 1)
    in.amount += 1 + (r == 2 ? in.amount : 0);
  else if (r == 1)
    in.amount -= 1;
  else
    in.amount *= 2;
  return where(*p) + ": " + before + " -> " + quoted(in);
}

std::optional<std::string> weaken(ExplicitSchedule &s, Choices &c, Kind kind, Order order) {
  auto p = pickWhere(s, c, plainOfKind(kind));
  if (!p)
    return std::nullopt;
  ExplicitInstruction &in = at(s, *p);
  std::string before = quoted(in);
  in.order = order;
  return where(*p) + ": " + before + " -> " + quoted(in);
}

std::optional<std::string> relaxSignal(ExplicitSchedule &s, Choices &c) {
  return weaken(s, c, Kind::Signal, Order::Relaxed);
}
std::optional<std::string> relaxWait(ExplicitSchedule &s, Choices &c) {
  return weaken(s, c, Kind::Wait, Order::Relaxed);
}
std::optional<std::string> ctaSignal(ExplicitSchedule &s, Choices &c) { return weaken(s, c, Kind::Signal, Order::Cta); }
std::optional<std::string> ctaWait(ExplicitSchedule &s, Choices &c) { return weaken(s, c, Kind::Wait, Order::Cta); }

// The signal moves up past at least one task that writes, and never past a wait or a barrier (that
// is relay-early): the publish happens before the data it announces.
std::optional<std::string> hoistSignal(ExplicitSchedule &s, Choices &c) {
  std::vector<Place> candidates;
  for (const Place &p : placesWhere(s, ofKind(Kind::Signal))) {
    const auto &program = s.programs[p.block];
    if (p.index > 0 && program[p.index - 1].kind == Kind::Task)
      candidates.push_back(p);
  }
  if (candidates.empty())
    return std::nullopt;
  Place p = candidates[c.below(candidates.size())];
  auto &program = s.programs[p.block];
  size_t lo = p.index, tasks = 0;
  while (lo > 0 && tasks < 4 && program[lo - 1].kind != Kind::Wait && program[lo - 1].kind != Kind::Barrier) {
    --lo;
    tasks += program[lo].kind == Kind::Task;
  }
  size_t nearestWriter = p.index;
  for (size_t i = p.index; i-- > lo;)
    if (program[i].kind == Kind::Task && program[i].writes()) {
      nearestWriter = i;
      break;
    }
  if (nearestWriter == p.index)
    return std::nullopt;
  size_t to = lo + c.below(nearestWriter - lo + 1);
  std::string what = where(p) + ": moved " + quoted(program[p.index]) + " up to #" + std::to_string(to) + ", above " +
                     quoted(program[nearestWriter]);
  moveInstruction(program, p.index, to);
  return what;
}

// A relay forwards before it has received: a signal moved above the wait that precedes it.
std::optional<std::string> relayEarly(ExplicitSchedule &s, Choices &c) {
  std::vector<std::pair<Place, size_t>> candidates;
  for (const Place &p : placesWhere(s, ofKind(Kind::Signal))) {
    const auto &program = s.programs[p.block];
    for (size_t i = p.index; i-- > 0;) {
      if (program[i].kind == Kind::Barrier)
        break;
      if (program[i].kind == Kind::Wait) {
        candidates.push_back({p, i});
        break;
      }
    }
  }
  if (candidates.empty())
    return std::nullopt;
  auto [p, waitIndex] = candidates[c.below(candidates.size())];
  auto &program = s.programs[p.block];
  std::string what = where(p) + ": moved " + quoted(program[p.index]) + " above " + quoted(program[waitIndex]) + " (#" +
                     std::to_string(waitIndex) + ")";
  moveInstruction(program, p.index, waitIndex);
  return what;
}

// The wait moves down past at least one task that reads, stopping at the next wait or barrier.
std::optional<std::string> sinkWait(ExplicitSchedule &s, Choices &c) {
  std::vector<Place> candidates;
  for (const Place &p : placesWhere(s, ofKind(Kind::Wait))) {
    const auto &program = s.programs[p.block];
    if (p.index + 1 < program.size() && program[p.index + 1].kind == Kind::Task)
      candidates.push_back(p);
  }
  if (candidates.empty())
    return std::nullopt;
  Place p = candidates[c.below(candidates.size())];
  auto &program = s.programs[p.block];
  size_t hi = p.index, tasks = 0;
  std::optional<size_t> firstReader;
  while (hi + 1 < program.size() && tasks < 4 && program[hi + 1].kind != Kind::Wait &&
         program[hi + 1].kind != Kind::Barrier) {
    ++hi;
    if (program[hi].kind == Kind::Task) {
      ++tasks;
      if (!firstReader && !program[hi].inputs.empty())
        firstReader = hi;
    }
  }
  if (!firstReader)
    return std::nullopt;
  size_t to = *firstReader + c.below(hi - *firstReader + 1);
  std::string what = where(p) + ": moved " + quoted(program[p.index]) + " down below " + quoted(program[*firstReader]) +
                     " (to #" + std::to_string(to) + ")";
  moveInstruction(program, p.index, to);
  return what;
}

// Two counter elements become one: the phases that used them now share its count. Half the time
// the later waits are raised by the other element's total (a cumulative count, as a careful
// rewrite would do), half the time not.
std::optional<std::string> shareCounterElement(ExplicitSchedule &s, Choices &c) {
  std::map<std::string, uint64_t> totals = signalTotals(s);
  std::vector<std::string> keys;
  for (const auto &[key, total] : totals)
    keys.push_back(key);
  if (keys.size() < 2)
    return std::nullopt;
  std::string from = keys[c.below(keys.size())], into = from;
  while (into == from)
    into = keys[c.below(keys.size())];
  // Find one instruction on `into` to copy its counter reference from.
  std::string intoCounter;
  std::optional<int64_t> intoElement;
  for (const auto &program : s.programs)
    for (const ExplicitInstruction &in : program)
      if (in.isSync() && in.kind != Kind::Barrier && elementKey(in) == into) {
        intoCounter = in.counter;
        intoElement = in.counterElement;
      }
  bool cumulative = c.chance(50);
  for (auto &program : s.programs)
    for (ExplicitInstruction &in : program)
      if (in.kind != Kind::Barrier && in.isSync() && elementKey(in) == from) {
        if (in.kind == Kind::Wait && cumulative)
          in.amount += totals[into];
        in.counter = intoCounter;
        in.counterElement = intoElement;
      }
  return "every use of " + from + " now uses " + into + (cumulative ? " (thresholds raised by its total)" : "");
}

// A wait-for cycle: block A, before a signal that block B waits for, now waits for a signal that
// B makes only after that wait.
std::optional<std::string> waitCycle(ExplicitSchedule &s, Choices &c) {
  std::map<std::string, uint64_t> totals = signalTotals(s);
  struct Option {
    Place wait;   // in B
    Place signal; // in A, on the element B waits for
    Place later;  // in B, after the wait
  };
  std::vector<Option> options;
  for (const Place &w : placesWhere(s, ofKind(Kind::Wait))) {
    const ExplicitInstruction &wait = at(s, w);
    std::vector<Place> laterSignals;
    for (size_t i = w.index + 1; i < s.programs[w.block].size(); ++i)
      if (s.programs[w.block][i].kind == Kind::Signal)
        laterSignals.push_back({w.block, i});
    if (laterSignals.empty())
      continue;
    for (const Place &sg : placesWhere(s, ofKind(Kind::Signal)))
      if (sg.block != w.block && elementKey(at(s, sg)) == elementKey(wait))
        options.push_back({w, sg, laterSignals[c.below(laterSignals.size())]});
  }
  if (options.empty())
    return std::nullopt;
  Option o = options[c.below(options.size())];
  ExplicitInstruction inserted = at(s, o.later);
  inserted.kind = Kind::Wait;
  inserted.order = Order::Default;
  inserted.amount = totals[elementKey(inserted)];
  size_t to = c.below(o.signal.index + 1);
  std::string what = "block " + std::to_string(o.signal.block) + " #" + std::to_string(to) + ": inserted " +
                     quoted(inserted) + " before " + quoted(at(s, o.signal)) + ", which block " +
                     std::to_string(o.wait.block) + " waits for before its " + quoted(at(s, o.later));
  s.programs[o.signal.block].insert(s.programs[o.signal.block].begin() + static_cast<std::ptrdiff_t>(to), inserted);
  return what;
}

// ---------------------------------------------------------------------------------------------
// Barriers

std::optional<std::string> barrierEdit(ExplicitSchedule &s, Choices &c, int mode) {
  size_t most = 0;
  for (const auto &program : s.programs)
    most = std::max(most, barrierCount(program));
  if (most == 0)
    return std::nullopt;
  size_t n = c.below(most);
  std::vector<size_t> blocks = someBlocks(s, c, false);
  int delta = 0;
  if (mode == 2)
    while (delta == 0)
      delta = static_cast<int>(c.between(-3, 3));
  bool changed = false;
  for (size_t k : blocks) {
    auto &program = s.programs[k];
    std::optional<size_t> i = nthBarrier(program, n);
    if (!i)
      continue;
    if (mode == 0) {
      program.erase(program.begin() + static_cast<std::ptrdiff_t>(*i));
      changed = true;
    } else if (mode == 1) {
      program.insert(program.begin() + static_cast<std::ptrdiff_t>(*i), program[*i]);
      changed = true;
    } else {
      // Not past a neighbouring barrier: that would only renumber them.
      int64_t to = static_cast<int64_t>(*i) + delta;
      int64_t step = delta > 0 ? 1 : -1;
      int64_t j = static_cast<int64_t>(*i);
      while (j != to && j + step >= 0 && j + step < static_cast<int64_t>(program.size()) &&
             program[static_cast<size_t>(j + step)].kind != Kind::Barrier)
        j += step;
      if (j != static_cast<int64_t>(*i)) {
        moveInstruction(program, *i, static_cast<size_t>(j));
        changed = true;
      }
    }
  }
  if (!changed)
    return std::nullopt;
  const char *verb = mode == 0 ? "dropped" : mode == 1 ? "duplicated" : "moved";
  return std::string(verb) + " barrier #" + std::to_string(n) + " in " + blockList(blocks) +
         (mode == 2 ? " by " + std::to_string(delta) : "");
}

std::optional<std::string> dropBarrier(ExplicitSchedule &s, Choices &c) { return barrierEdit(s, c, 0); }
std::optional<std::string> duplicateBarrier(ExplicitSchedule &s, Choices &c) { return barrierEdit(s, c, 1); }
std::optional<std::string> moveBarrier(ExplicitSchedule &s, Choices &c) { return barrierEdit(s, c, 2); }

std::optional<std::string> barrierInSubset(ExplicitSchedule &s, Choices &c) {
  if (s.programs.size() < 2)
    return std::nullopt;
  std::vector<size_t> blocks = someBlocks(s, c, true);
  for (size_t k : blocks) {
    auto &program = s.programs[k];
    size_t to = c.below(program.size() + 1);
    program.insert(program.begin() + static_cast<std::ptrdiff_t>(to), barrierInstruction());
  }
  return "inserted a barrier in " + blockList(blocks) + " only";
}

std::optional<std::string> insertBarrier(ExplicitSchedule &s, Choices &c) {
  if (s.instructionCount() == 0)
    return std::nullopt;
  std::string positions;
  for (size_t k = 0; k < s.programs.size(); ++k) {
    auto &program = s.programs[k];
    size_t to = c.below(program.size() + 1);
    program.insert(program.begin() + static_cast<std::ptrdiff_t>(to), barrierInstruction());
    positions += (k ? "," : "") + std::to_string(to);
  }
  return "inserted a barrier in every block, at #{" + positions + "}";
}

// ---------------------------------------------------------------------------------------------
// Order of work

std::optional<std::string> swapAcrossSync(ExplicitSchedule &s, Choices &c) {
  auto p = pickWhere(s, c, [](const ExplicitSchedule &sc, size_t k, size_t i) {
    const auto &program = sc.programs[k];
    return i + 2 < program.size() && program[i + 1].isSync() &&
           (program[i].kind == Kind::Task || program[i + 2].kind == Kind::Task) &&
           instructionText(program[i]) != instructionText(program[i + 2]);
  });
  if (!p)
    return std::nullopt;
  auto &program = s.programs[p->block];
  std::string what = where(*p) + ": swapped " + quoted(program[p->index]) + " and " + quoted(program[p->index + 2]) +
                     " across " + quoted(program[p->index + 1]);
  std::swap(program[p->index], program[p->index + 2]);
  return what;
}

std::optional<std::string> duplicateTask(ExplicitSchedule &s, Choices &c) {
  if (s.programs.size() < 2)
    return std::nullopt;
  auto p = pickWhere(s, c, [](const ExplicitSchedule &sc, size_t k, size_t i) {
    return sc.programs[k][i].kind == Kind::Task && sc.programs[k][i].writes();
  });
  if (!p)
    return std::nullopt;
  size_t target = p->block;
  while (target == p->block)
    target = c.below(s.programs.size());
  auto &program = s.programs[target];
  // Near the same position, as a copy-pasted or mis-partitioned work list would put it.
  int64_t center = static_cast<int64_t>(std::min(p->index, program.size()));
  int64_t to = std::clamp<int64_t>(center + c.between(-2, 2), 0, static_cast<int64_t>(program.size()));
  ExplicitInstruction copy = at(s, *p);
  program.insert(program.begin() + to, copy);
  return where(*p) + ": " + quoted(copy) + " also runs in block " + std::to_string(target) + " at #" +
         std::to_string(to);
}

std::optional<std::string> reorderKvStore(ExplicitSchedule &s, Choices &c) {
  struct Option {
    Place store;
    size_t after;
  };
  std::vector<Option> options;
  for (const Place &p : placesWhere(s, ofKind(Kind::Task))) {
    const auto &program = s.programs[p.block];
    const ExplicitInstruction &store = program[p.index];
    if (store.op != "kv_store" || store.outputs.empty())
      continue;
    for (size_t i = p.index + 1; i < program.size(); ++i) {
      const ExplicitInstruction &in = program[i];
      if (in.kind == Kind::Signal) {
        options.push_back({p, i}); // the store now follows the signal that announces it
        break;
      }
      if (in.kind == Kind::Task && (in.op == "attention" || in.op == "attention_partial")) {
        bool reads = std::any_of(in.inputs.begin(), in.inputs.end(),
                                 [&](const ExplicitRegion &r) { return r.buffer == store.outputs[0].buffer; });
        if (reads)
          options.push_back({p, i});
      }
    }
  }
  if (options.empty())
    return std::nullopt;
  Option o = options[c.below(options.size())];
  auto &program = s.programs[o.store.block];
  std::string what = where(o.store) + ": moved " + quoted(program[o.store.index]) + " below " +
                     quoted(program[o.after]) + " (#" + std::to_string(o.after) + ")";
  moveInstruction(program, o.store.index, o.after);
  return what;
}

// ---------------------------------------------------------------------------------------------
// Tiles and buffers

// Every region of one task, with a pointer into the schedule.
std::vector<ExplicitRegion *> taskRegions(ExplicitInstruction &in) {
  std::vector<ExplicitRegion *> out;
  for (ExplicitRegion &r : in.outputs)
    out.push_back(&r);
  for (ExplicitRegion &r : in.inputs)
    out.push_back(&r);
  return out;
}

// Shift (both ends) or widen (one end) a slice of a region of a writable buffer by one. Most of
// the time every other operand of the task with the same slice moves with it, as when the tile
// arithmetic that produced them is off by one, which keeps the op's shape rules satisfied.
std::optional<std::string> editSlice(ExplicitSchedule &s, Choices &c, bool widen) {
  struct Option {
    Place task;
    size_t region;
    size_t dim;
  };
  std::vector<Option> options;
  for (const Place &p : placesWhere(s, ofKind(Kind::Task))) {
    std::vector<ExplicitRegion *> regions = taskRegions(at(s, p));
    for (size_t r = 0; r < regions.size(); ++r) {
      if (!writableBuffer(s, regions[r]->buffer))
        continue;
      const ExplicitBuffer *b = s.findBuffer(regions[r]->buffer);
      for (size_t d = 0; d < regions[r]->indices.size(); ++d) {
        const ExplicitIndex &index = regions[r]->indices[d];
        if (!index.point && index.hi - index.lo < b->shape[d])
          options.push_back({p, r, d});
      }
    }
  }
  if (options.empty())
    return std::nullopt;
  Option o = options[c.below(options.size())];
  ExplicitInstruction &task = at(s, o.task);
  std::vector<ExplicitRegion *> regions = taskRegions(task);
  ExplicitIndex old = regions[o.region]->indices[o.dim];
  int64_t extent = s.findBuffer(regions[o.region]->buffer)->shape[o.dim];
  bool up = old.lo == 0 ? true : old.hi == extent ? false : c.chance(50);
  ExplicitIndex next = old;
  if (widen)
    (up ? next.hi : next.lo) += up ? 1 : -1;
  else {
    next.lo += up ? 1 : -1;
    next.hi += up ? 1 : -1;
  }
  std::string before = quoted(task);
  bool together = c.chance(70);
  for (size_t r = 0; r < regions.size(); ++r) {
    if (r != o.region && !together)
      continue;
    const ExplicitBuffer *b = s.findBuffer(regions[r]->buffer);
    for (size_t d = 0; d < regions[r]->indices.size(); ++d) {
      ExplicitIndex &index = regions[r]->indices[d];
      if (index == old && (r != o.region || d == o.dim) && next.lo >= 0 && next.hi <= b->shape[d])
        index = next;
    }
  }
  return where(o.task) + ": " + before + " -> " + quoted(task);
}

std::optional<std::string> shiftSlice(ExplicitSchedule &s, Choices &c) { return editSlice(s, c, false); }
std::optional<std::string> widenSlice(ExplicitSchedule &s, Choices &c) { return editSlice(s, c, true); }

void renameBuffer(ExplicitSchedule &s, const std::string &from, const std::string &to) {
  for (auto &program : s.programs)
    for (ExplicitInstruction &in : program)
      for (ExplicitRegion *r : taskRegions(in))
        if (r->buffer == from)
          r->buffer = to;
}

// Two scratch buffers given one storage, as a memory planner with a wrong liveness analysis would.
std::optional<std::string> aliasScratch(ExplicitSchedule &s, Choices &c) {
  std::vector<std::pair<size_t, size_t>> pairs; // (kept, folded into it)
  for (size_t a = 0; a < s.buffers.size(); ++a)
    for (size_t b = 0; b < s.buffers.size(); ++b) {
      const ExplicitBuffer &x = s.buffers[a], &y = s.buffers[b];
      if (a == b || x.kind != ir::ast::BufferKind::Scratch || y.kind != ir::ast::BufferKind::Scratch ||
          x.dtype != y.dtype || x.shape.size() != y.shape.size())
        continue;
      bool fits = true;
      for (size_t d = 0; d < x.shape.size(); ++d)
        fits = fits && y.shape[d] <= x.shape[d];
      // The kept buffer must be declared first: every use of the folded one then follows it.
      if (fits && a < b)
        pairs.push_back({a, b});
    }
  if (pairs.empty())
    return std::nullopt;
  auto [kept, folded] = pairs[c.below(pairs.size())];
  std::string keptName = s.buffers[kept].name, foldedName = s.buffers[folded].name;
  renameBuffer(s, foldedName, keptName);
  s.buffers.erase(s.buffers.begin() + static_cast<std::ptrdiff_t>(folded));
  return "scratch " + foldedName + " now shares the storage of " + keptName;
}

// The slots of a buffer's first dimension that some region indexes as a point.
std::set<int64_t> pointSlots(const ExplicitSchedule &s, const std::string &buffer) {
  std::set<int64_t> slots;
  for (const auto &program : s.programs)
    for (const ExplicitInstruction &in : program)
      for (const auto *list : {&in.outputs, &in.inputs})
        for (const ExplicitRegion &r : *list)
          if (r.buffer == buffer && !r.indices.empty() && r.indices[0].point)
            slots.insert(r.indices[0].lo);
  return slots;
}

// A later slot of a per-layer (or per-stage) scratch buffer reuses an earlier slot's storage, with
// no counter saying that the earlier slot's readers are done.
std::optional<std::string> reuseScratch(ExplicitSchedule &s, Choices &c) {
  std::vector<std::pair<std::string, std::set<int64_t>>> options;
  for (const ExplicitBuffer &b : s.buffers)
    if (b.kind == ir::ast::BufferKind::Scratch && !b.shape.empty() && b.shape[0] >= 2) {
      std::set<int64_t> slots = pointSlots(s, b.name);
      if (slots.size() >= 2)
        options.push_back({b.name, slots});
    }
  if (options.empty())
    return std::nullopt;
  auto &[buffer, slotSet] = options[c.below(options.size())];
  std::vector<int64_t> slots(slotSet.begin(), slotSet.end());
  size_t later = 1 + c.below(slots.size() - 1);
  size_t earlier = c.chance(60) ? later - 1 : c.below(later);
  int64_t from = slots[later], to = slots[earlier];
  for (auto &program : s.programs)
    for (ExplicitInstruction &in : program)
      for (ExplicitRegion *r : taskRegions(in))
        if (r->buffer == buffer && r->indices[0].point && r->indices[0].lo == from) {
          r->indices[0].lo = to;
          r->indices[0].hi = to + 1;
        }
  return buffer + "[" + std::to_string(from) + ", ...] now reuses " + buffer + "[" + std::to_string(to) + ", ...]";
}

// One region points at another layer's (or stage's) slice: a wrong layer index in one operand.
std::optional<std::string> retargetLayer(ExplicitSchedule &s, Choices &c) {
  struct Option {
    Place task;
    size_t region;
  };
  std::vector<Option> options;
  for (const Place &p : placesWhere(s, ofKind(Kind::Task))) {
    std::vector<ExplicitRegion *> regions = taskRegions(at(s, p));
    for (size_t r = 0; r < regions.size(); ++r) {
      // Reads of params and inputs never conflict: retargeting them changes the numbers, not the
      // synchronisation, so only buffers written during the launch are retargeted.
      const ExplicitBuffer *b = s.findBuffer(regions[r]->buffer);
      if (b && writableBuffer(s, b->name) && b->shape.size() >= 2 && b->shape[0] >= 2 && regions[r]->indices[0].point)
        options.push_back({p, r});
    }
  }
  if (options.empty())
    return std::nullopt;
  Option o = options[c.below(options.size())];
  ExplicitInstruction &task = at(s, o.task);
  ExplicitRegion *region = taskRegions(task)[o.region];
  int64_t slots = s.findBuffer(region->buffer)->shape[0];
  int64_t old = region->indices[0].lo, next = old;
  if (c.chance(60))
    next = old > 0 && (old + 1 >= slots || c.chance(50)) ? old - 1 : old + 1;
  else
    while (next == old)
      next = static_cast<int64_t>(c.below(static_cast<uint64_t>(slots)));
  std::string before = quoted(task);
  region->indices[0] = {next, next + 1, true};
  return where(o.task) + ": " + before + " -> " + quoted(task);
}

// ---------------------------------------------------------------------------------------------
// The grid

std::optional<std::string> gridPastResidency(ExplicitSchedule &s, Choices &c) {
  int64_t blocks = s.blocks();
  if (blocks >= 2 && blocks - 1 >= s.occupancy && c.chance(60)) {
    // The schedule planned for one GPU launched on a smaller one.
    int64_t most = (blocks - 1) / s.occupancy;
    int64_t sms = c.between(1, most);
    std::string what = "target sms " + std::to_string(s.sms) + " -> " + std::to_string(sms);
    s.sms = sms;
    return what;
  }
  // The grid grown by idle blocks that only take part in the barriers (a rounded-up launch).
  size_t barriers = s.programs.empty() ? 0 : barrierCount(s.programs[0]);
  int64_t extra = c.between(1, 2);
  int64_t sms = std::max<int64_t>(1, (blocks + s.occupancy - 1) / s.occupancy);
  if (sms * s.occupancy >= blocks + extra)
    return std::nullopt;
  for (int64_t i = 0; i < extra; ++i)
    s.programs.push_back(std::vector<ExplicitInstruction>(barriers, barrierInstruction()));
  std::string what = "grid " + std::to_string(blocks) + " -> " + std::to_string(blocks + extra) + " blocks, sms " +
                     std::to_string(s.sms) + " -> " + std::to_string(sms);
  s.sms = sms;
  return what;
}

std::optional<std::string> raiseOccupancy(ExplicitSchedule &s, Choices &c) {
  int64_t occupancy = std::min<int64_t>(64, s.occupancy + c.between(1, 3));
  if (occupancy == s.occupancy)
    return std::nullopt;
  // Half the time the raised claim is just what the grid needs, half the time still one SM short.
  int64_t fits = (s.blocks() + occupancy - 1) / occupancy;
  int64_t sms = c.chance(50) ? fits : std::max<int64_t>(1, fits - 1);
  std::string what = "occupancy " + std::to_string(s.occupancy) + " -> " + std::to_string(occupancy) + ", sms " +
                     std::to_string(s.sms) + " -> " + std::to_string(sms);
  s.occupancy = occupancy;
  s.sms = sms;
  return what;
}

constexpr MutationOperator kOperators[] = {
    {"drop-signal", "delete one block's signal",
     "a producer path that returns early, or a special-cased tile, and never publishes", dropSignal},
    {"drop-wait", "delete one block's wait", "a consumer that reads without waiting (the wait forgotten in one branch)",
     dropWait},
    {"threshold-off-by-one", "a wait threshold one higher or one lower",
     "producer counts off by one: an uneven tile split, a fence-post in the block partition", thresholdOffByOne},
    {"threshold-off-by-k", "a wait threshold raised or lowered by k >= 2 (often one producer's increment)",
     "a consumer waiting for the wrong number of producers, or short by one producer's +k", thresholdOffByK},
    {"signal-wrong-element", "a signal moved to another element of its counter array",
     "index arithmetic of a per-tile or per-layer counter off by one (qkv_ready[2*l+b] vs [2*l+b-1])",
     signalWrongElement},
    {"wait-wrong-element", "a wait moved to another element of its counter array",
     "a consumer that waits on its neighbour's tile counter", waitWrongElement},
    {"signal-wrong-counter", "a signal moved to a different counter", "a copy-pasted signal that names the wrong flag",
     signalWrongCounter},
    {"change-increment", "a signal's +k changed (k+1, k-1, 2k)",
     "a producer that counts its tiles wrongly when it signals once for several", changeIncrement},
    {"relax-signal", "a release signal weakened to signal.relaxed",
     "an atomicAdd without __threadfence() before it (no release)", relaxSignal},
    {"relax-wait", "an acquire wait weakened to wait.relaxed", "a volatile spin without a fence after it (no acquire)",
     relaxWait},
    {"cta-signal", "a release signal narrowed to signal.cta",
     "__threadfence_block() where __threadfence() is needed (the release only covers the block)", ctaSignal},
    {"cta-wait", "an acquire wait narrowed to wait.cta", "an acquire at block scope (ld.acquire.cta) on a grid flag",
     ctaWait},
    {"hoist-signal", "a signal moved above the writes it publishes",
     "the flag raised before the stores (no block barrier between the tile's writes and the signal)", hoistSignal},
    {"relay-early", "a signal moved above the wait that precedes it",
     "a relay that forwards before it has received (transitive publication broken)", relayEarly},
    {"sink-wait", "a wait moved below the reads it guards",
     "loads hoisted above the spin loop (by the compiler or by hand)", sinkWait},
    {"share-counter-element", "two counter elements merged into one, thresholds raised by the other's total or not",
     "one counter reused for two phases or two layers instead of one element each", shareCounterElement},
    {"wait-cycle", "a wait inserted before a signal, for a signal the waiter's consumer makes later",
     "two stages that each wait for the other (a wait-for cycle, e.g. a fused stage waiting on its own consumer)",
     waitCycle},
    {"drop-barrier", "one grid barrier deleted in all, one or some blocks",
     "a grid.sync() missing from one code path, or removed as 'redundant'", dropBarrier},
    {"duplicate-barrier", "one grid barrier doubled in all, one or some blocks",
     "a grid.sync() inside a branch that only some blocks take twice", duplicateBarrier},
    {"move-barrier", "one grid barrier moved up or down by up to three instructions in all, one or some blocks",
     "a grid.sync() placed before the last write of a stage, or after the first read of the next", moveBarrier},
    {"barrier-in-subset", "a new grid barrier in a strict subset of the blocks",
     "a grid.sync() under a condition on blockIdx (a divergent barrier)", barrierInSubset},
    {"insert-barrier", "a new grid barrier at an unrelated position in every block",
     "a grid.sync() added where blocks are still waiting on each other's counters", insertBarrier},
    {"swap-across-sync", "two instructions exchanged across the sync between them",
     "work reordered across a flag or barrier (a task scheduled into the wrong phase)", swapAcrossSync},
    {"duplicate-task", "a writing task copied into another block",
     "a work partition that gives one tile to two blocks (overlapping ranges)", duplicateTask},
    {"reorder-kv-store", "a KV-cache store moved below the signal or the attention that depends on it",
     "the cache append scheduled after the attention that reads the new position", reorderKvStore},
    {"shift-slice", "a tile slice shifted by one row or column (with the task's matching operands, or alone)",
     "tile start computed off by one", shiftSlice},
    {"widen-slice", "a tile slice widened by one row or column (with the task's matching operands, or alone)",
     "tile end computed off by one (inclusive bound), overlapping the neighbouring tile", widenSlice},
    {"alias-scratch", "two scratch buffers folded into one storage",
     "a memory planner that overlaps two temporaries whose lifetimes overlap", aliasScratch},
    {"reuse-scratch", "every use of one slot of a per-layer scratch buffer moved to an earlier slot",
     "ping-pong or per-layer buffers reused without a back-edge counter (the earlier readers may still run)",
     reuseScratch},
    {"retarget-layer", "one region of a buffer written in the launch points at another layer's (first-dimension) slice",
     "a layer or stage index off by one in one operand (reading layer l-1's slice)", retargetLayer},
    {"grid-past-residency", "the target's SM count lowered below the grid, or the grid grown by idle blocks",
     "a schedule planned for one GPU launched on a smaller one, or a rounded-up grid", gridPastResidency},
    {"raise-occupancy", "the occupancy claim raised, with the SM count that claim needs or one SM fewer",
     "an occupancy claim the launcher never confirmed (registers or shared memory allow fewer blocks per SM)",
     raiseOccupancy},
};

} // namespace

std::span<const MutationOperator> mutationOperators() { return kOperators; }

const MutationOperator *findMutationOperator(std::string_view id) {
  for (const MutationOperator &op : kOperators)
    if (op.id == id)
      return &op;
  return nullptr;
}

std::optional<Mutation> mutate(const ExplicitSchedule &source, const MutationOperator &op, Choices &choices) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    ExplicitSchedule copy = source;
    if (std::optional<std::string> what = op.apply(copy, choices))
      return Mutation{&op, std::move(*what), std::move(copy)};
  }
  return std::nullopt;
}

} // namespace amk::fuzz
