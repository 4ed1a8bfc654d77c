// Every op of the op table (ir/ops.def) reaches every consumer: the registry, the device interpreter,
// the docs' op reference, the CPU references and the op check's tolerances. Adding a line to the
// table without one of them fails here, naming the op and what it lacks.
#include "amk/executor/op_reference.h"
#include "amk/ir/ops.h"
#include "amk/megakernel/op_check.h"

#ifdef AMK_HAVE_GPU_RUNTIME
#include "amk/megakernel/gpu_runtime.h"
#endif

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace amk::megakernel {
namespace {

std::string readSource(const std::string &path) {
  std::ifstream in(std::string(AMK_SOURCE_DIR) + "/" + path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The text from `open` to the first `close` after it, or empty.
std::string between(const std::string &text, const std::string &open, const std::string &close) {
  const size_t begin = text.find(open);
  if (begin == std::string::npos)
    return "";
  const size_t end = text.find(close, begin + open.size());
  return end == std::string::npos ? "" : text.substr(begin, end - begin);
}

class OpTable : public testing::TestWithParam<ir::OpTraits> {};

TEST_P(OpTable, HasARegistryEntry) {
  const ir::OpTraits &op = GetParam();
  ASSERT_EQ(ir::allOps().size(), ir::kOpCount) << "ir/ops.def and the registry (ir/ops.cpp) differ in length";
  const ir::OpInfo &entry = ir::allOps()[static_cast<size_t>(op.id)];
  EXPECT_EQ(entry.id, op.id) << "op '" << op.name << "': the registry (ir/ops.cpp) puts another op at its id";
  EXPECT_EQ(entry.name, op.name) << "op '" << op.name << "': the registry (ir/ops.cpp) names it otherwise";
  EXPECT_NE(entry.checkOperands, nullptr) << "op '" << op.name << "': no operand check in the registry (ir/ops.cpp)";
  EXPECT_FALSE(entry.rules.empty()) << "op '" << op.name << "': no rules text in the registry (ir/ops.cpp)";
}

// The device enum is generated from the table, so its values are the host's; what the table cannot
// generate is the interpreter's dispatch to the op's code.
TEST_P(OpTable, TheDeviceInterpreterRunsIt) {
  const ir::OpTraits &op = GetParam();
  const std::string device = readSource("megakernel/device/amk_device.cuh");
  ASSERT_FALSE(device.empty()) << "cannot read megakernel/device/amk_device.cuh under " << AMK_SOURCE_DIR;
  EXPECT_NE(between(device, "enum AmkOp {", "};").find("#include \"ops.def\""), std::string::npos)
      << "amk_device.cuh's AmkOp no longer comes from ir/ops.def";
  const std::string dispatch = between(device, "__device__ bool amk_task(", "\n}\n");
  ASSERT_FALSE(dispatch.empty()) << "amk_device.cuh has no amk_task dispatch";
  EXPECT_NE(dispatch.find("case " + std::string(op.deviceName) + ":"), std::string::npos)
      << "op '" << op.name << "': the device interpreter (amk_task in megakernel/device/amk_device.cuh) has no case "
      << op.deviceName;
}

TEST_P(OpTable, HasItsRowAndRulesInTheDocs) {
  const ir::OpTraits &op = GetParam();
  const std::string reference =
      between(readSource("docs/amkir.md"), "<!-- begin: amk-fmt --list-ops -->", "<!-- end: amk-fmt --list-ops -->");
  ASSERT_FALSE(reference.empty()) << "docs/amkir.md has no generated op reference between its markers";
  EXPECT_NE(reference.find("| `" + std::string(op.name) + "` |"), std::string::npos)
      << "op '" << op.name << "': no row in docs/amkir.md section 12 (paste the output of amk-fmt --list-ops)";
  EXPECT_NE(reference.find("- **" + std::string(op.name) + "** `"), std::string::npos)
      << "op '" << op.name << "': no rules in docs/amkir.md section 12 (paste the output of amk-fmt --list-ops)";
}

TEST_P(OpTable, HasACpuReference) {
  const ir::OpTraits &op = GetParam();
  EXPECT_NE(executor::opReference(op.id), nullptr)
      << "op '" << op.name << "': no CPU reference in executor/op_reference.cpp (kReferences)";
}

TEST_P(OpTable, TheOpCheckFindsWhatItsToleranceReads) {
  const ir::OpTraits &op = GetParam();
  const ToleranceOperands roles = toleranceOperands(op.id);
  EXPECT_EQ(roles.scale, op.tolerance) << op.name;
  EXPECT_EQ(roles.missing, "") << "op '" << op.name
                               << "': the op check's tolerance (megakernel/op_check.cpp) needs an operand or "
                                  "attribute its registry entry lacks";
}

#ifdef AMK_HAVE_GPU_RUNTIME
TEST(OpTableHeaders, NvrtcGetsTheOpTable) {
  bool found = false;
  for (const auto &[name, text] : deviceHeaders())
    if (name == "ops.def") {
      found = true;
      EXPECT_EQ(text, readSource("ir/ops.def")) << "the embedded ops.def is not ir/ops.def";
    }
  EXPECT_TRUE(found) << "the NVRTC headers (deviceHeaders in megakernel/gpu_runtime.cpp) lack ops.def";
}
#endif

INSTANTIATE_TEST_SUITE_P(EveryOp, OpTable, testing::ValuesIn(ir::kOpTraits),
                         [](const testing::TestParamInfo<ir::OpTraits> &info) { return std::string(info.param.name); });

} // namespace
} // namespace amk::megakernel
