// The emitted megakernel compiles with NVRTC for every architecture the project targets (sm_80,
// sm_90, sm_120), on a machine without a GPU; and without a CUDA driver the runtime refuses with a
// message, never a crash.
#include "amk/ir/certificate.h"
#include "amk/ir/frontend.h"
#include "amk/lowering/emit.h"
#include "amk/lowering/plan.h"

#ifdef AMK_HAVE_GPU_RUNTIME
#include "amk/megakernel/gpu_runtime.h"
#endif

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <filesystem>

namespace amk::megakernel {
namespace {

#ifdef AMK_HAVE_GPU_RUNTIME
TEST(GpuCompile, EmittedKernelCompilesForEveryTarget) {
  Result<model::ModelConfig> config = model::loadModelConfig(std::string(AMK_SOURCE_DIR) + "/models/tiny-gqa-tied");
  ASSERT_TRUE(config.ok());
  lowering::PlanOptions o;
  o.strategy = lowering::Strategy::SplitKv;
  o.target = *lowering::findTarget("h100");
  o.blocks = 8;
  Result<lowering::Plan> plan = lowering::planSchedule(*config, o);
  ASSERT_TRUE(plan) << plan.error().message;
  ir::Schedule schedule = ir::parseSchedule("p.amkir", plan->text);
  ASSERT_TRUE(schedule.wellFormed());
  Result<lowering::Tape> tape = lowering::buildTape(*schedule.program, plan->text, ir::kCheckerVersion);
  ASSERT_TRUE(tape.ok()) << tape.error().message;
  std::string source = lowering::emitKernel(*tape, {"p.amkir"});
  std::string cache = (std::filesystem::temp_directory_path() / "amk-gpu-compile-test").string();
  std::filesystem::remove_all(cache);
  for (const char *arch : {"sm_80", "sm_90", "sm_120"}) {
    Result<std::vector<char>> cubin = compileMegakernel(source, arch, cache);
    ASSERT_TRUE(cubin) << arch << ": " << cubin.error().render();
    EXPECT_GT(cubin->size(), 1000u);
    std::printf("compiled the megakernel for %s: %zu bytes of cubin\n", arch, cubin->size());
  }
}

TEST(GpuCompile, NoDriverIsAMessageNotACrash) {
  if (void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(driver);
    GTEST_SKIP() << "this machine has a CUDA driver";
  }
  ir::Schedule schedule =
      ir::parseSchedule("t.amkir", "amkir 1\ntarget sm_90 sms=132\ngrid blocks=2 threads=128 occupancy=1\n"
                                   "blocks b in 0..2 { barrier }\n");
  ASSERT_TRUE(schedule.wellFormed());
  const ir::Certificate certified{true, ir::scheduleHash(*schedule.ast), ir::kCheckerVersion, ""};
  Result<std::unique_ptr<GpuSchedule>> gpu = GpuSchedule::create(schedule, certified, {});
  ASSERT_FALSE(gpu);
  EXPECT_NE(gpu.error().message.find("no CUDA driver"), std::string::npos) << gpu.error().render();
}
#else
TEST(GpuCompile, BuiltWithoutTheCudaToolkit) { GTEST_SKIP() << "no CUDA toolkit at configure time"; }
#endif

} // namespace
} // namespace amk::megakernel
