// The HTML/SVG timeline of a replay. Time runs left to right in steps of the simulator (one column
// per step, so the order the replay chose is exactly what is drawn); tooltips (<title>) carry each
// step's instruction, source line and values, so the picture stays readable for long runs.
#include "amk/replay/timeline.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>

namespace amk::replay {
namespace {

constexpr int kLeft = 90;      // lane labels
constexpr int kTop = 34;       // step ruler
constexpr int kLane = 26;      // lane height
constexpr int kColumn = 16;    // one step
constexpr int kBox = 12;       // a step's box
constexpr int kEndLabel = 560; // room after the last step for the final state

std::string escape(const std::string &text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

const char *kindClass(StepKind kind) {
  switch (kind) {
  case StepKind::Task:
    return "task";
  case StepKind::Signal:
    return "signal";
  case StepKind::Wait:
    return "wait";
  case StepKind::Barrier:
    return "arrive";
  case StepKind::Dispatch:
    return "dispatch";
  }
  return "task";
}

std::string eventTitle(const ir::Program &program, const SimEvent &event, size_t step) {
  std::string text = "step " + std::to_string(step) + ", block " + std::to_string(event.block);
  if (event.kind == StepKind::Dispatch)
    return text + ": dispatched into a free slot";
  text += ", instruction " + std::to_string(event.index) + " at " +
          program.instructionText(event.block, event.index, ir::InstructionStyle::SourceLine);
  const ir::Instruction &instruction = program.blockPrograms[event.block][event.index];
  switch (event.kind) {
  case StepKind::Signal:
    text += ": " + program.counterText(instruction) + " becomes " + std::to_string(event.value);
    break;
  case StepKind::Wait:
    text += ": passes, " + program.counterText(instruction) + " is " + std::to_string(event.value);
    break;
  case StepKind::Barrier:
    text += event.completesBarrier ? ": last arrival, barrier " + std::to_string(event.barrierNumber + 1) + " completes"
                                   : ": arrives at barrier " + std::to_string(event.barrierNumber + 1);
    break;
  default:
    break;
  }
  if (!event.error.empty())
    text += " (failed: " + event.error + ")";
  return text;
}

int laneY(uint32_t block) { return kTop + static_cast<int>(block) * kLane; }
int columnX(size_t step) { return kLeft + static_cast<int>(step) * kColumn; }

// One run as an SVG, layer by layer: the lanes, the step ruler, barrier completions, the signals
// that let waits pass, the racing pair, the steps, and where each unfinished block stopped.
class RunDrawing {
public:
  RunDrawing(const ir::Program &program, const ViolationReplay &violation, const ReplayRun &run,
             const TimelineOptions &options, std::string &out)
      : program_(program), violation_(violation), run_(run), out_(out),
        shown_(std::min(run.events.size(), options.maxEvents)),
        blocks_(static_cast<uint32_t>(program.blockPrograms.size())), width_(columnX(shown_) + kEndLabel) {
    for (size_t i = 0; i < shown_; ++i)
      lastStep_[run.events[i].block] = i;
    for (const BlockPosition &p : run.blocked)
      blocked_[p.block] = &p;
  }

  void draw() {
    open();
    lanes();
    ruler();
    barriers();
    syncArrows();
    const std::vector<size_t> racing = racingPair();
    steps(racing);
    finalState();
    out_ += "</svg></div>\n";
    if (!run_.counters.empty())
      out_ += "<p class=\"small\">Counters at the end: " + escape(run_.counters) + "</p>\n";
  }

private:
  void open() {
    const int height = laneY(blocks_) + 12;
    out_ += "<h3>" + escape(run_.title) + "</h3>\n<p>" + escape(run_.description) + "</p>\n";
    if (shown_ < run_.events.size())
      out_ += "<p class=\"warn\">Only the first " + std::to_string(shown_) + " of " +
              std::to_string(run_.events.size()) + " steps are drawn.</p>\n";
    out_ += "<div class=\"scroll\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width_) +
            "\" height=\"" + std::to_string(height) + "\" role=\"img\">\n";
    out_ +=
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" "
        "markerHeight=\"6\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#2f7d32\"/></marker>"
        "</defs>\n";
  }

  // Lanes, and for a bounded-residency run the span in which each block was resident.
  void lanes() {
    std::map<uint32_t, size_t> dispatchedAt;
    for (size_t i = 0; i < shown_; ++i)
      if (run_.events[i].kind == StepKind::Dispatch)
        dispatchedAt[run_.events[i].block] = i;
    for (uint32_t k = 0; k < blocks_; ++k) {
      const int y = laneY(k);
      out_ += "<rect class=\"lane" + std::string(k % 2 ? " odd" : "") + "\" x=\"" + std::to_string(kLeft) + "\" y=\"" +
              std::to_string(y) + "\" width=\"" + std::to_string(width_ - kLeft) + "\" height=\"" +
              std::to_string(kLane) + "\"/>\n";
      if (run_.residentSlots && dispatchedAt.count(k)) {
        size_t from = dispatchedAt[k];
        bool resident = blocked_.count(k) > 0;
        size_t to = resident ? shown_ : lastStep_[k] + 1;
        out_ += "<rect class=\"resident\" x=\"" + std::to_string(columnX(from)) + "\" y=\"" + std::to_string(y + 2) +
                "\" width=\"" + std::to_string(static_cast<int>(to - from) * kColumn) + "\" height=\"" +
                std::to_string(kLane - 4) + "\"><title>block " + std::to_string(k) + " resident</title></rect>\n";
      }
      out_ +=
          "<text class=\"label\" x=\"6\" y=\"" + std::to_string(y + 17) + "\">block " + std::to_string(k) + "</text>\n";
    }
  }

  void ruler() {
    for (size_t i = 0; i < shown_; i += 10)
      out_ += "<text class=\"ruler\" x=\"" + std::to_string(columnX(i)) + "\" y=\"" + std::to_string(kTop - 8) + "\">" +
              std::to_string(i) + "</text>\n";
  }

  // Barrier completions: every block passes at the last arrival.
  void barriers() {
    for (size_t i = 0; i < shown_; ++i)
      if (run_.events[i].completesBarrier) {
        const int x = columnX(i) + kBox / 2;
        out_ += "<line class=\"barrier\" x1=\"" + std::to_string(x) + "\" y1=\"" + std::to_string(kTop) + "\" x2=\"" +
                std::to_string(x) + "\" y2=\"" + std::to_string(laneY(blocks_)) + "\"><title>barrier " +
                std::to_string(run_.events[i].barrierNumber + 1) + " completes at step " + std::to_string(i) +
                "</title></line>\n";
      }
  }

  // Synchronisation: the signal whose increment let each wait pass.
  void syncArrows() {
    for (size_t i = 0; i < shown_; ++i) {
      const SimEvent &event = run_.events[i];
      if (event.kind != StepKind::Wait || !event.enabledBy || *event.enabledBy >= shown_)
        continue;
      const SimEvent &from = run_.events[*event.enabledBy];
      if (from.block == event.block)
        continue;
      out_ += "<line class=\"sync\" marker-end=\"url(#arrow)\" x1=\"" +
              std::to_string(columnX(*event.enabledBy) + kBox) + "\" y1=\"" +
              std::to_string(laneY(from.block) + kLane / 2) + "\" x2=\"" + std::to_string(columnX(i)) + "\" y2=\"" +
              std::to_string(laneY(event.block) + kLane / 2) + "\"/>\n";
    }
  }

  // The racing pair, joined by a red dashed line; returns the highlighted steps that are drawn.
  std::vector<size_t> racingPair() {
    std::vector<size_t> racing;
    for (size_t e : run_.highlighted)
      if (e < shown_)
        racing.push_back(e);
    if (racing.size() == 2 && violation_.race) {
      const SimEvent &a = run_.events[racing[0]], &b = run_.events[racing[1]];
      out_ += "<line class=\"race\" x1=\"" + std::to_string(columnX(racing[0]) + kBox / 2) + "\" y1=\"" +
              std::to_string(laneY(a.block) + kLane / 2) + "\" x2=\"" + std::to_string(columnX(racing[1]) + kBox / 2) +
              "\" y2=\"" + std::to_string(laneY(b.block) + kLane / 2) + "\"><title>race on " +
              escape(violation_.race->buffer) + "</title></line>\n";
    }
    return racing;
  }

  void steps(const std::vector<size_t> &racing) {
    for (size_t i = 0; i < shown_; ++i) {
      const SimEvent &event = run_.events[i];
      bool hot = std::find(racing.begin(), racing.end(), i) != racing.end();
      std::string cls =
          std::string(kindClass(event.kind)) + (hot ? " hot" : "") + (event.error.empty() ? "" : " failed");
      const int x = columnX(i), y = laneY(event.block) + (kLane - kBox) / 2;
      out_ += "<rect class=\"" + cls + "\" x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" width=\"" +
              std::to_string(kBox) + "\" height=\"" + std::to_string(kBox) + "\" rx=\"" +
              (event.kind == StepKind::Task ? "2" : "6") + "\"><title>" + escape(eventTitle(program_, event, i)) +
              "</title></rect>\n";
    }
  }

  // The final state: where each unfinished block stopped, after its last step.
  void finalState() {
    for (const BlockPosition &p : run_.blocked) {
      const int y = laneY(p.block);
      const int x = columnX(shown_) + 8;
      bool stuck = p.atWait || p.atBarrier || p.phase == BlockPhase::NotStarted;
      std::string text = positionText(program_, p);
      out_ += "<rect class=\"" + std::string(stuck ? "stuck" : "open") + "\" x=\"" + std::to_string(x) + "\" y=\"" +
              std::to_string(y + 4) + "\" width=\"" + std::to_string(kEndLabel - 20) + "\" height=\"" +
              std::to_string(kLane - 8) + "\" rx=\"3\"><title>" + escape(text) + "</title></rect>\n";
      std::string shortText = text.size() > 112 ? text.substr(0, 109) + "..." : text;
      out_ += "<text class=\"end\" x=\"" + std::to_string(x + 4) + "\" y=\"" + std::to_string(y + 17) + "\">" +
              escape(shortText) + "</text>\n";
    }
    for (uint32_t k = 0; k < blocks_; ++k)
      if (!blocked_.count(k) && (lastStep_.count(k) || !run_.residentSlots))
        out_ += "<text class=\"done\" x=\"" + std::to_string(columnX(shown_) + 12) + "\" y=\"" +
                std::to_string(laneY(k) + 17) + "\">finished</text>\n";
  }

  const ir::Program &program_;
  const ViolationReplay &violation_;
  const ReplayRun &run_;
  std::string &out_;
  const size_t shown_;    // steps drawn
  const uint32_t blocks_; // lanes
  const int width_;
  std::map<uint32_t, size_t> lastStep_;               // per block: its last step drawn
  std::map<uint32_t, const BlockPosition *> blocked_; // per unfinished block: where it stopped
};

void renderDiffTable(const ir::Program &program, const std::vector<RegionDiff> &diffs, const std::string &caption,
                     std::string &out) {
  if (diffs.empty())
    return;
  out += "<table><caption>" + escape(caption) +
         "</caption>\n<tr><th>what</th><th>element</th><th>order 1</th>"
         "<th>order 2</th></tr>\n";
  for (const RegionDiff &diff : diffs) {
    const std::string &name = program.buffers[diff.buffer].name;
    bool firstRow = true;
    for (const ElementDiff &e : diff.listed) {
      std::string index = name + "[";
      for (size_t d = 0; d < e.index.size(); ++d)
        index += (d ? ", " : "") + std::to_string(e.index[d]);
      index += "]";
      char bits[64];
      std::snprintf(bits, sizeof bits, " <span class=\"bits\">0x%" PRIx64 "</span>", e.firstBits);
      std::string first = num(e.first) + bits;
      std::snprintf(bits, sizeof bits, " <span class=\"bits\">0x%" PRIx64 "</span>", e.secondBits);
      std::string second = num(e.second) + bits;
      out += "<tr><td>" +
             (firstRow ? escape(diff.what) + " (" + std::to_string(diff.differing) + " of " +
                             std::to_string(diff.elements) + " differ)"
                       : std::string()) +
             "</td><td>" + escape(index) + "</td><td>" + first + "</td><td>" + second + "</td></tr>\n";
      firstRow = false;
    }
  }
  out += "</table>\n";
}

const char *kStyle = R"(
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.8em; } h3 { font-size: 1em; margin-bottom: 0.2em; }
.ok { color: #1b7f3b; } .no { color: #b3261e; } .warn { color: #b3261e; } .small { font-size: 0.85em; color: #555; }
.scroll { overflow-x: auto; border: 1px solid #ddd; margin: 0.4em 0; }
svg text { font-family: ui-monospace, monospace; font-size: 11px; }
.lane { fill: #fafafa; } .lane.odd { fill: #f0f0f0; } .resident { fill: #e3eefc; }
.label { fill: #333; } .done { fill: #1b7f3b; } .ruler { fill: #888; font-size: 9px; } .end { fill: #222; }
.task { fill: #4e79a7; } .signal { fill: #59a14f; } .wait { fill: #f28e2b; } .arrive { fill: #9c9c9c; }
.dispatch { fill: #b07aa1; } .failed { stroke: #000; stroke-dasharray: 2 1; }
.hot { fill: #e15759; stroke: #000; stroke-width: 2; }
.sync { stroke: #2f7d32; stroke-width: 1.2; opacity: 0.8; }
.barrier { stroke: #777; stroke-width: 1; stroke-dasharray: 4 3; }
.race { stroke: #e15759; stroke-width: 2; stroke-dasharray: 5 3; }
.stuck { fill: #fde0dd; stroke: #e15759; } .open { fill: #eee; stroke: #aaa; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
caption { text-align: left; font-weight: 600; padding: 0.2em 0; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; font-family: ui-monospace, monospace; }
.bits { color: #888; }
.legend span { display: inline-block; margin-right: 1.2em; }
.legend i { display: inline-block; width: 11px; height: 11px; margin-right: 4px; vertical-align: -1px; }
)";

} // namespace

std::string renderTimelineHtml(const ReplayResult &result, const ir::Program &program, const TimelineOptions &options) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>amk-replay: " +
                    escape(program.sourceName) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  out += "<h1>amk-replay: " + escape(program.sourceName) + "</h1>\n";
  out += "<p class=\"small\">" + std::to_string(program.blocks) + " blocks, sms=" + std::to_string(program.sms) +
         ", occupancy=" + std::to_string(program.occupancy) + "; CPU replay with data seed " +
         std::to_string(result.seed) + ". Hover a step for its instruction.</p>\n";
  out += "<p class=\"legend small\"><span><i style=\"background:#4e79a7\"></i>task</span>"
         "<span><i style=\"background:#59a14f\"></i>signal</span><span><i style=\"background:#f28e2b\"></i>wait "
         "passes</span><span><i style=\"background:#9c9c9c\"></i>barrier arrival</span>"
         "<span><i style=\"background:#b07aa1\"></i>dispatch</span><span><i style=\"background:#e15759\"></i>racing "
         "access</span><span>green arrow: the signal that let a wait pass</span><span>dashed line: a barrier "
         "completes</span></p>\n";
  for (const ViolationReplay &v : result.violations) {
    out += "<h2>" + std::string(ruleId(v.rule)) + " " + ruleName(v.rule) + ": <span class=\"" +
           (v.exhibited ? "ok\">exhibited" : "no\">not exhibited") + "</span></h2>\n";
    out += "<p>" + escape(v.summary) + "</p>\n<p class=\"small\">checker: " + escape(v.message) + "</p>\n";
    for (const ReplayRun &run : v.runs)
      RunDrawing(program, v, run, options, out).draw();
    renderDiffTable(program, v.diffs, "What the two orders leave (right after both accesses)", out);
    renderDiffTable(program, v.finalDiffs, "At the end of the launch", out);
    if (!v.notes.empty()) {
      out += "<ul class=\"small\">\n";
      for (const std::string &note : v.notes)
        out += "<li>" + escape(note) + "</li>\n";
      out += "</ul>\n";
    }
  }
  out += "</body>\n</html>\n";
  return out;
}

} // namespace amk::replay
