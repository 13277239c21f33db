"""docs/operator-runbook.md as data, and running it in a rehearsal world: the logic behind ``rehearse.py runbook``.

Each step is the operator's command run as a child process (``tools.lib.children``:
a signal reaches it once, and it cleans up before the runbook stops), with what its
stdout must say; a plain string is a change the world makes by itself.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.lib.children import run_child
from tools.lib.clock import REAL, Clock

REPO = Path(__file__).resolve().parents[2]
STEP_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class Step:
    """One runbook command and what the runbook says it does."""

    name: str
    argv: list[str]
    expect: str = ""  # text its stdout must contain
    code: int = 0


@dataclass(frozen=True)
class Row:
    """What one step did."""

    step: str
    exit: str
    seconds: float
    result: str
    detail: str = ""


def runbook_steps(infra: str, partition: str, resolver: str, stack: str) -> list[Step | str]:
    """The operator runbook, in order; a plain string is a change the world makes by itself."""
    deploy = [sys.executable, "deploy.py", infra, partition]
    verify = [sys.executable, "tools/verify_partition_mail.py", infra, partition, "--resolver", resolver]
    verify += ["--wait", "60"]
    rotate = [sys.executable, "tools/rotate_dkim.py", infra, partition]
    return [
        Step("pre-flight", [*deploy, "--preflight"], "pre-flight"),
        Step("dry-run", [*deploy, "--dry-run"], f"stack {stack}"),
        Step("plan", [*deploy, "--plan"], "plan only; change set deleted, nothing executed"),
        Step("deploy", [*deploy, "--yes"], f"{stack}: CREATE_COMPLETE"),
        Step("deploy again (no changes)", [*deploy, "--yes"], f"{stack}: no changes"),
        Step("verify (Postmark verifies the first key)", verify, "checks passed"),
        Step("rotate DKIM", rotate, "DKIM rotation of"),
        Step("deploy (publish the pending key)", [*deploy, "--yes"], f"{stack}: UPDATE_COMPLETE"),
        Step("verify (Postmark verifies the new key)", verify, "checks passed"),
        Step("deploy again (keys keep their slots)", [*deploy, "--yes"], f"{stack}: no changes"),
        "postmark: the revoked key becomes safe to remove",
        Step("deploy (remove the revoked key)", [*deploy, "--yes"], f"{stack}: UPDATE_COMPLETE"),
        Step("verify", verify, "checks passed"),
        Step("take down (--destroy)", [*deploy, "--destroy", "--yes"], f"{stack}: DELETE_COMPLETE"),
    ]


def operator_env(world, infrastructure: str) -> dict[str, str]:
    """The environment an operator would have after sourcing the world's env file."""
    env = {**os.environ, **world.env(infrastructure)}
    for key in [k for k in env if k.startswith(("GITHUB_", "OP_STANDIN_SECRET")) and k != "OP_STANDIN_SECRETS"]:
        env.pop(key)
    env.pop("AWS_PROFILE", None)
    return env


def run_runbook(world, config, *, clock: Clock = REAL, on_row=None) -> tuple[list[Row], Row | None]:
    """Every step in ``world`` until one does not do what the runbook says; the rows, and the failed one."""
    env = operator_env(world, config.infrastructure.name)
    rows: list[Row] = []
    steps = runbook_steps(
        config.infrastructure.name, config.partition.value, env["REHEARSAL_RESOLVER"], config.stack_name
    )
    for step in steps:
        if isinstance(step, str):
            domain = world.postmark.only_domain()
            world.postmark.make_revoked_key_safe(domain["ID"])
            row = Row(step, "-", 0.0, "ok")
        else:
            started = clock.monotonic()
            result = run_child(step.argv, cwd=REPO, env=env, timeout=STEP_TIMEOUT_SECONDS)
            ok = result.returncode == step.code and step.expect in result.stdout
            last = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no output"])[-1]
            row = Row(step.name, str(result.returncode), clock.monotonic() - started, "ok" if ok else "FAILED", last)
        rows.append(row)
        if on_row is not None:
            on_row(row)
        if row.result != "ok":
            return rows, row
    return rows, None
