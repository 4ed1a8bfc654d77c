// The decode loop and the CPU executor as a StepRunner.
#include "amk/executor/decode.h"

#include "amk/executor/executor.h"
#include "amk/executor/op_reference.h"
#include "amk/executor/weights.h"

#include <algorithm>
#include <cstring>

namespace amk::executor {

namespace {

class ExecutorStepRunner final : public StepRunner {
public:
  ExecutorStepRunner(const ir::Program &program, std::chrono::milliseconds timeout)
      : executor_(program), timeout_(timeout) {}

  Executor &executor() { return executor_; }

  const ir::Program &program() const override { return executor_.program(); }
  std::string description() const override { return "CPU executor, one thread per block"; }

  std::optional<Error> setInts(std::string_view buffer, std::span<const int32_t> values) override {
    return executor_.setInts(buffer, values);
  }

  std::optional<Error> setDelays(const std::vector<std::vector<uint32_t>> &delaysNs) override {
    delaysNs_ = delaysNs;
    return std::nullopt;
  }

  Result<StepLaunch> launch() override {
    ExecutorOptions options;
    options.timeout = timeout_;
    options.recordTrace = false;
    options.delaysNs = delaysNs_;
    const auto start = std::chrono::steady_clock::now();
    ExecutionResult run = executor_.run(options);
    StepLaunch launch;
    launch.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    launch.status = run.status == ExecutionStatus::Completed    ? LaunchStatus::Completed
                    : run.status == ExecutionStatus::Deadlocked ? LaunchStatus::TimedOut
                                                                : LaunchStatus::Failed;
    launch.report = std::move(run.report);
    while (!launch.report.empty() && launch.report.back() == '\n')
      launch.report.pop_back();
    return launch;
  }

  Result<std::vector<std::byte>> readBytes(std::string_view buffer) const override {
    const HostBuffer *host = executor_.buffer(buffer);
    if (!host)
      return Error(program().sourceName, "no buffer '" + std::string(buffer) + "'");
    return std::vector<std::byte>(host->bytes().begin(), host->bytes().end());
  }

private:
  Executor executor_;
  std::chrono::milliseconds timeout_;
  std::vector<std::vector<uint32_t>> delaysNs_;
};

const ir::Buffer *findBuffer(const ir::Program &program, std::string_view name) {
  for (const ir::Buffer &b : program.buffers)
    if (b.name == name)
      return &b;
  return nullptr;
}

} // namespace

Result<std::unique_ptr<StepRunner>> makeExecutorStepRunner(const ir::Program &program, const model::Checkpoint &checkpoint,
                                                           std::chrono::milliseconds timeout) {
  auto runner = std::make_unique<ExecutorStepRunner>(program, timeout);
  Result<std::vector<ParamBytes>> params = bindParams(program, checkpoint);
  if (!params)
    return params.error();
  for (const ParamBytes &p : *params)
    if (std::optional<Error> e = runner->executor().setBytes(p.param, p.bytes))
      return *e;
  return std::unique_ptr<StepRunner>(std::move(runner));
}

DecodeFeed DecodeFeed::greedy(std::vector<int32_t> prompt, int64_t newTokens) {
  DecodeFeed feed;
  feed.mode = Mode::Greedy;
  feed.tokens = std::move(prompt);
  feed.newTokens = newTokens;
  return feed;
}

DecodeFeed DecodeFeed::teacherForced(std::vector<int32_t> sequence) {
  DecodeFeed feed;
  feed.mode = Mode::TeacherForced;
  feed.tokens = std::move(sequence);
  return feed;
}

int64_t DecodeFeed::steps() const {
  const auto fed = static_cast<int64_t>(tokens.size());
  return mode == Mode::TeacherForced ? fed : fed + std::max<int64_t>(newTokens - 1, 0);
}

double percentile(std::vector<double> v, double q) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1) + 0.5)];
}

Result<std::vector<double>> timeSteps(StepRunner &runner, int64_t kv, int64_t steps, int64_t warmup) {
  const int32_t position = static_cast<int32_t>(kv - 1), token = 1;
  if (std::optional<Error> e = runner.setInts("pos", std::span<const int32_t>(&position, 1)))
    return *e;
  if (std::optional<Error> e = runner.setInts("tok", std::span<const int32_t>(&token, 1)))
    return *e;
  std::vector<double> microseconds;
  for (int64_t i = 0; i < warmup + steps; ++i) {
    Result<StepLaunch> launched = runner.launch();
    if (!launched)
      return launched.error();
    if (launched->status != LaunchStatus::Completed)
      return Error(runner.program().sourceName,
                   "a launch at KV length " + std::to_string(kv) + " did not complete: " + launched->report);
    if (i >= warmup)
      microseconds.push_back(launched->milliseconds * 1000);
  }
  return microseconds;
}

Result<DecodeRun> decode(StepRunner &runner, const DecodeFeed &feed, bool keepLogits) {
  const ir::Program &program = runner.program();
  for (const char *name : {"tok", "pos", "next_token", "logits"})
    if (!findBuffer(program, name))
      return Error(program.sourceName, std::string("the schedule has no buffer '") + name +
                                           "' (a decode schedule reads tok and pos and writes logits and next_token)");
  if (feed.tokens.empty())
    return Error("", feed.mode == DecodeFeed::Mode::Greedy ? "the prompt is empty" : "the forced sequence is empty");
  const ir::Buffer &logitsBuffer = *findBuffer(program, "logits");

  DecodeRun run;
  run.vocab = 1;
  for (int64_t d : logitsBuffer.shape)
    run.vocab *= d;
  const int64_t steps = feed.steps();
  const auto fed = static_cast<int64_t>(feed.tokens.size());
  int32_t token = feed.tokens[0];
  for (int64_t pos = 0; pos < steps; ++pos) {
    if (pos < fed)
      token = feed.tokens[static_cast<size_t>(pos)];
    const auto position = static_cast<int32_t>(pos);
    if (std::optional<Error> e = runner.setInts("tok", std::span<const int32_t>(&token, 1)))
      return *e;
    if (std::optional<Error> e = runner.setInts("pos", std::span<const int32_t>(&position, 1)))
      return *e;
    Result<StepLaunch> launched = runner.launch();
    if (!launched)
      return launched.error();
    if (launched->status != LaunchStatus::Completed)
      return Error(program.sourceName, "the step at position " + std::to_string(pos) + " did not complete (" +
                                           runner.description() + "): " + launched->report);
    Result<std::vector<std::byte>> next = runner.readBytes("next_token");
    if (!next)
      return next.error();
    int32_t output = 0;
    std::memcpy(&output, next->data(), sizeof output);
    run.steps.push_back({position, token, output, launched->milliseconds});
    if (keepLogits) {
      Result<std::vector<std::byte>> bytes = runner.readBytes("logits");
      if (!bytes)
        return bytes.error();
      HostBuffer logits(logitsBuffer.dtype, logitsBuffer.shape);
      if (bytes->size() != logits.bytes().size())
        return Error(program.sourceName, "the logits buffer read back " + std::to_string(bytes->size()) +
                                             " bytes; its declaration needs " + std::to_string(logits.bytes().size()));
      std::copy(bytes->begin(), bytes->end(), logits.bytes().begin());
      std::vector<float> row = logits.toFloats();
      run.logits.insert(run.logits.end(), row.begin(), row.end());
    }
    if (feed.mode == DecodeFeed::Mode::Greedy && pos + 1 >= fed) {
      if (static_cast<int64_t>(run.continuation.size()) < feed.newTokens)
        run.continuation.push_back(output);
      token = output;
    }
  }
  return run;
}

} // namespace amk::executor
