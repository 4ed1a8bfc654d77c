// The GPU runtime (CUDA driver API and NVRTC). One context per process (the device's primary
// context); every call is checked and a failure becomes an Error naming the call and the CUDA error.
#include "amk/megakernel/gpu_runtime.h"

#include "amk/ir/content_hash.h"
#include "amk/ir/ops.h"
#include "amk/ir/printer.h"
#include "amk/lowering/emit.h"

#include <cuda.h>
#include <dlfcn.h>
#include <nvrtc.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <type_traits>

namespace amk::megakernel {

namespace {

namespace fs = std::filesystem;

// The driver is loaded when first needed, so that binaries linking this runtime start (and run
// their CPU paths) on machines without a GPU or a CUDA driver.
#define AMK_DRIVER_FUNCTIONS(X)                                                                                        \
  X(cuCtxSetCurrent)                                                                                                   \
  X(cuDeviceGet)                                                                                                       \
  X(cuDeviceGetAttribute)                                                                                              \
  X(cuDeviceGetName)                                                                                                   \
  X(cuDevicePrimaryCtxRelease)                                                                                         \
  X(cuDevicePrimaryCtxRetain)                                                                                          \
  X(cuEventCreate)                                                                                                     \
  X(cuEventDestroy)                                                                                                    \
  X(cuEventElapsedTime)                                                                                                \
  X(cuEventRecord)                                                                                                     \
  X(cuFuncGetAttribute)                                                                                                \
  X(cuFuncSetAttribute)                                                                                                \
  X(cuGetErrorName)                                                                                                    \
  X(cuGetErrorString)                                                                                                  \
  X(cuInit)                                                                                                            \
  X(cuLaunchCooperativeKernel)                                                                                         \
  X(cuMemAlloc)                                                                                                        \
  X(cuMemFree)                                                                                                         \
  X(cuMemcpyDtoH)                                                                                                      \
  X(cuMemcpyHtoDAsync)                                                                                                 \
  X(cuMemsetD32Async)                                                                                                  \
  X(cuMemsetD8Async)                                                                                                   \
  X(cuModuleGetFunction)                                                                                               \
  X(cuModuleLoadData)                                                                                                  \
  X(cuModuleUnload)                                                                                                    \
  X(cuOccupancyMaxActiveBlocksPerMultiprocessor)                                                                       \
  X(cuStreamCreate)                                                                                                    \
  X(cuStreamDestroy)                                                                                                   \
  X(cuStreamSynchronize)

#define AMK_STRINGIFY2(x) #x
#define AMK_STRINGIFY(x) AMK_STRINGIFY2(x)

struct Driver {
#define AMK_DRIVER_MEMBER(name) decltype(&::name) name = nullptr;
  AMK_DRIVER_FUNCTIONS(AMK_DRIVER_MEMBER)
#undef AMK_DRIVER_MEMBER
  std::string loadError;
};

const Driver &driver() {
  static const Driver loaded = [] {
    Driver d;
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      d.loadError = std::string("no CUDA driver on this machine (dlopen libcuda.so.1: ") + dlerror() + ")";
      return d;
    }
    // The names as cuda.h maps them to their current versions (cuMemAlloc is cuMemAlloc_v2).
#define AMK_DRIVER_LOAD(name)                                                                                          \
  d.name = reinterpret_cast<decltype(d.name)>(dlsym(library, AMK_STRINGIFY(name)));                                    \
  if (!d.name && d.loadError.empty())                                                                                  \
    d.loadError = std::string("the CUDA driver lacks ") + AMK_STRINGIFY(name);
    AMK_DRIVER_FUNCTIONS(AMK_DRIVER_LOAD)
#undef AMK_DRIVER_LOAD
    return d;
  }();
  return loaded;
}

// The device addresses AmkParams holds on the host side (megakernel/device/amk_abi.h) are CUdeviceptrs.
static_assert(std::is_same_v<CUdeviceptr, unsigned long long>, "amk_abi.h holds device addresses as 64-bit integers");

std::string cudaError(const char *call, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  driver().cuGetErrorName(result, &name);
  driver().cuGetErrorString(result, &text);
  return std::string(call) + " failed: " + (name ? name : "?") + " (" + (text ? text : "no description") + ")";
}

#define AMK_CU(call)                                                                                                   \
  do {                                                                                                                 \
    CUresult amkResult = (call);                                                                                       \
    if (amkResult != CUDA_SUCCESS)                                                                                     \
      return Error("", cudaError(#call, amkResult));                                                                   \
  } while (0)

std::string cacheDirectory(const std::string &configured) {
  if (!configured.empty())
    return configured;
  if (const char *xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/amk";
  if (const char *home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/amk";
  return "/tmp/amk-cache";
}

size_t roundedToFour(size_t floats) { return (floats + 3) & ~size_t{3}; }

// Dynamic shared memory a task needs (ir/ops.def says what each op stages): the input vector of a
// projection (and the norm weight of a normalised one), or a query head and the scores of the
// positions an attention reads and one partial output row per warp.
size_t taskSharedFloats(const AmkInstr &in, size_t warps) {
  if (in.kind != AMK_TASK)
    return 0;
  const ir::OpTraits &traits = ir::opTraits(static_cast<ir::OpId>(in.op));
  const AmkOperand *inputs = in.operands + in.outputs;
  switch (traits.sharedMemory) {
  case ir::SharedMemoryUse::None:
    return 0;
  case ir::SharedMemoryUse::Projection:
    return static_cast<size_t>(inputs[traits.weightInput].cols);
  case ir::SharedMemoryUse::NormalisedProjection:
    return 2 * roundedToFour(static_cast<size_t>(inputs[traits.weightInput].cols));
  case ir::SharedMemoryUse::Attention: {
    const AmkOperand &kcache = inputs[traits.cacheInput];
    return static_cast<size_t>(kcache.cols) * (1 + warps) + roundedToFour(static_cast<size_t>(kcache.rows));
  }
  }
  return 0;
}

} // namespace

extern const char *const kAmkDeviceHeader; // generated from megakernel/device/amk_device.cuh
extern const char *const kAmkAbiHeader;   // generated from megakernel/device/amk_abi.h
extern const char *const kAmkOpTable;     // generated from ir/ops.def

std::vector<std::pair<std::string, std::string>> deviceHeaders() {
  return {{"amk_device.cuh", kAmkDeviceHeader}, {"amk_abi.h", kAmkAbiHeader}, {"ops.def", kAmkOpTable}};
}

Result<std::vector<char>> compileMegakernel(const std::string &source, const std::string &arch,
                                            const std::string &cacheDir) {
  std::vector<std::pair<std::string, std::string>> headers = deviceHeaders();
  const std::string archOption = "--gpu-architecture=" + arch;
  const std::vector<const char *> compileOptions = {archOption.c_str(), "--std=c++17", "-lineinfo"};
  int nvrtcMajor = 0, nvrtcMinor = 0;
  nvrtcVersion(&nvrtcMajor, &nvrtcMinor);
  // Every input of the compile, each field prefixed by its length so that no two different sets of
  // inputs spell the same key.
  std::string key;
  auto addField = [&key](const std::string &field) { key += std::to_string(field.size()) + ":" + field; };
  addField(source);
  for (const auto &[name, text] : headers) {
    addField(name);
    addField(text);
  }
  for (const char *option : compileOptions)
    addField(option);
  addField("nvrtc " + std::to_string(nvrtcMajor) + "." + std::to_string(nvrtcMinor));
  fs::path cached = fs::path(cacheDirectory(cacheDir)) / ("amk-" + ir::contentHash(key) + "-" + arch + ".cubin");
  if (std::ifstream in{cached, std::ios::binary}) {
    std::vector<char> cubin((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!cubin.empty())
      return cubin;
  }
  std::vector<const char *> names, texts;
  for (const auto &[name, text] : headers) {
    names.push_back(name.c_str());
    texts.push_back(text.c_str());
  }
  nvrtcProgram program;
  nvrtcResult r = nvrtcCreateProgram(&program, source.c_str(), "amk_kernel.cu", static_cast<int>(headers.size()),
                                     texts.data(), names.data());
  if (r != NVRTC_SUCCESS)
    return Error("", std::string("nvrtcCreateProgram failed: ") + nvrtcGetErrorString(r));
  r = nvrtcCompileProgram(program, static_cast<int>(compileOptions.size()), compileOptions.data());
  size_t logSize = 0;
  nvrtcGetProgramLogSize(program, &logSize);
  std::string log(logSize, '\0');
  if (logSize > 1)
    nvrtcGetProgramLog(program, log.data());
  if (r != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&program);
    return Error("amk_kernel.cu",
                 std::string("NVRTC cannot compile the megakernel for ") + arch + ": " + nvrtcGetErrorString(r), log);
  }
  size_t size = 0;
  nvrtcGetCUBINSize(program, &size);
  std::vector<char> cubin(size);
  nvrtcGetCUBIN(program, cubin.data());
  nvrtcDestroyProgram(&program);
  std::error_code ec;
  fs::create_directories(cached.parent_path(), ec);
  std::ofstream(cached, std::ios::binary).write(cubin.data(), static_cast<std::streamsize>(cubin.size()));
  return cubin;
}

// Hex digits of hash words as the tape header and AmkParams hold them (bytes in memory order).
template <size_t N> std::string wordsHex(const unsigned int (&words)[N]) {
  static constexpr char kHexDigits[] = "0123456789abcdef";
  std::string hex;
  const auto *bytes = reinterpret_cast<const unsigned char *>(words);
  for (size_t i = 0; i < sizeof words; ++i) {
    hex += kHexDigits[bytes[i] >> 4];
    hex += kHexDigits[bytes[i] & 0xf];
  }
  return hex;
}

struct GpuSchedule::State {
  const ir::Program *program = nullptr;
  ir::Certificate certificate; // what every launch runs under
  lowering::Tape tape;
  std::string source;
  GpuOptions options;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  CUfunction function = nullptr;
  CUstream stream = nullptr;
  std::string deviceName;
  int sms = 0, occupancy = 0;
  size_t sharedBytes = 0;
  size_t ringOffset = 0; // the weight ring's first byte in dynamic shared memory
  std::vector<CUdeviceptr> buffers;
  std::vector<size_t> bufferBytes;
  // tapeDevice holds the header record, then the instructions (AmkParams.tape points past the header).
  CUdeviceptr tapeDevice = 0, blockStart = 0, bufferTable = 0, counters = 0, barrier = 0, error = 0, stop = 0;
  CUdeviceptr trace = 0, traceCount = 0, delays = 0, stamps = 0;
  bool profiling = false;
  size_t counterCount = 0;

  ~State() {
    if (!context)
      return;
    driver().cuCtxSetCurrent(context);
    for (CUdeviceptr b : buffers)
      if (b)
        driver().cuMemFree(b);
    for (CUdeviceptr p :
         {tapeDevice, blockStart, bufferTable, counters, barrier, error, stop, trace, traceCount, delays, stamps})
      if (p)
        driver().cuMemFree(p);
    if (module)
      driver().cuModuleUnload(module);
    if (stream)
      driver().cuStreamDestroy(stream);
    driver().cuDevicePrimaryCtxRelease(device);
  }

  // Host-to-device transfers go through the launch stream and are waited for: a plain cuMemcpyHtoD
  // from pageable memory may return before its DMA has landed, and the non-blocking launch stream
  // does not wait for the legacy stream, so a kernel launched next could read the old bytes.
  CUresult copyToDevice(CUdeviceptr to, const void *from, size_t bytes) {
    if (CUresult r = driver().cuMemcpyHtoDAsync(to, from, bytes, stream); r != CUDA_SUCCESS)
      return r;
    return driver().cuStreamSynchronize(stream);
  }
  CUresult zeroDevice(CUdeviceptr to, size_t bytes) {
    if (CUresult r = driver().cuMemsetD8Async(to, 0, bytes, stream); r != CUDA_SUCCESS)
      return r;
    return driver().cuStreamSynchronize(stream);
  }

  // The compile unit, not the whole emitted source: its header names the schedule, and the code does
  // not depend on it, so every tape of a block size and op families shares one cached cubin.
  Result<std::vector<char>> compile(const std::string &arch) {
    return compileMegakernel(lowering::kernelCompileUnit(tape), arch, options.cacheDirectory);
  }

  // Why the kernel refused a launch (AMK_BAD_LAUNCH): the check, what was expected and what it got.
  // Of a hash, both in full: the tape's header as the device holds it against the launch's.
  std::string describeRefusal(const AmkDeviceError &error, const AmkParams &params) const {
    const std::string expected = std::to_string(error.threshold), got = std::to_string(error.observed);
    AmkInstr record{};
    AmkTapeHeader header{};
    if (error.value == AMK_CHECK_SCHEDULE_HASH || error.value == AMK_CHECK_CHECKER_HASH) {
      if (driver().cuMemcpyDtoH(&record, tapeDevice, sizeof record) == CUDA_SUCCESS)
        std::memcpy(&header, &record, sizeof header);
    }
    switch (error.value) {
    case AMK_CHECK_TAPE_MAGIC:
      return "the record before the tape's first instruction is no tape header (magic: expected " + expected +
             ", got " + got + ")";
    case AMK_CHECK_TAPE_VERSION:
      return "the tape's ABI version (AMK_TAPE_VERSION) is not the kernel's: expected " + expected + ", got " + got;
    case AMK_CHECK_GRID:
      return "the grid is not the tape's: expected " + expected + " blocks, got " + got;
    case AMK_CHECK_PARAMS_BLOCKS:
      return "the launch parameters' grid is not the tape's: expected " + expected + " blocks, got " + got;
    case AMK_CHECK_BLOCK_SIZE:
      return "the block size is not the kernel's (AMK_THREADS): expected " + expected + " threads, got " + got;
    case AMK_CHECK_TAPE_THREADS:
      return "the tape's block size is not the kernel's (AMK_THREADS): expected " + expected + " threads, got " + got;
    case AMK_CHECK_TAPE_LENGTH:
      return "the launch parameters' tape length is not the tape's: expected " + expected + " instructions, got " +
             got;
    case AMK_CHECK_BLOCK_OFFSETS:
      return "the block offsets do not end at the tape's length: expected " + expected + ", got " + got;
    case AMK_CHECK_SCHEDULE_HASH:
      return "the tape is another schedule's than the launch was certified for: expected schedule hash " +
             wordsHex(params.scheduleHash) + ", got " + wordsHex(header.scheduleHash);
    case AMK_CHECK_RING:
      return "the weight ring ends past the block's dynamic shared memory: it ends at byte " + got + ", the launch gave " +
             expected + " bytes";
    case AMK_CHECK_CHECKER_HASH:
      return "the tape was judged by another checker than the launch was certified by (" +
             certificate.checkerVersion + "): expected checker hash " + wordsHex(params.checkerHash) + ", got " +
             wordsHex(header.checkerHash);
    }
    return "unknown launch check " + std::to_string(error.value) + ": expected " + expected + ", got " + got;
  }

  std::string describe(uint32_t block, uint32_t instruction) const {
    if (block >= program->blockPrograms.size() || instruction >= program->blockPrograms[block].size())
      return "block " + std::to_string(block) + ", instruction " + std::to_string(instruction);
    const ir::Instruction &in = program->blockPrograms[block][instruction];
    const ir::Site &site = program->sites[in.site];
    std::string bindings = program->bindings(in);
    return "block " + std::to_string(block) + ", '" + site.text + "' at " + program->sourceName + ":" +
           std::to_string(site.range.begin.line) + ":" + std::to_string(site.range.begin.column) +
           (bindings.empty() ? "" : " (" + bindings + ")");
  }
};

GpuSchedule::GpuSchedule(std::unique_ptr<State> state) : state_(std::move(state)) {}
GpuSchedule::~GpuSchedule() = default;

Result<std::unique_ptr<GpuSchedule>> GpuSchedule::create(const ir::Schedule &schedule,
                                                         const ir::Certificate &certificate, const GpuOptions &options) {
  return make(schedule, certificate, options, ir::LaunchPolicy::CertifiedOnly);
}

Result<std::unique_ptr<GpuSchedule>> GpuSchedule::createRejectedForReplay(const ir::Schedule &schedule,
                                                                          const ir::Certificate &verdict,
                                                                          const GpuOptions &options) {
  return make(schedule, verdict, options, ir::LaunchPolicy::RejectedForReplay);
}

Result<std::unique_ptr<GpuSchedule>> GpuSchedule::make(const ir::Schedule &schedule, const ir::Certificate &certificate,
                                                       const GpuOptions &options, ir::LaunchPolicy policy) {
  if (!schedule.wellFormed())
    return Error(schedule.source ? schedule.source->name() : "", "refusing to launch: the schedule is not well-formed");
  const ir::Program &program = *schedule.program;
  // The certificate is checked first, before anything touches CUDA: what runs is what was certified.
  const std::string canonicalText = ir::printSurface(*schedule.ast);
  if (std::optional<std::string> refusal = ir::launchRefusal(certificate, ir::contentHash(canonicalText), policy))
    return Error(program.sourceName, "refusing to launch: " + *refusal);
  auto state = std::make_unique<State>();
  State &s = *state;
  s.program = &program;
  s.certificate = certificate;
  s.options = options;
  Result<lowering::Tape> tape = lowering::buildTape(program, canonicalText, certificate.checkerVersion);
  if (!tape.ok())
    return Error(program.sourceName, "the schedule cannot be lowered to CUDA: " + tape.error().message);
  s.tape = std::move(std::move(*tape));
  s.source = lowering::emitKernel(s.tape, {program.sourceName, !certificate.certified});

  if (!driver().loadError.empty())
    return Error("", driver().loadError + "; the CPU executor runs schedules without a GPU");
  AMK_CU(driver().cuInit(0));
  AMK_CU(driver().cuDeviceGet(&s.device, options.device));
  AMK_CU(driver().cuDevicePrimaryCtxRetain(&s.context, s.device));
  AMK_CU(driver().cuCtxSetCurrent(s.context));
  AMK_CU(driver().cuStreamCreate(&s.stream, CU_STREAM_NON_BLOCKING));
  char name[256] = {};
  AMK_CU(driver().cuDeviceGetName(name, sizeof name, s.device));
  s.deviceName = name;
  int major = 0, minor = 0, cooperative = 0, optin = 0;
  AMK_CU(driver().cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, s.device));
  AMK_CU(driver().cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, s.device));
  AMK_CU(driver().cuDeviceGetAttribute(&s.sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, s.device));
  AMK_CU(driver().cuDeviceGetAttribute(&cooperative, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, s.device));
  AMK_CU(driver().cuDeviceGetAttribute(&optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, s.device));
  if (!cooperative)
    return Error("", s.deviceName + " does not support cooperative launches");

  Result<std::vector<char>> cubin = s.compile("sm_" + std::to_string(major) + std::to_string(minor));
  if (!cubin)
    return cubin.error();
  AMK_CU(driver().cuModuleLoadData(&s.module, cubin->data()));
  AMK_CU(driver().cuModuleGetFunction(&s.function, s.module, "amk_megakernel"));

  const size_t warps = static_cast<size_t>(program.threads / 32);
  size_t floats = 0;
  for (const AmkInstr &in : s.tape.instructions)
    floats = std::max(floats, taskSharedFloats(in, warps));
  // The device's AMK_SCRATCH_FLOATS: reduction scratch, rounded up so the staging area is 16-byte aligned.
  const size_t taskBytes = (floats + ((2 * warps + 4 + 3) & ~size_t{3})) * sizeof(float);
  int staticBytes = 0;
  AMK_CU(driver().cuFuncGetAttribute(&staticBytes, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, s.function));
  if (taskBytes + static_cast<size_t>(staticBytes) > static_cast<size_t>(optin))
    return Error(program.sourceName, "a task needs " + std::to_string(taskBytes) + " bytes of shared memory; " +
                                         s.deviceName + " gives a block at most " +
                                         std::to_string(optin - staticBytes));
  // The weight ring takes what the tasks leave, up to the requested size (bulk copies need sm_90).
  s.ringOffset = (taskBytes + 127) & ~size_t{127};
  size_t ring = 0;
  if (major >= 9 && s.ringOffset + static_cast<size_t>(staticBytes) < static_cast<size_t>(optin))
    ring = std::min<size_t>(options.stageBytes, (optin - staticBytes - s.ringOffset) & ~size_t{127});
  if (ring > 0) {
    Result<lowering::Tape> staged =
        lowering::buildTape(program, canonicalText, certificate.checkerVersion, {static_cast<uint32_t>(ring)});
    if (!staged.ok())
      return Error(program.sourceName, "the schedule cannot be lowered to CUDA: " + staged.error().message);
    s.tape = std::move(*staged);
  }
  s.sharedBytes = ring > 0 ? s.ringOffset + ring : taskBytes;
  AMK_CU(driver().cuFuncSetAttribute(s.function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                     static_cast<int>(s.sharedBytes)));
  AMK_CU(driver().cuOccupancyMaxActiveBlocksPerMultiprocessor(&s.occupancy, s.function,
                                                              static_cast<int>(program.threads), s.sharedBytes));
  // The schedule's occupancy claim is what the checker's co-residency verdict rests on.
  if (s.occupancy < program.occupancy || program.blocks > static_cast<int64_t>(s.sms) * s.occupancy)
    return Error(program.sourceName,
                 "the schedule claims " + std::to_string(program.blocks) + " co-resident blocks (occupancy " +
                     std::to_string(program.occupancy) + " on " + std::to_string(program.sms) + " SMs), but " +
                     s.deviceName + " keeps at most " + std::to_string(s.occupancy) + " block(s) of " +
                     std::to_string(program.threads) + " threads and " + std::to_string(s.sharedBytes) +
                     " bytes of shared memory resident on each of its " + std::to_string(s.sms) + " SMs");

  auto upload = [&](CUdeviceptr &to, const void *data, size_t bytes) -> std::optional<Error> {
    if (CUresult r = driver().cuMemAlloc(&to, std::max<size_t>(bytes, 16)); r != CUDA_SUCCESS)
      return Error("", cudaError("cuMemAlloc", r));
    if (data && bytes)
      if (CUresult r = s.copyToDevice(to, data, bytes); r != CUDA_SUCCESS)
        return Error("", cudaError("cuMemcpyHtoDAsync", r));
    if (!data)
      if (CUresult r = s.zeroDevice(to, std::max<size_t>(bytes, 16)); r != CUDA_SUCCESS)
        return Error("", cudaError("cuMemsetD8Async", r));
    return std::nullopt;
  };
  for (const lowering::TapeBuffer &b : s.tape.buffers) {
    size_t bytes = static_cast<size_t>(b.elements) * ir::ast::dtypeBytes(static_cast<ir::ast::DType>(b.dtype));
    s.buffers.push_back(0);
    s.bufferBytes.push_back(bytes);
    if (auto e = upload(s.buffers.back(), nullptr, bytes))
      return *e;
  }
  s.counterCount = std::max<size_t>(s.tape.counterNames.size(), 1);
  // The header record, then the instructions.
  std::vector<AmkInstr> records(s.tape.instructions.size() + 1);
  std::memset(records.data(), 0, sizeof(AmkInstr));
  std::memcpy(records.data(), &s.tape.header, sizeof s.tape.header);
  std::copy(s.tape.instructions.begin(), s.tape.instructions.end(), records.begin() + 1);
  for (auto e : {upload(s.tapeDevice, records.data(), records.size() * sizeof(AmkInstr)),
                 upload(s.blockStart, s.tape.blockStart.data(), s.tape.blockStart.size() * sizeof(uint32_t)),
                 upload(s.bufferTable, s.buffers.data(), s.buffers.size() * sizeof(CUdeviceptr)),
                 upload(s.counters, nullptr, s.counterCount * 4), upload(s.barrier, nullptr, 4),
                 upload(s.error, nullptr, sizeof(AmkDeviceError)), upload(s.stop, nullptr, 4)})
    if (e)
      return *e;
  if (options.traceCapacity > 0) {
    if (auto e = upload(s.trace, nullptr, static_cast<size_t>(program.blocks) * options.traceCapacity * 4))
      return *e;
    if (auto e = upload(s.traceCount, nullptr, static_cast<size_t>(program.blocks) * 4))
      return *e;
  }

  return std::unique_ptr<GpuSchedule>(new GpuSchedule(std::move(state)));
}

namespace {
std::optional<size_t> findBuffer(const lowering::Tape &tape, std::string_view name) {
  for (size_t i = 0; i < tape.buffers.size(); ++i)
    if (tape.buffers[i].name == name)
      return i;
  return std::nullopt;
}
} // namespace

std::optional<Error> GpuSchedule::setBytes(std::string_view buffer, std::span<const std::byte> bytes) {
  State &s = *state_;
  std::optional<size_t> b = findBuffer(s.tape, buffer);
  if (!b)
    return Error(s.program->sourceName, "no buffer '" + std::string(buffer) + "'");
  if (bytes.size() != s.bufferBytes[*b])
    return Error(s.program->sourceName, "buffer '" + std::string(buffer) + "' holds " +
                                            std::to_string(s.bufferBytes[*b]) + " bytes, given " +
                                            std::to_string(bytes.size()));
  driver().cuCtxSetCurrent(s.context);
  if (CUresult r = s.copyToDevice(s.buffers[*b], bytes.data(), bytes.size()); r != CUDA_SUCCESS)
    return Error("", cudaError("cuMemcpyHtoDAsync", r));
  return std::nullopt;
}

std::optional<Error> GpuSchedule::setInts(std::string_view buffer, std::span<const int32_t> values) {
  return setBytes(buffer, std::as_bytes(values));
}

std::optional<Error> GpuSchedule::zeroBuffer(std::string_view buffer) {
  State &s = *state_;
  std::optional<size_t> b = findBuffer(s.tape, buffer);
  if (!b)
    return Error(s.program->sourceName, "no buffer '" + std::string(buffer) + "'");
  driver().cuCtxSetCurrent(s.context);
  if (CUresult r = s.zeroDevice(s.buffers[*b], s.bufferBytes[*b]); r != CUDA_SUCCESS)
    return Error("", cudaError("cuMemsetD8Async", r));
  return std::nullopt;
}

std::optional<Error> GpuSchedule::zeroScratchAndOutputs() {
  State &s = *state_;
  driver().cuCtxSetCurrent(s.context);
  for (size_t b = 0; b < s.tape.buffers.size(); ++b) {
    const auto kind = static_cast<ir::ast::BufferKind>(s.tape.buffers[b].kind);
    if (kind != ir::ast::BufferKind::Scratch && kind != ir::ast::BufferKind::Output)
      continue;
    // Enqueued on the launch stream: ordered before the next launch, nothing to wait for here.
    if (CUresult r = driver().cuMemsetD8Async(s.buffers[b], 0, s.bufferBytes[b], s.stream); r != CUDA_SUCCESS)
      return Error("", cudaError("cuMemsetD8Async", r));
  }
  return std::nullopt;
}

Result<std::vector<std::byte>> GpuSchedule::readBytes(std::string_view buffer) const {
  const State &s = *state_;
  std::optional<size_t> b = findBuffer(s.tape, buffer);
  if (!b)
    return Error(s.program->sourceName, "no buffer '" + std::string(buffer) + "'");
  std::vector<std::byte> bytes(s.bufferBytes[*b]);
  driver().cuCtxSetCurrent(s.context);
  AMK_CU(driver().cuMemcpyDtoH(bytes.data(), s.buffers[*b], bytes.size()));
  return bytes;
}

std::optional<Error> GpuSchedule::setDelays(const std::vector<std::vector<uint32_t>> &delaysNs) {
  State &s = *state_;
  driver().cuCtxSetCurrent(s.context);
  if (delaysNs.empty()) {
    if (s.delays)
      driver().cuMemFree(s.delays);
    s.delays = 0;
    return std::nullopt;
  }
  std::vector<uint32_t> flat(s.tape.instructions.size(), 0);
  for (size_t k = 0; k < delaysNs.size() && k + 1 < s.tape.blockStart.size(); ++k)
    for (size_t i = 0; i < delaysNs[k].size() && s.tape.blockStart[k] + i < s.tape.blockStart[k + 1]; ++i)
      flat[s.tape.blockStart[k] + i] = delaysNs[k][i];
  if (!s.delays)
    if (CUresult r = driver().cuMemAlloc(&s.delays, flat.size() * 4 + 16); r != CUDA_SUCCESS)
      return Error("", cudaError("cuMemAlloc", r));
  if (CUresult r = s.copyToDevice(s.delays, flat.data(), flat.size() * 4); r != CUDA_SUCCESS)
    return Error("", cudaError("cuMemcpyHtoDAsync", r));
  return std::nullopt;
}

std::optional<Error> GpuSchedule::setProfiling(bool on) {
  State &s = *state_;
  driver().cuCtxSetCurrent(s.context);
  if (on && !s.stamps)
    if (CUresult r = driver().cuMemAlloc(&s.stamps, s.tape.instructions.size() * 16 + 16); r != CUDA_SUCCESS)
      return Error("", cudaError("cuMemAlloc", r));
  s.profiling = on;
  return std::nullopt;
}

Result<LaunchResult> GpuSchedule::launch() {
  State &s = *state_;
  AMK_CU(driver().cuCtxSetCurrent(s.context));
  AMK_CU(driver().cuMemsetD32Async(s.counters, 0, s.counterCount, s.stream));
  AMK_CU(driver().cuMemsetD32Async(s.barrier, 0, 1, s.stream));
  AMK_CU(driver().cuMemsetD8Async(s.error, 0, sizeof(AmkDeviceError), s.stream));
  AMK_CU(driver().cuMemsetD32Async(s.stop, 0, 1, s.stream));
  if (s.profiling)
    AMK_CU(driver().cuMemsetD8Async(s.stamps, 0, s.tape.instructions.size() * 16, s.stream));
  AmkParams params{};
  params.tape = s.tapeDevice + sizeof(AmkInstr); // past the header record
  params.blockStart = s.blockStart;
  params.buffers = s.bufferTable;
  params.counters = s.counters;
  params.barrier = s.barrier;
  params.error = s.error;
  params.stop = s.stop;
  params.trace = s.trace;
  params.traceCount = s.traceCount;
  params.traceCapacity = s.options.traceCapacity;
  params.timeoutNs = static_cast<unsigned long long>(s.options.timeoutSeconds * 1e9);
  params.blocks = static_cast<unsigned int>(s.tape.blocks);
  params.instructions = static_cast<unsigned int>(s.tape.instructions.size());
  params.delayNs = s.delays;
  params.stamps = s.profiling ? s.stamps : 0;
  params.ringOffset = static_cast<unsigned int>(s.ringOffset);
  params.ringBytes = s.tape.ringBytes;
  // The certificate this schedule was created under; the kernel runs the tape only if its header
  // carries the same hashes.
  const auto scheduleWords = lowering::scheduleHashWords(s.certificate.scheduleHash);
  const auto checkerWords = lowering::checkerHashWords(s.certificate.checkerVersion);
  std::copy(scheduleWords.begin(), scheduleWords.end(), params.scheduleHash);
  std::copy(checkerWords.begin(), checkerWords.end(), params.checkerHash);
  void *arguments[] = {&params};
  CUevent start = nullptr, stop = nullptr;
  AMK_CU(driver().cuEventCreate(&start, CU_EVENT_DEFAULT));
  AMK_CU(driver().cuEventCreate(&stop, CU_EVENT_DEFAULT));
  AMK_CU(driver().cuEventRecord(start, s.stream));
  AMK_CU(driver().cuLaunchCooperativeKernel(s.function, static_cast<unsigned>(s.program->blocks), 1, 1,
                                            static_cast<unsigned>(s.program->threads), 1, 1,
                                            static_cast<unsigned>(s.sharedBytes), s.stream, arguments));
  AMK_CU(driver().cuEventRecord(stop, s.stream));
  AMK_CU(driver().cuStreamSynchronize(s.stream));
  LaunchResult result;
  float ms = 0;
  AMK_CU(driver().cuEventElapsedTime(&ms, start, stop));
  driver().cuEventDestroy(start);
  driver().cuEventDestroy(stop);
  result.milliseconds = ms;
  AmkDeviceError error{};
  AMK_CU(driver().cuMemcpyDtoH(&error, s.error, sizeof error));
  if (error.code == AMK_BAD_LAUNCH)
    return Error(s.program->sourceName, "the kernel refused the launch (AMK_BAD_LAUNCH, block " +
                                            std::to_string(error.block) + "): " + s.describeRefusal(error, params));
  result.completed = error.code == AMK_OK;
  result.timedOut = error.code == AMK_WAIT_TIMEOUT || error.code == AMK_BARRIER_TIMEOUT;
  if (!result.completed) {
    std::string where = s.describe(static_cast<uint32_t>(error.block), error.instruction);
    switch (error.code) {
    case AMK_WAIT_TIMEOUT:
      result.report = "wait time-out after " + std::to_string(s.options.timeoutSeconds) + " s: " + where + " saw " +
                      s.tape.counterNames.at(error.counter) + " = " + std::to_string(error.observed) + ", threshold " +
                      std::to_string(error.threshold);
      break;
    case AMK_BARRIER_TIMEOUT:
      result.report = "barrier time-out after " + std::to_string(s.options.timeoutSeconds) + " s: " + where + " saw " +
                      std::to_string(error.observed) + " of " + std::to_string(error.value) + " arrivals";
      break;
    case AMK_BAD_INDEX:
      result.report = "index out of range: " + where + " read " + std::to_string(error.value);
      break;
    case AMK_STAGE_TIMEOUT:
      result.report = "staged weight time-out after " + std::to_string(s.options.timeoutSeconds) + " s: " + where +
                      " waited for the bulk copy of ring barrier " + std::to_string(error.value);
      break;
    case AMK_BAD_OP:
      result.report = "unknown op " + std::to_string(error.value) + ": " + where;
      break;
    default:
      result.report = "the kernel stopped with error code " + std::to_string(error.code) + ": " + where;
    }
  }
  if (s.options.traceCapacity > 0) {
    std::vector<uint32_t> counts(static_cast<size_t>(s.program->blocks));
    std::vector<uint32_t> flat(static_cast<size_t>(s.program->blocks) * s.options.traceCapacity);
    AMK_CU(driver().cuMemcpyDtoH(counts.data(), s.traceCount, counts.size() * 4));
    AMK_CU(driver().cuMemcpyDtoH(flat.data(), s.trace, flat.size() * 4));
    for (size_t k = 0; k < counts.size(); ++k)
      result.trace.emplace_back(flat.begin() + static_cast<long>(k * s.options.traceCapacity),
                                flat.begin() + static_cast<long>(k * s.options.traceCapacity + counts[k]));
  }
  if (s.profiling) {
    std::vector<uint64_t> stamps(2 * s.tape.instructions.size());
    AMK_CU(driver().cuMemcpyDtoH(stamps.data(), s.stamps, stamps.size() * 8));
    for (size_t k = 0; k + 1 < s.tape.blockStart.size(); ++k)
      for (uint32_t i = s.tape.blockStart[k]; i < s.tape.blockStart[k + 1]; ++i) {
        const AmkInstr &in = s.tape.instructions[i];
        if (stamps[2 * i] == 0)
          continue; // not reached: the kernel stopped early
        result.profile.push_back({static_cast<uint32_t>(k), i - s.tape.blockStart[k], in.kind, in.op, in.site,
                                  stamps[2 * i], stamps[2 * i + 1]});
      }
  }
  return result;
}

std::string GpuSchedule::deviceName() const { return state_->deviceName; }
int GpuSchedule::multiprocessors() const { return state_->sms; }
int GpuSchedule::occupancy() const { return state_->occupancy; }
size_t GpuSchedule::sharedMemoryBytes() const { return state_->sharedBytes; }
const std::string &GpuSchedule::kernelSource() const { return state_->source; }

} // namespace amk::megakernel
