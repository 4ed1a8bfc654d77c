// What runs is what was certified (docs/megakernel.md, "Certificate binding"): GpuSchedule::create
// refuses, before any CUDA call, a schedule the checker rejected, a certificate of another schedule
// and one of another checker version; amk-replay's opt-in launches a rejected schedule under its own
// witness only, and nothing but amk-replay uses it. A certificate the runtime accepts gets as far as
// the driver, which a machine without a GPU does not have. The launch parameters carry the hashes at
// the offsets the device reads.
#include "amk/checker/verify.h"
#include "amk/ir/certificate.h"
#include "amk/ir/frontend.h"
#include "amk/megakernel/device/amk_abi.h"
#include "test_support.h"

#ifdef AMK_HAVE_GPU_RUNTIME
#include "amk/megakernel/gpu_runtime.h"
#endif

#include <gtest/gtest.h>

#include <cstddef>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

namespace amk::megakernel {
namespace {

namespace fs = std::filesystem;

// The launch parameters' certificate fields come last, after the weight ring's, where the device
// reads them.
static_assert(offsetof(AmkParams, scheduleHash) == offsetof(AmkParams, ringBytes) + 4);
static_assert(offsetof(AmkParams, checkerHash) + sizeof(AmkParams{}.checkerHash) == sizeof(AmkParams));
static_assert(sizeof(AmkParams{}.scheduleHash) == 32 && sizeof(AmkParams{}.checkerHash) == 16);

ir::Schedule load(const std::string &corpusFile) {
  ir::Schedule schedule = ir::loadSchedule((test::sourceDir() / "corpus" / corpusFile).string());
  EXPECT_TRUE(schedule.wellFormed()) << corpusFile << ": " << schedule.renderDiagnostics();
  return schedule;
}

bool hasDriver() {
  if (void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(driver);
    return true;
  }
  return false;
}

#ifdef AMK_HAVE_GPU_RUNTIME

std::string refusal(const Result<std::unique_ptr<GpuSchedule>> &created) {
  return created ? std::string("(created)") : created.error().message;
}

TEST(Certificate, ASafeScheduleIsCertifiedUnderItsCanonicalHash) {
  ir::Schedule safe = load("examples/llama2_decode.amkir");
  const ir::Certificate certificate = checker::certify(safe);
  EXPECT_TRUE(certificate.certified) << certificate.rejection;
  EXPECT_EQ(certificate.scheduleHash, ir::scheduleHash(*safe.ast));
  EXPECT_EQ(certificate.checkerVersion, ir::kCheckerVersion);
  EXPECT_EQ(certificate.rejection, "");
}

TEST(Certificate, TheRuntimeRefusesARejectedSchedule) {
  ir::Schedule racy = load("examples/race_relaxed_publish.amkir");
  const ir::Certificate verdict = checker::certify(racy);
  ASSERT_FALSE(verdict.certified);
  EXPECT_EQ(verdict.rejection.rfind("AMK-V004: ", 0), 0u) << verdict.rejection;
  const std::string message = refusal(GpuSchedule::create(racy, verdict, {}));
  EXPECT_EQ(message.rfind("refusing to launch: the certificate does not certify the schedule (" +
                              std::string(ir::kCheckerVersion) + " rejects it: AMK-V004: ",
                          0),
            0u)
      << message;
  EXPECT_NE(message.find("only amk-replay launches rejected schedules"), std::string::npos) << message;
  // A certificate nobody filled in certifies nothing.
  EXPECT_EQ(refusal(GpuSchedule::create(racy, {}, {})),
            "refusing to launch: the certificate does not certify the schedule (no checker's verdict); only "
            "amk-replay launches rejected schedules");
}

TEST(Certificate, TheRuntimeRefusesACertificateOfAnotherSchedule) {
  ir::Schedule safe = load("examples/llama2_decode.amkir");
  ir::Schedule other = load("examples/ring_barrier.amkir");
  const ir::Certificate certificate = checker::certify(other);
  ASSERT_TRUE(certificate.certified) << certificate.rejection;
  EXPECT_EQ(refusal(GpuSchedule::create(safe, certificate, {})),
            "refusing to launch: the certificate is for another schedule: it names schedule hash " +
                ir::scheduleHash(*other.ast) + ", the schedule's canonical text hashes to " +
                ir::scheduleHash(*safe.ast));
}

TEST(Certificate, TheRuntimeRefusesACertificateOfAnotherCheckerVersion) {
  ir::Schedule safe = load("examples/llama2_decode.amkir");
  ir::Certificate old = checker::certify(safe);
  ASSERT_TRUE(old.certified);
  old.checkerVersion = "amk-verify 0.0.1";
  EXPECT_EQ(refusal(GpuSchedule::create(safe, old, {})),
            "refusing to launch: the certificate comes from another checker: expected " +
                std::string(ir::kCheckerVersion) +
                ", got amk-verify 0.0.1; certify the schedule with this build's "
                "checker");
}

// Past the certificate, the next thing the runtime needs is the driver.
TEST(Certificate, TheRuntimeAcceptsTheCheckersCertificateOfTheSchedule) {
  if (hasDriver())
    GTEST_SKIP() << "this machine has a CUDA driver: GpuCompile and the GPU benches launch certified schedules";
  ir::Schedule safe = load("examples/llama2_decode.amkir");
  const std::string message = refusal(GpuSchedule::create(safe, checker::certify(safe), {}));
  EXPECT_NE(message.find("no CUDA driver"), std::string::npos) << message;

  // The same schedule reformatted has the same name, so the certificate of the one covers the other:
  // here without the spaces after the commas of its shapes.
  std::istringstream original(test::readFile(test::sourceDir() / "corpus/examples/llama2_decode.amkir"));
  std::string text;
  for (std::string line; std::getline(original, line); text += line + "\n")
    if (line.rfind("param ", 0) == 0 && line.find('#') == std::string::npos)
      for (size_t at = line.find(", "); at != std::string::npos; at = line.find(", ", at))
        line.erase(at + 1, 1);
  ir::Schedule reformatted = ir::parseSchedule("llama2_decode_reformatted.amkir", text);
  ASSERT_TRUE(reformatted.wellFormed()) << reformatted.renderDiagnostics();
  ASSERT_NE(text, test::readFile(test::sourceDir() / "corpus/examples/llama2_decode.amkir"));
  const std::string again = refusal(GpuSchedule::create(reformatted, checker::certify(safe), {}));
  EXPECT_NE(again.find("no CUDA driver"), std::string::npos) << again;
}

TEST(Certificate, OnlyTheReplayOptInLaunchesARejectedSchedule) {
  ir::Schedule racy = load("examples/race_relaxed_publish.amkir");
  ir::Schedule safe = load("examples/llama2_decode.amkir");
  const ir::Certificate verdict = checker::certify(racy);
  ASSERT_FALSE(verdict.certified);
  // Under its own verdict, of any checker version, the rejected schedule is launched for replay.
  if (!hasDriver()) {
    const std::string message = refusal(GpuSchedule::createRejectedForReplay(racy, verdict, {}));
    EXPECT_NE(message.find("no CUDA driver"), std::string::npos) << message;
    ir::Certificate older = verdict;
    older.checkerVersion = "amk-verify 0.0.1";
    EXPECT_NE(refusal(GpuSchedule::createRejectedForReplay(racy, older, {})).find("no CUDA driver"), std::string::npos);
  }
  // Never under another schedule's witness.
  EXPECT_EQ(refusal(GpuSchedule::createRejectedForReplay(safe, verdict, {})),
            "refusing to launch: the certificate is for another schedule: it names schedule hash " +
                ir::scheduleHash(*racy.ast) + ", the schedule's canonical text hashes to " +
                ir::scheduleHash(*safe.ast));
}

#endif

// createRejectedForReplay is named in the runtime that defines it and in replay's GPU replay, and in
// no other source file of the project (tests aside).
TEST(Certificate, OnlyAmkReplayUsesTheReplayOptIn) {
  const std::set<std::string> allowed = {"megakernel/gpu_runtime.h", "megakernel/gpu_runtime.cpp",
                                         "replay/gpu_replay.cpp"};
  std::set<std::string> users;
  for (const char *folder : {"ir", "checker", "model", "lowering", "executor", "megakernel", "replay", "fuzz", "bench"})
    for (const fs::directory_entry &entry : fs::recursive_directory_iterator(test::sourceDir() / folder)) {
      const std::string extension = entry.path().extension().string();
      if (!entry.is_regular_file() || (extension != ".cpp" && extension != ".h" && extension != ".cuh"))
        continue;
      if (test::readFile(entry.path()).find("createRejectedForReplay") != std::string::npos)
        users.insert(entry.path().lexically_relative(test::sourceDir()).generic_string());
    }
  std::set<std::string> outside;
  for (const std::string &user : users)
    if (!allowed.count(user))
      outside.insert(user);
  EXPECT_TRUE(outside.empty()) << "launches rejected schedules outside amk-replay: " << *outside.begin();
#ifdef AMK_HAVE_GPU_RUNTIME
  EXPECT_TRUE(users.count("replay/gpu_replay.cpp")) << "amk-replay's GPU replay uses the opt-in";
#endif
}

} // namespace
} // namespace amk::megakernel
