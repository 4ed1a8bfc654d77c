#!/usr/bin/env python3
"""W8A16 against bf16 on the same model: greedy agreement and perplexity.

    python3 scripts/w8a16_compare.py --bf16-tokens A.txt --int8-tokens B.txt \
        --forced SEQ --bf16-logits A.npy --int8-logits B.npy --prompt-len N [--json out.json]

The token files hold the amk-run output of two greedy runs from the same prompt (their `tokens:`
lines). The logits files are the teacher-forced logits of both runs over the same sequence SEQ (the
prompt followed by the bf16 greedy continuation), one row per position. Reports: greedy tokens
equal position by position (and the length of the common prefix), teacher-forced argmax agreement
over the continuation's positions, the perplexity of the continuation under each, and
|ppl_int8 / ppl_bf16 - 1|. Needs numpy only.
"""
import argparse
import json
import math
import pathlib
import re
import sys

import numpy as np


def tokens_of(path):
    for line in pathlib.Path(path).read_text().splitlines():
        m = re.match(r"^tokens: (.*)$", line)
        if m:
            return [int(t) for t in m.group(1).split(",") if t.strip()]
    sys.exit(f"w8a16_compare: no 'tokens:' line in {path}")


def perplexity(logits, sequence, first):
    """exp of the mean negative log-likelihood of sequence[p+1] under logits[p], p >= first - 1."""
    nll = []
    for p in range(first - 1, len(sequence) - 1):
        row = logits[p].astype(np.float64)
        top = row.max()
        lse = top + math.log(np.exp(row - top).sum())
        nll.append(lse - row[sequence[p + 1]])
    return math.exp(sum(nll) / len(nll)), len(nll)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bf16-tokens", required=True)
    parser.add_argument("--int8-tokens", required=True)
    parser.add_argument("--forced", required=True, help="the teacher-forced sequence, comma-separated")
    parser.add_argument("--bf16-logits", required=True)
    parser.add_argument("--int8-logits", required=True)
    parser.add_argument("--prompt-len", type=int, required=True)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()

    a, b = tokens_of(args.bf16_tokens), tokens_of(args.int8_tokens)
    n = min(len(a), len(b))
    equal = sum(1 for i in range(n) if a[i] == b[i])
    prefix = next((i for i in range(n) if a[i] != b[i]), n)
    sequence = [int(t) for t in args.forced.split(",")]
    la, lb = np.load(args.bf16_logits), np.load(args.int8_logits)
    if la.shape != lb.shape or la.shape[0] < len(sequence) - 1:
        sys.exit(f"w8a16_compare: logits shapes {la.shape} and {lb.shape} do not cover {len(sequence)} positions")
    positions = range(args.prompt_len - 1, len(sequence) - 1)
    agree = sum(1 for p in positions if int(la[p].argmax()) == int(lb[p].argmax()))
    ppl_a, count = perplexity(la, sequence, args.prompt_len)
    ppl_b, _ = perplexity(lb, sequence, args.prompt_len)
    rel = float(np.max(np.abs(lb[: len(sequence) - 1] - la[: len(sequence) - 1])) /
                np.max(np.abs(la[: len(sequence) - 1])))
    record = {
        "greedy_equal": equal, "greedy_total": n, "greedy_common_prefix": prefix,
        "forced_argmax_agree": agree, "forced_positions": len(positions),
        "ppl_bf16": ppl_a, "ppl_int8": ppl_b, "ppl_ratio_minus_1": abs(ppl_b / ppl_a - 1),
        "max_logits_diff_over_max_bf16": rel, "ppl_positions": count,
    }
    print(f"greedy: int8 equals bf16 at {equal} of {n} positions (common prefix {prefix})")
    print(f"teacher-forced: argmax agrees at {agree} of {len(positions)} positions")
    print(f"perplexity over {count} positions: bf16 {ppl_a:.4f}, int8 {ppl_b:.4f}, |ratio - 1| = {abs(ppl_b / ppl_a - 1):.4%}")
    print(f"max |logits int8 - bf16| / max |logits bf16| = {rel:.3e}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
