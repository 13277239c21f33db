"""Benchmark deploy.py against local stand-ins, side by side with aws-cli's deploy, at AWS-like latencies.

    python tools/bench/deploy.py [--runs N] [--latency-ms MS [MS ...]] [--no-aws-cli] [--apply-seconds S] [--calls]

Starts the rehearsal world (a moto server with the compatibility patches, the
Postmark stand-in and the stand-in ``op``, all on 127.0.0.1) and times
``python deploy.py Alpha002 dev --yes`` as a subprocess in four scenarios: a first
create with a cold cfn-lint cache, a first create after ``--plan`` (the runbook's
order: the plan's lint pass is cached), a no-change redeploy and a one-record
update (Postmark rotates DKIM). Beside each, ``aws cloudformation deploy`` of the
same template on the same emulator: its first create, its no-change redeploy of
the very stack deploy.py made (previous parameter values, same tags), and a
one-parameter update.

Each scenario runs at every ``--latency-ms`` (default 0 and 60): the world makes
every AWS and Postmark request wait that long before it is answered, as a round
trip to AWS costs (``World.set_latency``; concurrent requests wait together). On AWS
a deploy's sequential calls are what its operator waits for; at 0 ms they cost
almost nothing. The scenarios and latencies are interleaved run by run, so a
machine that slows down mid-way slows both sides; medians are shown (with the
fastest and slowest run), with the
ratio deploy.py / aws-cli and the targets at 60 ms (no-change and one-record update
<= 1.0, a first create <= 1.5). deploy.py does more (account guard, committed work,
drift, lint, Postmark, plan, protections). Beside the times, the calls each side
made per deploy, counted by the world (AWS and Postmark; the world's own calls, the
custom resource's handler inside AWS, are not counted), and the most AWS and
Postmark calls in flight at once (1: each waited for the one before); ``--calls``
lists them in order. Also: how long after CloudFormation's terminal event
deploy.py noticed it (target under 2 s), and one update that CloudFormation takes
``--apply-seconds`` to apply, where the polling policies show. A benchmark, not a
test: run it on a quiet machine.
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
from collections.abc import Callable
from dataclasses import dataclass, field
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
# Issue 30: at 60 ms per call, the most deploy.py may take beside aws-cli's deploy of the same template.
TARGET_LATENCY_MS = 60
TARGETS = {"first create": 1.5, "create after --plan": 1.5, "no-change": 1.0, "one-record update": 1.0}
DEFAULT_LATENCIES_MS = (0, TARGET_LATENCY_MS)
MAX_LATENCY_MS = 2000
SIDES = ("deploy.py", "aws-cli")


@dataclass
class Call:
    """One call a side made, as the world saw it: AWS (``service Action``) or Postmark (``METHOD /path``)."""

    what: str
    arrived: float
    answered: float
    postmark: bool = False


@dataclass
class Observed:
    """One timed command: its wall time and the calls the world answered for it, in the order they arrived."""

    wall: float
    calls: list[Call]
    stdout: str = ""
    stderr: str = ""
    started: float = 0.0  # time.monotonic(), as the world's log: the process started ...
    ended: float = 0.0  # ... and ended

    @property
    def aws(self) -> int:
        return sum(not c.postmark for c in self.calls)

    @property
    def postmark(self) -> int:
        return sum(c.postmark for c in self.calls)

    @property
    def at_once(self) -> int:
        from tools.rehearsal.moto_compat.controls import most_at_once

        return most_at_once(self.calls)


@dataclass
class Results:
    """Every timed command, by (latency in ms, scenario, side)."""

    times: dict[tuple[int, str, str], list[float]] = field(default_factory=dict)
    last: dict[tuple[int, str, str], Observed] = field(default_factory=dict)
    noticed: dict[int, list[float]] = field(default_factory=dict)

    def add(self, latency_ms: int, scenario: str, side: str, observed: Observed) -> Observed:
        self.times.setdefault((latency_ms, scenario, side), []).append(observed.wall)
        self.last[(latency_ms, scenario, side)] = observed
        if side == "deploy.py":
            self.noticed.setdefault(latency_ms, []).extend(float(x) for x in NOTICED.findall(observed.stderr))
        return observed


def _start_world():
    """The rehearsal world (tools/rehearsal/world.py); the environment of Alpha002's operator."""
    from tools.rehearsal.world import World

    world = World().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OP_", "GITHUB_", "AWS_"))}
    env.update(world.env("Alpha002"))
    env["PATH"] = _tools_first(env["PATH"])
    return world, env


def _tools_first(path: str) -> str:
    """``path`` with the world's stand-ins first, then this interpreter's own scripts folder.

    So both sides run on what this project installs, whatever the shell's PATH holds: ``aws``
    is the aws-cli of setup.cfg's test extras, and ``python3``, which the stand-in ``op`` runs
    on, is this interpreter. Found through a version manager's shims instead (pyenv's cost
    about 60 ms a start here), each side would be timed with a start-up cost of the machine's
    set-up, and aws-cli could be another version altogether.
    """
    from tools.rehearsal.world import BIN

    scripts = Path(sys.executable).parent
    if not (scripts / "aws").is_file():
        raise SystemExit(f"aws-cli is not installed beside {sys.executable}: pip install -e '.[test]' first")
    first = [str(BIN), str(scripts)]
    return os.pathsep.join([*first, *(p for p in path.split(os.pathsep) if p not in first)])


def _observe(world, latency_ms: int, command: list[str], env: dict[str, str], cwd: Path | None = None) -> Observed:
    """Run ``command`` with every AWS and Postmark request costing ``latency_ms``; its wall time and calls.

    Nothing else talks to the world meanwhile, so every call it answers but its own is this command's.
    """
    from tools.rehearsal.moto_compat import CONTROLS
    from tools.rehearsal.moto_compat.controls import WORLD_AGENT

    aws_from, postmark_from = len(CONTROLS.served), len(world.postmark.requests)
    world.set_latency(latency_ms / 1000)
    try:
        started = time.monotonic()  # the clock of the world's log
        result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        ended = time.monotonic()
    finally:
        world.set_latency(0.0)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} failed ({result.returncode}):\n{result.stderr}")
    calls = [
        Call(f"{s.service} {s.action}", s.arrived, s.answered)
        for s in CONTROLS.served[aws_from:]
        if s.caller != WORLD_AGENT
    ]
    calls += [
        Call(f"Postmark {r.method} {r.path}", r.arrived, r.answered, postmark=True)
        for r in world.postmark.requests[postmark_from:]
    ]
    calls.sort(key=lambda c: c.arrived)
    return Observed(ended - started, calls, result.stdout, result.stderr, started, ended)


def _aws_cli(world, latency_ms: int, env: dict[str, str], template: Path, scratch: Path, params, tags) -> Observed:
    """One ``aws cloudformation deploy`` (parameters from a file, never on argv).

    Parameters not given keep their previous values (aws-cli's own rule for an existing stack).
    The anchor runs as the account's administrator: its calls (GetTemplateSummary, ...) are
    aws-cli's, not this tool's, so the documented operator policy does not cover them.
    """
    from instances.registry import load_registry
    from tools.rehearsal.aws import staff

    env = dict(env, **staff(load_registry().infrastructures["Alpha002"].account_id))  # before the clock starts
    overrides = scratch / "overrides.json"
    overrides.write_text(json.dumps([f"{k}={v}" for k, v in params.items()]))
    command = ["aws", "cloudformation", "deploy", "--template-file", str(template)]
    command += ["--stack-name", STACK, "--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset"]
    if params:
        command += ["--parameter-overrides", f"file://{overrides}"]
    if tags:
        command += ["--tags", *(f"{k}={v}" for k, v in tags.items())]
    return _observe(world, latency_ms, command, env)


def _deploy(world, latency_ms: int, env: dict[str, str], checkout: Path, *extra: str) -> Observed:
    """One ``python deploy.py Alpha002 dev --yes``; its own count of AWS calls must be the world's."""
    command = [sys.executable, str(checkout / "deploy.py"), "Alpha002", "dev", "--yes", *extra]
    observed = _observe(world, latency_ms, command, env, cwd=checkout)
    counted = int(FINISHED.search(observed.stderr).group(2))
    if counted != observed.aws:
        raise SystemExit(f"deploy.py counted {counted} AWS calls, the world answered {observed.aws}")
    return observed


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
    from tools.rehearsal.aws import reset
    from tools.rehearsal.world import populate

    reset(world.moto_url)
    populate(world.registry, empty=True)
    world.postmark.domains.clear()
    return world.env("Alpha002")


def _stack_tags(env: dict[str, str]) -> dict[str, str]:
    from tools.rehearsal.aws import client

    (stack,) = client("cloudformation", env).describe_stacks(StackName=STACK)["Stacks"]
    return {t["Key"]: t["Value"] for t in stack.get("Tags", [])}


def _round(world, env, checkout: Path, template: Path, scratch: Path, run: str, latency: int, args, results) -> None:
    """Every scenario once at ``latency`` ms per call, each side's in turn."""

    def ours(scenario: str, *extra: str) -> Observed:
        return results.add(latency, scenario, "deploy.py", _deploy(world, latency, env, checkout, *extra))

    def theirs(scenario: str, params: dict[str, str], tags: dict[str, str]) -> Observed:
        observed = _aws_cli(world, latency, env, template, scratch, params, tags)
        return results.add(latency, scenario, "aws-cli", observed)

    # A first create with a cold cfn-lint cache (a cache folder of its own).
    env.update(_empty_world(world), XDG_CACHE_HOME=str(scratch / f"cold-{run}-{latency}"))
    ours("first create")
    if "no changes" not in ours("no-change").stdout:
        raise SystemExit("expected a no-change redeploy")
    if not args.no_aws_cli:
        # aws-cli's no-change redeploy of the same stack; ours must still find nothing to do after it.
        theirs("no-change", {}, _stack_tags(env))
        if "no changes" not in _deploy(world, 0, env, checkout).stdout:
            raise SystemExit("aws-cli's no-change deploy changed the stack")
    _rotate(world)
    ours("one-record update")
    # The runbook's order: --plan (which lints) before the deploy.
    env.update(_empty_world(world), XDG_CACHE_HOME=str(scratch / f"planned-{run}-{latency}"))
    _deploy(world, 0, env, checkout, "--plan")
    ours("create after --plan")
    if not args.no_aws_cli:
        env.update(_empty_world(world))
        # aws-cli lints nothing and plans nothing: its first create is the anchor of both of ours.
        created = theirs("first create", AWS_CLI_CREATE, {})
        results.add(latency, "create after --plan", "aws-cli", created)
        theirs("one-record update", AWS_CLI_ONE_RECORD, {})


def _slow_update(world, env, checkout: Path, template: Path, scratch: Path, latency: int, args):
    """A one-record update that CloudFormation takes ``--apply-seconds`` to apply (moto patch 10)."""
    from tools.rehearsal.moto_compat import CONTROLS

    env.update(_empty_world(world))
    _deploy(world, 0, env, checkout)
    _rotate(world)
    CONTROLS.slow_execution = args.apply_seconds
    try:
        mine = _deploy(world, latency, env, checkout)
        cli = None
        if not args.no_aws_cli:
            CONTROLS.slow_execution = 0.0
            env.update(_empty_world(world))
            _aws_cli(world, 0, env, template, scratch, AWS_CLI_CREATE, {})
            CONTROLS.slow_execution = args.apply_seconds
            cli = _aws_cli(world, latency, env, template, scratch, AWS_CLI_ONE_RECORD, {})
    finally:
        CONTROLS.slow_execution = 0.0
    return mine, cli


def latency_ms(text: str) -> int:
    """An ``--latency-ms`` value: whole milliseconds, 0 to MAX_LATENCY_MS."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be whole milliseconds, got: {text!r}") from None
    if not 0 <= value <= MAX_LATENCY_MS:
        raise argparse.ArgumentTypeError(f"must be 0 to {MAX_LATENCY_MS} milliseconds, got: {value}")
    return value


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each scenario (default 5); medians are shown")
    parser.add_argument(
        "--latency-ms",
        type=latency_ms,
        nargs="+",
        default=list(DEFAULT_LATENCIES_MS),
        metavar="MS",
        help=f"run every scenario with each AWS and Postmark call waiting MS milliseconds, as a round trip to AWS "
        f"costs (default: {' and '.join(map(str, DEFAULT_LATENCIES_MS))}; the targets are at {TARGET_LATENCY_MS})",
    )
    parser.add_argument("--no-aws-cli", action="store_true", help="skip the side-by-side with aws-cli's deploy")
    parser.add_argument(
        "--apply-seconds",
        type=float,
        default=10.0,
        help="one more update at each latency, with CloudFormation taking this long to apply it as on AWS "
        "(default 10; 0 skips)",
    )
    parser.add_argument(
        "--calls", action="store_true", help="also list each side's calls in order, per scenario and latency"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got: {args.runs}")
    args.latency_ms = list(dict.fromkeys(args.latency_ms))  # each once, in the order given
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the interleaved scenarios at each latency and print a small report."""
    args = parse(argv)
    world, env = _start_world()
    # deploy.py deploys only committed work: time the working tree as one commit.
    from tools.rehearsal.repo import committed_copy

    scratch = Path(tempfile.mkdtemp(prefix="bench-deploy-"))
    checkout = committed_copy(scratch / "checkout")
    template = checkout / "templates" / f"{STACK}.yaml"
    results = Results()
    slow = {}
    try:
        for run in range(args.runs):
            for latency in args.latency_ms:
                _round(world, env, checkout, template, scratch, str(run), latency, args, results)
        if args.apply_seconds:
            for latency in args.latency_ms:
                slow[latency] = _slow_update(world, env, checkout, template, scratch, latency, args)
    finally:
        world.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    report(args, results, slow, print)
    return 0


def report(args, results: Results, slow: dict, out: Callable[[str], None]) -> None:
    """The tables: per latency, each scenario's medians, ratio, target and calls; then the slow update."""
    sides = SIDES[:1] if args.no_aws_cli else SIDES
    levels = " and ".join(f"{ms}" for ms in args.latency_ms)
    beside = "" if args.no_aws_cli else " beside aws cloudformation deploy"
    out(f"deploy.py{beside}: {args.runs} interleaved run(s) per scenario at {levels} ms")
    out(
        "(medians, fastest-slowest in brackets"
        + ("" if args.no_aws_cli else "; ratio deploy.py / aws-cli")
        + "; per deploy, as the world counted them: AWS calls, Postmark calls, and the most in flight at once)"
    )
    for latency in args.latency_ms:
        out(f"\nat {latency} ms per AWS and Postmark call:")
        head = f"  {'scenario':<20}" + "".join(f" {side:>20}" for side in sides)
        if not args.no_aws_cli:
            head += f" {'ratio':>6}  {'target':<13}"
        out(head + f" {'AWS calls':>10} {'Postmark':>9} {'at once':>8}")
        for name in SCENARIOS:
            times = [results.times[(latency, name, side)] for side in sides]
            line = f"  {name:<20}" + "".join(
                f" {statistics.median(t):6.2f} s ({min(t):.2f}-{max(t):.2f})" for t in times
            )
            if not args.no_aws_cli:
                ratio = statistics.median(times[0]) / statistics.median(times[1])
                line += f" {ratio:6.2f}  {_target(name, latency, ratio):<13}"
            last = [results.last[(latency, name, side)] for side in sides]
            line += f" {' / '.join(str(o.aws) for o in last):>10}"
            line += f" {' / '.join(str(o.postmark) for o in last):>9}"
            line += f" {' / '.join(str(o.at_once) for o in last):>8}"
            out(line)
        noticed = results.noticed.get(latency, [])
        if noticed:
            out(
                f"  terminal events noticed at most {max(noticed):.2f} s after CloudFormation reported them "
                "(target < 2 s)"
            )
    if slow:
        out(f"\none-record update while CloudFormation applies it for {args.apply_seconds:g} s (as on AWS):")
        for latency, (mine, cli) in slow.items():
            out(
                f"  at {latency} ms: deploy.py {mine.wall:.2f} s"
                + (f", aws-cli {cli.wall:.2f} s, ratio {mine.wall / cli.wall:.2f}" if cli else "")
            )
        out("  (aws-cli's stack waiter polls every 30 s after its first look; deploy.py every 2 s)")
    if args.calls:
        for latency in args.latency_ms:
            for name in SCENARIOS:
                for side in sides:
                    _list_calls(out, f"{side}, {name}, at {latency} ms", results.last[(latency, name, side)])


def _target(scenario: str, latency: int, ratio: float) -> str:
    """The target beside a ratio (issue 30's are at TARGET_LATENCY_MS), and whether it is met."""
    if latency != TARGET_LATENCY_MS:
        return ""
    limit = TARGETS[scenario]
    return f"<= {limit:.1f} {'met' if ratio <= limit else 'MISSED'}"


def _list_calls(out: Callable[[str], None], title: str, observed: Observed) -> None:
    """Each call of the last run in the order it arrived; calls in flight together share a wave number.

    Then where the wall time went: before the first call (start-up, 1Password, ...), from the first call to
    the last answer, and after it.
    """
    out(f"\n{title}: {observed.aws} AWS, {observed.postmark} Postmark call(s), {observed.wall:.2f} s")
    if not observed.calls:
        return
    first, wave, busy_until = observed.calls[0].arrived, 0, float("-inf")
    last = max(c.answered for c in observed.calls)
    for call in observed.calls:
        if call.arrived >= busy_until:
            wave += 1  # every call before this one had its answer: a new wave
        busy_until = max(busy_until, call.answered)
        out(
            f"  wave {wave:>2}  +{(call.arrived - first) * 1000:6.0f} ms  "
            f"{(call.answered - call.arrived) * 1000:5.0f} ms  {call.what}"
        )
    if observed.ended:
        out(
            f"  {first - observed.started:.2f} s before the first call, {last - first:.2f} s from it to the last "
            f"answer ({wave} waves), {observed.ended - last:.2f} s after"
        )


if __name__ == "__main__":
    sys.exit(main())
