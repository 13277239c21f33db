"""The cascade's rules with a scripted runner: gates, predecessors, resume commands, evidence.

The runner stands for the operator's commands (each answered from a script);
``tests/e2e/test_rollout.py`` runs the real cascade, with real children, in the world.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import jsonschema
import pytest

from instances.registry import load_registry
from tests.clock import FakeClock
from tests.conftest import REPO, TOKEN, assert_token_nowhere
from tools.lib.children import Ended
from tools.lib.errors import ArdaMailError, NotDone, Refused, Terminated, UsageError
from tools.lib.journal import Journal
from tools.lib.rollout.cascade import Rollout, Settings, cascade
from tools.lib.rollout.evidence import EVIDENCE_SCHEMA, Evidence
from tools.lib.rollout.gates import GATES_PATH, Gates
from tools.rehearsal.repo import git

GATE = "postmark-compliance-reply"
TARGET = {
    "infrastructure": "Alpha002",
    "partition": "dev",
    "stack": "Alpha002-dev-Email",
    "account": "111122223333",
    "region": "us-east-1",
}
PASSING = [{"id": "V-PART-003", "check": "NS delegation", "status": "PASS", "detail": "expected a; found a"}]


@pytest.fixture
def registry(tmp_path):
    root = tmp_path / "instances"
    shutil.copytree(REPO / "instances", root, ignore=shutil.ignore_patterns("__pycache__"))
    dev = (root / "Alpha002" / "dev.toml").read_text()
    stage = dev.replace("dev.ardamails.com", "stage.ardamails.com") + f'\n[rollout]\nrequires_gates = ["{GATE}"]\n'
    (root / "Alpha002" / "stage.toml").write_text(stage)
    return load_registry(root)


ZONE_ADDED = [{"action": "Add", "logical_id": "Zone", "resource_type": "AWS::Route53::HostedZone", "replacement": None}]


def change_set(name: str) -> str:
    return f"arn:aws:cloudformation:us-east-1:111122223333:changeSet/{name}/1"


def deployed(partition: str, **extra) -> str:
    """deploy.py --yes --json's document of a deploy that executed its change set (executed-<partition>)."""
    arn = change_set(f"executed-{partition}")
    journal = [{"what": f"change set {arn}", "state": "settled", "said": f"change set {arn} executed: UPDATE_COMPLETE"}]
    return json.dumps({"outcome": "deployed", "change_set": arn, "changes": ZONE_ADDED, "journal": journal, **extra})


class Script:
    """The rollout's runner: answers each command by its step and records every argv.

    An answer is (exit code, stdout) or a whole ``Ended`` (a step a signal stopped);
    the account guard is ``guard``, the exports are made up from the partition.
    """

    def __init__(self, **answers) -> None:
        self.answers = answers
        self.argv: list[list[str]] = []
        self.guard = lambda config: None

    def check_account(self, config) -> None:
        self.guard(config)

    def exports(self, config) -> dict[str, str]:
        return {f"{config.stack_name}-API-MailDomainName": config.mail_domain}

    def run(self, argv: list[str], label: str) -> Ended:
        self.argv.append(argv)
        partition = argv[2]
        step = "verify" if argv[0].endswith("verify_partition_mail.py") else (argv[3] if len(argv) > 3 else "")
        answer = self.answers.get(f"{partition} {step}", (0, ""))
        if isinstance(answer, Ended):
            return answer
        code, stdout = answer
        if step == "verify" and not stdout:
            stdout = json.dumps({"checks": PASSING})
        if step == "--plan" and not stdout:
            stdout = json.dumps({"change_set": change_set("x"), "changes": ZONE_ADDED, "drift": []})
        if step == "--yes" and not stdout and not code:
            stdout = deployed(partition)
        return Ended(argv, code, stdout, "deploy: error: Alpha002-dev-Email: boom\n" if code else "")


@pytest.fixture
def checkout(tmp_path):
    """A git work tree with one commit: where docs/rollout-gates.json is recorded and committed."""
    top = tmp_path / "checkout"
    (top / "docs").mkdir(parents=True)
    (top / "README.md").write_text("a checkout\n")
    git(top, "init", "-q")
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "first")
    return top


def commit_gates(top: Path) -> None:
    git(top, "add", GATES_PATH)
    git(top, "commit", "-q", "-m", "gate recorded, reviewed")


def rollout(registry, tmp_path, script, guard=lambda config: None, **settings) -> Rollout:
    top = tmp_path / "checkout"
    if not top.exists():
        top.mkdir()
        git(top, "init", "-q")
        git(top, "commit", "-q", "--allow-empty", "-m", "first")
    script.guard = guard
    clock = FakeClock().clock()
    evidence = Evidence(tmp_path / "evidence" / "run", commit="abc123", clock=clock)
    return Rollout(registry, Settings(**settings), Gates(top, [GATE]), evidence, script, Journal(), clock=clock)


def evidence(tmp_path: Path, stack: str = "Alpha002-dev-Email") -> dict:
    """A partition's evidence JSON, valid against docs/evidence.schema.json."""
    document = json.loads((tmp_path / "evidence" / "run" / f"{stack}.json").read_text())
    jsonschema.validate(document, json.loads(EVIDENCE_SCHEMA.read_text()))
    return document


def steps(script: Script) -> list[str]:
    return [" ".join(a[:2] if a[0].endswith("verify_partition_mail.py") else a[:4]) for a in script.argv]


def test_each_partition_is_preflighted_planned_deployed_verified_and_recorded(registry, tmp_path):
    script = Script()
    run = rollout(registry, tmp_path, script, yes=True, profile="ops", region="us-east-1")
    run.gates.record(GATE, "ops@arda.cards", "PM-42", "2026-11-29T00:00:00Z", "abc123")
    commit_gates(run.gates.top)
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
    stage = evidence(tmp_path, "Alpha002-stage-Email")
    assert stage["verified"] is True and stage["gates"][0]["by"] == "ops@arda.cards"
    assert stage["tool"]["commit"] == "abc123" and stage["checks"] == PASSING
    assert stage["change_set"] == "arn:aws:cloudformation:us-east-1:111122223333:changeSet/executed-stage/1"
    assert [c["logical_id"] for c in stage["changes_deployed"]] == ["Zone"]
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
        "dev: verify failed (exit 1): V-PART-009 report auth FAIL: x; "
        "fix it, then resume with: python tools/rollout.py --from dev --wait 5 --resolver 127.0.0.1:5353 --yes"
    )
    verify = script.argv[-1]
    assert verify[verify.index("--wait") + 1] == "5" and verify[verify.index("--resolver") + 1] == "127.0.0.1:5353"
    written = evidence(tmp_path)
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


def test_gates_are_recorded_in_one_committed_file_and_checked_by_name(checkout):
    gates = Gates(checkout, [GATE])
    gates.record(GATE, "ops", "", "t", "c")
    assert gates.committed() == [], "recorded, not yet committed: not counted"
    assert gates.uncommitted(GATE, gates.committed())
    commit_gates(checkout)
    gates.record(GATE, "lead", "second look", "t2", "c")
    assert [g["by"] for g in gates.working()] == ["ops", "lead"]
    assert [g["by"] for g in gates.committed()] == ["ops"], "HEAD's gates, not the working copy's"
    with pytest.raises(UsageError, match=r"--record-gate must .*, got: 'Not A Gate'"):
        gates.record("Not A Gate", "ops", "", "t", "c")
    with pytest.raises(
        UsageError,
        match=rf"--record-gate must name a gate an instance file requires \({GATE}\), got: 'pen-test-signed'",
    ):
        gates.record("pen-test-signed", "ops", "", "t", "c")
    with pytest.raises(UsageError, match="requires \\(none: no instance file has \\[rollout\\] requires_gates\\)"):
        Gates(checkout, []).record(GATE, "ops", "", "t", "c")
    (checkout / GATES_PATH).write_text("{not json")
    with pytest.raises(Refused, match="rollout-gates.json is not JSON"):
        gates.working()
    commit_gates(checkout)
    with pytest.raises(Refused, match="docs/rollout-gates.json at HEAD is not JSON"):
        gates.committed()


def test_a_gate_counts_once_committed_not_when_only_recorded(registry, tmp_path):
    # Old code: gates lived in a git-ignored local file; any operator's copy opened the partition.
    script = Script()
    run = rollout(registry, tmp_path, script, yes=True)
    run.verified.add("dev")
    run.gates.record(GATE, "ops@arda.cards", "PM-42", "t", "c")
    with pytest.raises(
        Refused, match=rf"stage: not started: gate '{GATE}' is recorded in {GATES_PATH} but not committed"
    ):
        run.roll(registry.partition("stage"))
    assert script.argv == []
    commit_gates(run.gates.top)
    assert run.roll(registry.partition("stage")).gates[0]["by"] == "ops@arda.cards"


def test_the_committed_gates_file_names_only_gates_an_instance_file_requires():
    committed = Gates(REPO, []).parse((REPO / GATES_PATH).read_text(encoding="utf-8"), GATES_PATH)
    required = {gate for config in load_registry().partitions.values() for gate in config.requires_gates}
    assert {g["gate"] for g in committed} <= required


def test_without_git_the_gates_cannot_be_read_and_the_rollout_refuses(tmp_path):
    with pytest.raises(Refused, match="the committed gates \\(docs/rollout-gates.json\\) cannot be read: git says"):
        Gates(tmp_path, [GATE]).committed()


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
    run = rollout(registry, tmp_path, script, yes=True)
    (run.gates.path).parent.mkdir(parents=True, exist_ok=True)
    run.gates.path.write_text(json.dumps([{"gate": GATE, "at": "t", "note": "no by"}]))
    commit_gates(run.gates.top)
    with pytest.raises(Refused, match=r"rollout-gates.json at HEAD: gate 1 lacks by \(each gate needs gate, by, at"):
        run.prepare(chosen)
    run.gates.path.write_text(json.dumps({"gate": GATE}))
    commit_gates(run.gates.top)
    with pytest.raises(Refused, match="must hold a list of gates, got: dict"):
        run.prepare(chosen)
    run.gates.path.write_text("[]\n")
    commit_gates(run.gates.top)
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

    from tools.lib.rollout import evidence as lib

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
    assert settings.resume_command("stage") == (
        "python tools/rollout.py dev stage --from stage --through stage --wait 30 --resolver 127.0.0.1:5353 "
        "--profile 'prod admin' --region us-east-1 --evidence-dir '/tmp/evidence run' --yes"
    )
    assert Settings().resume_command("dev") == "python tools/rollout.py --from dev"


def test_the_resume_command_parses_back_to_the_run_it_resumes_whatever_options_it_had():
    # Structural: every option of the parser (but those that are not a run's) set, and read back from the command.
    import shlex

    from tools import rollout as cli

    parser = cli.COMMAND.parser()
    cli.add_arguments(parser)
    not_a_run = {"help", "json", "debug", "record_gate", "by", "note", "start", "partitions"}
    values = {"wait": "30", "heartbeat": "5", "resolver": "127.0.0.1:5353", "profile": "prod admin",
              "region": "us-east-1", "through": "stage", "evidence_dir": "/tmp/evidence run"}  # fmt: skip
    argv = ["dev", "stage"]
    for action in parser._actions:
        if action.dest in not_a_run:
            continue
        assert action.dest in values or action.nargs == 0, f"a new option {action.dest}: give it a test value"
        argv += [action.option_strings[0]] + ([] if action.nargs == 0 else [values[action.dest]])
    args = parser.parse_args(argv)
    resumed = shlex.split(cli.settings_of(args).resume_command("stage"))
    assert resumed[:2] == ["python", "tools/rollout.py"]
    again = parser.parse_args(resumed[2:])
    assert again.start == "stage" and {**vars(again), "start": None} == vars(args)


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
    document = evidence(tmp_path)
    assert document["verified"] is False and document["change_set"] == "" and document["changes_deployed"] == []
    assert document["steps"][2] == {"step": "deploy", "exit": None, "seconds": 0.0, "skipped": "no changes"}
    assert document["checks"] == json.loads(failing)["checks"] and document["exports"] == {}
    report = (tmp_path / "evidence" / "run" / "Alpha002-dev-Email.md").read_text()
    assert "- Verified: NO (V-PART-009)" in report
    assert "- Change set executed: (none: no changes to deploy)" in report
    assert "- no changes: the stack already matched the committed template; no deploy ran" in report
    assert "- deploy: skipped (no changes)" in report
    assert "Sign-off row: | Verification: NOT every check passed | V-PART-009 |" in report
    assert "every check PASS" not in report


def test_a_failed_preflight_is_quoted_from_its_failing_rows_not_a_passing_one(registry, tmp_path):
    # Old code quoted the child's last line: a PASS row.
    rows = [
        {"check": "AWS identity", "status": "PASS", "detail": "account 111122223333"},
        {"check": "IAM: deploy", "status": "FAIL", "detail": "role/ops lacks cloudformation:ExecuteChangeSet"},
        {"check": "Postmark token", "status": "PASS", "detail": "GET /domains accepted (1 domain(s))"},
    ]
    script = Script(**{"dev --preflight": (1, json.dumps({"checks": rows}))})
    run = rollout(registry, tmp_path, script, yes=True, profile="ops")
    with pytest.raises(ArdaMailError) as info:
        run.roll(registry.partition("dev"))
    assert str(info.value) == (
        "dev: pre-flight failed (exit 1): IAM: deploy FAIL: role/ops lacks cloudformation:ExecuteChangeSet; "
        "fix it, then resume with: python tools/rollout.py --from dev --profile ops --yes"
    )
    assert steps(script) == ["deploy.py Alpha002 dev --preflight"]
    document = evidence(tmp_path)
    assert document["preflight"] == rows and document["verified"] is False and document["plan"] == {}


def drifted(*rows: tuple[str, str, str, str]) -> str:
    return json.dumps(
        {
            "change_set": "",
            "changes": [],
            "drift": [
                {"resource": r, "property": p, "expected": e, "actual": "(hand-edited)", "resource_type": t}
                for r, p, e, t in rows
            ],
        }
    )


def test_drift_in_the_plan_is_quoted_and_names_overwrite_drift_without_running_a_deploy(registry, tmp_path):
    # Old code ran the deploy, which refused pointing at a "table above" the rollout had swallowed.
    plan = drifted(
        ("DmarcRecord", "ResourceRecords", '"v=DMARC1; p=none"', "AWS::Route53::RecordSet"),
        ("SpfRecord", "TTL", "300", "AWS::Route53::RecordSet"),
    )
    script = Script(**{"dev --plan": (0, plan)})
    run = rollout(registry, tmp_path, script, yes=True, region="us-east-1")
    with pytest.raises(Refused) as info:
        run.roll(registry.partition("dev"))
    assert str(info.value) == (
        "dev: deploy not run: the live stack has drifted from the deployed template: "
        'DmarcRecord ResourceRecords: expected "v=DMARC1; p=none", live (hand-edited); '
        "SpfRecord TTL: expected 300, live (hand-edited); "
        "put the drifted records back as the deployed template says with: "
        "python deploy.py Alpha002 dev --region us-east-1 --overwrite-drift, "
        "then resume with: python tools/rollout.py --from dev --region us-east-1 --yes"
    )
    assert steps(script) == ["deploy.py Alpha002 dev --preflight", "deploy.py Alpha002 dev --plan"]
    document = evidence(tmp_path)
    assert document["steps"][-1] == {"step": "deploy", "exit": None, "seconds": 0.0, "skipped": "not run: drift"}
    assert len(document["plan"]["drift"]) == 2 and document["change_set"] == ""


def test_drift_of_a_resource_overwrite_drift_cannot_put_back_is_sent_to_hand_repair(registry, tmp_path):
    plan = drifted(("DnsRecordsRole", "Policies", "[...]", "AWS::IAM::Role"))
    run = rollout(registry, tmp_path, Script(**{"dev --plan": (0, plan)}), yes=True)
    by_hand = (
        r"DnsRecordsRole changed outside CloudFormation and --overwrite-drift puts back only DNS records: put them "
        r"back by hand to what the deployed template expects \(see: aws "
        r"cloudformation describe-stack-resource-drifts --stack-name Alpha002-dev-Email "
        r"--stack-resource-drift-status-filters MODIFIED DELETED --region us-east-1\), then resume with: "
    )
    with pytest.raises(Refused, match=by_hand):
        run.roll(registry.partition("dev"))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("verified", "yes"),
        ("change_set", "the plan's change set"),
        ("steps", [{"step": "deploy", "exit": 0, "seconds": 1.0, "skipped": "no changes"}]),
        ("steps", [{"step": "deploy", "exit": None, "seconds": 0.0}]),
        ("checks", [{"id": "V-PART-010", "check": "x", "status": "OK", "detail": ""}]),
        ("target", {**TARGET, "account": "1111-2222-3333"}),
        ("target", {"account": "111122223333", "region": "us-east-1", "stack": "Alpha002-dev-Email"}),
        ("outcome", "deployed"),
        ("verified", False),  # the outcome verified, yet not verified
        ("executed", "yes"),
        ("executed", False),  # yet a change set named
        ("schema_version", 1),
        ("steps", [{"step": "deploy", "exit": 130, "seconds": 1.0, "signal": "SIGHUP", "said": "x"}]),
        ("written_at", "yesterday"),
        ("undocumented", "a field the schema does not name"),
    ],
)
def test_the_evidence_schema_refuses_what_a_run_never_writes(registry, tmp_path, field, value):
    rollout(registry, tmp_path, Script(), yes=True).roll(registry.partition("dev"))
    document = evidence(tmp_path)  # the real document is valid
    assert document["outcome"] == "verified" and document["executed"] is True and document["change_set"]
    document[field] = value
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json.loads(EVIDENCE_SCHEMA.read_text()))


# -- children report what they did: a signal during a step, the deploy step's own document ---------------------

WATCH = "aws cloudformation describe-stack-events --stack-name Alpha002-dev-Email --region us-east-1"
SIGNALLED = [
    ("SIGINT", 130, "interrupted", "interrupted (Ctrl-C)"),
    ("SIGTERM", 143, "terminated", "terminated (SIGTERM)"),
]


def stopped_deploy(
    signal_name: str, code: int, how: str, *, executed: object = "absent", state: str = "settled"
) -> Ended:
    """deploy.py --yes --json stopped by a signal while it followed the stack its change set is updating."""
    arn = change_set("executed-dev")
    said = f"change set {arn} executed; CloudFormation carries on: watch it with: {WATCH}"
    journal = [{"what": f"change set {arn}", "state": state, "said": said}]
    document = {"command": "deploy", "exit_code": code, "outcome": how.split()[0], "change_set": arn,
                "changes": ZONE_ADDED * 12, "journal": journal}  # fmt: skip
    if executed != "absent":
        document["executed"] = executed
    last = f"deploy: {how}; Alpha002-dev-Email: {said}"
    stderr = f"Alpha002-dev-Email: 12:00:01 UPDATE_IN_PROGRESS ...\n{last}\n"
    return Ended(["deploy.py"], code, json.dumps(document), stderr, stopped_by=signal_name)


def rollout_main(run_cli, tmp_path, script, *argv):
    """tools/rollout.py's main() on the registry fixture's instances, its steps answered by ``script``."""
    from tools import rollout as cli

    clock = FakeClock().clock()
    evidence_dir = tmp_path / "evidence" / "run"
    return run_cli(
        cli.main, [*argv, "--evidence-dir", str(evidence_dir)], checkout=tmp_path, runner=script, clock=clock
    )


@pytest.mark.parametrize(("signal_name", "code", "outcome", "how"), SIGNALLED)
def test_a_signal_in_the_deploy_step_is_reported_verbatim_and_recorded_in_the_evidence_and_json(
    registry, tmp_path, run_cli, signal_name, code, outcome, how
):
    # Old code: "rollout: interrupted (Ctrl-C); dev: nothing was changed", no evidence, "partitions": [].
    script = Script(**{"dev --yes": stopped_deploy(signal_name, code, how)})
    result = rollout_main(run_cli, tmp_path, script, "dev", "--yes", "--json")
    assert result.returncode == code, result.stderr
    child = f"deploy: {how}; Alpha002-dev-Email: change set {change_set('executed-dev')} executed; CloudFormation "
    assert result.stderr.splitlines()[-1] == (
        f"rollout: {how}; dev: the deploy step of Alpha002-dev-Email was stopped and said: "
        f'"{child}carries on: watch it with: {WATCH}"; evidence in {tmp_path / "evidence" / "run"}; '
        "resume with: python tools/rollout.py dev --from dev --evidence-dir "
        f"{tmp_path / 'evidence' / 'run'} --yes"
    )
    assert "tools/verify_partition_mail.py" not in {a[0] for a in script.argv}, "nothing runs after the signal"
    document = json.loads(result.stdout)
    assert document["outcome"] == outcome and document["exit_code"] == code
    (listed,) = document["partitions"]
    written = evidence(tmp_path)
    assert listed == written, "--json lists the partition as its evidence file has it"
    assert written["outcome"] == outcome and written["target"] == TARGET and written["verified"] is False
    assert written["change_set"] == change_set("executed-dev") and written["executed"] is True
    assert written["changes_deployed"] == ZONE_ADDED * 12, "the changes AWS listed to the deploy step"
    assert written["steps"][-1] == {"step": "deploy", "exit": code, "seconds": 0.0, "signal": signal_name,
                                    "said": child + f"carries on: watch it with: {WATCH}"}  # fmt: skip
    report = (tmp_path / "evidence" / "run" / "Alpha002-dev-Email.md").read_text()
    assert f"- Outcome: {outcome}" in report and f"- Change set executed: {change_set('executed-dev')}" in report
    assert f"- deploy: exit {code} in 0.0 s, stopped by {signal_name}; it said: deploy: " in report


@pytest.mark.parametrize(
    ("executed", "state", "expected"),
    [
        (True, "settled", True),  # deploy.py says so itself
        ("absent", "settled", True),  # an older deploy.py: its journal says the change set was executed
        (None, "unsure", None),  # stopped mid-call: it cannot tell
        ("absent", "unsure", None),
        (False, "undone", False),  # stopped before executing: its change set was deleted
        ("absent", "undone", False),
    ],
)
def test_whether_the_deploy_step_executed_its_change_set_is_its_own_answer(
    registry, tmp_path, executed, state, expected
):
    script = Script(
        **{"dev --yes": stopped_deploy("SIGINT", 130, "interrupted (Ctrl-C)", executed=executed, state=state)}
    )
    with pytest.raises(KeyboardInterrupt):
        rollout(registry, tmp_path, script, yes=True).roll(registry.partition("dev"))
    written = evidence(tmp_path)
    assert written["executed"] is expected
    assert written["change_set"] == ("" if expected is False else change_set("executed-dev"))
    assert len(written["changes_deployed"]) == (0 if expected is False else 12)
    report = (tmp_path / "evidence" / "run" / "Alpha002-dev-Email.md").read_text()
    if expected is None:
        assert "NOT KNOWN whether it was executed" in report and "NOT KNOWN whether these were deployed" in report
    if expected is False:
        assert "- Change set executed: (none: the deploy step executed none)" in report


def test_a_step_that_outlives_the_grace_is_killed_and_the_evidence_cannot_tell(registry, tmp_path):
    killed = Ended(["deploy.py"], -9, '{"outcome": "depl', "Alpha002-dev-Email: executing\n", "SIGTERM", killed=True)
    run = rollout(registry, tmp_path, Script(**{"dev --yes": killed}), yes=True)
    with pytest.raises(Terminated):
        run.roll(registry.partition("dev"))
    written = evidence(tmp_path)
    assert written["outcome"] == "terminated" and written["executed"] is None and written["change_set"] == ""
    assert written["steps"][-1]["exit"] == -9 and written["steps"][-1]["said"] == "Alpha002-dev-Email: executing"
    (fact,) = run.journal.entries
    assert fact.done.startswith(
        'the deploy step of Alpha002-dev-Email was stopped and said: "Alpha002-dev-Email: executing" (then it was '
        "killed, 120 s after the signal: what it was doing may be half done); evidence in "
    )


def test_a_signal_between_steps_still_writes_the_evidence(registry, tmp_path):
    script = Script()

    def interrupted(config):
        raise KeyboardInterrupt

    script.exports = interrupted  # verify passed; the rollout was reading the exports
    run = rollout(registry, tmp_path, script, yes=True)
    with pytest.raises(KeyboardInterrupt):
        run.roll(registry.partition("dev"))
    written = evidence(tmp_path)
    assert written["outcome"] == "interrupted" and written["verified"] is True and written["executed"] is True
    assert run.journal.summary().startswith(
        f"Alpha002-dev-Email deploy: change set {change_set('executed-dev')} executed: UPDATE_COMPLETE; "
        "Alpha002-dev-Email was stopped between steps (steps done: pre-flight, plan, deploy, verify); evidence in "
    )


def test_the_evidence_credits_the_rollout_with_its_own_deploy_not_another_runs(registry, tmp_path):
    # Old code: another operator deployed between the plan and the deploy step; the evidence listed that run's
    # 12 changes (copied from the plan) and its change set (the stack's last executed one) as the rollout's.
    plan = json.dumps({"change_set": change_set("plan"), "changes": ZONE_ADDED * 12, "drift": []})
    nothing_left = json.dumps({"outcome": "no-changes", "change_set": "", "changes": [], "journal": []})
    script = Script(**{"dev --plan": (0, plan), "dev --yes": (0, nothing_left)})
    record = rollout(registry, tmp_path, script, yes=True).roll(registry.partition("dev"))
    assert record.outcome == "verified"
    written = evidence(tmp_path)
    assert written["change_set"] == "" and written["executed"] is False and written["changes_deployed"] == []
    assert len(written["plan"]["changes"]) == 12, "the plan is kept as the plan"
    report = (tmp_path / "evidence" / "run" / "Alpha002-dev-Email.md").read_text()
    assert "- Change set executed: (none: the deploy step found no changes)" in report
    assert "- no changes: the stack already matched the committed template when the deploy step ran" in report


def test_a_failed_step_says_its_last_line_in_the_evidence_and_its_lasting_changes_in_the_rollouts_line(
    registry, tmp_path
):
    arn = change_set("executed-dev")
    journal = [
        {"what": "postmark", "state": "made", "said": "registered dev.ardamails.com with Postmark (rerunning is safe)"},
        {"what": f"change set {arn}", "state": "settled", "said": f"change set {arn} executed and rolled back"},
    ]
    rolled_back = json.dumps({"outcome": "failed", "change_set": arn, "changes": ZONE_ADDED, "journal": journal})
    run = rollout(registry, tmp_path, Script(**{"dev --yes": (1, rolled_back)}), yes=True)
    with pytest.raises(
        ArdaMailError, match=r"^dev: deploy failed \(exit 1\): deploy: error: Alpha002-dev-Email: boom;"
    ):
        run.roll(registry.partition("dev"))
    written = evidence(tmp_path)
    assert written["outcome"] == "failed" and written["executed"] is True and written["change_set"] == arn
    assert written["steps"][-1]["said"] == "deploy: error: Alpha002-dev-Email: boom"
    assert run.journal.summary() == (
        "Alpha002-dev-Email deploy: registered dev.ardamails.com with Postmark (rerunning is safe); "
        f"change set {arn} executed and rolled back"
    )


# -- bounds: the gates file, --wait and --heartbeat --------------------------------------------------------------


def fifo(path: Path) -> None:
    os.mkfifo(path)


def dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def oversized(path: Path) -> None:
    path.write_text(json.dumps([{"gate": GATE, "by": "ops", "at": "t", "note": "x" * 1_000_000}]))


def folder(path: Path) -> None:
    path.mkdir()


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (fifo, "rollout-gates.json is not a regular file; put the committed one back: git checkout "),
        (dev_zero, "rollout-gates.json is not a regular file"),  # old code: MemoryError
        (folder, "rollout-gates.json is not a regular file"),
        (oversized, "rollout-gates.json is more than 1000000 bytes, more than a gates file holds"),
    ],
)
def test_the_working_copys_gates_file_is_read_only_when_it_is_a_small_regular_file(checkout, make, error):
    # Old code: a FIFO there blocked the rollout for good, /dev/zero ended in MemoryError.
    gates = Gates(checkout, [GATE])
    make(checkout / GATES_PATH)
    with pytest.raises(Refused, match=error):
        gates.working()
    with pytest.raises(Refused, match=error):
        gates.record(GATE, "ops", "", "t", "c")
    assert gates.uncommitted(GATE, []) is False, "it only ever adds words to a refusal: none here"


def test_a_partition_whose_gate_is_missing_is_refused_whatever_sits_in_the_working_copy(registry, tmp_path):
    run = rollout(registry, tmp_path, Script(), yes=True)
    run.verified.add("dev")
    run.gates.path.parent.mkdir(parents=True, exist_ok=True)
    fifo(run.gates.path)
    with pytest.raises(Refused, match=f"stage: not started: gate '{GATE}' is not recorded in {GATES_PATH}"):
        run.roll(registry.partition("stage"))


@pytest.mark.parametrize(
    ("commit", "error"),
    [
        (lambda top: oversized(top / GATES_PATH), r"at HEAD is 10000\d\d bytes, more than a gates file holds"),
        (lambda top: (top / GATES_PATH).symlink_to("/etc/hostname"), r"at HEAD is not a file \(git mode 120000\)"),
    ],
)
def test_the_committed_gates_file_is_read_from_git_within_bounds(checkout, commit, error):
    commit(checkout)
    commit_gates(checkout)
    with pytest.raises(Refused, match=error):
        Gates(checkout, [GATE]).committed()


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--wait", "nan"], "--wait must be 0 to 3600 seconds, got: nan"),
        (["--wait", "inf"], "--wait must be 0 to 3600 seconds, got: inf"),
        (["--wait", "1e999"], "--wait must be 0 to 3600 seconds, got: inf"),
        (["--wait", "-1"], "--wait must be 0 to 3600 seconds, got: -1"),
        (["--wait", "3601"], "--wait must be 0 to 3600 seconds, got: 3601"),
        (["--heartbeat", "0.5"], "--heartbeat must be 1 to 3600 seconds, got: 0.5"),
        (["--heartbeat", "nan"], "--heartbeat must be 1 to 3600 seconds, got: nan"),
        (["--heartbeat", "inf"], "--heartbeat must be 1 to 3600 seconds, got: inf"),
        (["--heartbeat=-inf"], "--heartbeat must be 1 to 3600 seconds, got: -inf"),
        (["--heartbeat", "3601"], "--heartbeat must be 1 to 3600 seconds, got: 3601"),
    ],
)
def test_wait_and_heartbeat_are_finite_and_within_their_documented_bounds(registry, tmp_path, run_cli, args, error):
    script = Script()
    result = rollout_main(run_cli, tmp_path, script, "dev", "--yes", *args)
    assert result.returncode == 2 and f"rollout: error: {error}" in result.stderr
    assert script.argv == []


@pytest.mark.parametrize(
    ("args", "wait", "heartbeat"), [(["--wait", "0"], 0, 30), (["--heartbeat", "3600"], 960, 3600)]
)
def test_the_bounds_themselves_are_accepted(registry, tmp_path, run_cli, args, wait, heartbeat):
    script = Script()
    assert rollout_main(run_cli, tmp_path, script, "dev", "--yes", *args).returncode == 0
    verify = next(argv for argv in script.argv if argv[0].endswith("verify_partition_mail.py"))
    assert verify[verify.index("--wait") + 1] == f"{wait:g}"
