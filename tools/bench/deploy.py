"""Benchmark deploy.py against local stand-ins, side by side with aws-cli's deploy.

    python tools/bench/deploy.py [--runs N] [--no-aws-cli] [--apply-seconds S]

Starts the rehearsal world (a moto server with the compatibility patches, the
Postmark stand-in and the stand-in ``op``, all on 127.0.0.1) and times
``python deploy.py Alpha002 dev --yes`` as a subprocess in four scenarios: a first
create with a cold cfn-lint cache, a first create after ``--plan`` (the runbook's
order: the plan's lint pass is cached), a no-change redeploy and a one-record
update (Postmark rotates DKIM). Beside each, ``aws cloudformation deploy`` of the
same template on the same emulator: its first create, its no-change redeploy of
the very stack deploy.py made (previous parameter values, same tags), and a
one-parameter update. The scenarios are interleaved run by run, so a machine that
slows down mid-way slows both; medians are shown, with the ratio deploy.py /
aws-cli. deploy.py does more (account guard, committed work, drift, lint,
Postmark, plan, protections); the target is a ratio <= 1. Also: AWS calls, and
how long after CloudFormation's terminal event deploy.py noticed it (target under
2 s). A benchmark, not a test: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

FINISHED = re.compile(r"finished in ([\d.]+)s, (\d+) AWS call")
NOTICED = re.compile(r"noticed ([\d.]+)s after CloudFormation")
STACK = "Alpha002-dev-Email"
SCENARIOS = ("first create", "create after --plan", "no-change", "one-record update")
# aws-cli's stack: a first create with one DKIM key, then one more record (other parameters keep their values).
AWS_CLI_CREATE = {"PostmarkAccountToken": "bench-token-000", "DkimSlot1Selector": "k1", "DkimSlot1Value": '"k=rsa;p=A"'}
AWS_CLI_ONE_RECORD = {"DkimSlot2Selector": "k2", "DkimSlot2Value": '"k=rsa;p=B"'}


def _start_world():
    """The rehearsal world (tools/rehearsal/world.py); the environment of Alpha002's operator."""
    from tools.rehearsal.world import World

    world = World().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OP_", "GITHUB_", "AWS_"))}
    env.update(world.env("Alpha002"))
    return world, env


def _aws_cli(env: dict[str, str], template: Path, scratch: Path, params: dict[str, str], tags: dict[str, str]) -> float:
    """Wall time of one ``aws cloudformation deploy`` (parameters from a file, never on argv).

    Parameters not given keep their previous values (aws-cli's own rule for an existing stack).
    The anchor runs as the account's administrator: its calls (GetTemplateSummary, ...) are
    aws-cli's, not this tool's, so the documented operator policy does not cover them.
    """
    from instances.registry import load_registry
    from tools.rehearsal.aws import staff

    env = dict(env, **staff(load_registry().infrastructures["Alpha002"].account_id))
    overrides = scratch / "overrides.json"
    overrides.write_text(json.dumps([f"{k}={v}" for k, v in params.items()]))
    command = ["aws", "cloudformation", "deploy", "--template-file", str(template)]
    command += ["--stack-name", STACK, "--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset"]
    if params:
        command += ["--parameter-overrides", f"file://{overrides}"]
    if tags:
        command += ["--tags", *(f"{k}={v}" for k, v in tags.items())]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"aws cloudformation deploy failed ({result.returncode}):\n{result.stderr}")
    return wall


def _rotate(world) -> None:
    """A one-record update: Postmark verifies the pending key and starts a rotation (the old key is safe to drop)."""
    domain = world.postmark.only_domain()
    world.postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    world.postmark.verify_dkim(domain["ID"])
    if domain.get("DKIMRevokedHost"):
        world.postmark.make_revoked_key_safe(domain["ID"])
    world.postmark.rotate_dkim(domain["ID"])


def _empty_world(world) -> dict[str, str]:
    """An empty emulator and Postmark account again (a first create); the fresh credentials."""
    import requests

    from tools.rehearsal.world import populate

    requests.post(f"{world.moto_url}/moto-api/reset", timeout=30).raise_for_status()
    populate(world.registry)
    world.postmark.domains.clear()
    return world.env("Alpha002")


def _deploy(env: dict[str, str], checkout: Path, *extra: str) -> tuple[float, int, list[float], str]:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(checkout / "deploy.py"), "Alpha002", "dev", "--yes", *extra],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"deploy.py {' '.join(extra)} failed ({result.returncode}):\n{result.stderr}")
    calls = int(FINISHED.search(result.stderr).group(2))
    noticed = [float(x) for x in NOTICED.findall(result.stderr)]
    return wall, calls, noticed, result.stdout


def _stack_tags(env: dict[str, str]) -> dict[str, str]:
    from tools.rehearsal.aws import client

    (stack,) = client("cloudformation", env).describe_stacks(StackName=STACK)["Stacks"]
    return {t["Key"]: t["Value"] for t in stack.get("Tags", [])}


def main() -> int:
    """Run the interleaved scenarios and print a small report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each scenario (default 5); medians are shown")
    parser.add_argument("--no-aws-cli", action="store_true", help="skip the side-by-side with aws-cli's deploy")
    parser.add_argument(
        "--apply-seconds",
        type=float,
        default=10.0,
        help="one more update, with CloudFormation taking this long to apply it as on AWS (default 10; 0 skips)",
    )
    args = parser.parse_args()
    world, env = _start_world()
    # deploy.py deploys only committed work: time the working tree as one commit.
    from tools.rehearsal.repo import committed_copy

    scratch = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    checkout = committed_copy(scratch / "checkout")
    template = checkout / "templates" / f"{STACK}.yaml"
    ours: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    theirs: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    calls: dict[str, int] = {}
    noticed: list[float] = []

    def timed(name: str, result) -> None:
        ours[name].append(result[0])
        calls[name] = result[1]
        noticed.extend(result[2])

    for run in range(args.runs):
        # A first create with a cold cfn-lint cache (a cache folder of its own).
        env.update(_empty_world(world), XDG_CACHE_HOME=str(scratch / f"cold-{run}"))
        timed("first create", _deploy(env, checkout))
        result = _deploy(env, checkout)
        if "no changes" not in result[3]:
            raise SystemExit("expected a no-change redeploy")
        timed("no-change", result)
        if not args.no_aws_cli:
            # aws-cli's no-change redeploy of the same stack; ours must still find nothing to do after it.
            theirs["no-change"].append(_aws_cli(env, template, scratch, {}, _stack_tags(env)))
            if "no changes" not in _deploy(env, checkout)[3]:
                raise SystemExit("aws-cli's no-change deploy changed the stack")
        _rotate(world)
        timed("one-record update", _deploy(env, checkout))
        # The runbook's order: --plan (which lints) before the deploy.
        env.update(_empty_world(world), XDG_CACHE_HOME=str(scratch / f"planned-{run}"))
        _deploy(env, checkout, "--plan")
        timed("create after --plan", _deploy(env, checkout))
        if not args.no_aws_cli:
            env.update(_empty_world(world))
            created = _aws_cli(env, template, scratch, AWS_CLI_CREATE, {})
            # aws-cli lints nothing and plans nothing: its first create is the anchor of both of ours.
            theirs["first create"].append(created)
            theirs["create after --plan"].append(created)
            theirs["one-record update"].append(_aws_cli(env, template, scratch, AWS_CLI_ONE_RECORD, {}))
    slow = _slow_update(world, env, checkout, template, scratch, args) if args.apply_seconds else None
    world.stop()
    shutil.rmtree(scratch, ignore_errors=True)

    print(f"deploy.py, {args.runs} interleaved runs per scenario (medians; worst in brackets):")
    for name in SCENARIOS:
        print(f"  {name:<20} {statistics.median(ours[name]):5.2f} s ({max(ours[name]):.2f} s), {calls[name]} AWS calls")
    print(f"  terminal events noticed at most {max(noticed):.2f} s after CloudFormation reported them (target < 2 s)")
    if not args.no_aws_cli:
        print("\nscenario              deploy.py   aws-cli   ratio")
        for name in SCENARIOS:
            mine, cli = statistics.median(ours[name]), statistics.median(theirs[name])
            print(f"{name:<21} {mine:8.2f} s {cli:7.2f} s   {mine / cli:.2f}")
    if slow:
        mine, cli = slow
        print(
            f"\none-record update while CloudFormation applies it for {args.apply_seconds:g} s (as on AWS): "
            f"deploy.py {mine:.2f} s" + (f", aws-cli {cli:.2f} s, ratio {mine / cli:.2f}" if cli else "")
        )
        print("  (aws-cli's stack waiter polls every 30 s after its first look; deploy.py every 2 s)")
    return 0


def _slow_update(world, env, checkout: Path, template: Path, scratch: Path, args) -> tuple[float, float | None]:
    """A one-record update that CloudFormation takes ``--apply-seconds`` to apply (moto patch 10)."""
    from tools.rehearsal.moto_compat import CONTROLS

    env.update(_empty_world(world))
    _deploy(env, checkout)
    _rotate(world)
    CONTROLS.slow_execution = args.apply_seconds
    try:
        mine = _deploy(env, checkout)[0]
        cli = None
        if not args.no_aws_cli:
            CONTROLS.slow_execution = 0.0
            env.update(_empty_world(world))
            _aws_cli(env, template, scratch, AWS_CLI_CREATE, {})
            CONTROLS.slow_execution = args.apply_seconds
            cli = _aws_cli(env, template, scratch, AWS_CLI_ONE_RECORD, {})
    finally:
        CONTROLS.slow_execution = 0.0
    return mine, cli


if __name__ == "__main__":
    sys.exit(main())
