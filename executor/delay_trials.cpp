// Drawing delays, relaunching the step, comparing its buffers.
#include "amk/executor/delay_trials.h"

#include "amk/executor/op_reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

namespace amk::executor {

namespace {

// Uniform in [0, 1) from the top 53 bits. Plain arithmetic on the generator's output rather than a
// std:: distribution: the generator's sequence is fixed by the standard, a distribution's is not, so a
// seed names the same delays with every standard library.
double uniform(std::mt19937_64 &random) { return static_cast<double>(random() >> 11) * 0x1.0p-53; }

std::string indexText(const std::vector<int64_t> &shape, int64_t flat) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = shape[d] > 0 ? flat % shape[d] : 0;
    flat = shape[d] > 0 ? flat / shape[d] : 0;
  }
  std::string text = "[";
  for (size_t d = 0; d < index.size(); ++d)
    text += (d == 0 ? "" : ", ") + std::to_string(index[d]);
  return text + "]";
}

std::string elementText(const ir::Buffer &buffer, std::span<const std::byte> bytes, int64_t index) {
  HostBuffer one(buffer.dtype, {1});
  const size_t width = one.elementBytes();
  std::memcpy(one.bytes().data(), bytes.data() + static_cast<size_t>(index) * width, width);
  if (buffer.dtype == ir::ast::DType::I32 || buffer.dtype == ir::ast::DType::I8)
    return std::to_string(one.loadInt(0));
  std::ostringstream text;
  text << std::setprecision(9) << one.load(0);
  return text.str();
}

Result<std::vector<std::vector<std::byte>>> readAll(const StepRunner &runner,
                                                    const std::vector<const ir::Buffer *> &buffers) {
  std::vector<std::vector<std::byte>> contents;
  for (const ir::Buffer *buffer : buffers) {
    Result<std::vector<std::byte>> bytes = runner.readBytes(buffer->name);
    if (!bytes)
      return bytes.error();
    contents.push_back(std::move(*bytes));
  }
  return contents;
}

// Every difference between two snapshots, one clause per buffer, "; "-separated; empty when equal.
std::string differences(const std::vector<const ir::Buffer *> &buffers,
                        const std::vector<std::vector<std::byte>> &actual,
                        const std::vector<std::vector<std::byte>> &expected) {
  std::string text;
  for (size_t i = 0; i < buffers.size(); ++i)
    if (std::optional<std::string> d = describeDifference(*buffers[i], actual[i], expected[i]))
      text += (text.empty() ? "" : "; ") + *d;
  return text;
}

} // namespace

std::vector<std::vector<uint32_t>> drawDelays(const ir::Program &program, uint32_t maxDelayNs,
                                              std::mt19937_64 &random) {
  const double probability = std::exp2(-8.0 * uniform(random));
  std::vector<std::vector<uint32_t>> delays(program.blockPrograms.size());
  for (size_t k = 0; k < program.blockPrograms.size(); ++k) {
    delays[k].assign(program.blockPrograms[k].size(), 0);
    if (maxDelayNs == 0 || random() % 2 == 0)
      continue;
    for (uint32_t &delay : delays[k])
      if (uniform(random) < probability)
        delay = static_cast<uint32_t>(1 + random() % maxDelayNs);
  }
  return delays;
}

std::optional<std::string> describeDifference(const ir::Buffer &buffer, std::span<const std::byte> actual,
                                              std::span<const std::byte> expected) {
  if (actual.size() != expected.size())
    return buffer.name + ": " + std::to_string(actual.size()) + " bytes against " + std::to_string(expected.size());
  if (std::memcmp(actual.data(), expected.data(), actual.size()) == 0)
    return std::nullopt;
  const size_t width = ir::ast::dtypeBytes(buffer.dtype);
  const int64_t elements = static_cast<int64_t>(actual.size() / width);
  int64_t differing = 0, first = -1;
  for (int64_t e = 0; e < elements; ++e)
    if (std::memcmp(actual.data() + e * width, expected.data() + e * width, width) != 0) {
      ++differing;
      if (first < 0)
        first = e;
    }
  return buffer.name + ": " + std::to_string(differing) + " of " + std::to_string(elements) +
         " elements differ, first " + indexText(buffer.shape, first) + ": " + elementText(buffer, actual, first) +
         " vs " + elementText(buffer, expected, first);
}

std::vector<const ir::Buffer *> comparedBuffers(const ir::Program &program) {
  std::vector<const ir::Buffer *> buffers;
  for (const ir::Buffer &b : program.buffers)
    if (b.kind == ir::ast::BufferKind::Output || b.kind == ir::ast::BufferKind::State)
      buffers.push_back(&b);
  return buffers;
}

Result<DelayReport> runDelayTrials(StepRunner &runner, const DelayTrialOptions &options) {
  const ir::Program &program = runner.program();
  const std::vector<const ir::Buffer *> buffers = comparedBuffers(program);
  DelayReport report;
  report.trials = options.trials;

  Result<std::vector<std::vector<std::byte>>> step = readAll(runner, buffers);
  if (!step)
    return step.error();
  if (std::optional<Error> e = runner.setDelays({}))
    return *e;
  Result<StepLaunch> undelayed = runner.launch();
  if (!undelayed)
    return undelayed.error();
  if (undelayed->status != LaunchStatus::Completed)
    return Error(program.sourceName, "relaunching the last step without delays did not complete: " + undelayed->report);
  Result<std::vector<std::vector<std::byte>>> reference = readAll(runner, buffers);
  if (!reference)
    return reference.error();
  if (std::string d = differences(buffers, *reference, *step); !d.empty())
    report.notIdempotent = "relaunching the last step without delays changed what it wrote: " + d;

  std::mt19937_64 random(options.seed);
  uint64_t delayedInstructions = 0;
  for (int64_t trial = 1; trial <= options.trials; ++trial) {
    std::vector<std::vector<uint32_t>> delays = drawDelays(program, options.maxDelayNs, random);
    for (const std::vector<uint32_t> &block : delays)
      for (uint32_t delay : block) {
        delayedInstructions += delay > 0;
        report.largestDelayNs = std::max(report.largestDelayNs, delay);
      }
    if (std::optional<Error> e = runner.setDelays(delays))
      return *e;
    Result<StepLaunch> launched = runner.launch();
    if (!launched)
      return launched.error();
    const std::string name = "trial " + std::to_string(trial) + ": ";
    if (launched->status == LaunchStatus::TimedOut) {
      ++report.timedOut;
      report.failures.push_back(name + "watchdog: " + launched->report);
      continue;
    }
    if (launched->status == LaunchStatus::Failed) {
      ++report.failed;
      report.failures.push_back(name + "stopped: " + launched->report);
      continue;
    }
    Result<std::vector<std::vector<std::byte>>> after = readAll(runner, buffers);
    if (!after)
      return after.error();
    if (std::string d = differences(buffers, *after, *reference); d.empty()) {
      ++report.identical;
    } else {
      ++report.differing;
      report.failures.push_back(name + d);
    }
  }
  if (options.trials > 0)
    report.delayedInstructionsPerLaunch =
        static_cast<double>(delayedInstructions) / static_cast<double>(options.trials);
  if (std::optional<Error> e = runner.setDelays({}))
    return *e;
  return report;
}

std::string summaryLine(const DelayReport &report, const DelayTrialOptions &options) {
  std::ostringstream line;
  line << "DELAYED: " << report.identical << " of " << report.trials << " launches bit-identical, " << report.timedOut
       << " watchdog, " << report.differing << " differing, " << report.failed << " failed; delays up to "
       << options.maxDelayNs << " ns (largest drawn " << report.largestDelayNs << " ns), " << std::fixed
       << std::setprecision(1) << report.delayedInstructionsPerLaunch << " delayed instructions per launch, seed "
       << options.seed;
  return line.str();
}

} // namespace amk::executor
