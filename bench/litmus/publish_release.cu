// GPU litmus test of the megakernel's publish pattern (docs/megakernel.md, "Synchronisation"):
// every thread of a producer block writes, the block passes a barrier, then thread 0 alone makes one
// release reduction on a counter; thread 0 of a consumer block spins with acquire loads until it sees
// the count, the block passes a barrier, and every thread reads what the producer block wrote. The
// pattern needs no SC fence; this program counts stale reads over many rounds and block pairs for:
//   release      the megakernel's signal: bar.sync, then red.release.gpu (no fence)
//   fence        the previous signal: bar.sync, fence.sc.gpu (__threadfence), then red.release.gpu
//   relaxed      a control without release semantics: bar.sync, then red.relaxed.gpu
// Expected: 0 stale reads for release and fence. The relaxed control is allowed to show stale reads
// (the PTX memory model gives it no ordering); whether this card shows them is reported, not assumed.
//
//   nvcc -O3 -arch=sm_90 bench/litmus/publish_release.cu -o publish_release && ./publish_release [rounds]
// Prints one TSV row per variant: variant, pairs, rounds, reads checked, stale reads, milliseconds.
#include <cooperative_groups.h>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

constexpr int kThreads = 256;
constexpr int kStride = 33; // words between two threads' data: every thread writes its own lines

enum Variant { kRelease = 0, kFence = 1, kRelaxed = 2 };

__device__ __forceinline__ void signal(unsigned int *counter, int variant) {
  if (variant == kFence)
    __threadfence();
  if (variant == kRelaxed)
    asm volatile("red.relaxed.gpu.global.add.u32 [%0], 1;" ::"l"(counter) : "memory");
  else
    asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(counter) : "memory");
}

__device__ __forceinline__ void wait(const unsigned int *counter, unsigned int target, int variant) {
  unsigned int v;
  do {
    if (variant == kRelaxed)
      asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(counter) : "memory");
    else
      asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(counter) : "memory");
  } while (v < target);
}

// Block 2k produces for block 2k + 1; `ready` counts published rounds, `done` consumed ones.
__global__ void __launch_bounds__(kThreads) litmus(unsigned int *data, unsigned int *ready, unsigned int *done,
                                                   unsigned long long *stale, int rounds, int variant) {
  const int pair = blockIdx.x / 2;
  const bool producer = blockIdx.x % 2 == 0;
  volatile unsigned int *mine = data + (size_t)pair * kThreads * kStride + threadIdx.x * kStride;
  __shared__ unsigned int bad;
  if (threadIdx.x == 0)
    bad = 0;
  __syncthreads();
  for (int r = 1; r <= rounds; ++r) {
    if (producer) {
      if (threadIdx.x == 0)
        wait(done + pair, r - 1, kRelease); // the consumer has read round r - 1
      __syncthreads();
      *mine = r;
      __syncthreads();
      if (threadIdx.x == 0)
        signal(ready + pair, variant);
    } else {
      if (threadIdx.x == 0)
        wait(ready + pair, r, variant);
      __syncthreads();
      if (*mine != (unsigned int)r)
        atomicAdd(&bad, 1);
      __syncthreads();
      if (threadIdx.x == 0)
        signal(done + pair, kRelease);
    }
  }
  __syncthreads();
  if (threadIdx.x == 0 && !producer)
    atomicAdd(stale, bad);
}

#define CHECK(call)                                                                                                    \
  do {                                                                                                                 \
    cudaError_t e = (call);                                                                                            \
    if (e != cudaSuccess) {                                                                                            \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e));                                                  \
      return 1;                                                                                                        \
    }                                                                                                                  \
  } while (0)

int main(int argc, char **argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 20000;
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  const int pairs = prop.multiProcessorCount / 2;
  unsigned int *data, *ready, *done;
  unsigned long long *stale;
  CHECK(cudaMalloc(&data, sizeof(unsigned int) * pairs * kThreads * kStride));
  CHECK(cudaMalloc(&ready, sizeof(unsigned int) * pairs));
  CHECK(cudaMalloc(&done, sizeof(unsigned int) * pairs));
  CHECK(cudaMalloc(&stale, sizeof(unsigned long long)));
  std::printf("# %s, %d SMs; %d block pairs, %d threads per block\n", prop.name, prop.multiProcessorCount, pairs,
              kThreads);
  std::printf("variant\tpairs\trounds\treads\tstale\tms\n");
  const char *names[] = {"release", "fence", "relaxed"};
  int failed = 0;
  for (int variant : {kRelease, kFence, kRelaxed}) {
    CHECK(cudaMemset(data, 0, sizeof(unsigned int) * pairs * kThreads * kStride));
    CHECK(cudaMemset(ready, 0, sizeof(unsigned int) * pairs));
    CHECK(cudaMemset(done, 0, sizeof(unsigned int) * pairs));
    CHECK(cudaMemset(stale, 0, sizeof(unsigned long long)));
    int r = rounds, v = variant;
    void *args[] = {&data, &ready, &done, &stale, &r, &v};
    cudaEvent_t start, stop;
    CHECK(cudaEventCreate(&start));
    CHECK(cudaEventCreate(&stop));
    CHECK(cudaEventRecord(start));
    // Cooperative: every block is resident, so the pairs' spins cannot starve each other.
    CHECK(cudaLaunchCooperativeKernel((void *)litmus, 2 * pairs, kThreads, args, 0, 0));
    CHECK(cudaEventRecord(stop));
    CHECK(cudaDeviceSynchronize());
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, start, stop));
    unsigned long long bad = 0;
    CHECK(cudaMemcpy(&bad, stale, sizeof bad, cudaMemcpyDeviceToHost));
    std::printf("%s\t%d\t%d\t%llu\t%llu\t%.1f\n", names[variant], pairs, rounds,
                (unsigned long long)pairs * rounds * kThreads, bad, ms);
    if (variant != kRelaxed && bad != 0)
      failed = 1;
  }
  return failed;
}
