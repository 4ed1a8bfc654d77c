// The host/device ABI: the instruction tape, how a certified core program reaches the megakernel, and
// the kernel's launch parameters. Plain C structs shared by the host side (lowering/emit.cpp builds
// the tape, megakernel/gpu_runtime.cpp fills the parameters) and the device interpreter (compiled by
// nvcc or NVRTC, which includes this file as it is), so nothing here may use the C++ library.
#ifndef AMK_TAPE_FORMAT_H
#define AMK_TAPE_FORMAT_H

// Version 4: a header record precedes the first instruction (AmkTapeHeader).
#define AMK_TAPE_VERSION 4
#define AMK_MAX_OPERANDS 6
#define AMK_MAX_ATTRIBUTES 7
// Weight staging (docs/megakernel.md, "Weights stream ahead of the data"): bulk copies a record
// starts, and the shared-memory barriers that count their bytes in.
#define AMK_MAX_COPIES 4
#define AMK_STAGE_BARRIERS 16

// The opaque op's semantics, not a content hash: FNV-1a 64 over its inputs' bytes, then per output
// element over the element's index (docs/numerics.md). The CPU reference and the device both read
// these, so the two stay the same function.
#define AMK_OPAQUE_FNV_OFFSET_BASIS 0xcbf29ce484222325ull
#define AMK_OPAQUE_FNV_PRIME 0x100000001b3ull

// Element types: ir::ast::DType's values (lowering/emit.cpp asserts each), named for plain C.
enum AmkDType { AMK_BF16 = 0, AMK_F16 = 1, AMK_F32 = 2, AMK_I32 = 3, AMK_I8 = 4 };

enum AmkKind { AMK_TASK = 0, AMK_BARRIER = 1, AMK_SIGNAL = 2, AMK_WAIT = 3 };

// Sync orders: plain (release signal, acquire wait, GPU scope), relaxed, CTA-scoped.
enum AmkOrder { AMK_ORDER_GPU = 0, AMK_ORDER_RELAXED = 1, AMK_ORDER_CTA = 2 };

// One operand region seen as a matrix: element (r, c) is at
// buffers[buffer] + offset + r * rowStride + c, for r < rows, c < cols. rowLo and colLo are the
// region's start in the buffer dimensions its rows and columns run along (a KV slice's first
// position, an argmax slice's first index).
//
// A param operand read whole may be staged: a bulk copy started by an earlier record of the block
// put its bytes, contiguous, at byte `stage` of the block's weight ring in shared memory, and the
// copy's completion is phase `stageBarrier & 1` of ring barrier `stageBarrier >> 1`. stage < 0: the
// operand is read from global memory.
struct AmkOperand {
  unsigned int buffer;
  int dtype;
  long long offset;
  long long rowStride;
  int rows;
  int cols;
  int rowLo;
  int colLo;
  int stage;
  int stageBarrier;
};

// A bulk copy of `bytes` contiguous bytes of a param buffer (from byte `from` of buffers[buffer]) to
// byte `ring` of the weight ring, counted in by ring barrier `barrier >> 1`, whose phase
// `barrier & 1` it completes. The lowering issues copies of
// param regions only: params are never written (AMK-W001), so reading one early changes no value
// and cannot race.
struct AmkCopy {
  unsigned int buffer;
  unsigned int bytes;
  long long from;
  int ring;
  int barrier;
};

// A wait's or a barrier's operands carry prefetch hints instead: what the tasks right after it (up
// to the next synchronisation) will read from memory, for the block's idle threads to pull into L2
// while one thread spins. `outputs` operands are read whole (projection weights); then `inputs`
// operands are read up to the current position (KV cache rows of an attention), followed by one
// more operand, the position scalar (attention's `pos`). Hints change no value any load returns.
//
// A task whose next instruction is a signal carries that signal too (`folded`): the block runs the
// signal right after the task's closing block barrier, and skips the signal's own record.
struct AmkInstr {
  int kind;  // AmkKind
  int op;    // ir::OpId of a task
  int order; // AmkOrder of a signal or wait; of the folded signal of a task
  int outputs;
  int inputs;
  unsigned int counter;                         // flat counter element of a signal or wait (or folded signal)
  unsigned int amount;                          // increment of a signal, threshold of a wait
  unsigned int site;                            // source instruction, for traces and reports
  int folded;                                   // a task: 1 when it carries the next record's signal
  int copies;                                   // bulk copies this record starts before it runs
  float attributes[AMK_MAX_ATTRIBUTES];         // registry attributes, in registry order, as numbers
  struct AmkOperand operands[AMK_MAX_OPERANDS]; // outputs first, then inputs
  struct AmkCopy copy[AMK_MAX_COPIES];
};

// The record just before a tape's first instruction (AmkParams.tape points past it): what the tape
// is, which the kernel checks against its launch before it interprets anything (docs/megakernel.md,
// "Certificate binding"). The hashes are bytes in the order ir/content_hash.h's hex digits spell
// them, compared as words.
#define AMK_TAPE_MAGIC 0x544b4d41u /* "AMKT" in memory */
#define AMK_SCHEDULE_HASH_WORDS 8  /* all 32 bytes of the SHA-256 */
#define AMK_CHECKER_HASH_WORDS 4   /* the first 16 bytes of the SHA-256 of the checker version */

struct AmkTapeHeader {
  unsigned int magic;                                 // AMK_TAPE_MAGIC
  unsigned int version;                               // AMK_TAPE_VERSION of the lowering that wrote the tape
  unsigned int blocks;                                // the grid the tape is for
  unsigned int threads;                               // the block size the tape is for
  unsigned int instructions;                          // records after the header
  unsigned int scheduleHash[AMK_SCHEDULE_HASH_WORDS]; // content hash of the schedule's canonical text
  unsigned int checkerHash[AMK_CHECKER_HASH_WORDS];   // content hash of the checker version that judged it
};

// What a kernel leaves behind when it stops early: the first error wins.
enum AmkErrorCode {
  AMK_OK = 0,
  AMK_WAIT_TIMEOUT = 1,
  AMK_BARRIER_TIMEOUT = 2,
  AMK_BAD_INDEX = 3,
  AMK_BAD_OP = 4,
  AMK_STAGE_TIMEOUT = 5, // a staged weight's bulk copy did not complete: `value` is the ring barrier
  AMK_BAD_LAUNCH = 6,    // the launch or the tape is not the certified one: nothing was interpreted
};

// Which check of the kernel's entry refused a launch (AmkDeviceError.value of AMK_BAD_LAUNCH).
enum AmkLaunchCheck {
  AMK_CHECK_TAPE_MAGIC = 1,    // no tape header before the first instruction
  AMK_CHECK_TAPE_VERSION = 2,  // the tape's AMK_TAPE_VERSION is not the kernel's
  AMK_CHECK_GRID = 3,          // gridDim.x is not the tape's block count
  AMK_CHECK_PARAMS_BLOCKS = 4, // AmkParams.blocks is not the tape's block count
  AMK_CHECK_BLOCK_SIZE = 5,    // blockDim.x is not the kernel's AMK_THREADS
  AMK_CHECK_TAPE_THREADS = 6,  // the tape's block size is not the kernel's AMK_THREADS
  AMK_CHECK_TAPE_LENGTH = 7,   // AmkParams.instructions is not the tape's instruction count
  AMK_CHECK_BLOCK_OFFSETS = 8, // blockStart[blocks] is not the tape's instruction count
  AMK_CHECK_SCHEDULE_HASH = 9, // the tape is another schedule's than the launch was certified for
  AMK_CHECK_CHECKER_HASH = 10, // the tape was judged by another checker version than the launch
  AMK_CHECK_RING = 11,          // the weight ring does not fit the block's dynamic shared memory
};

struct AmkDeviceError {
  int code;
  int block;
  unsigned int instruction; // index in the block's tape
  unsigned int site;
  unsigned int counter;   // AMK_BAD_LAUNCH of a hash: the first differing word
  unsigned int observed;  // AMK_BAD_LAUNCH: what the launch or the tape has (of a hash: that word)
  unsigned int threshold; // AMK_BAD_LAUNCH: what it should be
  int value;              // AMK_BAD_INDEX: the token or position; AMK_BARRIER_TIMEOUT: the arrivals awaited;
                          // AMK_BAD_LAUNCH: the AmkLaunchCheck that failed
};

// A device address: a typed pointer where the device code reads through it, a 64-bit integer on the
// host, which holds addresses of device memory (CUdeviceptr) and must never dereference them. Both
// are 8 bytes with 8-byte alignment, so the two sides lay AmkParams out alike (asserted below).
#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#define AMK_DEVICE_POINTER(type) type *
#else
#define AMK_DEVICE_POINTER(type) unsigned long long
#endif

// The megakernel's one argument, passed by value at launch.
struct AmkParams {
  AMK_DEVICE_POINTER(const struct AmkInstr) tape;    // the first instruction; an AmkTapeHeader record before it
  AMK_DEVICE_POINTER(const unsigned int) blockStart; // blocks + 1 offsets into tape
  AMK_DEVICE_POINTER(void *const) buffers;
  AMK_DEVICE_POINTER(unsigned int) counters;
  AMK_DEVICE_POINTER(unsigned int) barrier; // arrivals at grid barriers, cumulative
  AMK_DEVICE_POINTER(struct AmkDeviceError) error;
  AMK_DEVICE_POINTER(int) stop;           // set when any block records an error: every spin gives up
  AMK_DEVICE_POINTER(unsigned int) trace; // per block traceCapacity instruction indices, or null
  AMK_DEVICE_POINTER(unsigned int) traceCount;
  unsigned int traceCapacity;
  unsigned long long timeoutNs;
  unsigned int blocks;                           // of the tape: the grid must have exactly these
  unsigned int instructions;                     // of the tape: blockStart[blocks] must be this
  AMK_DEVICE_POINTER(unsigned int) delayNs;      // per tape instruction: nanoseconds to sleep before it, or null
  AMK_DEVICE_POINTER(unsigned long long) stamps; // per tape instruction: %globaltimer at its start and end, or null
  unsigned int ringOffset;                       // the weight ring: its first byte in dynamic shared memory
  unsigned int ringBytes;                        // and its size; 0: nothing is staged
  // The certificate the runtime launches under: the tape's header must carry the same hashes.
  unsigned int scheduleHash[AMK_SCHEDULE_HASH_WORDS];
  unsigned int checkerHash[AMK_CHECKER_HASH_WORDS];
};

#if defined(__cplusplus) && !defined(__CUDACC_RTC__)
// The host compiler, and nvcc for the device side (NVRTC has no offsetof builtin), check the layout
// against the same numbers.
#define AMK_ASSERT_OFFSET(field, offset)                                                                               \
  static_assert(__builtin_offsetof(AmkParams, field) == (offset),                                                      \
                "AmkParams." #field " moved: the host and the device would read different launch parameters")
AMK_ASSERT_OFFSET(tape, 0);
AMK_ASSERT_OFFSET(blockStart, 8);
AMK_ASSERT_OFFSET(buffers, 16);
AMK_ASSERT_OFFSET(counters, 24);
AMK_ASSERT_OFFSET(barrier, 32);
AMK_ASSERT_OFFSET(error, 40);
AMK_ASSERT_OFFSET(stop, 48);
AMK_ASSERT_OFFSET(trace, 56);
AMK_ASSERT_OFFSET(traceCount, 64);
AMK_ASSERT_OFFSET(traceCapacity, 72);
AMK_ASSERT_OFFSET(timeoutNs, 80);
AMK_ASSERT_OFFSET(blocks, 88);
AMK_ASSERT_OFFSET(instructions, 92);
AMK_ASSERT_OFFSET(delayNs, 96);
AMK_ASSERT_OFFSET(stamps, 104);
AMK_ASSERT_OFFSET(ringOffset, 112);
AMK_ASSERT_OFFSET(ringBytes, 116);
AMK_ASSERT_OFFSET(scheduleHash, 120);
AMK_ASSERT_OFFSET(checkerHash, 152);
#undef AMK_ASSERT_OFFSET
#endif
#ifdef __cplusplus
static_assert(sizeof(AmkParams) == 168, "AmkParams changed size: the host and the device would disagree");
static_assert(sizeof(AmkTapeHeader) <= sizeof(AmkInstr), "the tape header must fit the record before the tape");
#endif

#endif
