#!/usr/bin/env python3
"""Where `--backend auto` spends its time on one `run` job, for one or more medimpute binaries.

Each run is a fresh `medimpute bench-job` process (what `medimpute bench auto` times), run
once as auto and once on threads, alternately and binary after binary, so that the machine's
drift hits every side alike. Prints medians, in milliseconds: the whole job under auto and on
threads, auto's profiling (what measuring cost, less the work the run keeps) and its parts,
and auto's time over threads' round by round (median of the paired differences).

    python3 tools/auto_overhead.py --export /tmp/e30 --items 198,223901,220739,454,184 \
        --method locf --hours 168 --runs 21 target/release/medimpute /tmp/medimpute-before

Standard library only. The output grid goes to a temporary directory, removed at the end.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile


def request(args, out, timing):
    return {
        "job": {
            "inputs": {
                "admissions": os.path.join(args.export, "ADMISSIONS.csv"),
                "events": [
                    os.path.join(args.export, "CHARTEVENTS.csv"),
                    os.path.join(args.export, "LABEVENTS.csv"),
                ],
            },
            "sample": {
                "items": [int(i) for i in args.items.split(",")],
                "hours": args.hours,
                "skip_bad_rows": False,
            },
            "impute": {
                "method": args.method,
                "trees": args.trees,
                "window": None,
                "seed": 0,
                "max_train": 20000,
                "fill_empty": "mean",
                "validation_fraction": 0.1,
                "partners": 4,
            },
            "out": out,
        },
        "timing": timing,
    }


def run_once(binary, body, out):
    for f in glob.glob(out + "*"):
        os.remove(f)
    done = subprocess.run(
        [binary, "bench-job"], input=json.dumps(body), capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"{binary} bench-job failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def add_job_arguments(parser):
    """The `run` job's arguments, which `request` reads."""
    parser.add_argument("--export", required=True, help="plain-CSV export directory")
    parser.add_argument("--items", required=True, help="item ids, comma separated")
    parser.add_argument("--method", default="locf")
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--trees", type=int, default=None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_job_arguments(parser)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("binaries", nargs="+")
    args = parser.parse_args()

    times = {b: {} for b in args.binaries}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "grid.npy")
        auto = request(args, out, {"Auto": {"target": args.threads}})
        fixed = {"kind": "threads", "workers": args.threads, "pin": False}
        threads = request(args, out, {"Fixed": fixed})
        for _ in range(args.runs):
            for binary in args.binaries:
                row = times[binary]
                row.setdefault("threads", []).append(run_once(binary, threads, out))
                answer = run_once(binary, auto, out)
                row.setdefault("auto", []).append(answer["seconds"])
                row.setdefault("profiling", []).append(answer["profiling"])
                for stage, seconds in answer["stage_profiling"]:
                    row.setdefault(f"{stage} profile", []).append(seconds)
                row.setdefault("transports", []).append(answer["transports"])
                row.setdefault("starting", []).append(answer["starting"])
    for binary, row in times.items():
        # Auto's extra time over threads, round by round (the two runs were neighbours), so
        # that a slow spell of the machine cancels out.
        row["auto - threads, paired"] = [a - t for a, t in zip(row["auto"], row["threads"])]
        medians = "  ".join(
            f"{name} {1e3 * statistics.median(values):.3f}" for name, values in row.items()
        )
        print(f"{binary}: {medians}")


if __name__ == "__main__":
    main()
