// Random small schedules for differential testing: 2-6 blocks, a few buffers and counters, phases
// of producers and consumers synchronised by counters or barriers or through "any of" relays (any
// one of several relay signals orders a write before a read), with perturbations (thresholds
// off by one or by k, relaxed and .cta variants, shifted and widened tiles, barriers in a subset of
// blocks, grids past sms x occupancy) that put many of them right at the safe/unsafe boundary.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace amk::fuzz {

// The source of every random choice: a seeded generator, or the bytes of a fuzzer input (which
// makes the generator structure-aware for libFuzzer: every byte string is some schedule).
class Choices {
public:
  explicit Choices(uint64_t seed) : state_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  Choices(const uint8_t *data, size_t size) : data_(data), size_(size) {}

  // A value in [0, bound); bound > 0.
  uint64_t below(uint64_t bound);
  bool chance(unsigned percent) { return below(100) < percent; }
  int64_t between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(below(static_cast<uint64_t>(hi - lo + 1)));
  }

private:
  uint64_t next();
  uint64_t state_ = 0;
  const uint8_t *data_ = nullptr;
  size_t size_ = 0;
  size_t used_ = 0;
};

struct GeneratorOptions {
  int minBlocks = 2;
  int maxBlocks = 6;
  int maxPhases = 4;
};

// The AMKIR text of one random, always well-formed schedule.
std::string generateSchedule(Choices &choices, const GeneratorOptions &options = {});

} // namespace amk::fuzz
