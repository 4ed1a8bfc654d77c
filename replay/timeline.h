// A replay as one self-contained HTML page: per run an SVG timeline with one lane per block, one box
// per step (tasks, signals, waits, barrier arrivals, dispatches), arrows from the signal that let a
// wait pass, barrier completions, the racing accesses and the stuck blocks in red, and the values the
// two orders of a race leave. No scripts, fonts or images from elsewhere: it opens offline.
#pragma once

#include "amk/ir/program.h"
#include "amk/replay/witness_replay.h"

#include <string>

namespace amk::replay {

struct TimelineOptions {
  size_t maxEvents = 20'000; // per run; later steps are left out (and the page says so)
};

std::string renderTimelineHtml(const ReplayResult &result, const ir::Program &program,
                               const TimelineOptions &options = {});

} // namespace amk::replay
