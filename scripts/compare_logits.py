#!/usr/bin/env python3
# Compares two sets of teacher-forced logits of the same sequence, row i being the logits after feeding
# sequence[0..i]: HF's (scripts/hf_zoo.py, hf_logits.npy) and the megakernel's (amk-run --force-tokens
# --logits-out). Needs only numpy.
#
#   python3 scripts/compare_logits.py HF.npy AMK.npy --record hf_zoo.json [--format text|json|tsv]
#
# Reports the largest relative error of a row, max_i ||amk_i - hf_i|| / ||hf_i||, and the position where
# it occurs; the perplexity of the sequence computed from each side's own logits (row i predicting
# token i+1) and |ppl_amk / ppl_hf - 1|; how many rows have the same argmax. --format tsv prints one
# line: max_rel_err, worst_position, ppl_hf, ppl_amk, ppl_ratio_err, argmax agreeing/rows.
# Exit status: 0 compared, 2 unreadable or mismatched inputs.
import argparse
import json
import math
import sys

import numpy as np


def fail(message):
    print(f"compare_logits.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def load_logits(path):
    try:
        array = np.load(path)
    except (OSError, ValueError) as error:
        fail(f"{path}: {error}")
    if array.ndim != 2:
        fail(f"{path}: logits must be [steps, vocab], this array has shape {array.shape}")
    return array.astype(np.float64)


def mean_nll(logits, sequence):
    """The mean negative log-likelihood of sequence[1:] under logits[:-1]: the log of the perplexity."""
    rows = logits[:-1]
    peak = rows.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(rows - peak).sum(axis=1)) + peak[:, 0]
    targets = np.asarray(sequence[1:])
    return float(np.mean(log_norm - rows[np.arange(len(targets)), targets]))


def exp_or_inf(x):
    return math.exp(x) if x < 709 else math.inf


def compare(hf, amk, sequence):
    difference = np.linalg.norm(amk - hf, axis=1)
    scale = np.linalg.norm(hf, axis=1)
    relative = np.divide(difference, scale, out=np.full_like(difference, np.inf), where=scale > 0)
    finite = bool(np.isfinite(amk).all())
    worst = int(np.argmax(np.where(np.isnan(relative), np.inf, relative)))
    nll_hf, nll_amk = mean_nll(hf, sequence), mean_nll(amk, sequence)
    return {
        "rows": int(hf.shape[0]),
        "vocab": int(hf.shape[1]),
        "amk_finite": finite,
        "max_rel_err": float(relative[worst]),
        "median_rel_err": float(np.median(relative)),
        "worst_position": worst,
        "ppl_hf": exp_or_inf(nll_hf),
        "ppl_amk": exp_or_inf(nll_amk),
        # ppl_amk / ppl_hf as exp(nll_amk - nll_hf): finite where a random model's perplexities overflow
        "ppl_ratio_err": abs(math.expm1(nll_amk - nll_hf)) if math.isfinite(nll_amk) else math.inf,
        "argmax_agree": int((hf.argmax(axis=1) == amk.argmax(axis=1)).sum()),
    }


def main():
    parser = argparse.ArgumentParser(description="Teacher-forced logits of the megakernel against HF's.")
    parser.add_argument("hf", help="HF's logits, .npy [steps, vocab] (hf_zoo.py's hf_logits.npy)")
    parser.add_argument("amk", help="the megakernel's logits, .npy [steps, vocab] (amk-run --logits-out)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--record", help="hf_zoo.json: the sequence is its \"sequence\"")
    source.add_argument("--sequence", help="the teacher-forcing sequence, comma-separated token ids")
    parser.add_argument("--format", choices=["text", "json", "tsv"], default="text")
    args = parser.parse_args()

    if args.record:
        try:
            with open(args.record) as f:
                sequence = json.load(f)["sequence"]
        except (OSError, ValueError, KeyError) as error:
            fail(f"{args.record}: no \"sequence\" to read ({error!r})")
    else:
        sequence = [int(t) for t in args.sequence.split(",")]
    hf, amk = load_logits(args.hf), load_logits(args.amk)
    if hf.shape != amk.shape:
        fail(f"{args.amk} has shape {amk.shape} but {args.hf} has {hf.shape}")
    if len(sequence) != hf.shape[0]:
        fail(f"the sequence has {len(sequence)} tokens but the logits have "
                 f"{hf.shape[0]} rows (one per token fed)")
    if min(sequence) < 0 or max(sequence) >= hf.shape[1]:
        fail(f"the sequence has a token outside the vocabulary of {hf.shape[1]}")

    result = compare(hf, amk, sequence)
    if args.format == "json":
        print(json.dumps({k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in result.items()}))
    elif args.format == "tsv":
        print(f"{result['max_rel_err']:.3e}\t{result['worst_position']}\t{result['ppl_hf']:.6g}\t"
              f"{result['ppl_amk']:.6g}\t{result['ppl_ratio_err']:.3e}\t{result['argmax_agree']}/{result['rows']}")
    else:
        print(f"{result['rows']} rows x {result['vocab']}: max ||amk - hf|| / ||hf|| = {result['max_rel_err']:.3e} "
              f"(position {result['worst_position']}, median {result['median_rel_err']:.3e}); perplexity hf "
              f"{result['ppl_hf']:.6g}, amk {result['ppl_amk']:.6g}, |ratio - 1| = {result['ppl_ratio_err']:.3e}; "
              f"argmax agrees on {result['argmax_agree']} of {result['rows']} rows"
              + ("" if result["amk_finite"] else "; amk logits hold non-finite values"))


if __name__ == "__main__":
    main()
