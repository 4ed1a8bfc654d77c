#!/usr/bin/env python3
"""The torch baselines a user would pick for batch-1 decode, timed over the model's own weights, and the
HBM floor of the same weights. Runs on the GPU machine (torch, transformers); nothing is downloaded.

    python3 scripts/torch_decode_bench.py models/smollm2-135m --kv 1,1024 --steps 200 --json out.json
    python3 scripts/torch_decode_bench.py models/smollm2-135m --check-only-cpu      # no GPU: checks only

The model is the random-weight checkpoint scripts/hf_greedy.py draws (same seed, bf16). Two baselines:

  hf_static_compile  HF transformers' own LlamaForCausalLM, decoding as transformers documents fast decoding
                     ("Optimizing inference": static kv-cache and torch.compile): an explicit StaticCache of
                     --max-len positions and torch.compile(model.forward, mode="reduce-overhead",
                     fullgraph=True), whose CUDA graphs (cudagraph trees) replay the step. The compiled bound
                     method is called directly rather than assigned to model.forward (the same function; the
                     model stays eager for the references and the prefill). HF's step attends over all
                     --max-len static positions under a mask: that is how its StaticCache works.
  torch_step_graph   a hand-written Llama step over the same weight tensors: bf16 throughout, q|k|v and
                     gate|up weights concatenated (one matvec each), attention by
                     torch.nn.functional.scaled_dot_product_attention over the live KV positions 0..L-1 only,
                     GQA without repeating K/V (enable_gqa=True where torch has it, else the query heads of a
                     group folded into the query-length axis: --gqa), torch.compile(fullgraph=True,
                     dynamic=False) and one CUDA graph per KV length. The live length is static in each graph,
                     so a user would capture one graph per length bucket; here there is one per --kv length.

"best torch" at a KV length is the faster of the two that passed their checks there. A baseline is timed
only after its logits agree with HF's own forward (greedy argmax and relative error): over a short prompt
decoded one token at a time (hf_static_compile compiled; torch_step_graph eagerly, the same code), and at
each timed KV length L on the exact object that is timed (HF's compiled forward at position L-1 with its
cache prefilled by HF over L-1 random tokens; the step's captured graph with its KV cache filled by its own
eager steps), for several last tokens, against HF's own eager decode of the same L tokens (one token per
forward, DynamicCache). A baseline that fails its check or does not compile is reported as failed (its error
in the record, its times null, exit 1); it is never replaced by something else.

Measured, each as the median of --steps launches after --warmup launches, CUDA events around each:
  - each baseline, one decode step at KV length L for each L of --kv (the step at position L-1; repeated
    launches overwrite the same cache slot, so they are idempotent: HF's cache counters are set back to
    L-1 before each launch, outside the events);
  - the HBM floor: the weight bytes (tied embeddings once) over the device-to-device copy bandwidth
    measured in the same run (a 1 GiB copy; bandwidth counts the bytes read and written).
hf_static_compile's events enclose the call of the compiled function (cudagraph trees copy the token and
position into the graph's inputs, then replay); torch_step_graph's enclose graph.replay().

--check-only-cpu builds everything on the CPU and runs the checks only, eagerly (--cpu-compile: also
through torch.compile, without CUDA graphs), at small KV lengths (--kv, default 1,16); nothing is timed.
"""
import argparse
import copy
import inspect
import json
import logging
import pathlib
import statistics
import sys
import time
import traceback

import torch
import torch.nn.functional as F

DEVICE = "cuda"

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from hf_greedy import build  # noqa: E402

# A baseline agrees with HF when at most one argmax of a check differs and no row's logits are further
# than this from HF's (relative L2 error; bf16 against bf16 with other rounding lands at 1-3 %).
MAX_REL_ERR = 0.05
CHECK_TOKENS = 6  # positions of the prompt check, last tokens of each KV-length check


def copy_bandwidth(repeats=20, nbytes=1 << 30):
    src = torch.empty(nbytes, dtype=torch.uint8, device=DEVICE)
    dst = torch.empty_like(src)
    times = []
    for i in range(repeats + 3):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        stop.record()
        stop.synchronize()
        if i >= 3:
            times.append(start.elapsed_time(stop) / 1e3)
    del src, dst
    return 2 * nbytes / statistics.median(times)


def compare(ours, reference):
    """Rows of logits against HF's: the largest relative L2 error, argmax agreement, and the verdict."""
    ours, reference = ours.float(), reference.float()
    rel = float(((ours - reference).norm(dim=-1) / reference.norm(dim=-1)).max())
    agree = int((ours.argmax(-1) == reference.argmax(-1)).sum())
    rows = reference.shape[0]
    return {"rows": rows, "max_logits_rel_err": rel, "argmax_agree": agree,
            "ok": agree >= rows - 1 and rel < MAX_REL_ERR}


def require(check, what):
    if not check["ok"]:
        raise RuntimeError(f"{what} disagrees with HF: rel err {check['max_logits_rel_err']:.3g}, "
                           f"argmax {check['argmax_agree']}/{check['rows']}")


def error_text(e):
    """The failure as the record keeps it: type, message and the innermost frames."""
    frames = traceback.format_exception(type(e), e, e.__traceback__)
    return (f"{type(e).__name__}: {str(e)[:2000]}\n" + "".join(frames)[-3000:]).strip()


def sdpa_has_enable_gqa():
    q = torch.zeros(1, 2, 1, 8)
    k = torch.zeros(1, 1, 2, 8)
    try:
        F.scaled_dot_product_attention(q, k, k, enable_gqa=True)
        return True
    except TypeError:
        return False


def raise_recompile_limit(count):
    """One compiled specialisation per KV length: let dynamo keep them all (the knob's name varies)."""
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), count + 8))


def mark_step():
    """Tell cudagraph trees a new step begins, so earlier outputs may be overwritten (newer torch)."""
    begin = getattr(torch.compiler, "cudagraph_mark_step_begin", None)
    if begin is not None:
        begin()


class CudagraphSkips(logging.Handler):
    """Counts and keeps inductor's "skipping cudagraphs due to ..." reports while installed: under
    mode="reduce-overhead" a skipped graph runs the compiled kernels one launch at a time, so the record
    says whether CUDA graphs were used."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []
        self.logger = logging.getLogger("torch")

    def emit(self, record):
        message = record.getMessage()
        if "skipping cudagraphs" in message and message[:500] not in self.messages:
            self.messages.append(message[:500])

    def count(self):
        from torch._dynamo.utils import counters
        return int(counters["inductor"]["cudagraph_skips"])

    def __enter__(self):
        self.before = self.count()
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.skips = self.count() - self.before


def time_launches(launch, before, warmup, steps):
    """Median microseconds of `launch` between CUDA events; `before` runs first each time, untimed."""
    times = []
    for i in range(warmup + steps):
        before()
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        launch()
        stop.record()
        stop.synchronize()
        if i >= warmup:
            times.append(start.elapsed_time(stop) * 1e3)
    return statistics.median(times)


# ---------------------------------------------------------------------------------------------------
# HF's own forward: the references.


def hf_logits(model, prompt):
    """HF's logits at each prompt position, one token per forward with a DynamicCache (sdpa)."""
    import transformers
    cache = transformers.DynamicCache()
    rows = []
    with torch.no_grad():
        for position, token in enumerate(prompt):
            out = model(torch.tensor([[token]], device=DEVICE), past_key_values=cache, use_cache=True,
                        position_ids=torch.tensor([[position]], device=DEVICE))
            cache = out.past_key_values
            rows.append(out.logits[0, -1].float())
    return torch.stack(rows)


def hf_decode_references(model, prefix, candidates, lengths):
    """For each KV length L, HF's logits after decoding prefix[:L-1] and then each candidate token at
    position L-1: one token per forward with a DynamicCache, as hf_logits (a copy of the cache per
    candidate)."""
    import transformers
    cache = transformers.DynamicCache()
    references, position = {}, 0

    def decode(token, at, past):
        return model(torch.tensor([[token]], device=DEVICE), past_key_values=past, use_cache=True,
                     position_ids=torch.tensor([[at]], device=DEVICE)).logits[0, -1].float()

    with torch.no_grad():
        for live in sorted(set(lengths)):
            while position < live - 1:
                decode(prefix[position], position, cache)
                position += 1
            references[live] = torch.stack([decode(token, live - 1, copy.deepcopy(cache)) for token in candidates])
    return references


# ---------------------------------------------------------------------------------------------------
# Baseline (a): HF's model with a StaticCache under torch.compile.


def make_static_cache(model, max_len):
    """A StaticCache of max_len positions, for the transformers at hand: its constructor lost
    max_batch_size, device and dtype in v5 (layers allocate lazily), and named the batch batch_size once."""
    from transformers import StaticCache
    params = inspect.signature(StaticCache.__init__).parameters
    kwargs = {"config": model.config, "max_cache_len": max_len}
    for name in ("max_batch_size", "batch_size"):
        if name in params:
            kwargs[name] = 1
            break
    if "device" in params:
        kwargs["device"] = model.device
    if "dtype" in params:
        kwargs["dtype"] = model.dtype
    return StaticCache(**kwargs)


class HfStatic:
    """HF's decode step at a chosen position through one StaticCache, compiled or eager."""

    def __init__(self, model, max_len, compile_mode):
        config = model.config
        self.model = model
        self.cache = make_static_cache(model, max_len)
        self.takes_cache_position = "cache_position" in inspect.signature(model.forward).parameters
        self.takes_logits_to_keep = "logits_to_keep" in inspect.signature(model.forward).parameters
        # Allocate the cache's tensors outside any compiled region: transformers marks them static there,
        # which cudagraphs need (a cache first allocated while tracing would not be).
        heads = config.num_key_value_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        early = getattr(self.cache, "early_initialization", None)
        if early is not None and {"batch_size", "num_heads", "head_dim", "dtype", "device"} <= set(
                inspect.signature(early).parameters):
            early(batch_size=1, num_heads=heads, head_dim=head_dim, dtype=model.dtype, device=model.device)
            self.initialised_by = "early_initialization"
        else:
            self.prefill([0])
            self.initialised_by = "one eager token"
        self.cache.reset()
        # transformers 5 writes a layer's next slot at its cumulative_length (a device tensor the compiled
        # graph reads), older versions at the cache_position argument; seek() sets whichever there is.
        self.counters = [layer.cumulative_length for layer in getattr(self.cache, "layers", [])
                         if isinstance(getattr(layer, "cumulative_length", None), torch.Tensor)]
        if not self.counters and not self.takes_cache_position:
            raise RuntimeError("cannot place a decode step at a position with this transformers' StaticCache "
                               "(no layer cumulative_length, no cache_position argument)")
        self.input_ids = torch.zeros(1, 1, dtype=torch.long, device=model.device)
        self.position_ids = torch.zeros(1, 1, dtype=torch.long, device=model.device)
        self.cache_position = torch.zeros(1, dtype=torch.long, device=model.device)
        self.compile_mode = compile_mode
        self.forward = (torch.compile(model.forward, mode=compile_mode, fullgraph=True)
                        if compile_mode is not None else model.forward)

    def mode(self):
        compiled = (f"torch.compile(model.forward, mode={self.compile_mode!r}, fullgraph=True)"
                    if self.compile_mode is not None else "eager model.forward")
        seek = "layer cumulative_length" if self.counters else "cache_position"
        return (f"transformers StaticCache ({self.initialised_by}), {compiled}, attention "
                f"{self.model.config._attn_implementation}, slot set by {seek}")

    def prefill(self, tokens):
        """HF's eager forward over tokens from position 0 through the cache (the cache must be empty)."""
        n = len(tokens)
        kwargs = {"input_ids": torch.tensor([list(tokens)], device=self.model.device),
                  "position_ids": torch.arange(n, device=self.model.device)[None],
                  "past_key_values": self.cache, "use_cache": True}
        if self.takes_cache_position:
            kwargs["cache_position"] = torch.arange(n, device=self.model.device)
        if self.takes_logits_to_keep:
            kwargs["logits_to_keep"] = 1
        self.model.forward(**kwargs)

    def seek(self, position, token):
        """The next step decodes `token` at `position`, over a cache holding positions 0..position-1."""
        for counter in self.counters:
            counter.fill_(position)
        self.position_ids.fill_(position)
        self.cache_position.fill_(position)
        self.input_ids.fill_(token)

    def step(self):
        mark_step()
        kwargs = {"input_ids": self.input_ids, "position_ids": self.position_ids,
                  "past_key_values": self.cache, "use_cache": True}
        if self.takes_cache_position:
            kwargs["cache_position"] = self.cache_position
        return self.forward(**kwargs).logits[0, -1]

    def logits_at(self, position, token):
        self.seek(position, token)
        return self.step().float()  # a copy: cudagraph trees reuse the output buffer


# ---------------------------------------------------------------------------------------------------
# Baseline (b): the hand-written step.


class Step:
    """One Llama decode step over the HF model's weights, in the model's dtype; KV cache updated in place,
    attention over the live positions only."""

    def __init__(self, model, max_len, gqa):
        config = model.config
        self.layers = []
        with torch.no_grad():
            for layer in model.model.layers:
                a, m = layer.self_attn, layer.mlp
                self.layers.append((layer.input_layernorm.weight,
                                    torch.cat((a.q_proj.weight, a.k_proj.weight, a.v_proj.weight)),
                                    a.o_proj.weight, layer.post_attention_layernorm.weight,
                                    torch.cat((m.gate_proj.weight, m.up_proj.weight)), m.down_proj.weight))
        self.embed = model.model.embed_tokens.weight
        self.norm = model.model.norm.weight
        self.lm_head = model.lm_head.weight
        self.eps = config.rms_norm_eps
        self.heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.intermediate = config.intermediate_size
        self.gqa = gqa
        self.max_len = max_len
        device, dtype = self.embed.device, self.embed.dtype
        shape = (len(self.layers), 1, self.kv_heads, max_len, self.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        # HF's own rotary embedding (rope scaling included), tabulated for every position.
        positions = torch.arange(max_len, device=device)[None]
        probe = torch.zeros(1, max_len, self.head_dim, dtype=dtype, device=device)
        with torch.no_grad():
            cos, sin = model.model.rotary_emb(probe, positions)
        self.cos, self.sin = cos[0], sin[0]  # [max_len, head_dim]

    def rms(self, x, w):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return w * xf.to(x.dtype)

    def rope(self, x, cos, sin):
        half = self.head_dim // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def attend(self, q, keys, values):
        # q [1, heads, 1, d]; keys, values [1, kv_heads, live, d]: views of the cache, never repeated.
        if self.gqa == "enable_gqa":
            out = F.scaled_dot_product_attention(q, keys, values, enable_gqa=self.heads != self.kv_heads)
        else:  # fold: a group's query heads (heads g*group .. g*group+group-1 share kv head g, as in HF)
            group = self.heads // self.kv_heads
            out = F.scaled_dot_product_attention(q.reshape(1, self.kv_heads, group, self.head_dim), keys, values)
        return out.reshape(1, self.heads * self.head_dim)

    def __call__(self, tok, pos, live):
        """tok, pos: int64 tensors of shape [1]; live: the KV length, pos + 1 (a Python int, static)."""
        x = self.embed[tok]  # [1, hidden]
        cos, sin = self.cos[pos], self.sin[pos]  # [1, head_dim]
        q_size, kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        for i, (ln1, wqkv, wo, ln2, wgu, wd) in enumerate(self.layers):
            qkv = self.rms(x, ln1) @ wqkv.t()
            q = qkv[:, :q_size].view(1, self.heads, 1, self.head_dim)
            k = qkv[:, q_size:q_size + kv_size].view(1, self.kv_heads, 1, self.head_dim)
            v = qkv[:, q_size + kv_size:].view(1, self.kv_heads, 1, self.head_dim)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            self.k[i].index_copy_(2, pos, k)
            self.v[i].index_copy_(2, pos, v)
            x = x + self.attend(q, self.k[i, :, :, :live], self.v[i, :, :, :live]) @ wo.t()
            gate, up = (self.rms(x, ln2) @ wgu.t()).split(self.intermediate, dim=-1)
            x = x + (F.silu(gate) * up) @ wd.t()
        return self.rms(x, self.norm) @ self.lm_head.t()  # [1, vocab]

    def eager(self, token, position):
        device = self.embed.device
        return self(torch.tensor([token], device=device), torch.tensor([position], device=device), position + 1)


class StepGraph:
    """The step at one KV length, compiled and captured in one CUDA graph (or compiled / eager on the CPU);
    tok and pos are its static inputs."""

    def __init__(self, step, live, compile_step, capture):
        device = step.embed.device
        self.tok = torch.zeros(1, dtype=torch.long, device=device)
        self.pos = torch.full((1,), live - 1, dtype=torch.long, device=device)

        def step_at(tok, pos):
            return step(tok, pos, live)

        fn = torch.compile(step_at, fullgraph=True, dynamic=False) if compile_step else step_at
        self.graph = None
        if capture:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):
                    fn(self.tok, self.pos)
            torch.cuda.current_stream().wait_stream(side)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.logits = fn(self.tok, self.pos)
        self.fn = fn

    def launch(self):
        if self.graph is not None:
            self.graph.replay()
        else:
            self.logits = self.fn(self.tok, self.pos)

    def logits_for(self, token):
        self.tok.fill_(token)
        self.launch()
        return self.logits[0].float().clone()


# ---------------------------------------------------------------------------------------------------
# Running the baselines: check, then time.


PROGRESS = False
STARTED = time.perf_counter()


def progress(stage):
    """One line per stage on stderr, with the seconds since the start, when asked (--verbose) or on a terminal."""
    if PROGRESS:
        print(f"torch_decode_bench: {time.perf_counter() - STARTED:7.1f} s: {stage}", file=sys.stderr, flush=True)


def run_step_baseline(model, args, prompt, prompt_reference, prefix, candidates, references, on_gpu, compile_step):
    """Baseline (b). Returns its record; raises nothing (a failure is recorded)."""
    gqa = args.gqa if args.gqa != "auto" else ("enable_gqa" if sdpa_has_enable_gqa() else "fold")
    compiled = "torch.compile(fullgraph=True, dynamic=False)" if compile_step else "eager"
    record = {"mode": (f"hand-written step, {model.dtype} throughout, sdpa over the live KV positions, GQA by "
                       f"{gqa}, qkv and gate|up weights concatenated, {compiled}"
                       + (", one CUDA graph per KV length" if on_gpu else "")),
              "gqa": gqa, "status": "failed", "error": None, "checks": {}, "step_us": {}}
    started = time.perf_counter()
    try:
        with torch.no_grad():
            step = Step(model, args.max_len, gqa)
            # The same code eagerly over the short prompt, each step writing its own cache slot.
            ours = torch.stack([step.eager(token, i)[0].float() for i, token in enumerate(prompt)])
            record["checks"]["prompt_eager"] = compare(ours, prompt_reference)
            require(record["checks"]["prompt_eager"], "the eager step over the prompt")
            # The cache for every KV length: the step's own eager decode of the prefix. Lengths are run
            # longest first, so that a timed step's write at L-1 never lands in a longer length's prefix.
            for position, token in enumerate(prefix[:max(args.kv) - 1]):
                step.eager(token, position)
            raise_recompile_limit(len(args.kv))
            for live in sorted(args.kv, reverse=True):
                progress(f"torch_step_graph: compiling and checking KV length {live}")
                graph = StepGraph(step, live, compile_step, capture=on_gpu)
                ours = torch.stack([graph.logits_for(token) for token in candidates])
                check = compare(ours, references[live])
                eager = torch.stack([step.eager(token, live - 1)[0].float() for token in candidates])
                check["vs_eager_max_rel_err"] = float(((ours - eager).norm(dim=-1) / eager.norm(dim=-1)).max())
                record["checks"][f"kv{live}"] = check
                require(check, f"the step at KV length {live}")
                if on_gpu:
                    graph.tok.fill_(candidates[0])
                    record["step_us"][str(live)] = time_launches(graph.launch, lambda: None, args.warmup, args.steps)
                del graph
        record["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - recorded, and the run exits 1
        record["error"] = error_text(e)
        record["step_us"] = {}
        print(f"torch_decode_bench: torch_step_graph failed: {type(e).__name__}: {str(e)[:500]}", file=sys.stderr)
    record["seconds"] = time.perf_counter() - started
    return record


def run_hf_baseline(model, args, prompt, prompt_reference, prefix, candidates, references, on_gpu, compile_mode):
    """Baseline (a). Returns its record; raises nothing (a failure is recorded)."""
    record = {"mode": None, "status": "failed", "error": None, "checks": {}, "step_us": {}}
    started = time.perf_counter()
    skips = CudagraphSkips()
    try:
        with torch.no_grad(), skips:
            hf = HfStatic(model, args.max_len, compile_mode)
            record["mode"] = hf.mode()
            # Decode the prompt one token at a time through the (compiled) forward and the cache.
            ours = torch.stack([hf.logits_at(i, token) for i, token in enumerate(prompt)])
            record["checks"]["prompt"] = compare(ours, prompt_reference)
            require(record["checks"]["prompt"], "HF's static-cache forward over the prompt")
            for live in sorted(args.kv, reverse=True):
                progress(f"hf_static_compile: checking and timing KV length {live}")
                hf.cache.reset()
                if live > 1:
                    hf.prefill(prefix[:live - 1])
                ours = torch.stack([hf.logits_at(live - 1, token) for token in candidates])
                record["checks"][f"kv{live}"] = compare(ours, references[live])
                require(record["checks"][f"kv{live}"], f"HF's static-cache forward at KV length {live}")
                if on_gpu:
                    record["step_us"][str(live)] = time_launches(
                        hf.step, lambda: hf.seek(live - 1, candidates[0]), args.warmup, args.steps)
        record["status"] = "ok"
    except Exception as e:  # noqa: BLE001 - recorded, and the run exits 1
        record["error"] = error_text(e)
        record["step_us"] = {}
        print(f"torch_decode_bench: hf_static_compile failed: {type(e).__name__}: {str(e)[:500]}", file=sys.stderr)
    if compile_mode is not None:
        record["cudagraph_skips"] = skips.skips
        record["cudagraph_skip_reasons"] = skips.messages
        if on_gpu and skips.skips:
            print(f"torch_decode_bench: hf_static_compile ran without CUDA graphs in {skips.skips} compiled "
                  f"graph(s): {skips.messages}", file=sys.stderr)
    record["seconds"] = time.perf_counter() - started
    return record


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config_dir")
    parser.add_argument("--kv", help="KV lengths to time at (comma-separated; default 1,1024, on the CPU 1,16)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--max-len", type=int, default=2048, help="static cache positions (both baselines)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--gqa", choices=["auto", "enable_gqa", "fold"], default="auto",
                        help="the step's GQA attention: sdpa's enable_gqa, or the group's query heads folded "
                             "into the query length; auto: enable_gqa where this torch has it")
    parser.add_argument("--only", choices=["hf_static_compile", "torch_step_graph"],
                        help="run one baseline only (the other is recorded as not run)")
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--verbose", action="store_true",
                        help="print each stage and its elapsed time to stderr (also when stderr is a terminal)")
    parser.add_argument("--check-only-cpu", action="store_true",
                        help="build both baselines on the CPU and check them against HF, eagerly; nothing is timed")
    parser.add_argument("--cpu-compile", action="store_true",
                        help="with --check-only-cpu: check both through torch.compile as well (slow)")
    args = parser.parse_args()
    global DEVICE
    on_gpu = not args.check_only_cpu
    DEVICE = "cuda" if on_gpu else "cpu"
    args.kv = [int(k) for k in (args.kv or ("1,1024" if on_gpu else "1,16")).split(",")]
    if min(args.kv) < 1 or max(args.kv) > args.max_len:
        sys.exit(f"torch_decode_bench: --kv lengths must lie in 1..--max-len ({args.max_len})")

    global PROGRESS
    PROGRESS = args.verbose or sys.stderr.isatty()
    import transformers
    progress("building the model")
    model = build(args.config_dir, args.seed, torch.bfloat16, device=DEVICE)
    vocab = model.config.vocab_size
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())  # shared tensors once
    bandwidth = copy_bandwidth() if on_gpu else None

    # The references: HF's eager decode of a short prompt, and of a random prefix of L-1 tokens followed
    # by each of CHECK_TOKENS last tokens, for each KV length L.
    generator = torch.Generator().manual_seed(args.seed)
    prompt = [t % vocab for t in (1, 17, 42, 99, 5, 300)][:CHECK_TOKENS]
    prefix = torch.randint(vocab, (max(args.kv) - 1,), generator=generator).tolist()
    candidates = torch.randperm(vocab, generator=generator)[:CHECK_TOKENS].tolist()
    progress("HF's eager references")
    prompt_reference = hf_logits(model, prompt)
    references = hf_decode_references(model, prefix, candidates, args.kv)
    progress("hf_static_compile")

    compile_step = on_gpu or args.cpu_compile
    compile_mode = "reduce-overhead" if compile_step else None
    baselines = {}
    not_run = {"mode": None, "status": "not run", "error": None, "checks": {}, "step_us": {}}
    baselines["hf_static_compile"] = (
        run_hf_baseline(model, args, prompt, prompt_reference, prefix, candidates, references, on_gpu, compile_mode)
        if args.only in (None, "hf_static_compile") else dict(not_run))
    torch.compiler.reset()
    progress("torch_step_graph")
    baselines["torch_step_graph"] = (
        run_step_baseline(model, args, prompt, prompt_reference, prefix, candidates, references, on_gpu, compile_step)
        if args.only in (None, "torch_step_graph") else dict(not_run))

    record = {
        "format": "amk-torch-decode-bench/2",
        "model": pathlib.Path(args.config_dir).name,
        "device": torch.cuda.get_device_name() if on_gpu else "cpu (checks only)",
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "dtype": "bfloat16",
        "seed": args.seed,
        "max_len": args.max_len,
        "kv": args.kv,
        "steps": args.steps,
        "warmup": args.warmup,
        "weight_bytes": weight_bytes,
        "baselines": baselines,
    }
    if on_gpu:
        record["copy_bandwidth_GBps"] = bandwidth / 1e9
        record["hbm_floor_us"] = weight_bytes / bandwidth * 1e6
    best, best_us = {}, {}
    for live in map(str, args.kv):
        times = {name: b["step_us"].get(live) for name, b in baselines.items() if b["status"] == "ok"}
        times = {name: t for name, t in times.items() if t is not None}
        best[live] = min(times, key=times.get) if times else None
        best_us[live] = times[best[live]] if times else None
    for name, b in baselines.items():
        record[f"{name}_us"] = {live: b["step_us"].get(live) for live in map(str, args.kv)}
    record["best_torch_us"] = best_us
    record["best_torch"] = best

    print(json.dumps(record))
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    failed = [name for name, b in baselines.items() if b["status"] == "failed"]
    if failed:
        sys.exit(f"torch_decode_bench: failed: {', '.join(failed)} (see the record's baselines.*.error)")


if __name__ == "__main__":
    main()
