// parallelFor runs every job once, whatever the thread count, and hands back a job's failure.
#include "amk/ir/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

namespace amk::ir {
namespace {

TEST(ParallelFor, RunsEveryJobOnce) {
  for (unsigned threads : {0u, 1u, 3u, 64u}) {
    std::vector<std::atomic<int>> runs(100);
    parallelFor(runs.size(), threads, [&](size_t i) { ++runs[i]; });
    for (size_t i = 0; i < runs.size(); ++i)
      EXPECT_EQ(runs[i], 1) << "job " << i << ", " << threads << " threads";
  }
}

TEST(ParallelFor, NoJobsRunsNothing) {
  bool ran = false;
  parallelFor(0, 4, [&](size_t) { ran = true; });
  EXPECT_FALSE(ran);
}

TEST(ParallelFor, RethrowsAFailedJobsException) {
  EXPECT_THROW(parallelFor(10, 3,
                           [](size_t i) {
                             if (i == 4)
                               throw std::runtime_error("job 4 failed");
                           }),
               std::runtime_error);
}

} // namespace
} // namespace amk::ir
