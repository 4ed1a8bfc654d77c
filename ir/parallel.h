// A loop over independent jobs spread across a few threads, for the tools that check or plan many
// schedules at once. Results stay in the caller's order because each job writes only its own slot.
#pragma once

#include <cstddef>
#include <functional>

namespace amk::ir {

// Runs body(0) .. body(count - 1), at most `threads` at a time (the calling thread is one of them).
// The first exception a job throws is rethrown here once every thread has stopped; jobs not yet
// started when it was thrown are skipped.
void parallelFor(size_t count, unsigned threads, const std::function<void(size_t)> &body);

} // namespace amk::ir
