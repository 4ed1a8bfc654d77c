// amk-run's body: checks the request against the checkpoint's config before any forward pass, so a
// bad token is reported as the user wrote it rather than from deep inside the model.
#include "amk/megakernel/run_tool.h"

#include "amk/model/checkpoint.h"
#include "amk/model/reference.h"

#include <chrono>
#include <cstdio>

namespace amk::megakernel {

namespace {

std::string milliseconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", seconds * 1e3);
  return text;
}

std::string describe(const model::ModelConfig &config) {
  return std::to_string(config.numLayers) + " layers, hidden " + std::to_string(config.hiddenSize) + ", " +
         std::to_string(config.numHeads) + " heads, " + std::to_string(config.numKvHeads) + " KV heads, vocab " +
         std::to_string(config.vocabSize) + (config.tieWordEmbeddings ? ", tied embeddings" : "");
}

} // namespace

RunOutcome runRunTool(const RunOptions &options, std::ostream &out, std::ostream &err) {
  if (options.cpuModelDirectory.empty()) {
    err << "amk-run: error: give the checkpoint directory with --cpu DIR\n";
    return RunOutcome::InputError;
  }
  if (options.tokens.empty()) {
    err << "amk-run: error: --tokens needs at least one token id\n";
    return RunOutcome::InputError;
  }
  if (options.newTokens < 0) {
    err << "amk-run: error: --new must be at least 0, found " << options.newTokens << "\n";
    return RunOutcome::InputError;
  }

  using Clock = std::chrono::steady_clock;
  auto loadStart = Clock::now();
  Result<model::Checkpoint> checkpoint = model::Checkpoint::open(options.cpuModelDirectory);
  if (!checkpoint) {
    err << checkpoint.error().render() << "\n";
    return RunOutcome::InputError;
  }
  const model::ModelConfig &config = checkpoint->config();
  for (size_t i = 0; i < options.tokens.size(); ++i)
    if (options.tokens[i] < 0 || options.tokens[i] >= config.vocabSize) {
      err << "amk-run: error: --tokens: token " << options.tokens[i] << " (position " << i
          << ") is out of range; the model's vocab_size is " << config.vocabSize << "\n";
      return RunOutcome::InputError;
    }
  Result<model::ReferenceWeights> weights = model::loadReferenceWeights(*checkpoint);
  if (!weights) {
    err << weights.error().render() << "\n";
    return RunOutcome::InputError;
  }
  double loadSeconds = std::chrono::duration<double>(Clock::now() - loadStart).count();

  model::ReferenceOptions reference;
  reference.roundToBf16 = options.roundToBf16;
  if (!options.quiet) {
    out << "model: " << config.name << " (" << describe(config) << ") from " << options.cpuModelDirectory << "\n";
    out << "runs on: cpu, reference forward pass, fp32"
        << (options.roundToBf16 ? " with activations rounded to bf16" : "") << "\n";
    out << "loaded in " << milliseconds(loadSeconds) << " ms\n";
  }
  Result<model::Generation> generation = model::greedyGenerate(*weights, options.tokens, options.newTokens, reference);
  if (!generation) {
    err << generation.error().render() << "\n";
    return RunOutcome::InputError;
  }
  if (!options.quiet) {
    out << "prompt: " << options.tokens.size() << " tokens, " << milliseconds(generation->promptSeconds)
        << " ms before the first step\n";
    out << "step  position  token  ms\n";
    for (size_t i = 0; i < generation->tokens.size(); ++i) {
      char line[96];
      std::snprintf(line, sizeof line, "%4zu  %8zu  %5lld  %s\n", i + 1, options.tokens.size() - 1 + i,
                    static_cast<long long>(generation->tokens[i]), milliseconds(generation->stepSeconds[i]).c_str());
      out << line;
    }
    out << "continuation:";
  }
  for (size_t i = 0; i < generation->tokens.size(); ++i)
    out << (i || !options.quiet ? " " : "") << generation->tokens[i];
  out << "\n";
  return RunOutcome::Ok;
}

} // namespace amk::megakernel
