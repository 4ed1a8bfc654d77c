#!/usr/bin/env python3
"""On a GPU machine: replay every minimised counterexample on the GPU and tabulate what was seen.

    python3 bench/gpu_replay.py RESULTS_DIR [--repeats 3] [--amk-replay build/bin/amk-replay] [FILES...]

For each schedule (default: every corpus/adversarial/*.amkir) runs `amk-replay FILE --gpu --seed S`
for S = 1..repeats (--jobs of them at once). amk-replay verifies the schedule, replays the checker's witness on the CPU, then
lowers the schedule with --unsafe and launches it under the watchdog (a deadlock ends as a time-out
report) and with delay injection ordering a race's two accesses both ways (a race shows as differing
buffers). Each violation line of its output says whether the GPU exhibited it.

Writes RESULTS_DIR/gpu-replay.log (every command and its output), gpu-replay.tsv (one row per file
and rule) and gpu-replay.md (the table: class, rule, replays, deadlocks observed, divergences
observed, not applicable). Progress goes to stderr on a terminal.
"""
import argparse
import collections
import concurrent.futures
import datetime
import pathlib
import re
import subprocess
import sys

LINE = re.compile(r"^(?P<file>.+?): (?P<rule>AMK-V\d{3}) (?P<name>[\w-]+): "
                  r"(?P<what>exhibited on the GPU|not exhibited on the GPU|not replayed on the GPU)")


def gpu_name():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
        return out.stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown GPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=pathlib.Path)
    parser.add_argument("files", nargs="*", type=pathlib.Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--amk-replay", default="build/bin/amk-replay")
    parser.add_argument("--timeout", type=float, default=1.0, help="watchdog seconds per wait (--gpu-timeout)")
    parser.add_argument("--jobs", type=int, default=1, help="replays run at once (each is a small grid)")
    parser.add_argument("--from-log", type=pathlib.Path,
                        help="tabulate an earlier run's gpu-replay.log instead of replaying (no GPU needed)")
    parser.add_argument("--gpu-name", help="the GPU to name in the table (default: nvidia-smi's)")
    args = parser.parse_intermixed_args()
    files = args.files or sorted(pathlib.Path("corpus/adversarial").glob("*.amkir"))
    if not files:
        sys.exit("gpu_replay: no schedules to replay")
    args.results.mkdir(parents=True, exist_ok=True)
    tty = sys.stderr.isatty()
    # (file, rule) -> counters
    def parse_log(path):
        # Each run: a '$ command  (exit N)' line, then its output up to the next such line.
        runs, current = [], None
        for line in path.read_text().splitlines():
            m = re.match(r"^\$ (.*)  \(exit (-?\d+)\)$", line)
            if m:
                current = [m[1].split(), [], int(m[2])]
                runs.append(current)
            elif current is not None:
                current[1].append(line)
        return [(pathlib.Path(c[1]), int(c[c.index("--seed") + 1]), (c, "\n".join(out), status))
                for c, out, status in runs]

    def replay(path, seed):
        command = [args.amk_replay, str(path), "--gpu", "--seed", str(seed), "--gpu-timeout", str(args.timeout)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300)
            return command, done.stdout + done.stderr, done.returncode
        except subprocess.TimeoutExpired:
            return command, "amk-replay did not finish in 300 s\n", -1

    # (file, rule, name) -> counters, in file order
    rows = collections.OrderedDict()
    failures = 0
    if args.from_log:
        parsed = parse_log(args.from_log)
        runs = [(path, seed) for path, seed, _ in parsed]
        outcomes = [outcome for _, _, outcome in parsed]
        files = sorted({path for path, _ in runs})
        args.repeats = max(seed for _, seed in runs)
    else:
        runs = [(path, seed) for path in files for seed in range(1, args.repeats + 1)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
            outcomes = list(pool.map(lambda run: replay(*run), runs))
    log = open(args.results / "gpu-replay.log", "w")
    for number, ((path, seed), (command, output, status)) in enumerate(zip(runs, outcomes), 1):
        log.write(f"$ {' '.join(command)}  (exit {status})\n{output}\n")
        seen = False
        for line in output.splitlines():
            m = LINE.match(line)
            if not m:
                continue
            seen = True
            row = rows.setdefault((path.name, m["rule"], m["name"]),
                                  {"replays": 0, "exhibited": 0, "not_applicable": 0})
            row["replays"] += 1
            if m["what"] == "exhibited on the GPU":
                row["exhibited"] += 1
            elif m["what"] == "not replayed on the GPU":
                row["not_applicable"] += 1
        if not seen:
            failures += 1
            rows.setdefault((path.name, "-", "no GPU result"), {"replays": 0, "exhibited": 0, "not_applicable": 0})
        if tty:
            print(f"\r[{number}/{len(runs)}] {path.name:60}", end="", file=sys.stderr, flush=True)
    log.close()
    if tty:
        print(file=sys.stderr)

    date = datetime.date.today().isoformat()
    gpu = args.gpu_name or gpu_name()
    with open(args.results / "gpu-replay.tsv", "w") as tsv:
        tsv.write("date\tgpu\tfile\trule\tname\treplays\texhibited\tnot_applicable\n")
        for (name, rule, what), r in rows.items():
            tsv.write(f"{date}\t{gpu}\t{name}\t{rule}\t{what}\t{r['replays']}\t{r['exhibited']}\t{r['not_applicable']}\n")

    # One row per class (the operator the counterexample came from) and rule.
    classes = collections.OrderedDict()
    for (name, rule, what), r in rows.items():
        operator = re.sub(r"(-v\d{3})+\.amkir$", "", name)
        c = classes.setdefault((operator, rule, what), {"files": 0, "replays": 0, "deadlocks": 0, "divergences": 0,
                                                         "not_applicable": 0})
        c["files"] += 1
        c["replays"] += r["replays"]
        c["not_applicable"] += r["not_applicable"]
        if rule in ("AMK-V002", "AMK-V003"):
            c["deadlocks"] += r["exhibited"]
        elif rule == "AMK-V004":
            c["divergences"] += r["exhibited"]
    with open(args.results / "gpu-replay.md", "w") as md:
        md.write(f"# Minimised counterexamples replayed on the GPU, {date}, {gpu}\n\n")
        md.write(f"`python3 bench/gpu_replay.py RESULTS --repeats {args.repeats}` over {len(files)} files "
                 f"(`amk-replay FILE --gpu --seed 1..{args.repeats} --gpu-timeout {args.timeout}`).\n"
                 "A deadlock (AMK-V002 barrier mismatch, AMK-V003 deadlock) counts as observed when the watchdog "
                 "stopped the kernel at the stuck wait or barrier; a race (AMK-V004) when the two delay-ordered "
                 "launches left different values in the racing region. Co-residency (AMK-V001) cannot be shown "
                 "on a GPU that has room for the grid: those are replayed on the CPU only.\n\n")
        md.write("| class | rule | files | replays | deadlocks observed | divergences observed | not applicable on a GPU |\n")
        md.write("|---|---|---|---|---|---|---|\n")
        for (operator, rule, what), c in classes.items():
            md.write(f"| {operator} | {rule} {what} | {c['files']} | {c['replays']} | {c['deadlocks']} | "
                     f"{c['divergences']} | {c['not_applicable']} |\n")
    print((args.results / "gpu-replay.md").read_text())
    if failures:
        print(f"gpu_replay: {failures} runs printed no GPU result (see gpu-replay.log)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
