"""Benchmark deploy.py against local stand-ins: a first deploy and a no-change redeploy.

    python tools/bench_deploy.py [--runs N]

Starts a moto server (with the test suite's compatibility patches), the Postmark
stand-in and the stand-in ``op``, all on 127.0.0.1, then runs
``python deploy.py Alpha002 dev --yes`` as a subprocess: once on an empty account
and N times again with nothing to change. Prints wall time, AWS calls and how long
after CloudFormation's terminal event the command noticed it. Targets: under 2 s
of noticing latency per wait, and a no-change redeploy under 3 s including lint.
A benchmark, not a test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FINISHED = re.compile(r"finished in ([\d.]+)s, (\d+) AWS call")
NOTICED = re.compile(r"noticed ([\d.]+)s after CloudFormation")


def _start_world():
    """The rehearsal world (tools/rehearsal/world.py); the environment of Alpha002's operator."""
    from tools.rehearsal.world import World

    world = World().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OP_", "GITHUB_", "AWS_"))}
    env.update(world.env("Alpha002"))
    return world, env


def _deploy(env: dict[str, str], checkout: Path) -> tuple[float, int, list[float], str]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(checkout / "deploy.py"), "Alpha002", "dev", "--yes"],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"deploy.py failed ({result.returncode}):\n{result.stderr}")
    calls = int(FINISHED.search(result.stderr).group(2))
    noticed = [float(x) for x in NOTICED.findall(result.stderr)]
    return wall, calls, noticed, result.stdout


def main() -> int:
    """Run the deploys and print a small report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="no-change redeploys to time (default 5)")
    args = parser.parse_args()
    world, env = _start_world()
    # deploy.py deploys only committed work: time the working tree as one commit.
    from tools.rehearsal.repo import committed_copy

    scratch = tempfile.TemporaryDirectory(prefix="bench-deploy-")
    checkout = committed_copy(Path(scratch.name))
    wall, calls, noticed, _ = _deploy(env, checkout)
    print(
        f"first deploy:        {wall:.2f} s wall, {calls} AWS calls, stack noticed {noticed[0]:.2f} s after completion"
    )
    walls, call_counts = [], []
    for _ in range(args.runs):
        wall, calls, _, stdout = _deploy(env, checkout)
        if "no changes" not in stdout:
            raise SystemExit("expected a no-change redeploy")
        walls.append(wall)
        call_counts.append(calls)
    print(
        f"no-change redeploy:  median {statistics.median(walls):.2f} s, worst {max(walls):.2f} s wall "
        f"(target < 3 s), {call_counts[0]} AWS calls, {args.runs} runs"
    )
    world.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
