"""The cascade's rules with a scripted runner: gates, predecessors, resume commands, evidence.

The runner stands for the operator's commands (each answered from a script);
``tests/e2e/test_rollout.py`` runs the real cascade, with real children, in the world.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from instances.registry import load_registry
from tests.clock import FakeClock
from tests.conftest import REPO, TOKEN, assert_token_nowhere
from tools.lib.errors import ArdaMailError, NotDone, Refused, UsageError
from tools.lib.output import Sink
from tools.lib.rollout import Gates, Rollout, Settings, cascade

GATE = "postmark-compliance-reply"
PASSING = [{"id": "V-PART-003", "check": "NS delegation", "status": "PASS", "detail": "expected a; found a"}]


@pytest.fixture
def registry(tmp_path):
    root = tmp_path / "instances"
    shutil.copytree(REPO / "instances", root, ignore=shutil.ignore_patterns("__pycache__"))
    dev = (root / "Alpha002" / "dev.toml").read_text()
    stage = dev.replace("dev.ardamails.com", "stage.ardamails.com") + f'\n[rollout]\nrequires_gates = ["{GATE}"]\n'
    (root / "Alpha002" / "stage.toml").write_text(stage)
    return load_registry(root)


class Script:
    """Answers each command by its step: exit code and stdout; records every argv."""

    def __init__(self, **answers) -> None:
        self.answers = answers
        self.argv: list[list[str]] = []

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess:
        self.argv.append(argv)
        partition = argv[2]
        step = "verify" if argv[0].endswith("verify_partition_mail.py") else (argv[3] if len(argv) > 3 else "")
        code, stdout = self.answers.get(f"{partition} {step}", (0, ""))
        if step == "verify" and not stdout:
            stdout = json.dumps({"checks": PASSING})
        if step == "--plan" and not stdout:
            stdout = json.dumps(
                {
                    "change_set": "arn:aws:cloudformation:us-east-1:111122223333:changeSet/x/1",
                    "changes": [{"action": "Add", "logical_id": "Zone", "resource_type": "AWS::Route53::HostedZone"}],
                    "drift": [],
                }
            )
        return subprocess.CompletedProcess(
            argv, code, stdout, "deploy: error: Alpha002-dev-Email: boom\n" if code else ""
        )


def rollout(registry, tmp_path, script, guard=lambda config: None, **settings) -> Rollout:
    gates = Gates(tmp_path / "evidence")
    out = Sink(json_mode=False, human=io.StringIO())
    return Rollout(
        registry,
        Settings(**settings),
        tmp_path / "evidence" / "run",
        gates,
        {},
        out,
        clock=FakeClock().clock(),
        commit=lambda: "abc123",
        runner=script,
        exports_of=lambda config: {f"{config.stack_name}-API-MailDomainName": config.mail_domain},
        account_guard=guard,
        executed_of=lambda config: (
            f"arn:aws:cloudformation:us-east-1:111122223333:changeSet/executed-{config.partition.value}/1"
        ),
    )


def steps(script: Script) -> list[str]:
    return [" ".join(a[:2] if a[0].endswith("verify_partition_mail.py") else a[:4]) for a in script.argv]


def test_each_partition_is_preflighted_planned_deployed_verified_and_recorded(registry, tmp_path):
    script = Script()
    run = rollout(registry, tmp_path, script, yes=True, profile="ops", region="us-east-1")
    run.gates.record(GATE, "ops@arda.cards", "PM-42", "2026-11-29T00:00:00Z", "abc123")
    for config in cascade(registry, [], None, None):
        run.roll(config)
    assert steps(script) == [
        "deploy.py Alpha002 dev --preflight",
        "deploy.py Alpha002 dev --plan",
        "deploy.py Alpha002 dev --yes",
        "tools/verify_partition_mail.py Alpha002",
        "deploy.py Alpha002 stage --preflight",
        "deploy.py Alpha002 stage --plan",
        "deploy.py Alpha002 stage --yes",
        "tools/verify_partition_mail.py Alpha002",
    ]
    assert all(argv[-4:] == ["--profile", "ops", "--region", "us-east-1"] for argv in script.argv)
    evidence = json.loads((tmp_path / "evidence" / "run" / "Alpha002-stage-Email.json").read_text())
    assert evidence["verified"] is True and evidence["gates"][0]["by"] == "ops@arda.cards"
    assert evidence["tool"]["commit"] == "abc123"
    assert (
        "# Alpha002-stage-Email: rollout evidence"
        in (tmp_path / "evidence" / "run" / "Alpha002-stage-Email.md").read_text()
    )


def test_nothing_to_change_skips_the_deploy(registry, tmp_path):
    unchanged = json.dumps({"change_set": "", "changes": [], "drift": []})
    script = Script(**{"dev --plan": (0, unchanged)})
    rollout(registry, tmp_path, script, yes=True).roll(registry.partition("dev"))
    assert "deploy.py Alpha002 dev --yes" not in steps(script)


def test_a_failed_verification_stops_with_its_checks_and_the_resume_command(registry, tmp_path):
    failing = json.dumps({"checks": [{"id": "V-PART-009", "check": "report auth", "status": "FAIL", "detail": "x"}]})
    script = Script(**{"dev verify": (1, failing)})
    run = rollout(registry, tmp_path, script, yes=True, wait=5, resolver="127.0.0.1:5353")
    with pytest.raises(ArdaMailError) as info:
        run.roll(registry.partition("dev"))
    # The resume command carries what the run was started with: run as printed, it does the same.
    assert str(info.value) == (
        "dev: verify failed (exit 1): V-PART-009 report auth: x; "
        "fix it, then resume with: python tools/rollout.py --from dev --wait 5 --resolver 127.0.0.1:5353 --yes"
    )
    verify = script.argv[-1]
    assert verify[verify.index("--wait") + 1] == "5" and verify[verify.index("--resolver") + 1] == "127.0.0.1:5353"
    written = json.loads((tmp_path / "evidence" / "run" / "Alpha002-dev-Email.json").read_text())
    assert written["verified"] is False and written["checks"][0]["status"] == "FAIL"


def test_a_failed_deploy_quotes_its_error_line(registry, tmp_path):
    script = Script(**{"dev --yes": (1, "")})
    with pytest.raises(
        ArdaMailError, match=r"^dev: deploy failed \(exit 1\): deploy: error: Alpha002-dev-Email: boom;"
    ):
        rollout(registry, tmp_path, script, yes=True).roll(registry.partition("dev"))


def test_a_partition_waits_for_its_predecessor_and_its_gates(registry, tmp_path):
    script = Script(**{"dev verify": (1, json.dumps({"checks": []}))})
    run = rollout(registry, tmp_path, script, yes=True)
    with pytest.raises(Refused, match="stage: not started: its predecessor dev is not verified"):
        run.roll(registry.partition("stage"))
    assert steps(script) == ["tools/verify_partition_mail.py Alpha002"], "dev is verified again, nothing else runs"
    script = Script()
    run = rollout(registry, tmp_path, script, yes=True)
    with pytest.raises(Refused, match=f"stage: not started: gate '{GATE}' is not recorded"):
        run.roll(registry.partition("stage"))
    assert not any("stage" in argv for argv in script.argv)


def test_without_a_terminal_or_yes_the_next_partition_is_not_started(registry, tmp_path):
    with pytest.raises(NotDone, match="stage: not started without a terminal or --yes; resume with:"):
        rollout(registry, tmp_path, Script()).confirm(registry.partition("stage"))


@pytest.mark.parametrize(
    ("partitions", "start", "through", "expected"),
    [
        ([], None, None, ["dev", "stage"]),
        ([], "stage", None, ["stage"]),
        ([], None, "dev", ["dev"]),
        (["stage"], None, None, ["stage"]),
    ],
)
def test_the_cascade_is_walked_in_order(registry, partitions, start, through, expected):
    assert [c.partition.value for c in cascade(registry, partitions, start, through)] == expected


def test_gates_are_recorded_in_one_file_and_checked_by_name(tmp_path):
    gates = Gates(tmp_path)
    gates.record(GATE, "ops", "", "t", "c")
    gates.record(GATE, "lead", "second look", "t2", "c")
    assert [g["by"] for g in gates.read()] == ["ops", "lead"]
    with pytest.raises(ArdaMailError, match=r"--record-gate must .*, got: 'Not A Gate'"):
        gates.record("Not A Gate", "ops", "", "t", "c")
    (tmp_path / "gates.json").write_text("{not json")
    with pytest.raises(ArdaMailError, match="gates.json cannot be read"):
        gates.read()


def test_evidence_never_holds_the_token(registry, tmp_path):
    leaky = json.dumps({"checks": [{"id": "V-PART-010", "check": "x", "status": "PASS", "detail": TOKEN}]})
    from tools.lib import logger

    logger.register_secret(TOKEN)
    try:
        rollout(registry, tmp_path, Script(**{"dev verify": (0, leaky)}), yes=True).roll(registry.partition("dev"))
    finally:
        logger.forget_secrets()
    assert_token_nowhere(folders=[Path(tmp_path / "evidence")])


def test_what_can_be_checked_first_is_checked_before_any_step(registry, tmp_path):
    # Old code: an evidence folder that is a file, or a gate without 'by', failed after the deploy.
    chosen = cascade(registry, [], None, None)
    script = Script()
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "run").write_text("a file, not a folder")
    with pytest.raises(UsageError, match=r"--evidence-dir must be a folder this user can write, got: .*not a folder"):
        rollout(registry, tmp_path, script, yes=True).prepare(chosen)
    (tmp_path / "evidence" / "run").unlink()
    (tmp_path / "evidence" / "gates.json").write_text(json.dumps([{"gate": GATE, "at": "t", "note": "no by"}]))
    with pytest.raises(Refused, match=r"gates.json: gate 1 lacks by \(each gate needs gate, by, at as text\)"):
        rollout(registry, tmp_path, script, yes=True).prepare(chosen)
    (tmp_path / "evidence" / "gates.json").write_text(json.dumps({"gate": GATE}))
    with pytest.raises(Refused, match="must hold a list of gates, got: dict"):
        rollout(registry, tmp_path, script, yes=True).prepare(chosen)
    (tmp_path / "evidence" / "gates.json").unlink()
    guarded = []

    def refuse_stage(config):
        guarded.append(config.partition.value)
        if config.partition.value == "stage":
            raise Refused("refusing to roll out Alpha002-stage-Email: the AWS credentials are for account 9")

    with pytest.raises(Refused, match="refusing to roll out Alpha002-stage-Email"):
        rollout(registry, tmp_path, script, refuse_stage, yes=True).prepare(chosen)
    assert guarded == ["dev", "stage"], "every partition's account before the first step"
    assert script.argv == [] and not (tmp_path / "evidence" / "run").exists()


def test_a_childs_mask_reaches_the_runner_and_its_json_stays_parseable(registry, tmp_path, monkeypatch, capsys):
    # Old code: the child's ::add-mask:: line was captured with its output and never reached the runner.
    from tools.lib import logger

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    secret = "pm%token\nsecond-line"
    mask = f"::add-mask::{logger.escape_workflow_value(secret)}\n"
    plan = json.dumps({"change_set": "", "changes": [], "drift": [], "note": secret})
    script = Script(**{"dev --plan": (0, mask + plan)})
    logger.forget_secrets()
    try:
        run = rollout(registry, tmp_path, script, yes=True)
        record = run.roll(registry.partition("dev"))
        assert record.plan["change_set"] == "" and record.plan["note"] == secret
        assert capsys.readouterr().out.count(mask) == 1, "the rollout printed the mask itself"
        assert logger.redact(f"x {secret} y") == "x *** y"
    finally:
        logger.forget_secrets()
    assert_token_nowhere(folders=[tmp_path / "evidence"], token=secret)


def test_hostile_values_are_inert_text_in_the_markdown_evidence(registry, tmp_path):
    hostile = "<img src=x onerror=alert(1)> | [click](http://evil.test) `x` *y*\n# heading"
    checks = json.dumps({"checks": [{"id": "V-PART-005", "check": "SPF", "status": "FAIL", "detail": hostile}]})
    with pytest.raises(ArdaMailError):
        rollout(registry, tmp_path, Script(**{"dev verify": (1, checks)}), yes=True).roll(registry.partition("dev"))
    report = (tmp_path / "evidence" / "run" / "Alpha002-dev-Email.md").read_text()
    (row,) = [line for line in report.splitlines() if line.startswith("| V-PART-005")]
    assert row == (
        "| V-PART-005 | SPF | FAIL | &lt;img src=x onerror=alert\\(1\\)&gt; \\| [click]\\(http://evil.test\\) "
        "\\`x\\` \\*y\\* # heading |"
    )
    assert "\n# heading" not in report


def test_evidence_that_cannot_be_written_is_one_line_with_the_resume_command(registry, tmp_path, monkeypatch):
    import errno

    from tools.lib import rollout as lib

    def full(path, text, **_):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(lib, "write_file", full)
    with pytest.raises(ArdaMailError) as info:
        rollout(registry, tmp_path, Script(), yes=True).roll(registry.partition("dev"))
    assert str(info.value) == (
        f"dev: the evidence could not be written to {tmp_path / 'evidence' / 'run'} (No space left on device) after "
        "pre-flight exit 0, plan exit 0, deploy exit 0, verify exit 0; make room, then resume with: "
        "python tools/rollout.py --from dev --yes"
    )


def test_the_resume_command_carries_every_option_the_run_was_started_with():
    from pathlib import Path

    from tools.lib.rollout import resume_command

    settings = Settings(
        yes=True,
        wait=30,
        resolver="127.0.0.1:5353",
        profile="prod admin",
        region="us-east-1",
        partitions=("dev", "stage"),
        through="stage",
        evidence_dir=Path("/tmp/evidence run"),
    )
    assert resume_command("stage", settings) == (
        "python tools/rollout.py dev stage --from stage --through stage --wait 30 --resolver 127.0.0.1:5353 "
        "--profile 'prod admin' --region us-east-1 --evidence-dir '/tmp/evidence run' --yes"
    )
    assert resume_command("dev", Settings()) == "python tools/rollout.py --from dev"


def test_a_running_child_step_gets_a_heartbeat_with_its_last_line_never_a_mask(tmp_path):
    """A child that runs a while: heartbeat lines name how long and its last line; a mask line never shows."""
    from tools.lib.children import run_child

    child = (
        "import sys, time\n"
        "print('creating the change set', flush=True)\n"
        "time.sleep(0.5)\n"
        "print('::add-mask::s3cr3t-value', file=sys.stderr, flush=True)\n"
        "time.sleep(0.5)\n"
        "print('done', flush=True)\n"
    )
    beats: list[tuple[float, str]] = []
    result = run_child(
        [sys.executable, "-c", child],
        cwd=tmp_path,
        env=dict(os.environ),
        heartbeat=(0.15, lambda elapsed, last: beats.append((elapsed, last))),
    )
    assert result.returncode == 0 and result.stdout == "creating the change set\ndone\n"
    assert "::add-mask::s3cr3t-value" in result.stderr, "the output itself is whole (the rollout takes the masks)"
    assert len(beats) >= 3 and beats[0][0] < beats[-1][0]
    assert all("s3cr3t" not in last for _, last in beats)
    assert any(last == "creating the change set" for _, last in beats)


def test_evidence_of_a_no_change_run_and_of_a_failed_verification_says_what_happened(registry, tmp_path):
    unchanged = json.dumps({"outcome": "no-changes", "changes": [], "drift": []})
    failing = json.dumps({"checks": [{"id": "V-PART-009", "check": "report auth", "status": "FAIL", "detail": "x"}]})
    script = Script(**{"dev --plan": (0, unchanged), "dev verify": (1, failing)})
    run = rollout(registry, tmp_path, script, yes=True)
    with pytest.raises(ArdaMailError):
        run.roll(registry.partition("dev"))
    report = (tmp_path / "evidence" / "run" / "Alpha002-dev-Email.md").read_text()
    assert "- Verified: NO (V-PART-009)" in report
    assert "- Change set executed: (none: no changes to deploy)" in report
    assert "- no changes: the stack already matched the committed template; no deploy ran" in report
    assert "- deploy: skipped (no changes, no drift)" in report
    assert "Sign-off row: | Verification: NOT every check passed | V-PART-009 |" in report
    assert "every check PASS" not in report
