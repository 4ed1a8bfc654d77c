// The lowering matrix: every model config of a directory, planned for every target with every
// strategy and knob combination, each schedule written out and verified. The verifier is passed in,
// so that this library stays independent of the checker it is judged by.
#pragma once

#include "amk/lowering/plan.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace amk::lowering {

// One strategy with its knobs, as one column of the matrix.
struct Variant {
  Strategy strategy = Strategy::Fused;
  int64_t blocksDivisor = 1; // blocks = SMs / blocksDivisor
  int64_t rowsPerTile = 16;
  int64_t splits = 1;

  std::string label() const; // "fused-b1-r16", "splitkv-b2-r32-s4"
};

// The default matrix: 4 strategies x 3 knob settings.
std::vector<Variant> defaultVariants();

struct VerifyOutcome {
  bool accepted = false;
  std::string verdict; // "safe", "unsafe AMK-V004 ...", "malformed ..."
  int64_t instructions = 0;
  double seconds = 0; // parse + elaborate + verify
};

using Verifier = std::function<VerifyOutcome(const std::string &name, const std::string &text)>;

struct MatrixOptions {
  std::string modelsDirectory = "models";
  std::vector<std::string> models;  // folder names; empty: every folder with a config.json
  std::vector<std::string> targets; // target names; empty: all known targets
  std::vector<Variant> variants;    // empty: defaultVariants()
  std::string outputDirectory;      // schedules go to OUT/<model>/<target>-<variant>.amkir; "" = not written
  unsigned jobs = 1;
};

struct MatrixRow {
  std::string model, target, variant;
  std::string file;
  std::string error; // planning refused (knob does not fit) or I/O error
  int64_t bytes = 0;
  int64_t tasks = 0, syncs = 0;
  VerifyOutcome outcome;
};

struct MatrixSummary {
  std::vector<MatrixRow> rows;
  std::vector<std::string> modelErrors; // configs that could not be read or were refused
  int64_t lowerings() const;
  int64_t accepted() const;
  std::string table() const; // per model: lowerings, accepted, instructions (min..max), verify time
  std::string json() const;
};

MatrixSummary runMatrix(const MatrixOptions &options, const Verifier &verify,
                        const std::function<void(size_t done, size_t total, const MatrixRow &row)> &progress);

} // namespace amk::lowering
