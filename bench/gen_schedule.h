// Synthetic but realistic AMKIR schedules for benchmarking the front end and the checker: one decode
// step of a Llama-family model lowered onto a persistent grid of 132 blocks (one per H100 SM), as
// TEXT, so that parsing and elaboration are part of what is measured.
//
// The lowering mirrors what a real megakernel does: every matrix-vector product is cut into row
// tiles handed out round-robin over the blocks (tile t goes to block t % 132), stages are joined by
// monotonic counters (every block signals once per stage, consumers wait for all 132), the QKV
// projection publishes per-tile counters that the KV-cache and attention blocks wait on one by one,
// and the MLP is joined to the down projection by a grid barrier. Scratch buffers are reused across
// layers (write-after-read ordering comes from the same counters), except the QKV buffer, which is
// layer-indexed. Every schedule this file produces is safe; the benchmark asserts it.
#pragma once

#include <cstdint>
#include <string>

namespace amk::bench {

struct ModelShape {
  std::string name;         // "llama-3-8b"
  int64_t hidden = 0;       // D = heads * headDim
  int64_t heads = 0;        // query heads
  int64_t kvHeads = 0;      // key/value heads (grouped-query attention)
  int64_t headDim = 0;
  int64_t ffn = 0;          // MLP width
  int64_t vocab = 0;
  int64_t modelLayers = 0;  // layers of the real model (the schedule may use fewer or more)
  int64_t maxPositions = 0; // KV-cache length
};

ModelShape llama32_1b();
ModelShape llama3_8b();
ModelShape llama3_70b();

struct ScheduleShape {
  ModelShape model;
  int64_t layers = 1;
  int64_t tileRows = 32;     // rows per matvec / norm tile (divides hidden, ffn and headDim)
  int64_t lmTileRows = 256;  // rows per LM-head tile (divides vocab)
  int64_t blocks = 132;      // grid blocks = SMs, occupancy 1
};

struct GeneratedSchedule {
  std::string text;
  uint64_t instructions = 0; // elaborated instructions, all blocks (counted while generating)
  ScheduleShape shape;
};

// Throws std::invalid_argument when the tile sizes do not divide the model's dimensions.
GeneratedSchedule generateLlamaDecode(const ScheduleShape &shape);

// A model and tile size for about `targetInstructions` elaborated instructions, with the number of
// layers fitted to the target: < 50k a 1B-shaped model with 64-row tiles, < 400k an 8B-shaped one
// with 32-row tiles, otherwise a 70B-shaped one with 16-row tiles.
ScheduleShape shapeForTarget(uint64_t targetInstructions);

} // namespace amk::bench
