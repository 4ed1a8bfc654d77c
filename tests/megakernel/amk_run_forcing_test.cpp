// amk-run's teacher forcing, logits output and delayed relaunches, end to end through the CPU executor
// (`--cpu DIR --strategy S`, the same code path as the megakernel's but for the runner): the logits of
// every forced step are the reference forward pass's; a greedy run's logits are those of teacher
// forcing on the tokens it fed, bit for bit, bf16 logits included; the last step relaunched under
// delays is bit-identical; and conflicting or bad options are refused naming the option.
#include "amk/model/reference.h"
#include "checkpoint_support.h"
#include "test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <sstream>

namespace amk::test {
namespace {

std::string tool() { return (binaryDir() / "bin" / "amk-run").string(); }

std::string join(const std::vector<int64_t> &tokens, char separator = ',') {
  std::string text;
  for (int64_t t : tokens)
    text += (text.empty() ? "" : std::string(1, separator)) + std::to_string(t);
  return text;
}

std::vector<int64_t> parseTokens(std::string line) {
  std::vector<int64_t> tokens;
  std::istringstream in(line);
  std::string token;
  while (std::getline(in, token, ','))
    tokens.push_back(std::stoll(token));
  return tokens;
}

struct Npy {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// The arrays amk-run writes: version 1.0, '<f4', C order, a 2-D shape.
Npy readNpy(const std::filesystem::path &path) {
  const std::string file = readFile(path);
  Npy npy;
  if (file.size() < 10 || file.compare(0, 6, "\x93NUMPY") != 0) {
    ADD_FAILURE() << path << " is not a .npy file";
    return npy;
  }
  const size_t headerLength = static_cast<unsigned char>(file[8]) | static_cast<unsigned char>(file[9]) << 8;
  const std::string header = file.substr(10, headerLength);
  EXPECT_NE(header.find("'descr': '<f4', 'fortran_order': False"), std::string::npos) << header;
  long rows = 0, columns = 0;
  const size_t shape = header.find("'shape': (");
  EXPECT_EQ(std::sscanf(header.c_str() + shape, "'shape': (%ld, %ld)", &rows, &columns), 2) << header;
  npy.shape = {rows, columns};
  npy.values.resize(static_cast<size_t>(rows * columns));
  EXPECT_EQ(file.size(), 10 + headerLength + npy.values.size() * 4);
  std::memcpy(npy.values.data(), file.data() + 10 + headerLength,
              std::min(file.size() - 10 - headerLength, npy.values.size() * 4));
  return npy;
}

// A random checkpoint of the tiny model, its config saying `dtype` (float32: f32 schedules).
std::filesystem::path tinyCheckpoint(const TempDir &dir, const std::string &dtype = "float32") {
  TinyLlama model;
  writeCheckpoint(dir.path() / "tiny", model, randomWeights(model, 77));
  if (dtype != "float32") {
    nlohmann::json config = nlohmann::json::parse(readFile(dir.path() / "tiny" / "config.json"));
    config["torch_dtype"] = dtype;
    writeBytes(dir.path() / "tiny" / "config.json", config.dump(2));
  }
  return dir.path() / "tiny";
}

std::string executor(const std::filesystem::path &checkpoint, const std::string &strategy = "fused") {
  return tool() + " --cpu " + checkpoint.string() + " --strategy " + strategy + " --blocks 4 --context 16";
}

TEST(AmkRunForcing, LogitsOfEveryForcedStepAreTheReferences) {
  TempDir dir;
  const std::filesystem::path checkpoint = tinyCheckpoint(dir);
  const std::vector<int64_t> sequence{1, 5, 9, 3, 7, 2, 39};
  const std::string logits = dir / "forced.npy";
  CommandResult run =
      runCommand(executor(checkpoint) + " --force-tokens " + join(sequence) + " --logits-out " + logits);
  ASSERT_EQ(run.exitCode, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_NE(run.out.find("forced: " + join(sequence) + "\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("over 7 steps\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("logits: 7 x 40 float32 written to " + logits + "\n"), std::string::npos) << run.out;

  auto weights = model::loadReferenceWeights(checkpoint.string());
  ASSERT_TRUE(weights) << weights.error().render();
  auto reference = model::teacherForcedLogits(*weights, sequence);
  ASSERT_TRUE(reference) << reference.error().render();
  Npy npy = readNpy(logits);
  ASSERT_EQ(npy.shape, (std::vector<int64_t>{7, 40}));
  std::vector<int64_t> argmaxes;
  for (size_t row = 0; row < sequence.size(); ++row) {
    std::vector<float> actual(npy.values.begin() + static_cast<long>(row * 40),
                              npy.values.begin() + static_cast<long>((row + 1) * 40));
    EXPECT_LE(compare(actual, (*reference)[row]).relative(), 1e-5) << "row " << row;
    argmaxes.push_back(std::max_element(actual.begin(), actual.end()) - actual.begin());
  }
  // The prediction of each step is the argmax of its logits; the count compares it with the next token.
  EXPECT_NE(run.out.find("predictions: " + join(argmaxes) + "\n"), std::string::npos) << run.out;
  int agree = 0;
  for (size_t i = 0; i + 1 < sequence.size(); ++i)
    agree += argmaxes[i] == sequence[i + 1];
  EXPECT_NE(run.out.find("teacher-forced: " + std::to_string(agree) + " of 6 predictions equal the next forced token"),
            std::string::npos)
      << run.out;
}

// A greedy run feeds prompt + continuation[0..n-2]: teacher forcing on those tokens gives the same
// logits, bit for bit, in a bf16 schedule whose logits buffer is bf16 (widened exactly in the file).
TEST(AmkRunForcing, GreedyLogitsEqualTheForcedLogitsOfTheTokensItFed) {
  TempDir dir;
  const std::filesystem::path checkpoint = tinyCheckpoint(dir, "bfloat16");
  for (const char *strategy : {"dataflow", "splitkv"}) {
    const std::string greedyLogits = dir / (std::string(strategy) + "-greedy.npy");
    CommandResult greedy = runCommand(executor(checkpoint, strategy) + " --prompt-tokens 1,2,3 --new 5 --logits-out " +
                                      greedyLogits + " -q");
    ASSERT_EQ(greedy.exitCode, 0) << greedy.err;
    const std::vector<int64_t> continuation = parseTokens(greedy.out);
    ASSERT_EQ(continuation.size(), 5u) << greedy.out;
    std::vector<int64_t> fed{1, 2, 3};
    fed.insert(fed.end(), continuation.begin(), continuation.end() - 1);

    const std::string forcedLogits = dir / (std::string(strategy) + "-forced.npy");
    CommandResult forced = runCommand(executor(checkpoint, strategy) + " --force-tokens " + join(fed) +
                                      " --logits-out " + forcedLogits + " -q");
    ASSERT_EQ(forced.exitCode, 0) << forced.err;
    const std::vector<int64_t> predictions = parseTokens(forced.out);
    ASSERT_EQ(predictions.size(), fed.size()) << forced.out;
    EXPECT_EQ(std::vector<int64_t>(predictions.begin() + 2, predictions.end()), continuation) << strategy;

    EXPECT_EQ(readFile(greedyLogits), readFile(forcedLogits)) << strategy;
    Npy npy = readNpy(greedyLogits);
    EXPECT_EQ(npy.shape, (std::vector<int64_t>{7, 40}));
    for (float v : npy.values) {
      uint32_t bits;
      std::memcpy(&bits, &v, 4);
      ASSERT_EQ(bits & 0xffffu, 0u) << "a bf16 logit widened to fp32 has a zero low half: " << v;
    }
  }
}

TEST(AmkRunForcing, DelayedRelaunchesOfTheLastStepAreBitIdentical) {
  TempDir dir;
  const std::filesystem::path checkpoint = tinyCheckpoint(dir, "bfloat16");
  CommandResult run = runCommand(executor(checkpoint, "dataflow") +
                                 " --prompt-tokens 1,2,3 --new 3 --delay-trials 4 --delay-max-ns 50000 --delay-seed 7");
  ASSERT_EQ(run.exitCode, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("DELAYED: 4 of 4 launches bit-identical, 0 watchdog, 0 differing, 0 failed; delays up to "
                         "50000 ns (largest drawn "),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find(" seed 7\n"), std::string::npos) << run.out;

  CommandResult forced = runCommand(executor(checkpoint) + " --force-tokens 4,8,15 --delay-trials 2 -q");
  ASSERT_EQ(forced.exitCode, 0) << forced.out << forced.err;
  EXPECT_NE(forced.out.find("DELAYED: 2 of 2 launches bit-identical"), std::string::npos) << forced.out;
}

TEST(AmkRunForcing, RefusesConflictingAndBadOptionsNamingThem) {
  TempDir dir;
  const std::filesystem::path checkpoint = tinyCheckpoint(dir);
  const std::string run = executor(checkpoint);

  CommandResult withPrompt = runCommand(run + " --force-tokens 1,2 --prompt-tokens 1");
  EXPECT_EQ(withPrompt.exitCode, 2);
  EXPECT_EQ(withPrompt.err, "amk-run: --force-tokens feeds the whole sequence: it takes no --prompt-tokens\n");
  CommandResult withNew = runCommand(run + " --force-tokens 1,2 --new 4");
  EXPECT_EQ(withNew.exitCode, 2);
  EXPECT_EQ(withNew.err, "amk-run: --force-tokens feeds the whole sequence: it takes no --new\n");
  CommandResult withExpect = runCommand(run + " --force-tokens 1,2 --expect 3");
  EXPECT_EQ(withExpect.exitCode, 2);

  CommandResult outside = runCommand(run + " --force-tokens 1,40");
  EXPECT_EQ(outside.exitCode, 2);
  EXPECT_EQ(outside.err,
            "amk-run: error: --force-tokens: token 40 (position 1) is out of range; the model's vocab_size is 40\n");
  CommandResult prompt = runCommand(run + " --prompt-tokens 41");
  EXPECT_EQ(prompt.exitCode, 2);
  EXPECT_EQ(prompt.err,
            "amk-run: error: --prompt-tokens: token 41 (position 0) is out of range; the model's vocab_size is 40\n");

  CommandResult tooLong = runCommand(run + " --force-tokens 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17");
  EXPECT_EQ(tooLong.exitCode, 2);
  EXPECT_EQ(tooLong.err, "amk-run: error: 17 steps need KV positions 0..16 but the schedule's k_cache holds 16 (plan "
                         "with a larger --context)\n");

  const std::string unwritable = (dir.path() / "absent" / "logits.npy").string();
  CommandResult logits = runCommand(run + " --force-tokens 1,2 --logits-out " + unwritable);
  EXPECT_EQ(logits.exitCode, 2);
  EXPECT_EQ(logits.err.rfind(unwritable + ": error: cannot open for writing: ", 0), 0u) << logits.err;

  // The reference forward pass (--cpu without a schedule) has none of the schedule's options.
  CommandResult reference = runCommand(tool() + " --cpu " + checkpoint.string() + " --tokens 1 --force-tokens 1,2");
  EXPECT_EQ(reference.exitCode, 2);
  EXPECT_EQ(reference.err, "amk-run: --force-tokens needs a schedule: with --cpu, give --strategy or --schedule (the "
                           "CPU executor)\n");
  EXPECT_EQ(runCommand(run + " --prompt-tokens 1 --delay-trials 1 --delay-max-ns 0").exitCode, 2);
  EXPECT_EQ(runCommand(run + " --prompt-tokens 1 --delay-trials -1").exitCode, 2);

  const std::string record = dir / "record.json";
  writeBytes(record, R"({"prompt": [1, 2], "tokens": "not a list"})");
  CommandResult badRecord = runCommand(run + " --expect-file " + record);
  EXPECT_EQ(badRecord.exitCode, 2);
  EXPECT_EQ(badRecord.err, record + ": error: not an hf_greedy.json or hf_zoo.json record: it needs \"tokens\", a "
                                    "list of token ids\n");
}

// --expect-file reads hf_zoo.json as it reads hf_greedy.json: the prompt and the expected tokens.
TEST(AmkRunForcing, ExpectFileReadsAnHfZooRecord) {
  TempDir dir;
  const std::filesystem::path checkpoint = tinyCheckpoint(dir);
  auto weights = model::loadReferenceWeights(checkpoint.string());
  ASSERT_TRUE(weights);
  const std::vector<int64_t> prompt{3, 1, 4};
  auto greedy = model::greedyGenerate(*weights, prompt, 6);
  ASSERT_TRUE(greedy);
  nlohmann::json record = {{"format", "amk-hf-zoo/1"},
                           {"prompt", prompt},
                           {"tokens", greedy->tokens},
                           {"margins", std::vector<double>(6, 1.0)}};
  std::vector<int64_t> sequence = prompt;
  sequence.insert(sequence.end(), greedy->tokens.begin(), greedy->tokens.end());
  record["sequence"] = sequence;
  writeBytes(dir.path() / "hf_zoo.json", record.dump());
  CommandResult run = runCommand(executor(checkpoint) + " --new 6 --expect-file " + (dir / "hf_zoo.json"));
  ASSERT_EQ(run.exitCode, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("MATCH: 6 of 6 tokens agree with the expected continuation\n"), std::string::npos) << run.out;
}

} // namespace
} // namespace amk::test
