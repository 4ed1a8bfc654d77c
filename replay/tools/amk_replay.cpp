// amk-replay: make a rejected schedule's violations happen. Takes the witness amk-verify wrote
// (--witness-out) or a schedule, which it verifies first to get the witness.
// Exit codes: 0 every violation exhibited, 1 some violation not exhibited (or nothing to replay: the
// schedule is safe), 2 usage, input or GPU set-up error, 101 internal error.
#include "amk/checker/report.h"
#include "amk/checker/verify.h"
#include "amk/ir/certificate.h"
#include "amk/ir/frontend.h"
#include "amk/replay/gpu_replay.h"
#include "amk/replay/timeline.h"
#include "amk/replay/witness.h"
#include "amk/replay/witness_replay.h"
#include "amk/version.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace {

enum ExitCode { kExhibited = 0, kNotExhibited = 1, kBadInput = 2, kInternal = 101 };

namespace fs = std::filesystem;
using namespace amk;

bool readText(const std::string &path, std::string &text) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return true;
}

bool looksLikeJson(const std::string &text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string::npos && text[first] == '{';
}

// The schedule a witness names: as written (relative to the working directory, as amk-verify was
// given it), else next to the witness file.
std::string locateSchedule(const std::string &named, const std::string &witnessPath) {
  if (fs::exists(named))
    return named;
  fs::path beside = fs::path(witnessPath).parent_path() / fs::path(named).filename();
  return fs::exists(beside) ? beside.string() : named;
}

// The schedule to replay and the witness for it. Where loading stops short, `exitCode` says how the
// tool ends.
struct Loaded {
  ir::Schedule schedule;
  std::optional<replay::Witness> witness;
  std::optional<int> exitCode;
};

// A witness file (JSON text read from `input`) and the schedule it names, or `schedulePath`.
Loaded loadWitness(const std::string &text, const std::string &input, const std::string &schedulePath) {
  Loaded loaded;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded()) {
    std::cerr << input << ": error: not valid JSON\n";
    loaded.exitCode = kBadInput;
    return loaded;
  }
  std::string error;
  loaded.witness = replay::witnessFromJson(json, error);
  if (!loaded.witness) {
    std::cerr << input << ": error: " << error << "\n";
    loaded.exitCode = kBadInput;
    return loaded;
  }
  const replay::Witness &witness = *loaded.witness;
  std::string path = schedulePath.empty() ? locateSchedule(witness.file, input) : schedulePath;
  ir::Schedule &schedule = loaded.schedule;
  schedule = ir::loadSchedule(path);
  if (!schedule.source) {
    std::cerr << path << ": error: " << schedule.readError
              << " (the schedule the witness is for; --schedule names it)\n";
    loaded.exitCode = kBadInput;
  } else if (!schedule.program) {
    std::cerr << schedule.renderDiagnostics();
    loaded.exitCode = kBadInput;
  } else if (std::string hash = ir::scheduleHash(*schedule.ast); hash != witness.contentHash) {
    std::cerr << path << ": error: the witness was written for another version of this file (content hash "
              << witness.contentHash << ", the file's is " << hash << "); run amk-verify --witness-out again\n";
    loaded.exitCode = kBadInput;
  } else if (std::string mismatch = replay::checkAgainst(witness, *schedule.program); !mismatch.empty()) {
    std::cerr << input << ": error: " << mismatch << "\n";
    loaded.exitCode = kBadInput;
  }
  return loaded;
}

// A schedule, verified here to get the witness of its violations.
Loaded loadAndVerify(const std::string &input) {
  Loaded loaded;
  checker::FileResult checked;
  checked.schedule = ir::loadSchedule(input);
  if (!checked.schedule.program) {
    if (checked.schedule.source)
      std::cerr << checked.schedule.renderDiagnostics();
    else
      std::cerr << input << ": error: " << checked.schedule.readError << "\n";
    loaded.exitCode = kBadInput;
    return loaded;
  }
  checked.verdict = checker::verify(*checked.schedule.program);
  if (checked.verdict->safe()) {
    std::cout << input << ": safe: nothing to replay (amk-verify certifies it)\n";
    loaded.exitCode = kNotExhibited;
    return loaded;
  }
  std::string error;
  loaded.witness = replay::witnessFromJson(checker::witnessJson(checked), error);
  if (!loaded.witness) {
    std::cerr << "amk-replay: internal error: the checker's witness does not read back: " << error << "\n";
    loaded.exitCode = kInternal;
    return loaded;
  }
  loaded.schedule = std::move(checked.schedule);
  return loaded;
}

// Replays the witness on the host (and, with --gpu, on the device) and prints what happened.
int replayLoaded(const Loaded &loaded, const replay::ReplayOptions &options, const std::string &timelinePath, bool gpu,
                 const replay::GpuReplayOptions &gpuOptions) {
  const ir::Program &program = *loaded.schedule.program;
  replay::ReplayResult result = replay::replayWitness(program, *loaded.witness, options);
  std::cout << replay::renderReplayText(result, program);
  if (!timelinePath.empty()) {
    std::ofstream out(timelinePath, std::ios::binary);
    out << replay::renderTimelineHtml(result, program);
    if (!out) {
      std::cerr << timelinePath << ": error: cannot write the timeline\n";
      return kBadInput;
    }
  }
  bool exhibited = result.allExhibited();
  if (gpu) {
    replay::GpuReplayResult onGpu = replay::replayOnGpu(loaded.schedule, *loaded.witness, result, options, gpuOptions);
    if (!onGpu.error.empty()) {
      std::cerr << "amk-replay: error: --gpu: " << onGpu.error << "\n";
      return kBadInput;
    }
    std::cout << replay::renderGpuText(onGpu, program);
    exhibited = exhibited && onGpu.allExhibited();
  }
  return exhibited ? kExhibited : kNotExhibited;
}

int run(int argc, char **argv) {
  CLI::App app{"amk-replay: exhibit the violations of a schedule amk-verify rejects"};
  app.set_version_flag("--version", std::string("amk-replay ") + AMK_VERSION);
  std::string input, schedulePath, timelinePath;
  replay::ReplayOptions options;
  replay::GpuReplayOptions gpuOptions;
  bool gpu = false;
  app.add_option("input", input, "a witness file (amk-verify --witness-out) or a schedule (.amkir)")->required();
  app.add_option("--schedule", schedulePath, "the schedule a witness is for (default: the file it names)");
  app.add_option("--seed", options.seed, "seed of the data params, inputs and state are filled with")
      ->default_val(options.seed);
  app.add_option("--elements", options.listedElements, "differing elements listed per region")
      ->default_val(options.listedElements);
  app.add_option("--budget", options.searchBudget, "states for the dispatch-order and race searches")
      ->check(CLI::PositiveNumber)
      ->default_val(options.searchBudget);
  app.add_option("--timeline", timelinePath, "write a self-contained HTML timeline of the replay");
  app.add_flag("--gpu", gpu, "also replay on the GPU (watchdog and delay injection)");
  app.add_option("--gpu-timeout", gpuOptions.timeoutSeconds, "seconds a GPU wait or barrier may spin")
      ->check(CLI::PositiveNumber)
      ->default_val(gpuOptions.timeoutSeconds);
  app.add_option("--gpu-delay-ns", gpuOptions.delayNs, "sleep before the access that must come late")
      ->default_val(gpuOptions.delayNs);
  app.add_option("--device", gpuOptions.device, "CUDA device")->default_val(gpuOptions.device);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    int code = app.exit(e);
    return code == 0 ? kExhibited : kBadInput;
  }

  std::string text;
  if (!readText(input, text)) {
    std::cerr << input << ": error: cannot read the file\n";
    return kBadInput;
  }
  const Loaded loaded = looksLikeJson(text) ? loadWitness(text, input, schedulePath) : loadAndVerify(input);
  if (loaded.exitCode)
    return *loaded.exitCode;
  return replayLoaded(loaded, options, timelinePath, gpu, gpuOptions);
}

} // namespace

int main(int argc, char **argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception &e) {
    std::cerr << "amk-replay: internal error: " << e.what() << "\n";
    return kInternal;
  }
}
