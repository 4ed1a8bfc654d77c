// The instruction tape: how a certified core program reaches the megakernel. Plain C structs shared
// by the host side (lowering/emit.cpp builds them) and the device interpreter (compiled by nvcc or
// NVRTC, which includes this file as it is), so nothing here may use the C++ library.
#ifndef AMK_TAPE_FORMAT_H
#define AMK_TAPE_FORMAT_H

#define AMK_TAPE_VERSION 2
#define AMK_MAX_OPERANDS 6
#define AMK_MAX_ATTRIBUTES 7

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
struct AmkOperand {
  unsigned int buffer;
  int dtype;
  long long offset;
  long long rowStride;
  int rows;
  int cols;
  int rowLo;
  int colLo;
};

// A wait's or a barrier's operands carry prefetch hints instead: what the tasks right after it (up
// to the next synchronisation) will read from memory, for the block's idle threads to pull into L2
// while one thread spins. `outputs` operands are read whole (projection weights); then `inputs`
// operands are read up to the current position (KV cache rows of an attention), followed by one
// more operand, the position scalar (attention's `pos`). Hints change no value any load returns.
struct AmkInstr {
  int kind;  // AmkKind
  int op;    // ir::OpId of a task
  int order; // AmkOrder of a signal or wait
  int outputs;
  int inputs;
  unsigned int counter;                         // flat counter element of a signal or wait
  unsigned int amount;                          // increment of a signal, threshold of a wait
  unsigned int site;                            // source instruction, for traces and reports
  float attributes[AMK_MAX_ATTRIBUTES];         // registry attributes, in registry order, as numbers
  struct AmkOperand operands[AMK_MAX_OPERANDS]; // outputs first, then inputs
};

// What a kernel leaves behind when it stops early: the first error wins.
enum AmkErrorCode { AMK_OK = 0, AMK_WAIT_TIMEOUT = 1, AMK_BARRIER_TIMEOUT = 2, AMK_BAD_INDEX = 3, AMK_BAD_OP = 4 };

struct AmkDeviceError {
  int code;
  int block;
  unsigned int instruction; // index in the block's tape
  unsigned int site;
  unsigned int counter;
  unsigned int observed;
  unsigned int threshold;
  int value; // AMK_BAD_INDEX: the token or position; AMK_BARRIER_TIMEOUT: the arrivals awaited
};

#endif
