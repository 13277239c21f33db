"""Benchmark deploy.py against local stand-ins, side by side with aws-cli's deploy.

    python tools/bench_deploy.py [--runs N] [--no-aws-cli]

Starts a moto server (with the test suite's compatibility patches), the Postmark
stand-in and the stand-in ``op``, all on 127.0.0.1, then runs
``python deploy.py Alpha002 dev --yes`` as a subprocess: once on an empty account
and N times again with nothing to change. Prints wall time, AWS calls and how long
after CloudFormation's terminal event the command noticed it. Targets: under 2 s
of noticing latency per wait, and a no-change redeploy under 3 s including lint.
Then the same three scenarios (first create, no-change, a one-record update) with
``aws cloudformation deploy`` of the same template on the same emulator, and the
ratio deploy.py / aws-cli for each. deploy.py does more (account guard, committed
work, drift, lint, Postmark, plan, protections); the target is a ratio <= 1.
A benchmark, not a test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
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


def _aws_cli(env: dict[str, str], template: Path, params: dict[str, str], scratch: Path) -> float:
    """Wall time of one ``aws cloudformation deploy`` (parameters from a file, never on argv)."""
    overrides = scratch / "overrides.json"
    overrides.write_text(json.dumps([f"{k}={v}" for k, v in params.items()]))
    start = time.perf_counter()
    result = subprocess.run(
        [
            "aws",
            "cloudformation",
            "deploy",
            "--template-file",
            str(template),
            "--stack-name",
            "Alpha002-dev-Email",
            "--capabilities",
            "CAPABILITY_IAM",
            "--no-fail-on-empty-changeset",
            "--parameter-overrides",
            f"file://{overrides}",
        ],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"aws cloudformation deploy failed ({result.returncode}):\n{result.stderr}")
    return wall


def _rotate(world) -> None:
    """A one-record update: Postmark verifies the first key and starts a rotation."""
    domain = world.postmark.only_domain()
    world.postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    world.postmark.verify_dkim(domain["ID"])
    world.postmark.rotate_dkim(domain["ID"])


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
    parser.add_argument("--no-aws-cli", action="store_true", help="skip the side-by-side with aws-cli's deploy")
    args = parser.parse_args()
    world, env = _start_world()
    # deploy.py deploys only committed work: time the working tree as one commit.
    from tools.rehearsal.repo import committed_copy

    scratch = tempfile.TemporaryDirectory(prefix="bench-deploy-")
    checkout = committed_copy(Path(scratch.name) / "checkout")
    env["XDG_CACHE_HOME"] = str(Path(scratch.name) / "cache")  # a cold cfn-lint cache for the first deploy
    ours: dict[str, float] = {}
    wall, calls, noticed, _ = _deploy(env, checkout)
    ours["first create"] = wall
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
    ours["no-change"] = statistics.median(walls)
    print(
        f"no-change redeploy:  median {statistics.median(walls):.2f} s, worst {max(walls):.2f} s wall "
        f"(target < 3 s), {call_counts[0]} AWS calls, {args.runs} runs"
    )
    _rotate(world)
    wall, calls, _, stdout = _deploy(env, checkout)
    ours["one-record update"] = wall
    print(f"one-record update:   {wall:.2f} s wall, {calls} AWS calls")
    if not args.no_aws_cli:
        _compare_with_aws_cli(world, env, checkout, Path(scratch.name), ours, args.runs)
    world.stop()
    return 0


def _compare_with_aws_cli(world, env, checkout: Path, scratch: Path, ours: dict[str, float], runs: int) -> None:
    """The same scenarios with aws-cli on an emptied emulator; print the ratios."""
    import requests

    from tools.rehearsal.world import populate

    requests.post(f"{world.moto_url}/moto-api/reset", timeout=30).raise_for_status()
    populate(world.registry)
    env = {**env, **world.env("Alpha002")}  # fresh credentials after the reset
    template = checkout / "templates" / "Alpha002-dev-Email.yaml"
    params = {"PostmarkAccountToken": "bench-token-0000", "DkimSlot1Selector": "k1", "DkimSlot1Value": '"k=rsa;p=AAAA"'}
    theirs = {"first create": _aws_cli(env, template, params, scratch)}
    theirs["no-change"] = statistics.median(_aws_cli(env, template, params, scratch) for _ in range(runs))
    theirs["one-record update"] = _aws_cli(
        env, template, {**params, "DkimSlot2Selector": "k2", "DkimSlot2Value": '"k=rsa;p=BBBB"'}, scratch
    )
    print("\nscenario             deploy.py   aws-cli   ratio")
    for scenario, ours_s in ours.items():
        print(f"{scenario:<20} {ours_s:8.2f} s {theirs[scenario]:7.2f} s   {ours_s / theirs[scenario]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
