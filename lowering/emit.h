// The code side of the lowering: a certified core program becomes the instruction tape the
// persistent megakernel interprets (a header naming the schedule and its checker, then one record per
// elaborated instruction, per block) and the CUDA source of that kernel, specialised with the
// schedule's block size and stamped with its content hash.
#pragma once

#include "amk/ir/program.h"
#include "amk/ir/result.h"
#include "amk/megakernel/device/amk_abi.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace amk::lowering {

struct TapeBuffer {
  std::string name;
  int dtype = AMK_F32; // AmkDType, the value of the buffer's ir::ast::DType
  int64_t elements = 0;
  int kind = 0; // ast::BufferKind as an int
};

struct Tape {
  std::string scheduleHash;   // content hash of the schedule's canonical text (ir/content_hash.h)
  std::string checkerVersion; // of the checker that judged the schedule
  // The record before the first instruction on the device: the kernel checks the hashes, the grid and
  // the length it names against its launch before it interprets anything.
  AmkTapeHeader header{};
  std::vector<AmkInstr> instructions;    // block 0's, then block 1's, ...
  std::vector<uint32_t> blockStart;      // blocks + 1 offsets into instructions
  std::vector<TapeBuffer> buffers;       // in declaration order (AmkOperand::buffer indexes this)
  std::vector<std::string> counterNames; // one per flat counter element ("done[3]")
  int64_t blocks = 0, threads = 0;
  uint32_t ringBytes = 0; // the weight ring the staged operands were placed in
};

struct TapeOptions {
  // Bytes of shared memory per block for staged weights (0: none staged): the weight operands of
  // projections are copied there ahead of their tasks (docs/megakernel.md).
  uint32_t ringBytes = 0;
};

// `canonicalText` is the schedule's canonical form (its hash names the tape and the kernel);
// `checkerVersion` names the checker that judged it (ir::kCheckerVersion for this build's). The
// error names an instruction the CUDA lowering cannot express, with its source line.
Result<Tape> buildTape(const ir::Program &program, const std::string &canonicalText, const std::string &checkerVersion,
                       const TapeOptions &options = {});

// The words a tape header and the launch parameters hold (megakernel/device/amk_abi.h): all 32 bytes
// of a schedule's content hash (zeros when `scheduleHash` is not 64 hex digits), and the first 16
// bytes of the content hash of a checker version string.
std::array<uint32_t, AMK_SCHEDULE_HASH_WORDS> scheduleHashWords(const std::string &scheduleHash);
std::array<uint32_t, AMK_CHECKER_HASH_WORDS> checkerHashWords(const std::string &checkerVersion);

struct EmitOptions {
  std::string scheduleName;
  bool rejected = false; // the checker rejected the schedule: lowered for replay only
};

// The kernel source: a header naming the schedule hash and the checker's verdict, then the compile unit.
std::string emitKernel(const Tape &tape, const EmitOptions &options);
// What is compiled: the thread count, the projection families the tape uses and the device
// interpreter (megakernel/device/amk_device.cuh), included by name. It depends on nothing else of
// the schedule, so one compiled kernel serves every tape of that block size and op families.
std::string kernelCompileUnit(const Tape &tape);

} // namespace amk::lowering
