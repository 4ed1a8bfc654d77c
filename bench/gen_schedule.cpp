#include "bench/gen_schedule.h"

#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

namespace amk::bench {

ModelShape llama32_1b() { return {"llama-3.2-1b", 2048, 32, 8, 64, 8192, 128256, 16, 4096}; }
ModelShape llama3_8b() { return {"llama-3-8b", 4096, 32, 8, 128, 14336, 128256, 32, 4096}; }
ModelShape llama3_70b() { return {"llama-3-70b", 8192, 64, 8, 128, 28672, 128256, 80, 4096}; }

namespace {

std::string str(int64_t v) { return std::to_string(v); }

// Instructions of one block's contribution to a `blocks` section, with their elaborated count.
struct Body {
  std::vector<std::string> lines;
  uint64_t count = 0;

  Body &add(std::string instruction) {
    lines.push_back(std::move(instruction));
    ++count;
    return *this;
  }
  Body &append(const Body &other) {
    lines.insert(lines.end(), other.lines.begin(), other.lines.end());
    count += other.count;
    return *this;
  }
  // `for var in 0..trips { inner }`
  Body &loop(const std::string &var, int64_t trips, const Body &inner) {
    if (trips <= 0 || inner.lines.empty())
      return *this;
    if (trips == 1) {
      // Keep the loop anyway: the variable is bound in the inner lines.
      lines.push_back("for " + var + " in 0..1 {");
    } else {
      lines.push_back("for " + var + " in 0.." + str(trips) + " {");
    }
    for (const std::string &l : inner.lines)
      lines.push_back("  " + l);
    lines.push_back("}");
    count += static_cast<uint64_t>(trips) * inner.count;
    return *this;
  }
};

class Writer {
public:
  explicit Writer(int64_t blocks) : blocks_(blocks) {}

  void raw(const std::string &line) { out_ += indent_ + line + "\n"; }

  void beginFor(const std::string &var, int64_t trips) {
    raw("for " + var + " in 0.." + str(trips) + " {");
    indent_ += "  ";
    multiplier_ *= static_cast<uint64_t>(trips);
    trips_.push_back(static_cast<uint64_t>(trips));
  }
  void endFor() {
    indent_.resize(indent_.size() - 2);
    raw("}");
    multiplier_ /= trips_.back();
    trips_.pop_back();
  }

  // `blocks b in lo..hi { body }`
  void section(int64_t lo, int64_t hi, const Body &body) {
    if (hi <= lo || body.lines.empty())
      return;
    raw("blocks b in " + str(lo) + ".." + str(hi) + " {");
    for (const std::string &l : body.lines)
      raw("  " + l);
    raw("}");
    instructions_ += multiplier_ * static_cast<uint64_t>(hi - lo) * body.count;
  }
  void all(const Body &body) { section(0, blocks_, body); }

  // Tiles 0..tiles handed out round-robin: tile t goes to block t % blocks. `pre` runs on every
  // block before its tiles, `post` after them. perTile(tileExpression) is one tile's work.
  void tiled(int64_t tiles, const Body &pre, const std::function<Body(const std::string &)> &perTile,
             const Body &post) {
    const int64_t rounds = tiles / blocks_, rest = tiles % blocks_;
    Body first = pre;
    first.loop("j", rounds, perTile(str(blocks_) + "*j+b"));
    if (rest == 0) {
      first.append(post);
      all(first);
      return;
    }
    all(first);
    section(0, rest, perTile(rounds == 0 ? std::string("b") : "b+" + str(rounds * blocks_)));
    all(post);
  }

  std::string take() { return std::move(out_); }
  uint64_t instructions() const { return instructions_; }

private:
  int64_t blocks_;
  std::string out_;
  std::string indent_;
  uint64_t multiplier_ = 1;
  std::vector<uint64_t> trips_;
  uint64_t instructions_ = 0;
};

Body one(std::string instruction) {
  Body b;
  b.add(std::move(instruction));
  return b;
}

void require(bool ok, const std::string &what) {
  if (!ok)
    throw std::invalid_argument("generateLlamaDecode: " + what);
}

} // namespace

GeneratedSchedule generateLlamaDecode(const ScheduleShape &shape) {
  const ModelShape &m = shape.model;
  const int64_t B = shape.blocks, L = shape.layers, R = shape.tileRows, RV = shape.lmTileRows;
  const int64_t D = m.hidden, hd = m.headDim, H = m.heads, KVH = m.kvHeads, F = m.ffn, V = m.vocab;
  require(B >= 1 && L >= 1 && R >= 1 && RV >= 1, "blocks, layers and tile sizes must be positive");
  require(H * hd == D, "heads * headDim must equal hidden");
  require(KVH >= 1 && H % KVH == 0, "heads must be a multiple of kvHeads");
  require(H <= B && KVH <= B, "one block per attention head: heads must not exceed blocks");
  require(D % R == 0 && F % R == 0 && hd % R == 0, "tileRows must divide hidden, ffn and headDim");
  require(V % RV == 0, "lmTileRows must divide vocab");

  const int64_t G = H / KVH;               // query heads per KV head
  const int64_t QKV = D + 2 * KVH * hd;     // rows of the fused QKV projection: q, then k, then v
  const int64_t NH = D / R, NQ = QKV / R, NF = F / R, NV = V / RV; // tiles per stage
  const int64_t headTiles = hd / R;         // QKV tiles per head
  const std::string sB = str(B), sR = str(R), sRV = str(RV);

  // Row range of tile `t` (an expression) with `rows` rows per tile, offset by `base`.
  auto rows = [](int64_t rowsPerTile, const std::string &t, int64_t base = 0) {
    const bool simple = t.find_first_of("+-*") == std::string::npos;
    std::string start = str(rowsPerTile) + "*" + (simple ? t : "(" + t + ")") + (base ? "+" + str(base) : "");
    return start + " : " + start + "+" + str(rowsPerTile);
  };
  const std::string rope = " head_dim=" + str(hd) + " theta=5e+05 scaling=\"llama3\"";

  Writer w(B);
  w.raw("amkir 1");
  w.raw("# Generated by amk-bench-checker (bench/gen_schedule.cpp): one decode step of a " + m.name +
        "-shaped model,");
  w.raw("# " + str(L) + " layers, " + str(R) + "-row tiles round-robin over " + sB + " blocks.");
  w.raw("target sm_90 sms=132");
  w.raw("grid blocks=" + sB + " threads=256 occupancy=1");
  w.raw("meta model=\"" + m.name + "\" layers=" + str(L) + " hidden=" + str(D) + " heads=" + str(H) +
        " kv_heads=" + str(KVH) + " head_dim=" + str(hd) + " ffn=" + str(F) + " vocab=" + str(V) +
        " tile_rows=" + sR);
  w.raw("");
  w.raw("param emb : bf16[" + str(V) + ", " + str(D) + "]");
  w.raw("param ln_attn : bf16[" + str(L) + ", " + str(D) + "]");
  w.raw("param w_qkv : bf16[" + str(L) + ", " + str(QKV) + ", " + str(D) + "]");
  w.raw("param wo : bf16[" + str(L) + ", " + str(D) + ", " + str(D) + "]");
  w.raw("param ln_mlp : bf16[" + str(L) + ", " + str(D) + "]");
  w.raw("param w_gate : bf16[" + str(L) + ", " + str(F) + ", " + str(D) + "]");
  w.raw("param w_up : bf16[" + str(L) + ", " + str(F) + ", " + str(D) + "]");
  w.raw("param w_down : bf16[" + str(L) + ", " + str(D) + ", " + str(F) + "]");
  w.raw("param ln_final : bf16[" + str(D) + "]");
  w.raw("param lm_head : bf16[" + str(V) + ", " + str(D) + "]");
  w.raw("input tok : i32[1]");
  w.raw("input pos : i32[1]");
  w.raw("state kc : bf16[" + str(L) + ", " + str(KVH) + ", " + str(m.maxPositions) + ", " + str(hd) + "]");
  w.raw("state vc : bf16[" + str(L) + ", " + str(KVH) + ", " + str(m.maxPositions) + ", " + str(hd) + "]");
  w.raw("scratch h : f32[" + str(D) + "]      # residual stream, updated in place");
  w.raw("scratch xn : f32[" + str(D) + "]     # normalised input of the current stage (reused)");
  w.raw("scratch qkv : f32[" + str(L) + ", " + str(QKV) + "]  # layer-indexed");
  w.raw("scratch attn : f32[" + str(D) + "]");
  w.raw("scratch gate : f32[" + str(F) + "]");
  w.raw("scratch up : f32[" + str(F) + "]");
  w.raw("scratch act : f32[" + str(F) + "]");
  w.raw("scratch amax : f32[" + str(NV) + ", 2]  # per-tile partial argmax (value, index)");
  w.raw("output logits : f32[" + str(V) + "]");
  w.raw("output next_token : i32[1]");
  w.raw("counter resid[" + str(L + 1) + "]    # resid[l]: the residual entering layer l is complete");
  w.raw("counter normed[" + str(2 * L) + "]   # normed[2l]: attention norm, normed[2l+1]: MLP norm");
  w.raw("counter qtile[" + str(L * NQ) + "]  # one per QKV tile");
  w.raw("counter stored[" + str(L * KVH) + "]  # KV head roped and stored in the cache");
  w.raw("counter attended[" + str(L) + "]");
  w.raw("counter mid[" + str(L) + "]");
  w.raw("counter final_normed");
  w.raw("counter scored");
  w.raw("");

  const Body none;
  // Embedding: each block copies its hidden tiles of the token's row.
  w.tiled(
      NH, none, [&](const std::string &t) { return one("embed h[" + rows(R, t) + "] <- emb[:, " + rows(R, t) + "], tok"); },
      one("signal resid[0]"));

  w.beginFor("l", L);
  // 1. Attention RMSNorm: reads the whole residual, writes its tiles of xn.
  w.tiled(
      NH, one("wait resid[l] >= " + sB),
      [&](const std::string &t) {
        return one("rmsnorm xn[" + rows(R, t) + "] <- h, ln_attn[l, " + rows(R, t) + "] eps=1e-05");
      },
      one("signal normed[2*l]"));
  // 2. QKV projection, one counter per tile.
  w.tiled(
      NQ, one("wait normed[2*l] >= " + sB),
      [&](const std::string &t) {
        Body b;
        b.add("matvec qkv[l, " + rows(R, t) + "] <- w_qkv[l, " + rows(R, t) + ", :], xn");
        b.add("signal qtile[" + str(NQ) + "*l+" + t + "]");
        return b;
      },
      none);
  // 3a. KV heads: wait for the head's k and v tiles, rope k, store both in the cache.
  {
    Body kv, waitK, waitV;
    waitK.add("wait qtile[" + str(NQ) + "*l+" + str(D / R) + "+" + str(headTiles) + "*b+t] >= 1");
    waitV.add("wait qtile[" + str(NQ) + "*l+" + str((D + KVH * hd) / R) + "+" + str(headTiles) + "*b+t] >= 1");
    kv.loop("t", headTiles, waitK).loop("t", headTiles, waitV);
    std::string k = "qkv[l, " + str(hd) + "*b+" + str(D) + " : " + str(hd) + "*b+" + str(D + hd) + "]";
    std::string v = "qkv[l, " + str(hd) + "*b+" + str(D + KVH * hd) + " : " + str(hd) + "*b+" + str(D + KVH * hd + hd) + "]";
    kv.add("rope " + k + " <- " + k + ", pos" + rope);
    kv.add("kv_store kc[l, b, :, :] <- " + k + ", pos");
    kv.add("kv_store vc[l, b, :, :] <- " + v + ", pos");
    kv.add("signal stored[" + str(KVH) + "*l+b]");
    w.section(0, KVH, kv);
  }
  // 3b. Attention, one query head per block: wait for the head's q tiles and its KV head.
  {
    Body att, waitQ;
    waitQ.add("wait qtile[" + str(NQ) + "*l+" + str(headTiles) + "*b+t] >= 1");
    att.loop("t", headTiles, waitQ);
    att.add("wait stored[" + str(KVH) + "*l+b/" + str(G) + "] >= 1");
    std::string q = "qkv[l, " + str(hd) + "*b : " + str(hd) + "*b+" + str(hd) + "]";
    att.add("rope " + q + " <- " + q + ", pos" + rope);
    att.add("attention attn[" + str(hd) + "*b : " + str(hd) + "*b+" + str(hd) + "] <- " + q + ", kc[l, b/" + str(G) +
            ", :, :], vc[l, b/" + str(G) + ", :, :], pos");
    att.add("signal attended[l]");
    w.section(0, H, att);
  }
  // 4. Output projection with the residual fused, in place on h.
  w.tiled(
      NH, one("wait attended[l] >= " + str(H)),
      [&](const std::string &t) {
        return one("matvec_add h[" + rows(R, t) + "] <- wo[l, " + rows(R, t) + ", :], attn, h[" + rows(R, t) + "]");
      },
      one("signal mid[l]"));
  // 5. MLP RMSNorm.
  w.tiled(
      NH, one("wait mid[l] >= " + sB),
      [&](const std::string &t) {
        return one("rmsnorm xn[" + rows(R, t) + "] <- h, ln_mlp[l, " + rows(R, t) + "] eps=1e-05");
      },
      one("signal normed[2*l+1]"));
  // 6. Gate and up projections and the SiLU product, then a grid barrier: the down projection
  //    reads the whole activation.
  w.tiled(
      NF, one("wait normed[2*l+1] >= " + sB),
      [&](const std::string &t) {
        Body b;
        b.add("matvec gate[" + rows(R, t) + "] <- w_gate[l, " + rows(R, t) + ", :], xn");
        b.add("matvec up[" + rows(R, t) + "] <- w_up[l, " + rows(R, t) + ", :], xn");
        b.add("silu_mul act[" + rows(R, t) + "] <- gate[" + rows(R, t) + "], up[" + rows(R, t) + "]");
        return b;
      },
      one("barrier"));
  // 7. Down projection with the residual fused.
  w.tiled(
      NH, none,
      [&](const std::string &t) {
        return one("matvec_add h[" + rows(R, t) + "] <- w_down[l, " + rows(R, t) + ", :], act, h[" + rows(R, t) + "]");
      },
      one("signal resid[l+1]"));
  w.endFor();

  // Final norm, LM head with a per-tile partial argmax, and the merge on block 0.
  w.tiled(
      NH, one("wait resid[" + str(L) + "] >= " + sB),
      [&](const std::string &t) { return one("rmsnorm xn[" + rows(R, t) + "] <- h, ln_final[" + rows(R, t) + "] eps=1e-05"); },
      one("signal final_normed"));
  w.tiled(
      NV, one("wait final_normed >= " + sB),
      [&](const std::string &t) {
        Body b;
        b.add("matvec logits[" + rows(RV, t) + "] <- lm_head[" + rows(RV, t) + ", :], xn");
        b.add("opaque amax[" + t + ", :] <- logits[" + rows(RV, t) + "] name=\"partial_argmax\"");
        return b;
      },
      one("signal scored"));
  {
    Body merge;
    merge.add("wait scored >= " + sB);
    merge.add("opaque next_token <- amax name=\"argmax_merge\"");
    w.section(0, 1, merge);
  }

  GeneratedSchedule out;
  out.instructions = w.instructions();
  out.text = w.take();
  out.shape = shape;
  return out;
}

ScheduleShape shapeForTarget(uint64_t targetInstructions) {
  ScheduleShape shape;
  if (targetInstructions < 50'000) {
    shape.model = llama32_1b();
    shape.tileRows = 64;
  } else if (targetInstructions < 400'000) {
    shape.model = llama3_8b();
    shape.tileRows = 32;
  } else {
    shape.model = llama3_70b();
    shape.tileRows = 16;
  }
  // Instructions are affine in the layer count: fit it from one and two layers.
  shape.layers = 1;
  const uint64_t one = generateLlamaDecode(shape).instructions;
  shape.layers = 2;
  const uint64_t perLayer = generateLlamaDecode(shape).instructions - one;
  const uint64_t fixed = one - perLayer;
  int64_t layers = 1;
  if (targetInstructions > fixed)
    layers = static_cast<int64_t>((targetInstructions - fixed + perLayer / 2) / perLayer);
  shape.layers = layers < 1 ? 1 : layers;
  return shape;
}

} // namespace amk::bench
