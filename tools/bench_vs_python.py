#!/usr/bin/env python3
"""Side-by-side timing of medimpute against the Python baselines on one export.

    python3 -m pip install -r tools/requirements.txt
    cargo build --release
    python3 tools/bench_vs_python.py sample --export DIR [--runs 3] [--medlens-runs 1] [--json F]
    python3 tools/bench_vs_python.py run --export DIR [--runs 1] [--trees 100] [--max-train N]
        [--items 198,223901,...] [-p 2] [--json F]

`sample`: medimpute with 1 and with all threads, the vectorized pandas baseline at p = 1 and the
MedLens-style baseline (per-admission resampling) at p = 1.
`run`: the whole MedLens job (sampling, then rf-medlens imputation with the same trees, items
and training cap) by medimpute with p threads and by the MedLens-style baseline with a
ProcessPoolExecutor of p workers, as the study ran it.

Prints median wall time, throughput in MB of (decompressed) CSV per second, peak resident memory
of each process (from wait4), and the ratios the issues set targets for. Ratios are measured
here, side by side, in one session; absolute times depend on the machine.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_tables(export: str) -> tuple[str, list[str]]:
    """ADMISSIONS and the event tables of an export directory, MIMIC-III or MIMIC-IV names."""
    def one(stem: str) -> list[str]:
        return sorted(p for p in glob.glob(os.path.join(export, "*"))
                      if os.path.basename(p).lower().split(".")[0] == stem)
    admissions = one("admissions")
    events = one("chartevents") + one("labevents")
    if len(admissions) != 1 or not events:
        sys.exit(f"{export}: expected one ADMISSIONS and at least one events table")
    return admissions[0], events


def csv_bytes(paths: list[str]) -> int:
    """Size of the tables once decompressed: the bytes every contender parses."""
    total = 0
    for p in paths:
        if p.endswith(".gz"):
            with gzip.open(p, "rb") as f:
                while chunk := f.read(1 << 24):
                    total += len(chunk)
        else:
            total += os.path.getsize(p)
    return total


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one run of `cmd`; exits if it fails."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{stderr}")
    return elapsed, usage.ru_maxrss * 1024


def contenders_for(args, admissions: str, events: list[str], out: str) -> list[tuple]:
    """(name, command, runs) of each contender of the chosen job."""
    common = ["--admissions", admissions, "--out", out]
    for e in events:
        common += ["--events", e]
    if args.items:
        common += ["--items", args.items]
    baseline = [sys.executable, os.path.join(ROOT, "tools/medlens_baseline.py")]
    if args.job == "sample":
        return [
            # The backend is named: under the default (auto), --workers is the selector's.
            ("medimpute, 1 thread", [args.medimpute, "sample", *common, "--backend", "serial"],
             args.runs),
            (f"medimpute, {args.threads} threads",
             [args.medimpute, "sample", *common, "--backend", "threads",
              "--workers", str(args.threads)], args.runs),
            ("pandas vectorized, p=1",
             [*baseline, "sample", *common, "--vectorized", "-p", "1"], args.runs),
            ("MedLens-style pandas, p=1",
             [*baseline, "sample", *common, "--executor", "process", "-p", "1"], args.medlens_runs),
        ]
    job = ["--trees", str(args.trees), "--max-train", str(args.max_train), "--seed", "0"]
    p = str(args.p)
    return [
        (f"medimpute run rf-medlens, {p} threads",
         [args.medimpute, "run", *common, *job, "--method", "rf-medlens", "--fill-empty", "zero",
          "--backend", "threads", "--workers", p], args.runs),
        (f"MedLens-style pandas+sklearn, {p} processes",
         [*baseline, "run", *common, *job, "--executor", "process", "-p", p], args.medlens_runs),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("job", choices=("sample", "run"))
    parser.add_argument("--export", required=True, help="export directory")
    parser.add_argument("--runs", type=int, default=3, help="runs of each medimpute contender")
    parser.add_argument("--medlens-runs", type=int, default=1,
                        help="runs of each MedLens-style baseline (slow); 0 skips it")
    parser.add_argument("--medimpute", default=os.path.join(ROOT, "target/release/medimpute"))
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="sample: threads of the parallel medimpute run")
    parser.add_argument("-p", type=int, default=2, help="run: workers on both sides")
    parser.add_argument("--trees", type=int, default=100, help="run: trees per forest")
    parser.add_argument("--max-train", type=int, default=20000, help="run: training rows per item")
    parser.add_argument("--items", help="item ids, both sides (default: the 77 MedLens items)")
    parser.add_argument("--json", help="write the results here as JSON")
    args = parser.parse_args()

    admissions, events = find_tables(args.export)
    size = csv_bytes([admissions] + events)
    with tempfile.TemporaryDirectory() as tmp:
        contenders = [c for c in contenders_for(args, admissions, events, os.path.join(tmp, "g.npy"))
                      if c[2] > 0]
        # Rounds over the contenders, one run each, so that a slow spell of this machine
        # falls on every contender alike rather than on whichever ran then.
        samples = {name: [] for name, _, _ in contenders}
        for round_ in range(max((runs for _, _, runs in contenders), default=0)):
            for name, cmd, runs in contenders:
                if round_ < runs:
                    samples[name].append(timed(cmd))
                    print(f"  {name}: {samples[name][-1][0]:.3f} s", file=sys.stderr)
        results = []
        for name, cmd, runs in contenders:
            times = [t for t, _ in samples[name]]
            results.append({
                "name": name, "runs": runs, "median_s": statistics.median(times),
                "min_s": min(times), "peak_rss_mb": max(r for _, r in samples[name]) / 1e6,
                "mb_per_s": size / 1e6 / statistics.median(times), "command": " ".join(cmd),
            })

    print(f"export {args.export}: {size / 1e6:.1f} MB of CSV; machine: {os.cpu_count()} cores\n")
    print("| contender | runs | median (s) | MB/s | peak RSS (MB) |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['runs']} | {r['median_s']:.3f} | {r['mb_per_s']:.0f} "
              f"| {r['peak_rss_mb']:.0f} |")
    ours = results[0]["median_s"]
    ratios = {}
    if args.job == "sample" and len(results) > 1:
        ratios["scaling"] = ours / results[1]["median_s"]
        print(f"\nscaling 1 -> {args.threads} threads: {ratios['scaling']:.2f}x")
    for r in results:
        if not r["name"].startswith("medimpute"):
            ratios[r["name"]] = r["median_s"] / ours
            print(f"{results[0]['name']} vs {r['name']}: {ratios[r['name']]:.1f}x faster")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"job": args.job, "export": args.export, "csv_bytes": size,
                       "cores": os.cpu_count(), "results": results, "ratios": ratios}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
