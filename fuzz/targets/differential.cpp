// libFuzzer target, structure-aware: the input bytes drive the schedule generator (every byte string
// is some well-formed schedule), and the checker is compared with the explorer and Z3. A false accept
// or a disagreement between the oracles aborts, leaving the input as the reproducer.
#include "amk/fuzz/differential.h"
#include "amk/fuzz/generator.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  amk::fuzz::Choices choices(data, size);
  std::string schedule = amk::fuzz::generateSchedule(choices);
  amk::fuzz::DifferentialOptions options;
  options.explorerStateBudget = 50'000;
  options.z3TimeoutMs = 2'000;
  amk::fuzz::DifferentialCase c = amk::fuzz::compareOne(0, schedule, options);
  if (c.falseAccept || c.oracleDisagreement) {
    std::fprintf(stderr, "%s\nchecker: %s\nexplorer: %s\nz3: %s\n", schedule.c_str(), c.checker.c_str(),
                 c.explorer.c_str(), c.z3.c_str());
    std::abort();
  }
  return 0;
}
