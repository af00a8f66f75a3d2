#!/usr/bin/env python3
"""Whether a run slows the one after it: one `run` job timed right after another configuration.

`medimpute bench auto` interleaves its configurations; if a run's after-effects (worker
processes exiting, memory the host takes back) slowed the next, a configuration that always
followed the same one would pay for it. This times pairs: a predecessor run (untimed), then the
timed run, for every (predecessor, timed) pair of the ones given, in a shuffled order each
repeat. Each run is a fresh `medimpute bench-job` process, as in the benchmark. Prints each
pair's median job time in milliseconds.

    python3 tools/auto_predecessor.py --export /tmp/e30 --items 198,223901,220739,454,184 \
        --method locf --hours 168 --repeats 150 target/release/medimpute

Standard library only; the request format is `tools/auto_overhead.py`'s.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import auto_overhead  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    auto_overhead.add_job_arguments(parser)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--before", default="serial,shm2", help="predecessors")
    parser.add_argument("--timed", default="threads,auto", help="configurations timed")
    parser.add_argument("--seed", type=int, default=1, help="seed of the pairs' order")
    parser.add_argument("binary")
    args = parser.parse_args()

    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "grid.npy")

        def fixed(kind, workers):
            timing = {"Fixed": {"kind": kind, "workers": workers, "pin": False}}
            return auto_overhead.request(args, out, timing)

        configurations = {
            "serial": fixed("serial", 1),
            "threads": fixed("threads", threads),
            "shm2": fixed("shm", 2),
            "pipe2": fixed("pipe", 2),
            "auto": auto_overhead.request(args, out, {"Auto": {"target": threads}}),
        }
        names = args.before.split(",") + args.timed.split(",")
        unknown = [n for n in names if n not in configurations]
        if unknown:
            sys.exit(f"unknown configurations {unknown}: choose from {sorted(configurations)}")
        pairs = [(b, t) for b in args.before.split(",") for t in args.timed.split(",")]
        times = {pair: [] for pair in pairs}
        order = random.Random(args.seed)
        for _ in range(args.repeats):
            order.shuffle(pairs)
            for before, timed in pairs:
                auto_overhead.run_once(args.binary, configurations[before], out)
                answer = auto_overhead.run_once(args.binary, configurations[timed], out)
                seconds = answer["seconds"] if isinstance(answer, dict) else answer
                times[(before, timed)].append(seconds)
    for (before, timed), values in sorted(times.items()):
        print(f"{timed} after {before}: {1e3 * statistics.median(values):.3f} ms "
              f"({len(values)} runs)")


if __name__ == "__main__":
    main()
