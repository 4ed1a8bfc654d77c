// The AMK megakernel: one persistent cooperative kernel whose every block interprets its own part of
// a certified schedule's instruction tape (megakernel/device/amk_abi.h), in order. Compute tasks run on
// the whole block; consecutive tasks are separated by a block barrier. Synchronisation follows the
// publish pattern AMKIR.md §3 asks for: all threads write, block barrier, one thread signals with a
// GPU-scope release add; one thread spins with GPU-scope acquire loads, block barrier, all threads
// read. Every spin is bounded by a time-out that records what it waited for and stops the kernel.
//
// The emitted kernel source defines AMK_THREADS (and the op families, below) and includes this
// file. It needs no CUDA header, so NVRTC compiles it as it is: half and bfloat16 conversions are PTX.
// Numerics follow docs/numerics.md: fp32 arithmetic, rounding on store and at the listed points.
#ifndef AMK_DEVICE_CUH
#define AMK_DEVICE_CUH

#include "amk_abi.h"

#ifndef AMK_THREADS
#error "the emitted kernel defines AMK_THREADS"
#endif

#define AMK_WARPS (AMK_THREADS / 32)

// The projection families the tape uses (the emitted kernel defines them from its tape): a kernel
// compiles only the matvec code its schedule runs, which keeps the other family's registers out of
// it. A tape op of a family left out stops the kernel with AMK_BAD_OP.
#ifndef AMK_WITH_MATVEC
#define AMK_WITH_MATVEC 1
#endif
#ifndef AMK_WITH_MATVEC_Q8
#define AMK_WITH_MATVEC_Q8 1
#endif

// ir::OpId values: both enums come from the op table (ir/ops.def, which NVRTC gets with this header).
enum AmkOp {
#define AMK_OP(value, id, deviceId, ...) AMK_OP_##deviceId = value,
#include "ops.def"
};

// ---- element access --------------------------------------------------------------------------

__device__ __forceinline__ float amk_bf16_to_f32(unsigned short h) { return __uint_as_float((unsigned int)h << 16); }

__device__ __forceinline__ unsigned short amk_f32_to_bf16(float f) {
  unsigned short h;
  asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}

__device__ __forceinline__ float amk_f16_to_f32(unsigned short h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}

__device__ __forceinline__ unsigned short amk_f32_to_f16(float f) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}

// The value a float has once stored in an element of `dtype`.
__device__ __forceinline__ float amk_round(float v, int dtype) {
  if (dtype == AMK_BF16)
    return amk_bf16_to_f32(amk_f32_to_bf16(v));
  if (dtype == AMK_F16)
    return amk_f16_to_f32(amk_f32_to_f16(v));
  return v;
}

__device__ __forceinline__ int amk_element_bytes(int dtype) {
  return dtype == AMK_F32 || dtype == AMK_I32 ? 4 : dtype == AMK_I8 ? 1 : 2;
}

// Buffer element index of element e (row-major) of an operand's matrix view.
__device__ __forceinline__ long long amk_index(const AmkOperand &o, long long e) {
  if (o.rows == 1 || o.rowStride == o.cols)
    return o.offset + e;
  long long r = e / o.cols, c = e - r * o.cols;
  return o.offset + r * o.rowStride + c;
}

__device__ __forceinline__ float amk_load_raw(const void *base, int dtype, long long index) {
  switch (dtype) {
  case AMK_BF16:
    return amk_bf16_to_f32(((const unsigned short *)base)[index]);
  case AMK_F16:
    return amk_f16_to_f32(((const unsigned short *)base)[index]);
  case AMK_F32:
    return ((const float *)base)[index];
  case AMK_I32:
    return (float)((const int *)base)[index];
  default:
    return (float)((const signed char *)base)[index];
  }
}

__device__ __forceinline__ float amk_load_at(const AmkParams &p, const AmkOperand &o, long long index) {
  return amk_load_raw(p.buffers[o.buffer], o.dtype, index);
}

__device__ __forceinline__ float amk_load(const AmkParams &p, const AmkOperand &o, long long e) {
  return amk_load_at(p, o, amk_index(o, e));
}

__device__ __forceinline__ int amk_load_int(const AmkParams &p, const AmkOperand &o, long long e) {
  long long index = amk_index(o, e);
  const void *base = p.buffers[o.buffer];
  if (o.dtype == AMK_I32)
    return ((const int *)base)[index];
  if (o.dtype == AMK_I8)
    return ((const signed char *)base)[index];
  return (int)amk_load_at(p, o, index);
}

__device__ __forceinline__ void amk_store(const AmkParams &p, const AmkOperand &o, long long e, float v) {
  long long index = amk_index(o, e);
  void *base = p.buffers[o.buffer];
  switch (o.dtype) {
  case AMK_BF16:
    ((unsigned short *)base)[index] = amk_f32_to_bf16(v);
    break;
  case AMK_F16:
    ((unsigned short *)base)[index] = amk_f32_to_f16(v);
    break;
  case AMK_F32:
    ((float *)base)[index] = v;
    break;
  case AMK_I32:
    ((int *)base)[index] = (int)v;
    break;
  default:
    ((signed char *)base)[index] = (signed char)v;
  }
}

__device__ __forceinline__ void amk_store_int(const AmkParams &p, const AmkOperand &o, long long e, int v) {
  long long index = amk_index(o, e);
  void *base = p.buffers[o.buffer];
  if (o.dtype == AMK_I32)
    ((int *)base)[index] = v;
  else if (o.dtype == AMK_I8)
    ((signed char *)base)[index] = (signed char)v;
  else
    amk_store(p, o, e, (float)v);
}

// ---- block reductions ------------------------------------------------------------------------

__device__ __forceinline__ float amk_warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float amk_warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Every thread gets the block's sum (or max). `scratch` holds AMK_WARPS + 1 floats.
__device__ float amk_block_sum(float v, float *scratch) {
  v = amk_warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < AMK_WARPS ? scratch[lane] : 0.0f;
    w = amk_warp_sum(w);
    if (lane == 0)
      scratch[AMK_WARPS] = w;
  }
  __syncthreads();
  return scratch[AMK_WARPS];
}

__device__ float amk_block_max(float v, float *scratch) {
  v = amk_warp_max(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  __syncthreads();
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float w = lane < AMK_WARPS ? scratch[lane] : -__int_as_float(0x7f800000);
    w = amk_warp_max(w);
    if (lane == 0)
      scratch[AMK_WARPS] = w;
  }
  __syncthreads();
  return scratch[AMK_WARPS];
}

// (value, index) with the argmax order: larger value wins, NaN never wins, ties go to the lower index.
__device__ __forceinline__ bool amk_better(float v, int i, float bv, int bi) {
  if (v != v)
    return false;
  if (bv != bv)
    return true;
  return v > bv || (v == bv && i < bi);
}

__device__ void amk_block_argmax(float &value, int &index, float *scratch) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, value, offset);
    int oi = __shfl_xor_sync(0xffffffffu, index, offset);
    if (amk_better(ov, oi, value, index)) {
      value = ov;
      index = oi;
    }
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int *indices = (int *)(scratch + AMK_WARPS + 1);
  __syncthreads();
  if (lane == 0) {
    scratch[warp] = value;
    indices[warp] = index;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < AMK_WARPS; ++w)
      if (amk_better(scratch[w], indices[w], scratch[0], indices[0])) {
        scratch[0] = scratch[w];
        indices[0] = indices[w];
      }
  }
  __syncthreads();
  value = scratch[0];
  index = indices[0];
  __syncthreads();
}

// ---- errors ----------------------------------------------------------------------------------

__device__ void amk_fail(const AmkParams &p, int code, unsigned int instruction, const AmkInstr *in, unsigned int observed,
                         int value) {
  if (atomicCAS(&p.error->code, AMK_OK, code) == AMK_OK) {
    p.error->block = blockIdx.x;
    p.error->instruction = instruction;
    p.error->site = in->site;
    p.error->counter = in->counter;
    p.error->observed = observed;
    p.error->threshold = in->amount;
    p.error->value = value;
  }
  __threadfence();
  atomicExch(p.stop, 1);
}

__device__ __forceinline__ unsigned long long amk_now_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ __forceinline__ unsigned int amk_load_counter(const unsigned int *c, int order) {
  unsigned int v;
  if (order == AMK_ORDER_GPU)
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(c) : "memory");
  else if (order == AMK_ORDER_CTA)
    asm volatile("ld.acquire.cta.global.u32 %0, [%1];" : "=r"(v) : "l"(c) : "memory");
  else
    asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(c) : "memory");
  return v;
}

__device__ __forceinline__ void amk_add_counter(unsigned int *c, unsigned int amount, int order) {
  if (order == AMK_ORDER_GPU)
    asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(c), "r"(amount) : "memory");
  else if (order == AMK_ORDER_CTA)
    asm volatile("red.release.cta.global.add.u32 [%0], %1;" ::"l"(c), "r"(amount) : "memory");
  else
    asm volatile("red.relaxed.gpu.global.add.u32 [%0], %1;" ::"l"(c), "r"(amount) : "memory");
}

// Thread 0 spins until *c >= target; false when it timed out or another block stopped the kernel.
__device__ bool amk_spin(const AmkParams &p, const unsigned int *c, unsigned int target, int order, int code,
                         unsigned int instruction, const AmkInstr *in) {
  unsigned long long start = 0;
  unsigned int backoff = 32;
  for (unsigned int round = 0;; ++round) {
    unsigned int v = amk_load_counter(c, order);
    if (v >= target)
      return true;
    if ((round & 63) == 63) {
      if (*(volatile int *)p.stop)
        return false;
      unsigned long long now = amk_now_ns();
      if (start == 0)
        start = now;
      else if (now - start > p.timeoutNs) {
        amk_fail(p, code, instruction, in, v, (int)target);
        return false;
      }
    }
    __nanosleep(backoff);
    if (backoff < 128)
      backoff *= 2;
  }
}

// ---- weight staging ----------------------------------------------------------------------------
//
// Params are never written (AMK-W001), so a block may read a param region at any time without
// changing a value or racing. The lowering uses that (lowering/emit.cpp, stageWeights): the weight
// operands of a block's projections are copied ahead of time by the bulk copy engine into a ring in
// shared memory, each copy started by an earlier record (`AmkInstr::copy`) as soon as the ring space
// it overwrites is no longer read, and counted in by a shared-memory barrier. A projection then
// reads its rows from shared memory: the DRAM traffic of the next tasks overlaps this task's work
// and the block's waits. Thread 0 starts every copy and waits for every completion; it alone tracks
// which ring barriers have copies in flight, so a block that stops early still drains them.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define AMK_STAGING 1
#else
#define AMK_STAGING 0 // no bulk copy engine: staged operands are read from global memory
#endif

extern __shared__ __align__(128) float amk_shared[];

__device__ __forceinline__ unsigned int amk_shared_address(const void *generic) {
  unsigned long long shared;
  asm("cvta.to.shared.u64 %0, %1;" : "=l"(shared) : "l"(generic));
  return (unsigned int)shared;
}

struct AmkStaging {
  unsigned long long barriers[AMK_STAGE_BARRIERS];
  unsigned int pending; // bit b: ring barrier b has a copy in flight that no task has waited for
  unsigned int parity;  // bit b: the phase that copy completes
  int failed;
};

__device__ __forceinline__ unsigned char *amk_ring(const AmkParams &p) {
  return (unsigned char *)amk_shared + p.ringOffset;
}

__device__ __forceinline__ bool amk_staged(const AmkParams &p, const AmkOperand &o) {
  return AMK_STAGING && p.ringBytes != 0 && o.stage >= 0;
}

__device__ void amk_staging_init(AmkStaging *st) {
#if AMK_STAGING
  if (threadIdx.x == 0) {
    for (int b = 0; b < AMK_STAGE_BARRIERS; ++b)
      asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(amk_shared_address(&st->barriers[b])) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    st->pending = 0;
    st->parity = 0;
    st->failed = 0;
  }
#endif
}

// Thread 0: start the record's bulk copies. The ring bytes they overwrite were last read by a task
// that every thread has left (the lowering issues a copy only after that task).
__device__ __forceinline__ void amk_issue_copies(const AmkParams &p, const AmkInstr *in, AmkStaging *st) {
#if AMK_STAGING
  if (p.ringBytes == 0)
    return;
  unsigned char *ring = amk_ring(p);
  for (int c = 0; c < in->copies; ++c) {
    const AmkCopy &k = in->copy[c];
    const int b = k.barrier >> 1;
    const unsigned int bar = amk_shared_address(&st->barriers[b]);
    const char *from = (const char *)p.buffers[k.buffer] + k.from;
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(bar), "r"(k.bytes) : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     amk_shared_address(ring + k.ring)),
                 "l"(from), "r"(k.bytes), "r"(bar)
                 : "memory");
    st->pending |= 1u << b;
    st->parity = (st->parity & ~(1u << b)) | ((unsigned int)(k.barrier & 1) << b);
  }
#endif
}

__device__ __forceinline__ bool amk_barrier_phase_done(unsigned int bar, unsigned int parity) {
  unsigned int done = 0;
#if AMK_STAGING
  asm volatile("{\n .reg .pred ready;\n mbarrier.try_wait.parity.shared::cta.b64 ready, [%1], %2;\n"
               " selp.u32 %0, 1, 0, ready;\n}"
               : "=r"(done)
               : "r"(bar), "r"(parity)
               : "memory");
#endif
  return done != 0;
}

// Thread 0: wait until the staged copy of `o` has landed, bounded by the watchdog.
__device__ bool amk_stage_wait(const AmkParams &p, const AmkOperand &o, AmkStaging *st, unsigned int instruction,
                               const AmkInstr *in) {
#if AMK_STAGING
  const int b = o.stageBarrier >> 1;
  const unsigned int bar = amk_shared_address(&st->barriers[b]), parity = o.stageBarrier & 1;
  unsigned long long start = 0;
  for (unsigned int round = 0; !amk_barrier_phase_done(bar, parity); ++round) {
    if ((round & 255) == 255) {
      const unsigned long long now = amk_now_ns();
      if (start == 0)
        start = now;
      else if (now - start > p.timeoutNs) {
        amk_fail(p, AMK_STAGE_TIMEOUT, instruction, in, 0, b);
        return false;
      }
    }
  }
  st->pending &= ~(1u << b);
#endif
  return true;
}

// Thread 0, before the task's staging barrier: wait for every staged input of the task. Every other
// thread observes the completed phase itself after that barrier (amk_stage_acquire).
__device__ void amk_stage_wait_inputs(const AmkParams &p, const AmkInstr *in, AmkStaging *st, unsigned int instruction) {
  if (threadIdx.x != 0)
    return;
  for (int k = in->outputs; k < in->outputs + in->inputs; ++k)
    if (amk_staged(p, in->operands[k]) && !amk_stage_wait(p, in->operands[k], st, instruction, in)) {
      st->failed = 1;
      return;
    }
}

__device__ __forceinline__ void amk_stage_acquire(const AmkParams &p, const AmkOperand &o, AmkStaging *st) {
#if AMK_STAGING
  if (amk_staged(p, o))
    (void)amk_barrier_phase_done(amk_shared_address(&st->barriers[o.stageBarrier >> 1]), o.stageBarrier & 1);
#endif
}

// Thread 0, before the block exits: every copy still in flight (the block stopped before the task
// that reads it) lands first, bounded by the watchdog.
__device__ void amk_staging_drain(const AmkParams &p, AmkStaging *st) {
#if AMK_STAGING
  if (threadIdx.x != 0)
    return;
  for (int b = 0; b < AMK_STAGE_BARRIERS; ++b) {
    if (!(st->pending & (1u << b)))
      continue;
    const unsigned int bar = amk_shared_address(&st->barriers[b]), parity = (st->parity >> b) & 1;
    const unsigned long long start = amk_now_ns();
    while (!amk_barrier_phase_done(bar, parity) && amk_now_ns() - start < p.timeoutNs) {
    }
  }
#endif
}

// ---- ops -------------------------------------------------------------------------------------

#define AMK_OUT(k) (in->operands[(k)])
#define AMK_IN(k) (in->operands[in->outputs + (k)])

__device__ __forceinline__ long long amk_elements(const AmkOperand &o) { return (long long)o.rows * o.cols; }

__device__ void amk_copy(const AmkParams &p, const AmkInstr *in) {
  const AmkOperand &y = AMK_OUT(0), &x = AMK_IN(0);
  const long long n = amk_elements(y);
  const bool integer = x.dtype == AMK_I32 || x.dtype == AMK_I8;
  for (long long e = threadIdx.x; e < n; e += AMK_THREADS) {
    if (integer)
      amk_store_int(p, y, e, amk_load_int(p, x, e));
    else
      amk_store(p, y, e, amk_load(p, x, e));
  }
}

__device__ void amk_add(const AmkParams &p, const AmkInstr *in) {
  const AmkOperand &y = AMK_OUT(0), &a = AMK_IN(0), &b = AMK_IN(1);
  const long long n = amk_elements(y);
  for (long long e = threadIdx.x; e < n; e += AMK_THREADS)
    amk_store(p, y, e, amk_load(p, a, e) + amk_load(p, b, e));
}

// silu(g) rounded to the gate's element type (HF applies the activation to the gate in its dtype).
__device__ __forceinline__ float amk_silu(float g, int gateDtype) {
  return amk_round(g / (1.0f + expf(-g)), gateDtype);
}

__device__ void amk_silu_mul(const AmkParams &p, const AmkInstr *in) {
  const AmkOperand &y = AMK_OUT(0), &g = AMK_IN(0), &u = AMK_IN(1);
  const long long n = amk_elements(y);
  for (long long e = threadIdx.x; e < n; e += AMK_THREADS)
    amk_store(p, y, e, amk_silu(amk_load(p, g, e), g.dtype) * amk_load(p, u, e));
}

__device__ bool amk_embed(const AmkParams &p, const AmkInstr *in, unsigned int instruction) {
  const AmkOperand &x = AMK_OUT(0), &table = AMK_IN(0), &tok = AMK_IN(1);
  const int token = amk_load_int(p, tok, 0);
  if (token < 0 || token >= table.rows) {
    if (threadIdx.x == 0)
      amk_fail(p, AMK_BAD_INDEX, instruction, in, 0, token);
    return false;
  }
  for (long long c = threadIdx.x; c < table.cols; c += AMK_THREADS)
    amk_store(p, x, c, amk_load_at(p, table, table.offset + (long long)token * table.rowStride + c));
  return true;
}

// 1 / sqrt(mean(x^2) + eps) over the whole operand.
__device__ float amk_inverse_rms(const AmkParams &p, const AmkOperand &x, float eps, float *scratch) {
  const long long n = amk_elements(x);
  float sum = 0.0f;
  for (long long e = threadIdx.x; e < n; e += AMK_THREADS) {
    float v = amk_load(p, x, e);
    sum += v * v;
  }
  sum = amk_block_sum(sum, scratch);
  return 1.0f / sqrtf(sum / (float)n + eps);
}

__device__ void amk_rmsnorm(const AmkParams &p, const AmkInstr *in, float *scratch) {
  const AmkOperand &y = AMK_OUT(0), &x = AMK_IN(0), &w = AMK_IN(1);
  const float inv = amk_inverse_rms(p, x, in->attributes[0], scratch);
  const long long n = amk_elements(y);
  for (long long e = threadIdx.x; e < n; e += AMK_THREADS) {
    float normalised = amk_round(amk_load(p, x, w.colLo + e) * inv, x.dtype);
    amk_store(p, y, e, amk_load(p, w, e) * normalised);
  }
}

// A bf16 vector of K elements that 16-byte loads can read: one contiguous row, 16-byte aligned.
__device__ __forceinline__ bool amk_vector_vector(const AmkOperand &o, int K) {
  return o.dtype == AMK_BF16 && (K % 8) == 0 && (o.offset % 8) == 0 && (o.rows == 1 || o.rowStride == o.cols) &&
         (long long)o.rows * o.cols == K;
}

// Eight bf16 values (one 16-byte load) as two float4s.
__device__ __forceinline__ void amk_unpack8(uint4 v, float4 &lo, float4 &hi) {
  lo.x = __uint_as_float(v.x << 16);
  lo.y = __uint_as_float(v.x & 0xffff0000u);
  lo.z = __uint_as_float(v.y << 16);
  lo.w = __uint_as_float(v.y & 0xffff0000u);
  hi.x = __uint_as_float(v.z << 16);
  hi.y = __uint_as_float(v.z & 0xffff0000u);
  hi.z = __uint_as_float(v.w << 16);
  hi.w = __uint_as_float(v.w & 0xffff0000u);
}

// The normalised input of a fused projection in shared memory (xs[0..K), as rmsnorm would store it
// in x's type): one pass over memory stages x and the norm weight w (w after x) while the sum of
// squares accumulates, in amk_inverse_rms's order; then x is normalised in place. The caller syncs.
__device__ __forceinline__ void amk_stage_normalised(const AmkParams &p, const AmkInstr *in, const AmkOperand &x,
                                                     const AmkOperand &w, int K, float *xs, float *scratch) {
  float *ws = xs + ((K + 3) & ~3);
  float sum = 0.0f;
  if (amk_vector_vector(x, K) && amk_vector_vector(w, K)) {
    // Eight elements of x and of w per 16-byte load: one round trip for the whole vector.
    const uint4 *xv = (const uint4 *)((const unsigned short *)p.buffers[x.buffer] + x.offset);
    const uint4 *wv = (const uint4 *)((const unsigned short *)p.buffers[w.buffer] + w.offset);
    for (int c = threadIdx.x; c < K / 8; c += AMK_THREADS) {
      const uint4 a = xv[c], b = wv[c];
      float4 x0, x1;
      amk_unpack8(a, x0, x1);
      amk_unpack8(b, *(float4 *)(ws + 8 * c), *(float4 *)(ws + 8 * c + 4));
      *(float4 *)(xs + 8 * c) = x0;
      *(float4 *)(xs + 8 * c + 4) = x1;
      sum += x0.x * x0.x + x0.y * x0.y + x0.z * x0.z + x0.w * x0.w;
      sum += x1.x * x1.x + x1.y * x1.y + x1.z * x1.z + x1.w * x1.w;
    }
  } else {
    for (int k = threadIdx.x; k < K; k += AMK_THREADS) {
      const float v = amk_load(p, x, k);
      xs[k] = v;
      ws[k] = amk_load(p, w, k);
      sum += v * v;
    }
  }
  sum = amk_block_sum(sum, scratch);
  const float inv = 1.0f / sqrtf(sum / (float)amk_elements(x) + in->attributes[0]);
  for (int k = threadIdx.x; k < K; k += AMK_THREADS)
    xs[k] = amk_round(ws[k] * amk_round(xs[k] * inv, x.dtype), x.dtype);
}

// Up to AMK_MV_ROWS rows of W against xs, one warp: every lane keeps one 16-byte load of each row in
// flight per step, so a warp has AMK_MV_ROWS independent loads outstanding instead of one. bf16 rows
// that start on a 16-byte boundary take this path; anything else is read an element at a time.
#define AMK_MV_ROWS 4

__device__ __forceinline__ bool amk_vector_rows(const AmkOperand &W) {
  return W.dtype == AMK_BF16 && (W.cols % 8) == 0 && (W.offset % 8) == 0 && (W.rowStride % 8) == 0;
}

__device__ __forceinline__ float amk_dot8(uint4 packed, const float *xk) {
  const float4 x0 = *(const float4 *)xk, x1 = *(const float4 *)(xk + 4);
  float acc = __uint_as_float(packed.x << 16) * x0.x;
  acc += __uint_as_float(packed.x & 0xffff0000u) * x0.y;
  acc += __uint_as_float(packed.y << 16) * x0.z;
  acc += __uint_as_float(packed.y & 0xffff0000u) * x0.w;
  acc += __uint_as_float(packed.z << 16) * x1.x;
  acc += __uint_as_float(packed.z & 0xffff0000u) * x1.y;
  acc += __uint_as_float(packed.w << 16) * x1.z;
  acc += __uint_as_float(packed.w & 0xffff0000u) * x1.w;
  return acc;
}

// acc[j] = the warp's sum of W[r0 + j, :] . xs for j < n (n <= AMK_MV_ROWS); every lane gets them.
__device__ __forceinline__ void amk_rows_dot(const void *base, const AmkOperand &W, int r0, int n, const float *xs,
                                             float acc[AMK_MV_ROWS]) {
  const int lane = threadIdx.x % 32, K = W.cols;
#pragma unroll
  for (int j = 0; j < AMK_MV_ROWS; ++j)
    acc[j] = 0.0f;
  if (amk_vector_rows(W)) {
    const uint4 *rows[AMK_MV_ROWS];
#pragma unroll
    for (int j = 0; j < AMK_MV_ROWS; ++j)
      rows[j] = (const uint4 *)((const unsigned short *)base + W.offset + (long long)(r0 + (j < n ? j : 0)) * W.rowStride);
    const int chunks = K / 8;
    int chunk = lane;
    // Four chunks of every row per lane in flight, then the remainder one chunk at a time.
    for (; chunk + 96 < chunks; chunk += 128) {
      uint4 packed[AMK_MV_ROWS][4];
#pragma unroll
      for (int j = 0; j < AMK_MV_ROWS; ++j)
#pragma unroll
        for (int u = 0; u < 4; ++u)
          if (j < n)
            packed[j][u] = rows[j][chunk + 32 * u];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float *xk = xs + (chunk + 32 * u) * 8;
#pragma unroll
        for (int j = 0; j < AMK_MV_ROWS; ++j)
          if (j < n)
            acc[j] += amk_dot8(packed[j][u], xk);
      }
    }
    for (; chunk < chunks; chunk += 32) {
      uint4 packed[AMK_MV_ROWS];
#pragma unroll
      for (int j = 0; j < AMK_MV_ROWS; ++j)
        if (j < n)
          packed[j] = rows[j][chunk];
      const float *xk = xs + chunk * 8;
#pragma unroll
      for (int j = 0; j < AMK_MV_ROWS; ++j)
        if (j < n)
          acc[j] += amk_dot8(packed[j], xk);
    }
  } else {
    for (int j = 0; j < n; ++j) {
      const long long rowStart = W.offset + (long long)(r0 + j) * W.rowStride;
      for (int k = lane; k < K; k += 32)
        acc[j] += amk_load_raw(base, W.dtype, rowStart + k) * xs[k];
    }
  }
#pragma unroll
  for (int j = 0; j < AMK_MV_ROWS; ++j)
    acc[j] = amk_warp_sum(acc[j]);
}

// The rows [first, last) of a projection that the calling thread's warp computes: a contiguous share.
// ok is false (on every thread) when a staged weight did not arrive: the kernel is stopping.
struct AmkRowShare {
  int first, last;
  bool ok;
};

// The prologue of every projection: stages its input x (W.cols values) in xs, normalised with the norm
// weight w when `normalised` (amk_stage_normalised); thread 0 then waits for the task's staged
// weights; the block syncs, and this warp's rows are returned.
__device__ __forceinline__ AmkRowShare amk_stage_projection(const AmkParams &p, const AmkInstr *in,
                                                            const AmkOperand &x, bool normalised,
                                                            const AmkOperand &w, const AmkOperand &W, float *xs,
                                                            float *scratch, AmkStaging *st, unsigned int instruction) {
  if (normalised) {
    amk_stage_normalised(p, in, x, w, W.cols, xs, scratch);
  } else if (amk_vector_vector(x, W.cols)) {
    const uint4 *xv = (const uint4 *)((const unsigned short *)p.buffers[x.buffer] + x.offset);
    for (int c = threadIdx.x; c < W.cols / 8; c += AMK_THREADS)
      amk_unpack8(xv[c], *(float4 *)(xs + 8 * c), *(float4 *)(xs + 8 * c + 4));
  } else {
    for (int k = threadIdx.x; k < W.cols; k += AMK_THREADS)
      xs[k] = amk_load(p, x, k);
  }
  amk_stage_wait_inputs(p, in, st, instruction);
  __syncthreads();
  const int perWarp = (W.rows + AMK_WARPS - 1) / AMK_WARPS;
  const int first = (threadIdx.x / 32) * perWarp;
  return {first, min(W.rows, first + perWarp), st->failed == 0};
}

// Where a weight operand's rows are: its staged copy in the ring (then `W` is rewritten to address
// that contiguous copy), or its buffer in global memory.
__device__ __forceinline__ const void *amk_weight_base(const AmkParams &p, AmkOperand &W, AmkStaging *st) {
  if (amk_staged(p, W)) {
    amk_stage_acquire(p, W, st);
    const int stage = W.stage;
    W.offset = 0;
    W.rowStride = W.cols;
    return amk_ring(p) + stage;
  }
  return p.buffers[W.buffer];
}

// matvec (y <- W, x), matvec_add (y <- W, x, r), rmsnorm_matvec (y <- W, x, w). The input vector is
// staged once in shared memory; each warp then takes a contiguous share of the rows, up to
// AMK_MV_ROWS of them at a time.
__device__ bool amk_matvec(const AmkParams &p, const AmkInstr *in, float *xs, float *scratch, AmkStaging *st,
                           unsigned int instruction) {
  const AmkOperand y = AMK_OUT(0), x = AMK_IN(1);
  AmkOperand W = AMK_IN(0);
  const int op = in->op, lane = threadIdx.x % 32;
  const AmkRowShare share =
      amk_stage_projection(p, in, x, op == AMK_OP_RMSNORM_MATVEC, AMK_IN(2), W, xs, scratch, st, instruction);
  if (!share.ok)
    return false;
  const int first = share.first, last = share.last;
  const void *base = amk_weight_base(p, W, st);
  AmkOperand residual = y;
  if (op == AMK_OP_MATVEC_ADD)
    residual = AMK_IN(2);
  for (int r0 = first; r0 < last; r0 += AMK_MV_ROWS) {
    const int n = min(AMK_MV_ROWS, last - r0);
    float acc[AMK_MV_ROWS];
    amk_rows_dot(base, W, r0, n, xs, acc);
#pragma unroll
    for (int j = 0; j < AMK_MV_ROWS; ++j)
      if (j < n && lane == j) {
        float v = acc[j];
        if (op == AMK_OP_MATVEC_ADD)
          v = amk_round(v, y.dtype) + amk_load(p, residual, r0 + j);
        amk_store(p, y, r0 + j, v);
      }
  }
  return true;
}

// rmsnorm_gate_up_silu (y <- Wg, Wu, x, w): x is staged and normalised once, as for rmsnorm_matvec;
// each warp then takes a contiguous share of the rows, up to AMK_MV_ROWS at a time, and computes the
// gate rows and then the up rows against the staged vector. Both are rounded to y's type, as the gate
// and up buffers of the three-op form would store them, before silu_mul's formula.
__device__ bool amk_rmsnorm_gate_up_silu(const AmkParams &p, const AmkInstr *in, float *xs, float *scratch,
                                         AmkStaging *st, unsigned int instruction) {
  const AmkOperand y = AMK_OUT(0), x = AMK_IN(2);
  AmkOperand Wg = AMK_IN(0), Wu = AMK_IN(1);
  const int lane = threadIdx.x % 32;
  const AmkRowShare share = amk_stage_projection(p, in, x, true, AMK_IN(3), Wg, xs, scratch, st, instruction);
  if (!share.ok)
    return false;
  const int first = share.first, last = share.last;
  const void *gateBase = amk_weight_base(p, Wg, st), *upBase = amk_weight_base(p, Wu, st);
  for (int r0 = first; r0 < last; r0 += AMK_MV_ROWS) {
    const int n = min(AMK_MV_ROWS, last - r0);
    float gate[AMK_MV_ROWS], up[AMK_MV_ROWS];
    amk_rows_dot(gateBase, Wg, r0, n, xs, gate);
    amk_rows_dot(upBase, Wu, r0, n, xs, up);
#pragma unroll
    for (int j = 0; j < AMK_MV_ROWS; ++j)
      if (j < n && lane == j)
        amk_store(p, y, r0 + j, amk_silu(amk_round(gate[j], y.dtype), y.dtype) * amk_round(up[j], y.dtype));
  }
  return true;
}

// Four int8 weights (one little-endian word) against x, each widened exactly.
__device__ __forceinline__ float amk_dot4_i8(unsigned int word, float4 x, float acc) {
  acc += (float)(((int)word << 24) >> 24) * x.x;
  acc += (float)(((int)word << 16) >> 24) * x.y;
  acc += (float)(((int)word << 8) >> 24) * x.z;
  acc += (float)((int)word >> 24) * x.w;
  return acc;
}

// Sixteen int8 weights against xk[0..16).
__device__ __forceinline__ float amk_dot16_i8(uint4 packed, const float *xk) {
  float acc = amk_dot4_i8(packed.x, *(const float4 *)xk, 0.0f);
  acc = amk_dot4_i8(packed.y, *(const float4 *)(xk + 4), acc);
  acc = amk_dot4_i8(packed.z, *(const float4 *)(xk + 8), acc);
  return amk_dot4_i8(packed.w, *(const float4 *)(xk + 12), acc);
}

// The W8A16 projections: matvec_q8 (y <- W, s, x), matvec_q8_add (y <- W, s, x, r) and
// rmsnorm_matvec_q8 (y <- W, s, x, w); W int8 rows, each row's sum scaled by s[r] once. Staging and
// row shares as amk_matvec; int8 rows that start on a 16-byte boundary are read 16 weights per
// 16-byte load, AMK_MV_ROWS rows and two chunks of each per lane in flight.
__device__ bool amk_matvec_q8(const AmkParams &p, const AmkInstr *in, float *xs, float *scratch, AmkStaging *st,
                              unsigned int instruction) {
  const AmkOperand y = AMK_OUT(0), s = AMK_IN(1), x = AMK_IN(2), extra = AMK_IN(3);
  AmkOperand W = AMK_IN(0);
  const int K = W.cols, op = in->op, lane = threadIdx.x % 32;
  const AmkRowShare share =
      amk_stage_projection(p, in, x, op == AMK_OP_RMSNORM_MATVEC_Q8, extra, W, xs, scratch, st, instruction);
  if (!share.ok)
    return false;
  const int first = share.first, last = share.last;
  const signed char *base = (const signed char *)amk_weight_base(p, W, st);
  const bool vector = (K % 16) == 0 && (W.offset % 16) == 0 && (W.rowStride % 16) == 0;
  for (int r0 = first; r0 < last; r0 += AMK_MV_ROWS) {
    const int n = min(AMK_MV_ROWS, last - r0);
    float acc[AMK_MV_ROWS];
#pragma unroll
    for (int j = 0; j < AMK_MV_ROWS; ++j)
      acc[j] = 0.0f;
    if (vector) {
      const uint4 *rows[AMK_MV_ROWS];
#pragma unroll
      for (int j = 0; j < AMK_MV_ROWS; ++j)
        rows[j] = (const uint4 *)(base + W.offset + (long long)(r0 + (j < n ? j : 0)) * W.rowStride);
      const int chunks = K / 16;
      for (int chunk = lane; chunk < chunks; chunk += 64) {
        const bool second = chunk + 32 < chunks;
        uint4 packed[AMK_MV_ROWS][2];
#pragma unroll
        for (int j = 0; j < AMK_MV_ROWS; ++j)
          if (j < n) {
            packed[j][0] = rows[j][chunk];
            if (second)
              packed[j][1] = rows[j][chunk + 32];
          }
#pragma unroll
        for (int j = 0; j < AMK_MV_ROWS; ++j)
          if (j < n) {
            acc[j] += amk_dot16_i8(packed[j][0], xs + chunk * 16);
            if (second)
              acc[j] += amk_dot16_i8(packed[j][1], xs + (chunk + 32) * 16);
          }
      }
    } else {
      for (int j = 0; j < n; ++j) {
        const long long rowStart = W.offset + (long long)(r0 + j) * W.rowStride;
        for (int k = lane; k < K; k += 32)
          acc[j] += (float)base[rowStart + k] * xs[k];
      }
    }
#pragma unroll
    for (int j = 0; j < AMK_MV_ROWS; ++j)
      acc[j] = amk_warp_sum(acc[j]);
    if (lane < n) {
      float v = acc[0];
#pragma unroll
      for (int j = 1; j < AMK_MV_ROWS; ++j)
        if (lane == j)
          v = acc[j];
      v *= amk_load(p, s, r0 + lane);
      if (op == AMK_OP_MATVEC_Q8_ADD)
        v = amk_round(v, y.dtype) + amk_load(p, extra, r0 + lane);
      amk_store(p, y, r0 + lane, v);
    }
  }
  return true;
}

// Attributes: head_dim, theta, scaling (1: llama3), factor, low_freq_factor, high_freq_factor,
// original_max_position. The same fp32 steps as the CPU reference (megakernel/op_reference.cpp,
// ropeFrequencies), with pow computed in double and rounded once, as the host's correctly rounded
// powf gives: the frequencies, and so the angles, agree with the reference's bit for bit.
__device__ float amk_rope_frequency(const AmkInstr *in, int j) {
  const float headDim = in->attributes[0], theta = in->attributes[1];
  const float exponent = (float)(2 * j) / headDim;
  float f = 1.0f / (float)pow((double)theta, (double)exponent);
  if (in->attributes[2] == 1.0f) {
    const float factor = in->attributes[3], low = in->attributes[4], high = in->attributes[5];
    const float context = in->attributes[6];
    const float lowWavelength = (float)((double)context / (double)low);
    const float highWavelength = (float)((double)context / (double)high);
    const float twoPi = (float)(2.0 * 3.14159265358979323846);
    const float highMinusLow = (float)((double)high - (double)low);
    const float wavelength = (1.0f / f) * twoPi;
    if (wavelength < highWavelength)
      return f;
    if (wavelength > lowWavelength)
      return f / factor;
    const float smooth = ((1.0f / wavelength) * context - low) / highMinusLow;
    f = (1.0f - smooth) * f / factor + smooth * f;
  }
  return f;
}

__device__ void amk_rope(const AmkParams &p, const AmkInstr *in) {
  const AmkOperand &out = AMK_OUT(0), &v = AMK_IN(0), &posOperand = AMK_IN(1);
  const int D = (int)in->attributes[0], half = D / 2;
  const float pos = (float)amk_load_int(p, posOperand, 0);
  const long long pairs = amk_elements(v) / 2;
  for (long long q = threadIdx.x; q < pairs; q += AMK_THREADS) {
    const long long head = q / half;
    const int j = (int)(q - head * half);
    const long long i = head * D + j, i2 = i + half;
    const float angle = amk_rope_frequency(in, j) * pos;
    // cos and sin in double, rounded once: the host's correctly rounded cosf and sinf.
    const float c = amk_round((float)cos((double)angle), v.dtype), s = amk_round((float)sin((double)angle), v.dtype);
    const float a = amk_load(p, v, i), b = amk_load(p, v, i2);
    const float first = amk_round(amk_round(a * c, v.dtype) - amk_round(b * s, v.dtype), v.dtype);
    const float second = amk_round(amk_round(b * c, v.dtype) + amk_round(a * s, v.dtype), v.dtype);
    amk_store(p, out, i, first);
    amk_store(p, out, i2, second);
  }
}

__device__ bool amk_kv_store(const AmkParams &p, const AmkInstr *in, unsigned int instruction) {
  const AmkOperand &cache = AMK_OUT(0), &v = AMK_IN(0);
  const int pos = amk_load_int(p, AMK_IN(1), 0);
  if (pos < 0 || pos >= cache.rows) {
    if (threadIdx.x == 0)
      amk_fail(p, AMK_BAD_INDEX, instruction, in, 0, pos);
    return false;
  }
  for (int c = threadIdx.x; c < cache.cols; c += AMK_THREADS)
    amk_store(p, cache, (long long)pos * cache.cols + c, amk_load(p, v, c));
  return true;
}

// Softmax-weighted sum of one query head over cache rows [first, last) of the operands. Shared
// memory: the query (D floats), the scores (last - first), then AMK_WARPS partial output rows (D
// each). Scores: one thread per position, the whole key row in 16-byte loads when it is bf16 and
// aligned. Output: warp w sums the positions w, w + AMK_WARPS, ...; lanes split the head dimension;
// the warps' partial rows are added in warp order. Writes the normalised output through
// `emit(d, value)` and returns (max, sum) of the scores.
struct AmkSoftmax {
  float max, sum;
};

__device__ __forceinline__ bool amk_vector_cache(const AmkOperand &c) {
  return c.dtype == AMK_BF16 && (c.cols % 8) == 0 && (c.offset % 8) == 0 && (c.rowStride % 8) == 0;
}

template <typename Emit>
__device__ AmkSoftmax amk_attend(const AmkParams &p, const AmkOperand &q, long long qBase, const AmkOperand &k,
                                 const AmkOperand &v, int first, int last, float *smem, float *scratch, Emit emit) {
  const int D = k.cols, n = last - first, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float *qs = smem, *scores = smem + D, *partial = smem + D + ((n + 3) & ~3);
  for (int d = threadIdx.x; d < D; d += AMK_THREADS)
    qs[d] = amk_load(p, q, qBase + d);
  __syncthreads();
  const float scale = sqrtf((float)D);
  const void *kBase = p.buffers[k.buffer], *vBase = p.buffers[v.buffer];
  if (amk_vector_cache(k) && (D % 8) == 0) {
    for (int r = first + threadIdx.x; r < last; r += AMK_THREADS) {
      const uint4 *row = (const uint4 *)((const unsigned short *)kBase + k.offset + (long long)r * k.rowStride);
      float acc = 0.0f;
#pragma unroll 4
      for (int c = 0; c < D / 8; ++c)
        acc += amk_dot8(row[c], qs + 8 * c);
      scores[r - first] = acc / scale;
    }
  } else {
    for (int r = first + threadIdx.x; r < last; r += AMK_THREADS) {
      const long long row = k.offset + (long long)r * k.rowStride;
      float acc = 0.0f;
      for (int d = 0; d < D; ++d)
        acc += qs[d] * amk_load_raw(kBase, k.dtype, row + d);
      scores[r - first] = acc / scale;
    }
  }
  __syncthreads();
  float m = -__int_as_float(0x7f800000);
  for (int r = threadIdx.x; r < n; r += AMK_THREADS)
    m = fmaxf(m, scores[r]);
  m = amk_block_max(m, scratch);
  float sum = 0.0f;
  for (int r = threadIdx.x; r < n; r += AMK_THREADS) {
    float e = expf(scores[r] - m);
    scores[r] = e;
    sum += e;
  }
  sum = amk_block_sum(sum, scratch); // its barriers also publish the exponentiated scores
  float *mine = partial + warp * D;
  if (v.dtype == AMK_BF16 && (D % 64) == 0 && D <= 256 && (v.offset % 2) == 0 && (v.rowStride % 2) == 0) {
    // Lane l owns the column pairs 2l + 64i: one 4-byte load per pair and position.
    float acc[8];
#pragma unroll
    for (int i = 0; i < 8; ++i)
      acc[i] = 0.0f;
    const int pairs = D / 64;
    const unsigned short *vRows = (const unsigned short *)vBase + v.offset;
    int r = first + warp;
    // Four positions per warp in flight, then the rest one at a time; each position's terms are
    // added in position order either way.
    for (; r + 3 * AMK_WARPS < last; r += 4 * AMK_WARPS) {
      unsigned int packed[4][4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const unsigned int *row = (const unsigned int *)(vRows + (long long)(r + u * AMK_WARPS) * v.rowStride);
#pragma unroll
        for (int i = 0; i < 4; ++i)
          if (i < pairs)
            packed[u][i] = row[lane + 32 * i];
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float weight = scores[r + u * AMK_WARPS - first];
#pragma unroll
        for (int i = 0; i < 4; ++i)
          if (i < pairs) {
            acc[2 * i] += weight * __uint_as_float(packed[u][i] << 16);
            acc[2 * i + 1] += weight * __uint_as_float(packed[u][i] & 0xffff0000u);
          }
      }
    }
    for (; r < last; r += AMK_WARPS) {
      const float weight = scores[r - first];
      const unsigned int *row = (const unsigned int *)(vRows + (long long)r * v.rowStride);
#pragma unroll
      for (int i = 0; i < 4; ++i)
        if (i < pairs) {
          const unsigned int packed = row[lane + 32 * i];
          acc[2 * i] += weight * __uint_as_float(packed << 16);
          acc[2 * i + 1] += weight * __uint_as_float(packed & 0xffff0000u);
        }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i)
      if (i < pairs) {
        mine[64 * i + 2 * lane] = acc[2 * i];
        mine[64 * i + 2 * lane + 1] = acc[2 * i + 1];
      }
  } else {
    for (int d = lane; d < D; d += 32) {
      float acc = 0.0f;
      for (int r = first + warp; r < last; r += AMK_WARPS)
        acc += scores[r - first] * amk_load_raw(vBase, v.dtype, v.offset + (long long)r * v.rowStride + d);
      mine[d] = acc;
    }
  }
  __syncthreads();
  for (int d = threadIdx.x; d < D; d += AMK_THREADS) {
    float acc = 0.0f;
    for (int w = 0; w < AMK_WARPS; ++w)
      acc += partial[w * D + d];
    emit(d, acc / sum);
  }
  __syncthreads();
  AmkSoftmax result = {m, sum};
  return result;
}

__device__ bool amk_attention(const AmkParams &p, const AmkInstr *in, float *smem, float *scratch,
                              unsigned int instruction) {
  const AmkOperand &o = AMK_OUT(0), &q = AMK_IN(0), &k = AMK_IN(1), &v = AMK_IN(2);
  const int pos = amk_load_int(p, AMK_IN(3), 0);
  if (pos < 0 || pos >= k.rows) {
    if (threadIdx.x == 0)
      amk_fail(p, AMK_BAD_INDEX, instruction, in, 0, pos);
    return false;
  }
  const int D = k.cols;
  const long long heads = amk_elements(q) / D;
  for (long long h = 0; h < heads; ++h)
    amk_attend(p, q, h * D, k, v, 0, pos + 1, smem, scratch,
               [&](int d, float value) { amk_store(p, o, h * D + d, value); });
  return true;
}

// Over the cache rows of the operands (positions rowLo .. rowLo + rows), clipped to 0..pos.
__device__ void amk_attention_partial(const AmkParams &p, const AmkInstr *in, float *smem, float *scratch) {
  const AmkOperand &part = AMK_OUT(0), &lse = AMK_OUT(1), &q = AMK_IN(0), &k = AMK_IN(1), &v = AMK_IN(2);
  const int pos = amk_load_int(p, AMK_IN(3), 0);
  const int D = k.cols;
  int last = pos + 1 - k.rowLo;
  if (last > k.rows)
    last = k.rows;
  const long long heads = amk_elements(q) / D;
  for (long long h = 0; h < heads; ++h) {
    if (last <= 0) {
      for (int d = threadIdx.x; d < D; d += AMK_THREADS)
        amk_store(p, part, h * D + d, 0.0f);
      if (threadIdx.x == 0)
        amk_store(p, lse, h, -__int_as_float(0x7f800000));
      continue;
    }
    AmkSoftmax s = amk_attend(p, q, h * D, k, v, 0, last, smem, scratch,
                              [&](int d, float value) { amk_store(p, part, h * D + d, value); });
    if (threadIdx.x == 0)
      amk_store(p, lse, h, s.max + logf(s.sum));
  }
}

__device__ void amk_attention_merge(const AmkParams &p, const AmkInstr *in) {
  const AmkOperand &o = AMK_OUT(0), &part = AMK_IN(0), &lse = AMK_IN(1);
  const int splits = part.rows, heads = lse.cols, width = part.cols, D = width / heads;
  for (int e = threadIdx.x; e < width; e += AMK_THREADS) {
    const int h = e / D;
    float m = -__int_as_float(0x7f800000);
    for (int s = 0; s < splits; ++s)
      m = fmaxf(m, amk_load(p, lse, (long long)s * heads + h));
    float num = 0.0f, den = 0.0f;
    if (m != -__int_as_float(0x7f800000)) {
      for (int s = 0; s < splits; ++s) {
        float l = amk_load(p, lse, (long long)s * heads + h);
        float w = l == -__int_as_float(0x7f800000) ? 0.0f : expf(l - m);
        num += w * amk_load(p, part, (long long)s * width + e);
        den += w;
      }
    }
    amk_store(p, o, e, den > 0.0f ? num / den : 0.0f);
  }
}

__device__ void amk_argmax_scan(const AmkParams &p, const AmkOperand &x, float &value, int &index, float *scratch) {
  value = __int_as_float(0x7fffffff); // NaN: anything wins over it
  index = 0x7fffffff;
  const long long n = amk_elements(x);
  for (long long e = threadIdx.x; e < n; e += AMK_THREADS) {
    float v = amk_load(p, x, e);
    if (amk_better(v, (int)e, value, index)) {
      value = v;
      index = (int)e;
    }
  }
  amk_block_argmax(value, index, scratch);
  if (index == 0x7fffffff)
    index = -1; // every element NaN, as the CPU reference says
}

__device__ void amk_argmax(const AmkParams &p, const AmkInstr *in, float *scratch) {
  float value;
  int index;
  amk_argmax_scan(p, AMK_IN(0), value, index, scratch);
  if (threadIdx.x == 0)
    amk_store_int(p, AMK_OUT(0), 0, index);
}

__device__ void amk_argmax_partial(const AmkParams &p, const AmkInstr *in, float *scratch) {
  const AmkOperand &x = AMK_IN(0);
  float value;
  int index;
  amk_argmax_scan(p, x, value, index, scratch);
  if (threadIdx.x == 0) {
    amk_store(p, AMK_OUT(0), 0, value);
    amk_store(p, AMK_OUT(0), 1, index < 0 ? -1.0f : (float)(x.colLo + index));
  }
}

__device__ void amk_argmax_merge(const AmkParams &p, const AmkInstr *in, float *scratch) {
  const AmkOperand &best = AMK_IN(0);
  float value = __int_as_float(0x7fffffff);
  int index = 0x7fffffff;
  for (int r = threadIdx.x; r < best.rows; r += AMK_THREADS) {
    const float v = amk_load(p, best, 2LL * r);
    const int i = (int)amk_load(p, best, 2LL * r + 1);
    if (amk_better(v, i, value, index)) {
      value = v;
      index = i;
    }
  }
  amk_block_argmax(value, index, scratch);
  if (threadIdx.x == 0)
    amk_store_int(p, AMK_OUT(0), 0, index == 0x7fffffff ? -1 : index);
}

// FNV-1a over every input element's bytes in operand order, then per output element over its index
// (8 bytes, little-endian); the element takes the low bytes of that hash (docs/numerics.md).
__device__ void amk_opaque(const AmkParams &p, const AmkInstr *in, float *scratch) {
  unsigned long long *shared = (unsigned long long *)scratch;
  if (threadIdx.x == 0) {
    unsigned long long hash = AMK_OPAQUE_FNV_OFFSET_BASIS;
    for (int k = 0; k < in->inputs; ++k) {
      const AmkOperand &x = AMK_IN(k);
      const int size = amk_element_bytes(x.dtype);
      const unsigned char *base = (const unsigned char *)p.buffers[x.buffer];
      for (long long e = 0; e < amk_elements(x); ++e) {
        const unsigned char *bytes = base + amk_index(x, e) * size;
        for (int b = 0; b < size; ++b) {
          hash ^= bytes[b];
          hash *= AMK_OPAQUE_FNV_PRIME;
        }
      }
    }
    shared[0] = hash;
  }
  __syncthreads();
  const unsigned long long hash = shared[0];
  for (int k = 0; k < in->outputs; ++k) {
    const AmkOperand &y = AMK_OUT(k);
    const int size = amk_element_bytes(y.dtype);
    unsigned char *base = (unsigned char *)p.buffers[y.buffer];
    for (long long e = threadIdx.x; e < amk_elements(y); e += AMK_THREADS) {
      unsigned long long h = hash;
      for (int b = 0; b < 8; ++b) {
        h ^= (unsigned long long)((e >> (8 * b)) & 0xff);
        h *= AMK_OPAQUE_FNV_PRIME;
      }
      unsigned char *bytes = base + amk_index(y, e) * size;
      for (int b = 0; b < size; ++b)
        bytes[b] = (unsigned char)(h >> (8 * b));
    }
  }
  __syncthreads();
}

// ---- the interpreter ---------------------------------------------------------------------------

// Rows [first, last) of an operand into L2, one 128-byte line per prefetch, spread over `threads`
// threads numbered from `thread`. A prefetch is a hint: it changes no value any load returns.
__device__ void amk_prefetch_rows(const AmkParams &p, const AmkOperand &o, int first, int last, int thread,
                                  int threads) {
  if (last <= first)
    return;
  const int size = amk_element_bytes(o.dtype);
  const long long rowBytes = (long long)o.cols * size, strideBytes = o.rowStride * size;
  const long long linesPerRow = (rowBytes + 127) / 128;
  const char *base = (const char *)p.buffers[o.buffer] + o.offset * size;
  const long long lines = (long long)(last - first) * linesPerRow;
  for (long long l = thread; l < lines; l += threads) {
    const long long r = first + l / linesPerRow, c = (l % linesPerRow) * 128;
    asm volatile("prefetch.global.L2 [%0];" ::"l"(base + r * strideBytes + c));
  }
}

// While thread 0 spins on a wait or a barrier, warps 1.. pull the record's prefetch hints
// (megakernel/device/amk_abi.h) into L2: what the block's next tasks will read.
__device__ void amk_prefetch_hints(const AmkParams &p, const AmkInstr *in) {
  if (threadIdx.x < 32)
    return;
  const int thread = threadIdx.x - 32, threads = AMK_THREADS - 32;
  for (int k = 0; k < in->outputs; ++k) {
    const AmkOperand o = in->operands[k];
    amk_prefetch_rows(p, o, 0, o.rows, thread, threads);
  }
  if (in->inputs > 0) {
    const int pos = amk_load_int(p, in->operands[in->outputs + in->inputs], 0);
    for (int k = in->outputs; k < in->outputs + in->inputs; ++k) {
      const AmkOperand o = in->operands[k];
      amk_prefetch_rows(p, o, 0, min(o.rows, pos + 1 - o.rowLo), thread, threads);
    }
  }
}

// Asynchronous copy of a tape record into shared memory (cp.async, 4 bytes per thread); complete
// once the copying threads pass amk_record_wait and then a block barrier.
__device__ __forceinline__ void amk_record_fetch(AmkInstr *to, const AmkInstr *from) {
  for (int w = threadIdx.x; w < (int)(sizeof(AmkInstr) / 4); w += AMK_THREADS) {
    unsigned long long generic = (unsigned long long)((int *)to + w), shared;
    asm("cvta.to.shared.u64 %0, %1;" : "=l"(shared) : "l"(generic));
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"((unsigned int)shared), "l"((const int *)from + w)
                 : "memory");
  }
  asm volatile("cp.async.commit_group;" ::: "memory");
}

__device__ __forceinline__ void amk_record_wait() { asm volatile("cp.async.wait_all;" ::: "memory"); }

__device__ bool amk_task(const AmkParams &p, const AmkInstr *in, unsigned int instruction, float *smem, float *scratch,
                         AmkStaging *st) {
  switch (in->op) {
  case AMK_OP_COPY:
    amk_copy(p, in);
    return true;
  case AMK_OP_ADD:
    amk_add(p, in);
    return true;
  case AMK_OP_EMBED:
    return amk_embed(p, in, instruction);
  case AMK_OP_RMSNORM:
    amk_rmsnorm(p, in, scratch);
    return true;
#if AMK_WITH_MATVEC
  case AMK_OP_MATVEC:
  case AMK_OP_MATVEC_ADD:
  case AMK_OP_RMSNORM_MATVEC:
    return amk_matvec(p, in, smem, scratch, st, instruction);
  case AMK_OP_RMSNORM_GATE_UP_SILU:
    return amk_rmsnorm_gate_up_silu(p, in, smem, scratch, st, instruction);
#endif
#if AMK_WITH_MATVEC_Q8
  case AMK_OP_MATVEC_Q8:
  case AMK_OP_MATVEC_Q8_ADD:
  case AMK_OP_RMSNORM_MATVEC_Q8:
    return amk_matvec_q8(p, in, smem, scratch, st, instruction);
#endif
  case AMK_OP_ROPE:
    amk_rope(p, in);
    return true;
  case AMK_OP_KV_STORE:
    return amk_kv_store(p, in, instruction);
  case AMK_OP_ATTENTION:
    return amk_attention(p, in, smem, scratch, instruction);
  case AMK_OP_SILU_MUL:
    amk_silu_mul(p, in);
    return true;
  case AMK_OP_ARGMAX:
    amk_argmax(p, in, scratch);
    return true;
  case AMK_OP_ATTENTION_PARTIAL:
    amk_attention_partial(p, in, smem, scratch);
    return true;
  case AMK_OP_ATTENTION_MERGE:
    amk_attention_merge(p, in);
    return true;
  case AMK_OP_ARGMAX_PARTIAL:
    amk_argmax_partial(p, in, scratch);
    return true;
  case AMK_OP_ARGMAX_MERGE:
    amk_argmax_merge(p, in, scratch);
    return true;
  case AMK_OP_OPAQUE:
    amk_opaque(p, in, scratch);
    return true;
  }
  if (threadIdx.x == 0)
    amk_fail(p, AMK_BAD_OP, instruction, in, 0, in->op);
  return false;
}

// Floats of reduction scratch before the task staging area, which starts 16-byte aligned.
#define AMK_SCRATCH_FLOATS ((2 * AMK_WARPS + 4 + 3) & ~3)

// The certificate binding (docs/megakernel.md): nothing is interpreted unless the tape is the one the
// launch was certified for and the launch the one the tape was built for. Every thread reaches the
// same answer; on a mismatch thread 0 of each block records AMK_BAD_LAUNCH (the first record wins)
// and the whole grid returns before touching a buffer or a counter.
__device__ __forceinline__ unsigned int amk_dynamic_shared_bytes() {
  unsigned int bytes;
  asm("mov.u32 %0, %%dynamic_smem_size;" : "=r"(bytes));
  return bytes;
}

__device__ bool amk_launch_matches_tape(const AmkParams &p) {
  const AmkTapeHeader *h = (const AmkTapeHeader *)(p.tape - 1);
  unsigned int check = 0, got = 0, expected = 0, word = 0;
  if (h->magic != AMK_TAPE_MAGIC)
    check = AMK_CHECK_TAPE_MAGIC, got = h->magic, expected = AMK_TAPE_MAGIC;
  else if (h->version != AMK_TAPE_VERSION)
    check = AMK_CHECK_TAPE_VERSION, got = h->version, expected = AMK_TAPE_VERSION;
  else if (gridDim.x != h->blocks)
    check = AMK_CHECK_GRID, got = gridDim.x, expected = h->blocks;
  else if (p.blocks != h->blocks)
    check = AMK_CHECK_PARAMS_BLOCKS, got = p.blocks, expected = h->blocks;
  else if (blockDim.x != AMK_THREADS)
    check = AMK_CHECK_BLOCK_SIZE, got = blockDim.x, expected = AMK_THREADS;
  else if (h->threads != AMK_THREADS)
    check = AMK_CHECK_TAPE_THREADS, got = h->threads, expected = AMK_THREADS;
  else if (p.instructions != h->instructions)
    check = AMK_CHECK_TAPE_LENGTH, got = p.instructions, expected = h->instructions;
  else if (p.blockStart[p.blocks] != h->instructions)
    check = AMK_CHECK_BLOCK_OFFSETS, got = p.blockStart[p.blocks], expected = h->instructions;
  else if (p.ringBytes != 0 && p.ringOffset + p.ringBytes > amk_dynamic_shared_bytes())
    check = AMK_CHECK_RING, got = p.ringOffset + p.ringBytes, expected = amk_dynamic_shared_bytes();
  else {
    // Backwards, so that the first differing word is the one recorded.
#pragma unroll
    for (int w = AMK_CHECKER_HASH_WORDS - 1; w >= 0; --w)
      if (h->checkerHash[w] != p.checkerHash[w])
        check = AMK_CHECK_CHECKER_HASH, word = w, got = h->checkerHash[w], expected = p.checkerHash[w];
#pragma unroll
    for (int w = AMK_SCHEDULE_HASH_WORDS - 1; w >= 0; --w)
      if (h->scheduleHash[w] != p.scheduleHash[w])
        check = AMK_CHECK_SCHEDULE_HASH, word = w, got = h->scheduleHash[w], expected = p.scheduleHash[w];
  }
  if (check == 0)
    return true;
  if (threadIdx.x == 0 && atomicCAS(&p.error->code, AMK_OK, AMK_BAD_LAUNCH) == AMK_OK) {
    p.error->block = blockIdx.x;
    p.error->counter = word;
    p.error->observed = got;
    p.error->threshold = expected;
    p.error->value = (int)check;
  }
  return false;
}

// Thread 0, after the block barrier that ends the tasks before it: a signal. The barrier ordered
// every thread's writes before this thread's release (bar.sync), and the release reduction makes
// them visible to whoever acquires the counter: no further fence is needed (docs/megakernel.md,
// "Synchronisation").
__device__ __forceinline__ void amk_signal(const AmkParams &p, const AmkInstr *in) {
  amk_add_counter(p.counters + in->counter, in->amount, in->order);
}

// Thread 0, as tape instruction i of the block (starting at `begin`) begins: its index in the trace,
// then its delay, if any.
__device__ __forceinline__ void amk_instruction_start(const AmkParams &p, unsigned int i, unsigned int begin,
                                                      unsigned int &traced) {
  if (p.trace && traced < p.traceCapacity)
    p.trace[(unsigned long long)blockIdx.x * p.traceCapacity + traced] = i - begin;
  ++traced;
  if (p.delayNs && p.delayNs[i])
    __nanosleep(p.delayNs[i]);
}

extern "C" __global__ void __launch_bounds__(AMK_THREADS, 1) amk_megakernel(AmkParams p) {
  // Dynamic shared memory: [reduction scratch: AMK_SCRATCH_FLOATS words][task staging][weight ring
  // at p.ringOffset, p.ringBytes long].
  float *scratch = amk_shared, *smem = amk_shared + AMK_SCRATCH_FLOATS;
  // The instruction being executed, copied from the tape once: every thread reads its operands
  // from shared memory, and no store of a task can alias them. Two slots: the next record is copied
  // asynchronously while the current one executes.
  __shared__ __align__(16) AmkInstr records[2];
  __shared__ __align__(8) AmkStaging staging;
  __shared__ int stopped;
  if (!amk_launch_matches_tape(p))
    return; // AMK_BAD_LAUNCH is recorded: a grid or tape that disagrees is never interpreted
  const unsigned int begin = p.blockStart[blockIdx.x], end = p.blockStart[blockIdx.x + 1];
  unsigned int barriers = 0, traced = 0, slot = 0;
  if (threadIdx.x == 0)
    stopped = 0;
  amk_staging_init(&staging);
  if (begin < end)
    amk_record_fetch(&records[0], p.tape + begin);
  for (unsigned int i = begin; i < end; ++i) {
    const AmkInstr *in = &records[slot];
    unsigned long long started = 0;
    if (threadIdx.x == 0) {
      amk_instruction_start(p, i, begin, traced);
      if (p.stamps)
        started = amk_now_ns();
    }
    amk_record_wait();
    __syncthreads();
    // A task that carries its signal skips the signal's record.
    const bool folded = in->kind == AMK_TASK && in->folded;
    const unsigned int next = i + (folded ? 2 : 1);
    // The other slot was last read in the previous iteration, which every thread has left.
    slot ^= 1;
    if (next < end)
      amk_record_fetch(&records[slot], p.tape + next);
    if (threadIdx.x == 0)
      amk_issue_copies(p, in, &staging);
    switch (in->kind) {
    case AMK_TASK:
      if (!amk_task(p, in, i - begin, smem, scratch, &staging) && threadIdx.x == 0)
        stopped = 1;
      break;
    case AMK_SIGNAL:
      // Every thread's writes of the tasks before it were done before the barrier above.
      if (threadIdx.x == 0)
        amk_signal(p, in);
      break;
    case AMK_WAIT:
      if (threadIdx.x == 0 &&
          !amk_spin(p, p.counters + in->counter, in->amount, in->order, AMK_WAIT_TIMEOUT, i - begin, in))
        stopped = 1;
      amk_prefetch_hints(p, in);
      break;
    case AMK_BARRIER:
      ++barriers;
      if (threadIdx.x == 0) {
        amk_add_counter(p.barrier, 1, AMK_ORDER_GPU);
        if (!amk_spin(p, p.barrier, barriers * gridDim.x, AMK_ORDER_GPU, AMK_BARRIER_TIMEOUT, i - begin, in))
          stopped = 1;
      }
      amk_prefetch_hints(p, in);
      break;
    }
    __syncthreads();
    if (threadIdx.x == 0 && p.stamps) {
      p.stamps[2ull * i] = started;
      p.stamps[2ull * i + 1] = amk_now_ns();
    }
    if (stopped)
      break;
    if (folded) {
      // The signal of record i + 1, after the barrier above: every thread's writes of the task are done.
      ++i;
      if (threadIdx.x == 0) {
        amk_instruction_start(p, i, begin, traced);
        if (p.stamps)
          p.stamps[2ull * i] = amk_now_ns();
        amk_signal(p, in);
        if (p.stamps)
          p.stamps[2ull * i + 1] = amk_now_ns();
      }
    }
  }
  amk_record_wait(); // a block that stopped early may still be copying its next record
  amk_staging_drain(p, &staging);
  if (threadIdx.x == 0 && p.traceCount)
    p.traceCount[blockIdx.x] = traced < p.traceCapacity ? traced : p.traceCapacity;
}

#endif
