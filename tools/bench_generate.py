"""Benchmark generate.py: the whole process, and rendering in-process.

    python tools/bench_generate.py [--runs N]

Prints the median and worst wall time and the peak RSS of ``python generate.py``
over all active partitions (writing into a temporary folder), then the median time
of one in-process render. A benchmark, not a test: run it on a quiet machine.
Reference: ``cdk synth`` of the equivalent CDK stack takes about 1.5-1.9 s and
220 MB peak RSS in its fastest configuration on these machines; the target is 0.07
of the time (105 ms) and 0.10 of the memory (22 MB). Also the per-partition cost
of rendering 1, 4 and 64 (synthetic) partitions in one process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def whole_process(runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds and peak RSS (MB) of each ``python generate.py`` run."""
    walls, peaks = [], []
    with tempfile.TemporaryDirectory() as out:
        for _ in range(runs):
            start = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, str(REPO / "generate.py"), "--out", out],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            walls.append(time.perf_counter() - start)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"generate.py failed with exit status {status}")
            peaks.append(usage.ru_maxrss / 1024)
    return walls, peaks


def in_process(runs: int) -> list[float]:
    """Seconds to render every active partition once, already imported."""
    from instances.registry import load_registry
    from templates.render import read_handler_source, render

    registry = load_registry()
    source = read_handler_source()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for config in registry.partitions.values():
            render(config, source)
        times.append(time.perf_counter() - start)
    return times


def per_partition(counts: tuple[int, ...] = (1, 4, 64)) -> dict[int, float]:
    """Milliseconds per partition when one process renders N partitions (synthetic ones past the real)."""
    import dataclasses

    from instances.registry import load_registry
    from templates.partition_email import PartitionEmail
    from templates.render import props_for, read_handler_source
    from templates.yaml_emitter import dump

    base = props_for(load_registry().partition("dev"), read_handler_source())
    partitions = ("dev", "stage", "demo", "prod")
    costs = {}
    for count in counts:
        props = [
            dataclasses.replace(
                base,
                infrastructure=f"Synth{i // 4:03d}",
                partition=partitions[i % 4],
                mail_domain=f"{partitions[i % 4]}.ardamails.com",
            )
            for i in range(count)
        ]
        start = time.perf_counter()
        for p in props:
            dump(PartitionEmail(p).template.to_dict())
        costs[count] = (time.perf_counter() - start) * 1000 / count
    return costs


def main() -> int:
    """Run both benchmarks and print a small report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    walls, peaks = whole_process(args.runs)
    renders = in_process(args.runs)
    print(f"python generate.py, {args.runs} runs (all active partitions):")
    median_ms, worst_ms = statistics.median(walls) * 1000, max(walls) * 1000
    print(f"  wall   median {median_ms:.0f} ms, worst {worst_ms:.0f} ms (target < 105 ms, 0.07 of cdk synth)")
    print(f"  RSS    median {statistics.median(peaks):.1f} MB, worst {max(peaks):.1f} MB (target < 22 MB)")
    print(f"in-process render: median {statistics.median(renders) * 1000:.1f} ms per run of all partitions")
    for count, ms in per_partition().items():
        print(f"  {count:>2} partition(s) in one process: {ms:.1f} ms per partition")
    return 0


if __name__ == "__main__":
    sys.exit(main())
