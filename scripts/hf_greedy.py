#!/usr/bin/env python3
# A random-weight HF checkpoint at a model's published shape, and transformers' own greedy decode of
# it on the GPU, for comparing the megakernel token for token. Runs where torch and transformers are
# installed (the GPU machine); nothing is downloaded:
#
#   python3 scripts/hf_greedy.py models/smollm2-135m OUT_DIR --prompt 1,17,42,99 --new 32
#
# writes OUT_DIR/config.json and model.safetensors (save_pretrained) and OUT_DIR/hf_greedy.json: the
# prompt, HF's greedy tokens and, per step, the margin between the two largest logits. Decoding feeds
# one token per forward pass with HF's KV cache, in the model's dtype, with transformers' default
# attention (sdpa): batch-1 decode as a user would run it. Weights are drawn as scripts/make_fixtures.py
# draws them (embeddings N(0, 0.25^2), projections N(0, 1/fan_in), norms 1 + N(0, 0.1^2)), on the GPU;
# `build` takes the knobs scripts/hf_zoo.py varies (projection gain, stds, a heavy tail of the logits).
import argparse
import json
import math
import pathlib
import time

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM


def build(config_dir, seed, dtype, gain=1.0, embed_std=0.25, norm_std=0.1, logit_tail=0.0, device="cuda"):
    """LlamaForCausalLM at the config's shape with random weights drawn in fp32 on `device`, then cast to
    `dtype`: norms 1 + N(0, norm_std^2), embeddings N(0, embed_std^2), the layers' projections
    N(0, gain^2 / fan_in), an untied lm_head N(0, 1 / fan_in). With logit_tail > 0 each row of the output projection (the embedding when tied) is then
    scaled by exp(logit_tail * N(0, 1)), from a second generator so that the other draws stay the same:
    log-normal row norms give the logits a heavy upper tail, so the top logit stands further apart."""
    config = LlamaConfig.from_json_file(str(pathlib.Path(config_dir) / "config.json"))
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            noise = torch.randn(parameter.shape, generator=generator, device=device, dtype=torch.float32)
            if name.endswith("norm.weight"):
                parameter.copy_(1.0 + norm_std * noise)
            elif "embed_tokens" in name:
                parameter.copy_(embed_std * noise)
            elif name == "lm_head.weight":
                parameter.copy_(noise / math.sqrt(parameter.shape[1]))
            else:
                parameter.copy_(gain * noise / math.sqrt(parameter.shape[1]))
            del noise
        if logit_tail > 0:
            output = model.get_output_embeddings().weight
            rows = torch.Generator(device=device).manual_seed(seed + 1)
            output.mul_(torch.exp(logit_tail * torch.randn(output.shape[0], 1, generator=rows, device=device)))
    return model.to(dtype).eval()


def greedy(model, prompt, new_tokens):
    cache = transformers.DynamicCache()
    tokens, margins, step_ms = [], [], []
    token = None
    with torch.no_grad():
        for position in range(len(prompt) + new_tokens - 1):
            token = prompt[position] if position < len(prompt) else token
            torch.cuda.synchronize()
            start = time.perf_counter()
            out = model(torch.tensor([[token]], device="cuda"), past_key_values=cache, use_cache=True,
                        position_ids=torch.tensor([[position]], device="cuda"))
            logits = out.logits[0, -1].to(torch.float32)
            torch.cuda.synchronize()
            step_ms.append((time.perf_counter() - start) * 1e3)
            cache = out.past_key_values
            if position >= len(prompt) - 1:
                top = torch.topk(logits, 2)
                margins.append(float(top.values[0] - top.values[1]))
                token = int(torch.argmax(logits))
                tokens.append(token)
    return tokens, margins, step_ms


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("config_dir")
    parser.add_argument("out_dir", type=pathlib.Path)
    parser.add_argument("--prompt", default="1,17,42,99")
    parser.add_argument("--new", type=int, default=32)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    prompt = [int(t) for t in args.prompt.split(",")]
    model = build(args.config_dir, args.seed, dtype)
    model.config.torch_dtype = dtype
    args.out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(args.out_dir), safe_serialization=True)
    tokens, margins, step_ms = greedy(model, prompt, args.new)
    record = {
        "format": "amk-hf-greedy/1",
        "config_from": str(args.config_dir),
        "seed": args.seed,
        "dtype": args.dtype,
        "device": torch.cuda.get_device_name(),
        "attention": model.config._attn_implementation,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "prompt": prompt,
        "tokens": tokens,
        "margins": margins,
        "hf_eager_step_ms_median": sorted(step_ms)[len(step_ms) // 2],
    }
    (args.out_dir / "hf_greedy.json").write_text(json.dumps(record) + "\n")
    print(f"{args.config_dir}: HF {args.dtype} greedy {tokens} (min margin {min(margins):.3g})")


if __name__ == "__main__":
    main()
