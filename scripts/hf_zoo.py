#!/usr/bin/env python3
# A random-weight checkpoint of a zoo model and everything bench/zoo_match.sh compares the megakernel
# with: transformers' own bf16 greedy decode and its logits on a fixed teacher-forcing sequence, with
# how far each greedy choice stands above bf16 noise. Runs where torch and transformers are installed
# (the GPU machine); nothing is downloaded.
#
#   python3 scripts/hf_zoo.py models/llama-3.2-1b OUT_DIR [--init-gain G] [--logit-tail S] [--prompt-search N]
#   python3 scripts/hf_zoo.py models/llama-3.2-1b --probe --init-gain 1,2,4 --logit-tail 0,1 --prompt-search 8
#
# Weights are drawn as scripts/hf_greedy.py draws them (its `build`) in fp32 on the GPU and cast to
# bf16, with these knobs (comma lists with --probe, which tries every combination):
#   --init-gain G      the layers' projections are N(0, G^2 / fan_in) (1: hf_greedy.py's weights)
#   --logit-tail S     the output projection's rows (the embedding's when tied) are scaled by
#                      exp(S * N(0, 1)): log-normal row norms, a heavy upper tail of the logits
#   --embed-std E      the embeddings' std (0.25)
# and --prompt-search N: decode --prompt and N - 1 random prompts, keep the one whose smallest greedy
# margin is widest, preferring continuations of at least --min-distinct different tokens.
# Margins in ulps do not change when every logit is scaled, so scaling the output projection alone
# would not help: what widens them is the shape of the logit distribution (S), the path taken (the
# prompt) and, through the nonlinearities, G. A random model readily falls into repeating one token,
# with wide margins that test little: the probe reports how many distinct tokens the decode has.
# No setting of these knobs gave a varied decode without one-ulp near-ties. --cycle K does
# (plant_cycle). It keeps the random draws and changes two things:
#   - K tokens' embeddings become orthogonal, large enough to carry through the random layers;
#   - K rows of the last MLP become a map from each of those tokens to the next.
# The decode then follows the cycle with margins of tens of ulps. The random layers still make about
# half of the residual (random_layers_share in hf_zoo.json).
#
# Decoding is batch-1 as a user runs it: one token per forward pass with HF's KV cache, transformers'
# default attention (sdpa). Writes into OUT_DIR:
#
#   config.json, model*.safetensors   save_pretrained of the bf16 model
#   hf_logits.npy                     HF's bf16 logits on the teacher-forcing sequence, float32 [steps, vocab]
#   hf_zoo.json                       written last (its presence means the directory is complete):
#     prompt, tokens                  the prompt and HF's bf16 greedy continuation (what amk-run
#                                     --expect-file reads), margins (top-1 minus top-2 logit of each
#                                     greedy step), margin_ulps (the same in bf16 ulps of the top logit),
#                                     min_margin, min_margin_ulps, steps_within_1_ulp (near ties, where
#                                     a one-ulp difference can flip the token), min_margin_over_noise (margin
#                                     over the largest |bf16 - fp32| logit difference at that step)
#     sequence                        prompt + tokens: the teacher-forcing sequence; row i of hf_logits.npy
#                                     holds HF's logits after feeding sequence[0..i], one token per forward
#     nll, ppl                        mean negative log-likelihood of the sequence under HF's bf16 logits
#                                     (row i predicting token i+1) and its exp, the perplexity
#     fp32                            the same weights (the bf16 values) in fp32: its greedy tokens and how
#                                     many agree with bf16's, its perplexity, and the relative error of the
#                                     bf16 logits against it, ||bf16 - fp32|| / ||fp32|| per position (max and
#                                     median): the noise yardstick for amk-vs-HF errors
#     hf_self_max_abs_diff            HF against itself: the greedy run's logits and the teacher-forced run's
#                                     on the same tokens (0 when HF's decode is deterministic)
#     knobs, prompt_search            the knob values; each prompt tried, its smallest margin in ulps and
#                                     its distinct tokens
#     cycle, follows_cycle,           with --cycle: the planted tokens, how many greedy tokens follow them,
#     random_layers_share             and ||h - e|| / ||h|| of the residual h entering the last layer
#                                     against the token's embedding e (median and min over the sequence)
#
# --probe builds, decodes and reports the same numbers for every combination of the comma-separated
# knob values given, one line each (and one JSON object per line with --probe-out), saving nothing:
# a quick sweep for knobs that put every greedy margin well above bf16 noise.
import argparse
import copy
import inspect
import itertools
import json
import math
import os
import pathlib
import sys
import time

import numpy as np
import torch
import transformers

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from hf_greedy import build  # noqa: E402


def bf16_ulp(x):
    """The spacing of bf16 values at |x| (8 significant bits)."""
    if not math.isfinite(x):
        return float("nan")
    if x == 0:
        return 2.0 ** -133  # the smallest bf16 subnormal
    _, exponent = math.frexp(abs(x))  # |x| = m * 2^exponent, m in [0.5, 1)
    return 2.0 ** (exponent - 8)


def plant_cycle(model, prompt, length, embed_scale, step_gain, top_logit, seed):
    """Plants a cycle of `length` distinct tokens into a fp32 model, starting at the prompt's last token:
    fed token c_k (of the cycle c_0 = prompt[-1], c_1, ...), the model's argmax is c_{k+1} with a margin of
    tens of bf16 ulps, while every other weight keeps its random draw. Returns the cycle.

    - The cycle's embedding rows are orthogonal, of norm R = embed_scale * sqrt(layers) * sqrt(hidden):
      per element embed_scale * sqrt(layers), several times the residual stream the random layers add (each
      adds O(1) per element after its pre-norm), so the token's direction dominates the residual while the
      layers still move it by tens of percent. An untied output projection gets the same rows.
    - The last layer's MLP maps direction q_k to q_{k+1}: gate and up rows k are 4 q_k / sqrt(hidden),
      divided by the post-attention norm's weight, so both read 4 cos(q_k, x) off the residual x; down
      column k is q_{k+1} scaled so that the MLP adds about step_gain * R q_{k+1} when cos = 0.9.
    - The final norm's weight is scaled so that the largest logit after the prompt is top_logit: the
      margins in ulps do not depend on it, the logits then have the size of a trained model's.
    The other intermediate rows and columns of that MLP, all other layers and the other tokens' rows stay
    random."""
    config = model.config
    hidden, layers, vocab = config.hidden_size, config.num_hidden_layers, config.vocab_size
    if length > hidden or length > config.intermediate_size:
        raise SystemExit(f"hf_zoo.py: error: --cycle {length} needs hidden_size and intermediate_size >= {length} "
                         f"(this model: {hidden}, {config.intermediate_size})")
    if length > vocab - len(prompt) + 1:
        raise SystemExit(f"hf_zoo.py: error: --cycle {length} is larger than the vocabulary ({vocab}) allows")
    generator = torch.Generator().manual_seed(seed + 3)
    others = [t for t in torch.randperm(vocab, generator=generator).tolist() if t not in prompt][:length - 1]
    cycle = [prompt[-1]] + others
    device = next(model.parameters()).device
    basis, _ = torch.linalg.qr(torch.randn(hidden, length, generator=generator, dtype=torch.float64))
    directions = basis.T.to(torch.float32).to(device)  # [length, hidden], orthonormal rows
    radius = embed_scale * math.sqrt(layers) * math.sqrt(hidden)
    rows = torch.tensor(cycle, device=device)
    following = torch.roll(torch.arange(length, device=device), -1)  # k -> k + 1 (mod length)
    amplitude = 4.0
    product = torch.nn.functional.silu(torch.tensor(0.9 * amplitude)) * 0.9 * amplitude
    with torch.no_grad():
        embed = model.get_input_embeddings().weight
        head = model.get_output_embeddings().weight
        embed[rows] = radius * directions
        if head.data_ptr() != embed.data_ptr():
            head[rows] = radius * directions
        last = model.model.layers[-1]
        reads = amplitude * directions / last.post_attention_layernorm.weight / math.sqrt(hidden)
        last.mlp.gate_proj.weight[:length] = reads
        last.mlp.up_proj.weight[:length] = reads
        last.mlp.down_proj.weight[:, :length] = (step_gain * radius / float(product)) * directions[following].T
        logits = model(torch.tensor([prompt], device=device)).logits[0, -1]
        model.model.norm.weight.mul_(top_logit / float(logits.max()))
    return cycle


def random_layers_share(model, sequence):
    """How much the random layers move the residual stream before the planted last layer: per position,
    ||h - e|| / ||h|| with e the token's embedding and h the residual entering the last layer; median and
    smallest over the sequence. Near 0 would mean the decode tests only the embedding and the last MLP."""
    device = next(model.parameters()).device
    with torch.no_grad():
        states = model(torch.tensor([sequence], device=device), output_hidden_states=True).hidden_states
    assert len(states) == model.config.num_hidden_layers + 1, "hidden_states: the embeddings and every layer's output"
    embedded, entering = states[0][0].to(torch.float64), states[-2][0].to(torch.float64)
    share = (torch.linalg.vector_norm(entering - embedded, dim=-1) / torch.linalg.vector_norm(entering, dim=-1))
    return {"median": float(share.median()), "min": float(share.min())}


def decode(model, tokens, new_tokens=0, forced=False):
    """Batch-1 decode, one token per forward pass with HF's KV cache. Greedy (forced=False): feeds `tokens`
    (the prompt), then the argmax, until new_tokens are generated (len(tokens) + new_tokens - 1 forwards).
    Forced: feeds exactly `tokens`. Returns the logits of every forward as fp32 [steps, vocab] on the
    model's device, the generated tokens and the milliseconds of each forward."""
    device = next(model.parameters()).device
    steps = len(tokens) if forced else len(tokens) + max(new_tokens - 1, 0)
    # The cache is updated in place; newer transformers call forward's past_key_values `cache`.
    cache = transformers.DynamicCache()
    cache_argument = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    rows, generated, step_ms = [], [], []
    token = tokens[0]
    with torch.no_grad():
        for position in range(steps):
            if position < len(tokens):
                token = tokens[position]
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = model(torch.tensor([[token]], device=device), use_cache=True,
                        position_ids=torch.tensor([[position]], device=device), **{cache_argument: cache})
            logits = out.logits[0, -1].to(torch.float32)
            if device.type == "cuda":
                torch.cuda.synchronize()
            step_ms.append((time.perf_counter() - start) * 1e3)
            rows.append(logits)
            if not forced and position >= len(tokens) - 1:
                token = int(torch.argmax(logits))
                generated.append(token)
    return torch.stack(rows), generated, step_ms


def mean_nll(logits, sequence):
    """The mean negative log-likelihood of sequence[1:] under logits[:-1] (row i predicts token i+1): the
    log of the perplexity, finite where a random model's perplexity overflows."""
    log_probs = torch.log_softmax(logits[:-1].to(torch.float64), dim=-1)
    targets = torch.tensor(sequence[1:], device=logits.device)
    return float(-log_probs[torch.arange(len(targets), device=logits.device), targets].mean())


def perplexity(nll):
    return math.exp(nll) if nll < 709 else math.inf


def row_relative_errors(actual, expected):
    """||actual_i - expected_i|| / ||expected_i|| for every row i."""
    difference = torch.linalg.vector_norm((actual - expected).to(torch.float64), dim=-1)
    return (difference / torch.linalg.vector_norm(expected.to(torch.float64), dim=-1)).tolist()


def agreeing_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def greedy_margins(greedy_logits, prompt):
    """Per generated token: the top-1 minus top-2 logit that chose it, the top logit, and the margin in
    bf16 ulps of the top logit."""
    top = torch.topk(greedy_logits[len(prompt) - 1:], 2, dim=-1).values
    margins, top_logits = (top[:, 0] - top[:, 1]).tolist(), top[:, 0].tolist()
    return margins, top_logits, [m / bf16_ulp(t) for m, t in zip(margins, top_logits)]


def search_prompt(model, prompt, candidates, new_tokens, min_distinct, seed):
    """The prompt, among `prompt` and candidates - 1 random ones of its length (first token kept, the
    others uniform over the vocabulary, seeded), whose greedy decode has the largest smallest margin
    in ulps, among those whose continuation has at least min_distinct different tokens if any has (a
    random model readily falls into repeating one token with a wide margin, which tests little). With
    each candidate's smallest margin in ulps and distinct tokens, in order."""
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(seed + 2)
    best, best_key, tried = prompt, None, []
    for index in range(candidates):
        candidate = prompt if index == 0 else (
            prompt[:1] + torch.randint(0, vocab, (len(prompt) - 1,), generator=generator).tolist())
        logits, tokens, _ = decode(model, candidate, new_tokens)
        margins, _, ulps = greedy_margins(logits, candidate)
        tried.append({"prompt": candidate, "min_margin_ulps": min(ulps), "distinct_tokens": len(set(tokens))})
        key = (len(set(tokens)) >= min_distinct, min(ulps), min(margins))
        if best_key is None or key > best_key:
            best, best_key = candidate, key
    return best, tried


def measure(model, prompt, new_tokens):
    """Everything hf_zoo.json records for one bf16 model, and HF's logits on the sequence."""
    greedy_logits, tokens, step_ms = decode(model, prompt, new_tokens)
    sequence = prompt + tokens
    forced_logits, _, _ = decode(model, sequence, forced=True)
    first = len(prompt) - 1  # the row whose argmax is the first generated token
    margins, top_logits, margin_ulps = greedy_margins(greedy_logits, prompt)

    fp32 = copy.deepcopy(model).to(torch.float32)
    fp32_logits, _, _ = decode(fp32, sequence, forced=True)
    _, fp32_tokens, _ = decode(fp32, prompt, new_tokens)
    del fp32
    errors = row_relative_errors(forced_logits, fp32_logits)
    noise = (forced_logits - fp32_logits).abs().amax(dim=-1)[first:first + len(margins)].tolist()
    over_noise = [m / n if n > 0 else math.inf for m, n in zip(margins, noise)]
    steps = greedy_logits.shape[0]
    nll, fp32_nll = mean_nll(forced_logits, sequence), mean_nll(fp32_logits, sequence)
    record = {
        "prompt": prompt,
        "tokens": tokens,
        "distinct_tokens": len(set(tokens)),
        "margins": margins,
        "top_logits": top_logits,
        "margin_ulps": margin_ulps,
        "min_margin": min(margins),
        "min_margin_ulps": min(margin_ulps),
        "steps_within_1_ulp": sum(u <= 1 for u in margin_ulps),
        "min_margin_over_noise": min(over_noise),
        "sequence": sequence,
        "logits_shape": list(forced_logits.shape),
        "nll": nll,
        "ppl": perplexity(nll),
        "fp32": {
            "tokens": fp32_tokens,
            "agree": agreeing_prefix(fp32_tokens, tokens),
            "nll": fp32_nll,
            "ppl": perplexity(fp32_nll),
            "logits_rel_err_max": max(errors),
            "logits_rel_err_median": float(np.median(errors)),
        },
        "hf_self_max_abs_diff": float((greedy_logits - forced_logits[:steps]).abs().max()),
        "hf_step_ms_median": float(np.median(step_ms)),
    }
    return record, forced_logits


def strict_json(value):
    """`value` with every non-finite float replaced by None: JSON has no Infinity or NaN, and amk-run's
    JSON reader refuses them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict_json(v) for v in value]
    return value


def summary(record):
    return (f"greedy {len(record['tokens'])} tokens ({record['distinct_tokens']} distinct), "
            f"min margin {record['min_margin']:.4g} = {record['min_margin_ulps']:.3g} ulp, "
            f"{record['steps_within_1_ulp']} steps within 1 ulp, "
            f"{record['min_margin_over_noise']:.3g}x noise; bf16-vs-fp32 logits rel err max "
            f"{record['fp32']['logits_rel_err_max']:.3g}; fp32 greedy agrees on "
            f"{record['fp32']['agree']} of {len(record['tokens'])}; ppl {record['ppl']:.4g} "
            f"(fp32 {record['fp32']['ppl']:.4g}); HF self diff {record['hf_self_max_abs_diff']:.3g}"
            + (f"; follows the planted cycle for {record['follows_cycle']} tokens, random layers' share of the "
               f"residual {record['random_layers_share']['median']:.2f} median, "
               f"{record['random_layers_share']['min']:.2f} min" if "cycle" in record else ""))


def values(text, kind):
    return [kind(v) for v in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description="Random-weight zoo checkpoints and HF's decode of them "
                                                 "(see the comment at the top of this file).")
    parser.add_argument("config_dir", help="a folder with the model's config.json, e.g. models/llama-3.2-1b")
    parser.add_argument("out_dir", nargs="?", type=pathlib.Path, help="where to write (not with --probe)")
    parser.add_argument("--probe", action="store_true",
                        help="report margins and noise for every knob combination; save nothing")
    parser.add_argument("--probe-out", type=pathlib.Path, help="--probe: append one JSON object per line here")
    parser.add_argument("--prompt", default="1,17,42,99")
    parser.add_argument("--new", type=int, default=64, help="greedy tokens to generate (default 64)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--init-gain", default="1",
                        help="multiplies the std of the layers' projections, 1/sqrt(fan_in) (comma list with "
                             "--probe)")
    parser.add_argument("--logit-tail", default="0",
                        help="log-normal spread of the output projection's row norms, exp(S * N(0,1)); 0: none "
                             "(comma list with --probe)")
    parser.add_argument("--embed-std", default="0.25", help="std of the embeddings (comma list with --probe)")
    parser.add_argument("--norm-std", type=float, default=0.1, help="RMSNorm weights are 1 + N(0, std^2)")
    parser.add_argument("--prompt-search", type=int, default=1, metavar="N",
                        help="decode --prompt and N - 1 random prompts of its length (first token kept) and keep "
                             "the one whose smallest greedy margin in ulps is largest, preferring continuations "
                             "of at least --min-distinct different tokens (default 1: --prompt)")
    parser.add_argument("--min-distinct", type=int, default=16,
                        help="--prompt-search: continuations with fewer different tokens rank last (default 16)")
    parser.add_argument("--cycle", type=int, default=0, metavar="K",
                        help="plant a cycle of K tokens starting at the prompt's last token (plant_cycle): every "
                             "greedy step then has a margin of tens of ulps; K > --new keeps the decode's tokens "
                             "distinct (default 0: none)")
    parser.add_argument("--cycle-embed", type=float, default=1.0,
                        help="--cycle: the cycle's embedding rows have std cycle_embed * sqrt(layers) per element "
                             "(default 1: the random layers make about half of the residual entering the last "
                             "layer)")
    parser.add_argument("--cycle-gain", type=float, default=3.0,
                        help="--cycle: the last MLP adds about this many times the token's embedding norm in the "
                             "next token's direction (default 3)")
    parser.add_argument("--cycle-top-logit", type=float, default=16.0,
                        help="--cycle: the final norm is scaled so that the largest logit after the prompt is "
                             "this (default 16)")
    parser.add_argument("--device", default="cuda", help="torch device (default cuda; cpu for trying it out)")
    args = parser.parse_args()
    if args.probe == (args.out_dir is not None):
        parser.error("give OUT_DIR, or --probe (which saves nothing)")
    prompt = values(args.prompt, int)
    gains, tails, embed_stds = values(args.init_gain, float), values(args.logit_tail, float), values(args.embed_std, float)
    if not args.probe and (len(gains), len(tails), len(embed_stds)) != (1, 1, 1):
        parser.error("lists of knob values are for --probe; a checkpoint takes one of each")
    if args.prompt_search < 1:
        parser.error("--prompt-search needs at least 1 prompt")
    if args.cycle < 0 or (args.cycle > 0 and args.prompt_search != 1):
        parser.error("--cycle takes K >= 1 and plants its cycle after --prompt, so not with --prompt-search")
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else args.device
    common = {
        "config_from": str(args.config_dir),
        "seed": args.seed,
        "dtype": "bfloat16",
        "device": device_name,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }

    for gain, tail, embed_std in itertools.product(gains, tails, embed_stds):
        knobs = {"init_gain": gain, "logit_tail": tail, "embed_std": embed_std, "norm_std": args.norm_std}
        start = time.perf_counter()
        model = build(args.config_dir, args.seed, torch.float32 if args.cycle else torch.bfloat16, gain=gain,
                      embed_std=embed_std, norm_std=args.norm_std, logit_tail=tail, device=args.device)
        cycle = None
        if args.cycle:
            knobs.update(cycle=args.cycle, cycle_embed=args.cycle_embed, cycle_gain=args.cycle_gain,
                         cycle_top_logit=args.cycle_top_logit)
            cycle = plant_cycle(model, prompt, args.cycle, args.cycle_embed, args.cycle_gain, args.cycle_top_logit,
                                args.seed)
            model = model.to(torch.bfloat16)
        chosen, tried = search_prompt(model, prompt, args.prompt_search, args.new, min(args.min_distinct, args.new),
                                      args.seed)
        record, hf_logits = measure(model, chosen, args.new)
        record = {"format": "amk-hf-zoo/1", **common, "knobs": knobs,
                  "attention": model.config._attn_implementation, "prompt_search": tried, **record}
        if cycle is not None:
            record["cycle"] = cycle
            record["follows_cycle"] = agreeing_prefix(record["tokens"], (cycle[1:] + cycle) * 2)
            record["random_layers_share"] = random_layers_share(model, record["sequence"])
        if args.probe:
            minima = sorted(t["min_margin_ulps"] for t in tried)
            varied = sum(t["distinct_tokens"] >= min(args.min_distinct, args.new) for t in tried)
            search = (f"; {len(tried)} prompts, {varied} with >= {args.min_distinct} distinct tokens, smallest "
                      f"margin {minima[len(minima) // 2]:.3g} ulp median" if len(tried) > 1 else "")
            print(f"{args.config_dir} gain {gain:g} tail {tail:g} embed {embed_std:g}: {summary(record)}{search} "
                  f"[{time.perf_counter() - start:.1f} s]", flush=True)
            if args.probe_out:
                with open(args.probe_out, "a") as out:
                    out.write(json.dumps(strict_json(record), allow_nan=False) + "\n")
            del model, hf_logits
            if args.device.startswith("cuda"):
                torch.cuda.empty_cache()
            continue
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / "hf_zoo.json").unlink(missing_ok=True)  # the directory is complete only when it is back
        model.config.dtype = torch.bfloat16
        model.save_pretrained(str(args.out_dir), safe_serialization=True)
        np.save(args.out_dir / "hf_logits.npy", hf_logits.cpu().numpy())
        record["logits_file"] = "hf_logits.npy"
        partial = args.out_dir / "hf_zoo.json.partial"
        partial.write_text(json.dumps(strict_json(record), allow_nan=False) + "\n")
        os.replace(partial, args.out_dir / "hf_zoo.json")
        print(f"{args.config_dir} -> {args.out_dir}: {summary(record)} [{time.perf_counter() - start:.1f} s]",
              flush=True)


if __name__ == "__main__":
    main()
