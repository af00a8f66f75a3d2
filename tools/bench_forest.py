#!/usr/bin/env python3
"""Side-by-side timing of medimpute's random forest against scikit-learn's on the same data.

    python3 -m pip install -r tools/requirements.txt
    python3 tools/bench_forest.py [--rows 20000] [--features 10] [--runs 3] [--json out.json]

Writes one regression set (Friedman #1 with N(0, 1) noise on training targets; test targets
noise-free) as .npy, or takes X.npy / y.npy / T.npy / Ty.npy from --data DIR. Then, at each
thread count p, each run in a fresh process: scikit-learn's RandomForestRegressor(n_estimators=
trees, n_jobs=p) through `tools/medlens_baseline.py forest`, and medimpute's forest with the
same defaults through `target/release/examples/forest_timing DIR p METHOD TREES`. Prints fit
and predict times, held-out RMSE, and ours-vs-scikit-learn speedups at equal thread counts
(the target: 5x faster with RMSE within 2%).

Times are the best of --runs: on a shared machine the fastest run is the one least disturbed,
for both contenders alike. Ratios are measured here, side by side; absolute times depend on
the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_dataset(out: str, rows: int, test_rows: int, features: int, seed: int) -> None:
    from sklearn.datasets import make_friedman1

    x, y_clean = make_friedman1(n_samples=rows + test_rows, n_features=features, noise=0.0,
                                random_state=seed)
    noise = np.random.default_rng(seed).standard_normal(rows)
    x = x.astype(np.float32)
    np.save(os.path.join(out, "X.npy"), x[:rows])
    np.save(os.path.join(out, "y.npy"), y_clean[:rows] + noise)
    np.save(os.path.join(out, "T.npy"), x[rows:])
    np.save(os.path.join(out, "Ty.npy"), y_clean[rows:])


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred.astype(np.float64) - truth) ** 2)))


def time_sklearn(data: str, threads: int, trees: int) -> dict:
    """One run of `medlens_baseline.py forest` in a fresh process, like ours: no thread pool or
    warm cache left over from an earlier run."""
    with tempfile.TemporaryDirectory() as scratch:
        pred, timings = os.path.join(scratch, "pred.npy"), os.path.join(scratch, "t.json")
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "medlens_baseline.py"), "forest",
                        "--train-x", os.path.join(data, "X.npy"),
                        "--train-y", os.path.join(data, "y.npy"),
                        "--test-x", os.path.join(data, "T.npy"), "--out", pred,
                        "--trees", str(trees), "--seed", "0", "--n-jobs", str(threads),
                        "--json-timings", timings], check=True, capture_output=True)
        with open(timings) as fh:
            measured = json.load(fh)
        return {"fit_s": measured["fit_s"], "predict_s": measured["predict_s"],
                "rmse": held_out_rmse(data, np.load(pred))}


def held_out_rmse(data: str, pred: np.ndarray) -> float | None:
    truth = os.path.join(data, "Ty.npy")
    return rmse(pred, np.load(truth)) if os.path.exists(truth) else None


def time_ours(binary: str, data: str, threads: int, method: str, trees: int) -> dict:
    out = subprocess.run([binary, data, str(threads), method, str(trees)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def best_of(runs: int, measure) -> dict:
    results = [measure() for _ in range(runs)]
    return {"fit_s": min(r["fit_s"] for r in results),
            "predict_s": min(r["predict_s"] for r in results), "rmse": results[0]["rmse"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="directory with X.npy, y.npy, T.npy (and Ty.npy)")
    parser.add_argument("--rows", type=int, default=20_000, help="training rows (default 20000)")
    parser.add_argument("--test-rows", type=int, default=2_000)
    parser.add_argument("--features", type=int, default=10, help="5 informative, others noise")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--methods", default="exact,histogram:255",
                        help="medimpute split methods (exact, histogram:BINS)")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender (best of)")
    parser.add_argument("--json", help="write the results here as JSON")
    args = parser.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "forest_timing"],
                   cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "examples", "forest_timing")
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or scratch
        if not args.data:
            write_dataset(data, args.rows, args.test_rows, args.features, seed=0)
        shape = np.load(os.path.join(data, "X.npy"), mmap_mode="r").shape
        print(f"{shape[0]} x {shape[1]} training rows, {args.trees} trees, "
              f"best of {args.runs} runs", file=sys.stderr)
        results = []
        for threads in (int(p) for p in args.threads.split(",")):
            theirs = best_of(args.runs, lambda: time_sklearn(data, threads, args.trees))
            results.append({"who": "scikit-learn", "method": "exact", "threads": threads, **theirs})
            for method in args.methods.split(","):
                ours = best_of(args.runs,
                                 lambda: time_ours(binary, data, threads, method, args.trees))
                results.append({"who": "medimpute", "method": method, "threads": threads, **ours,
                                "fit_speedup": theirs["fit_s"] / ours["fit_s"],
                                "total_speedup": (theirs["fit_s"] + theirs["predict_s"])
                                / (ours["fit_s"] + ours["predict_s"]),
                                "rmse_ratio": ours["rmse"] / theirs["rmse"]
                                if ours["rmse"] is not None else None})

    print(f"{'contender':<30} {'threads':>7} {'fit s':>8} {'predict s':>9} {'RMSE':>8} "
          f"{'fit x':>7} {'total x':>7} {'RMSE ratio':>10}")
    for r in results:
        name = f"{r['who']} {r['method']}"
        rmse_text = f"{r['rmse']:8.4f}" if r["rmse"] is not None else f"{'-':>8}"
        line = f"{name:<30} {r['threads']:>7} {r['fit_s']:8.3f} {r['predict_s']:9.4f} {rmse_text}"
        if r["who"] == "medimpute":
            ratio = f"{r['rmse_ratio']:10.4f}" if r["rmse_ratio"] is not None else f"{'-':>10}"
            line += f" {r['fit_speedup']:7.1f} {r['total_speedup']:7.1f} {ratio}"
        print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
