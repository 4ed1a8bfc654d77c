#!/usr/bin/env python3
# Fixtures made by HF itself: tiny random LlamaForCausalLM checkpoints (config.json + safetensors,
# from the configs in models/tiny-*) and, next to each, expected.json with transformers' fp32
# teacher-forced logits for a fixed prompt and its 16-token greedy continuation. The C++ tests
# (tests/megakernel/hf_fixture_test.cpp) load each checkpoint and compare the reference forward pass.
#
# Runs where torch and transformers are installed, no network needed, on the CPU (a GPU is not used:
# CPU fp32 has no TF32 shortcuts). Deterministic for given torch/transformers versions:
#
#   python3 scripts/make_fixtures.py tests/fixtures
#
# Weights are re-drawn after construction (embeddings N(0, 0.25²), projections N(0, 1/fan_in), norm
# weights 1 + N(0, 0.1²)) so that logits are spread out and greedy choices are not near-ties. With
# larger embeddings the residual stream is mostly the input token's own row, and a tied model then
# just repeats its last token. A seed is skipped for the next one when a greedy step has a top-2
# margin below MIN_MARGIN or the continuation has fewer than MIN_DISTINCT different tokens.
import argparse
import inspect
import json
import math
import pathlib
import shutil
import sys

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

PROMPT = [1, 17, 42, 99, 7, 200, 3, 128]
NEW_TOKENS = 16
MIN_MARGIN = 1e-3  # smallest top-1 minus top-2 logit gap accepted at a greedy step
MIN_DISTINCT = 4  # a continuation that repeats one token checks little
FIRST_SEED = 1234
MAX_BYTES = 2 * 1024 * 1024  # all fixtures together

# name, config folder in models/, weight dtype on disk, shard size (None: one model.safetensors)
FIXTURES = [
    ("tiny-gqa-tied", "tiny-gqa-tied", torch.float32, None),
    ("tiny-llama3-untied", "tiny-llama3-untied", torch.float32, None),
    ("tiny-mha-untied", "tiny-mha-untied", torch.float32, "200KB"),
    # The same architecture as tiny-gqa-tied stored in bf16: the expected logits are fp32 HF on the
    # bf16-rounded weights, which is what the fp32 reference computes after widening them.
    ("tiny-gqa-tied-bf16", "tiny-gqa-tied", torch.bfloat16, None),
]


def build_model(config_path, seed):
    config = LlamaConfig.from_json_file(str(config_path))
    config._attn_implementation = "eager"  # the plain softmax(QK^T)V path
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        # named_parameters lists a tied lm_head once, under the embedding's name.
        for name, parameter in sorted(model.named_parameters()):
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
            if name.endswith("norm.weight"):
                parameter.copy_(1.0 + 0.1 * noise)
            elif "embed_tokens" in name:
                parameter.copy_(0.25 * noise)
            else:
                parameter.copy_(noise / math.sqrt(parameter.shape[1]))
    return model


def run_hf(model):
    """Teacher-forced logits over PROMPT and the greedy continuation, both in fp32 without a cache."""
    with torch.no_grad():
        logits = model(torch.tensor([PROMPT]), use_cache=False).logits[0].to(torch.float32)
        sequence = list(PROMPT)
        margins = []
        for _ in range(NEW_TOKENS):
            last = model(torch.tensor([sequence]), use_cache=False).logits[0, -1].to(torch.float32)
            top = torch.topk(last, 2).values
            margins.append(float(top[0] - top[1]))
            sequence.append(int(torch.argmax(last)))
    return logits, sequence[len(PROMPT):], min(margins)


def generate_with_cache(model):
    """HF's own generate (KV cache path), as a cross-check of the cache-free greedy loop. It stops early
    when it emits the config's eos token; the loop does not, so only that prefix is compared."""
    try:
        with torch.no_grad():
            out = model.generate(torch.tensor([PROMPT]), max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
        return [int(t) for t in out[0, len(PROMPT):]]
    except Exception as error:  # generate's arguments move between versions; the check is optional
        print(f"  note: generate() not compared ({error})")
        return None


def save(model, directory, dtype, shard_size):
    to_save = model.to(dtype)
    kwargs = {}
    parameters = inspect.signature(to_save.save_pretrained).parameters
    if "safe_serialization" in parameters:
        kwargs["safe_serialization"] = True
    if shard_size:
        kwargs["max_shard_size"] = shard_size
    to_save.save_pretrained(str(directory), **kwargs)
    model.to(torch.float32)


def reload(directory):
    try:
        model = LlamaForCausalLM.from_pretrained(str(directory), dtype=torch.float32, attn_implementation="eager")
    except TypeError:
        model = LlamaForCausalLM.from_pretrained(str(directory), torch_dtype=torch.float32, attn_implementation="eager")
    return model.to(torch.float32).eval()


def fmt(values):
    # 9 significant digits round-trip an fp32 value exactly.
    return [float("%.9g" % v) for v in values]


def make_fixture(name, config_folder, models_dir, out_dir, dtype, shard_size):
    config_path = models_dir / config_folder / "config.json"
    directory = out_dir / name
    for seed in range(FIRST_SEED, FIRST_SEED + 50):
        model = build_model(config_path, seed)
        if dtype != torch.float32:  # the weights as they will be stored, computed with in fp32
            with torch.no_grad():
                for parameter in model.parameters():
                    parameter.copy_(parameter.to(dtype).to(torch.float32))
        logits, greedy, margin = run_hf(model)
        if margin >= MIN_MARGIN and len(set(greedy)) >= MIN_DISTINCT:
            break
        print(f"  seed {seed}: greedy {greedy} with margin {margin:.2e}, trying the next seed")
    else:
        sys.exit(f"{name}: no seed gave greedy margins of {MIN_MARGIN} and {MIN_DISTINCT} distinct tokens")

    cached = generate_with_cache(model)
    if cached is not None and cached != greedy[: len(cached)]:
        sys.exit(f"{name}: generate() gave {cached} but the cache-free loop gave {greedy}")

    if directory.exists():
        shutil.rmtree(directory)
    save(model, directory, dtype, shard_size)
    if shard_size and not (directory / "model.safetensors.index.json").exists():
        sys.exit(f"{name}: max_shard_size={shard_size} did not shard the checkpoint; lower it")

    reloaded_logits, _, _ = run_hf(reload(directory))
    reload_error = float((reloaded_logits - logits).abs().max() / logits.abs().max())
    if reload_error > 1e-6:
        sys.exit(f"{name}: the saved checkpoint reloads with logits off by {reload_error:.2e} (relative)")

    expected = {
        "format": "amk-hf-fixture/1",
        "name": name,
        "config_from": f"models/{config_path.parent.name}/config.json",
        "seed": seed,
        "weights_dtype": str(dtype).replace("torch.", ""),
        "computed_by": "transformers LlamaForCausalLM, eager attention, fp32 on the CPU, no KV cache",
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "prompt": PROMPT,
        "logits": [fmt(row) for row in logits.tolist()],
        "greedy_new_tokens": NEW_TOKENS,
        "greedy_tokens": greedy,
        "greedy_min_margin": margin,
        "greedy_checked_with_generate": cached is not None,
    }
    if dtype == torch.bfloat16:
        # HF run in bf16 itself: what a bf16 schedule is later compared with (loosely: HF's eager
        # attention also rounds scores and probabilities, which docs/numerics.md does not).
        bf16_model = model.to(torch.bfloat16)
        with torch.no_grad():
            bf16_logits = bf16_model(torch.tensor([PROMPT]), use_cache=False).logits[0].to(torch.float32)
        expected["logits_hf_bf16"] = [fmt(row) for row in bf16_logits.tolist()]
        model.to(torch.float32)
    (directory / "expected.json").write_text(json.dumps(expected, separators=(",", ":")) + "\n")
    files = sorted(p.name for p in directory.iterdir())
    print(f"{name}: seed {seed}, attention {model.config._attn_implementation}, greedy {greedy}, "
          f"min margin {margin:.3g}, generate() agrees: {cached is not None}, files {files}")


def main():
    parser = argparse.ArgumentParser(description="tiny HF Llama checkpoints with transformers' own logits")
    parser.add_argument("out_dir", type=pathlib.Path, help="where the fixture folders go (tests/fixtures)")
    parser.add_argument("--models-dir", type=pathlib.Path,
                        default=pathlib.Path(__file__).resolve().parent.parent / "models",
                        help="the folder holding tiny-*/config.json (default: the repository's models/)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # one summation order, run to run
    args.out_dir.mkdir(parents=True, exist_ok=True)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    for name, config_folder, dtype, shard_size in FIXTURES:
        make_fixture(name, config_folder, args.models_dir, args.out_dir, dtype, shard_size)
    total = sum(p.stat().st_size for name, *_ in FIXTURES for p in (args.out_dir / name).iterdir())
    print(f"total {total} bytes")
    if total > MAX_BYTES:
        sys.exit(f"the fixtures take {total} bytes, more than {MAX_BYTES}")


if __name__ == "__main__":
    main()
