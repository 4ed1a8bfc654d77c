#include "amk/fuzz/generator.h"

#include "amk/ir/ast.h"

#include <algorithm>
#include <map>
#include <vector>

namespace amk::fuzz {

uint64_t Choices::next() {
  if (data_) {
    // Fuzzer bytes, then zeros: short inputs give small, simple schedules.
    uint64_t v = 0;
    for (int i = 0; i < 2; ++i)
      v = (v << 8) | (used_ < size_ ? data_[used_++] : 0);
    return v;
  }
  // splitmix64
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t Choices::below(uint64_t bound) { return bound <= 1 ? 0 : next() % bound; }

namespace {

struct Buffer {
  std::string name;
  int rows; // 1: a vector of `cols` elements
  int cols;
};

struct Counter {
  std::string name;
  int size; // 0: scalar
};

class Generator {
public:
  Generator(Choices &c, const GeneratorOptions &o) : c_(c), o_(o) {}

  std::string run() {
    blocks_ = static_cast<int>(c_.between(o_.minBlocks, o_.maxBlocks));
    // Mostly co-resident grids; sometimes one past sms x occupancy.
    int sms = c_.chance(8) ? std::max(1, blocks_ - 1) : blocks_ + static_cast<int>(c_.below(4));
    programs_.assign(static_cast<size_t>(blocks_), {});
    int bufferCount = static_cast<int>(c_.between(1, 3));
    for (int i = 0; i < bufferCount; ++i)
      buffers_.push_back({"x" + std::to_string(i), c_.chance(30) ? 4 : 1, 4 * blocks_});
    int counterCount = static_cast<int>(c_.between(1, 3));
    for (int i = 0; i < counterCount; ++i)
      counters_.push_back({"c" + std::to_string(i), c_.chance(40) ? blocks_ : 0});

    int phases = static_cast<int>(c_.between(1, o_.maxPhases));
    for (int p = 0; p < phases; ++p) {
      const uint64_t kind = c_.below(100);
      if (kind < 25)
        barrierPhase();
      else if (kind < 37)
        relayPhase();
      else
        counterPhase();
      // Phases are usually fenced by a barrier in every block; leaving it out makes the next
      // phase's writes race with this phase's reads unless something else orders them.
      if (p + 1 < phases && c_.chance(85))
        for (int k = 0; k < blocks_; ++k)
          emit(k, "barrier");
    }

    std::string out = "amkir 1\ntarget sm_90 sms=" + std::to_string(sms) + "\ngrid blocks=" + std::to_string(blocks_) +
                      " threads=128 occupancy=1\n\n";
    for (const Buffer &b : buffers_)
      out += "scratch " + b.name + " : f32[" + (b.rows > 1 ? std::to_string(b.rows) + ", " : "") +
             std::to_string(b.cols) + "]\n";
    for (const Counter &k : counters_)
      out += "counter " + k.name + (k.size ? "[" + std::to_string(k.size) + "]" : "") + "\n";
    for (int k = 0; k < blocks_; ++k) {
      if (programs_[static_cast<size_t>(k)].empty())
        continue;
      out += "\nblocks b in " + std::to_string(k) + ".." + std::to_string(k + 1) + " {\n";
      for (const std::string &line : programs_[static_cast<size_t>(k)])
        out += "  " + line + "\n";
      out += "}\n";
    }
    return out;
  }

private:
  void emit(int block, std::string line) { programs_[static_cast<size_t>(block)].push_back(std::move(line)); }

  // The tile of block k in buffer b (columns 4k..4k+4), possibly shifted or widened by one.
  std::string tile(const Buffer &b, int k, bool perturb) {
    int lo = 4 * k, hi = 4 * k + 4;
    if (perturb && c_.chance(50)) {
      if (c_.chance(50) && hi < b.cols)
        ++hi; // widened: overlaps the next tile by one element
      else if (lo > 0)
        --lo; // shifted down by one
    }
    std::string cols = std::to_string(lo) + ":" + std::to_string(hi);
    if (b.rows == 1)
      return b.name + "[" + cols + "]";
    int r0 = static_cast<int>(c_.below(static_cast<uint64_t>(b.rows)));
    int r1 = c_.chance(50) ? r0 + 1 : b.rows;
    return b.name + "[" + std::to_string(r0) + ":" + std::to_string(std::max(r1, r0 + 1)) + ", " + cols + "]";
  }

  std::string counterRef(const Counter &k, int element) {
    return k.size ? k.name + "[" + std::to_string(element % k.size) + "]" : k.name;
  }

  static const char *scope(Choices &c, unsigned relaxedPercent, unsigned ctaPercent) {
    uint64_t r = c.below(100);
    if (r < relaxedPercent)
      return ir::ast::syncSuffix(ir::ast::SyncScope::Relaxed);
    if (r < relaxedPercent + ctaPercent)
      return ir::ast::syncSuffix(ir::ast::SyncScope::Cta);
    return ir::ast::syncSuffix(ir::ast::SyncScope::Default);
  }

  // Producers write their tiles and signal; consumers wait for (about) the sum, then read.
  void counterPhase() {
    const Buffer &b = buffers_[c_.below(buffers_.size())];
    const Counter &k = counters_[c_.below(counters_.size())];
    int element = k.size ? static_cast<int>(c_.below(static_cast<uint64_t>(k.size))) : 0;
    // Counters are monotonic: a reused element's thresholds count what earlier phases added.
    uint64_t &already = signalled_[k.name + "[" + std::to_string(element) + "]"];
    std::vector<int> producers, consumers;
    for (int i = 0; i < blocks_; ++i) {
      if (c_.chance(55))
        producers.push_back(i);
      else
        consumers.push_back(i);
    }
    if (producers.empty() || consumers.empty())
      return barrierPhase();
    bool perturbTiles = c_.chance(15);
    uint64_t total = 0;
    std::vector<uint64_t> increments;
    for (int p : producers) {
      uint64_t inc = c_.chance(75) ? 1 : static_cast<uint64_t>(c_.between(2, 5));
      increments.push_back(inc);
      total += inc;
      emit(p, "opaque " + tile(b, p, perturbTiles) + " <- name=\"produce\"");
      // Sometimes a second, later signal of the same producer (program-ordered signals).
      std::string signal = std::string("signal") + scope(c_, 6, 4) + " " + counterRef(k, element) +
                           (inc == 1 ? "" : " + " + std::to_string(inc));
      emit(p, signal);
    }
    already += total;
    for (int q : consumers) {
      int64_t threshold = static_cast<int64_t>(already);
      uint64_t r = c_.below(100);
      if (r < 8)
        threshold -= 1;
      else if (r < 12)
        threshold += 1;
      else if (r < 16)
        threshold -= static_cast<int64_t>(increments[c_.below(increments.size())]);
      threshold = std::max<int64_t>(threshold, 0);
      emit(q,
           std::string("wait") + scope(c_, 5, 3) + " " + counterRef(k, element) + " >= " + std::to_string(threshold));
      // Read everything, or one producer's tile.
      if (c_.chance(50))
        emit(q, "opaque <- " + b.name + " name=\"consume\"");
      else
        emit(q, "opaque <- " + tile(b, producers[c_.below(producers.size())], perturbTiles) + " name=\"consume\"");
    }
    // Sometimes the counter is reused without a matching consumer later: a stale producer.
    if (c_.chance(10)) {
      int p = producers[c_.below(producers.size())];
      emit(p, "opaque " + tile(b, p, false) + " <- name=\"late\"");
    }
  }

  // "Any of" relays: a writer publishes its tile on one counter element; relays wait for it and each
  // signal a second element; readers wait for some of the relays' adds, then read the writer's
  // tile. Whichever relay's add a reader's wait reads orders the write before the read. Perturbations
  // that break it: a relay that signals before its wait, a relaxed or .cta relay signal, a threshold
  // one too low (reachable without any relay when the element already holds enough).
  void relayPhase() {
    if (blocks_ < 3)
      return counterPhase();
    const Buffer &b = buffers_[c_.below(buffers_.size())];
    // Two different counter elements: relays that signal the element they wait on are the
    // first-increment pattern of counterPhase, not this one.
    const Counter &go = counters_[c_.below(counters_.size())];
    const Counter &done = counters_[c_.below(counters_.size())];
    const int goElement = go.size ? static_cast<int>(c_.below(static_cast<uint64_t>(go.size))) : 0;
    int doneElement = done.size ? static_cast<int>(c_.below(static_cast<uint64_t>(done.size))) : 0;
    if (&go == &done && goElement == doneElement) {
      if (!done.size)
        return counterPhase();
      doneElement = (doneElement + 1) % done.size;
    }
    const int writer = static_cast<int>(c_.below(static_cast<uint64_t>(blocks_)));
    std::vector<int> relays, readers;
    for (int i = 0; i < blocks_; ++i)
      if (i != writer)
        (c_.chance(50) ? relays : readers).push_back(i);
    if (relays.empty() || readers.empty())
      return counterPhase();
    emit(writer, "opaque " + tile(b, writer, false) + " <- name=\"produce\"");
    emit(writer, "signal " + counterRef(go, goElement));
    const uint64_t goThreshold = ++signalled_[go.name + "[" + std::to_string(goElement) + "]"];
    for (int r : relays) {
      const bool early = c_.chance(8);
      const std::string signal = std::string("signal") + scope(c_, 6, 3) + " " + counterRef(done, doneElement);
      if (early)
        emit(r, signal);
      emit(r, "wait " + counterRef(go, goElement) + " >= " + std::to_string(goThreshold));
      if (!early)
        emit(r, signal);
    }
    uint64_t &doneSignalled = signalled_[done.name + "[" + std::to_string(doneElement) + "]"];
    const uint64_t before = doneSignalled;
    doneSignalled += relays.size();
    for (int q : readers) {
      int64_t threshold = static_cast<int64_t>(before + static_cast<uint64_t>(c_.between(1, int64_t(relays.size()))));
      if (c_.chance(8))
        threshold -= 1;
      emit(q, "wait " + counterRef(done, doneElement) + " >= " + std::to_string(std::max<int64_t>(threshold, 0)));
      emit(q, "opaque <- " + tile(b, writer, false) + " name=\"consume\"");
    }
  }

  // Every block writes its own tile, then a barrier, then reads; sometimes a block skips it.
  void barrierPhase() {
    const Buffer &b = buffers_[c_.below(buffers_.size())];
    bool perturb = c_.chance(15);
    int skipping = c_.chance(6) ? static_cast<int>(c_.below(static_cast<uint64_t>(blocks_))) : -1;
    for (int k = 0; k < blocks_; ++k) {
      emit(k, "opaque " + tile(b, k, perturb) + " <- name=\"before\"");
      if (k != skipping)
        emit(k, "barrier");
      emit(k, "opaque <- " + tile(b, (k + 1) % blocks_, false) + " name=\"after\"");
    }
  }

  Choices &c_;
  const GeneratorOptions &o_;
  int blocks_ = 2;
  std::vector<Buffer> buffers_;
  std::vector<Counter> counters_;
  std::vector<std::vector<std::string>> programs_;
  std::map<std::string, uint64_t> signalled_;
};

} // namespace

std::string generateSchedule(Choices &choices, const GeneratorOptions &options) {
  return Generator(choices, options).run();
}

} // namespace amk::fuzz
