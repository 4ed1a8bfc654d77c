#include "amk/ir/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace amk::ir {

void parallelFor(size_t count, unsigned threads, const std::function<void(size_t)> &body) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr firstFailure;
  std::mutex failureMutex;
  auto worker = [&] {
    for (size_t i = next++; i < count && !failed; i = next++) {
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failureMutex);
        if (!firstFailure)
          firstFailure = std::current_exception();
        failed = true;
      }
    }
  };
  const unsigned workers = static_cast<unsigned>(std::clamp<size_t>(count, 1, std::max(1u, threads)));
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < workers; ++t)
    pool.emplace_back(worker);
  worker();
  for (std::thread &t : pool)
    t.join();
  if (firstFailure)
    std::rethrow_exception(firstFailure);
}

} // namespace amk::ir
