"""tools/rollout.py in the rehearsal world: dev and stage active in a temporary clone.

The emulator, the Postmark stand-in and a DNS server answering from the emulator's
zones (so verification is earned); the clone holds the stage partition as a
committed, reviewed change. One test runs the rollout as an operator's shell does, a
subprocess whose steps are child processes: it holds the subprocess contract (argv,
exit codes, a signal and heartbeats while a child runs, stdout bytes; the other is
tests/e2e/test_cli_contract.py's). The others run ``tools/rollout.py``'s ``main()``
in this process with ``InProcess`` (tests/conftest.py) as its runner: each step is
the command's own ``main()`` with the same argv, through its own frame, on the fake
clock, its output captured as a child's (``::add-mask::`` lines included). The
cascade's rules (gates, predecessors, resume commands) are tested with a scripted
runner in tests/unit/test_rollout.py.
"""

from __future__ import annotations

import json
import math
import shlex
import signal
import subprocess
import threading
import time

import jsonschema
import pytest

from instances.registry import load_registry
from templates import permissions
from tests.conftest import (
    PYTHON,
    TOKEN,
    InProcess,
    assert_token_nowhere,
    captured,
    committed_clone,
    free_port,
    generate_in,
    ok,
)
from tools.lib.rollout.evidence import EVIDENCE_SCHEMA
from tools.rehearsal.aws import OPERATOR_ROLE_NAME, change_record, client
from tools.rehearsal.dns import Route53DnsServer
from tools.rehearsal.moto_compat import CONTROLS
from tools.rehearsal.postmark import dns_lookup
from tools.rehearsal.repo import git
from tools.rehearsal.world import populate

pytestmark = pytest.mark.moto

GATE = "postmark-compliance-reply"


def rollout_policy_alone(world) -> None:
    """The operator holds exactly the documented rollout policy: every rollout here runs under it alone."""
    policy = permissions.as_dict(permissions.operator_policy("111122223333", "us-east-1", "Alpha002", "rollout"))
    client("iam", world.admin).put_role_policy(
        RoleName=OPERATOR_ROLE_NAME, PolicyName="documented", PolicyDocument=json.dumps(policy)
    )


@pytest.fixture
def cascade(world, postmark, tmp_path, monkeypatch):
    rollout_policy_alone(world)
    clone = committed_clone(tmp_path / "clone", world.checkout)
    dev = (clone / "instances" / "Alpha002" / "dev.toml").read_text()
    stage = dev.replace("dev.ardamails.com", "stage.ardamails.com") + f'\n[rollout]\nrequires_gates = ["{GATE}"]\n'
    (clone / "instances" / "Alpha002" / "stage.toml").write_text(stage)
    generate_in(clone, "stage")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "stage follows dev, after Postmark's compliance reply")
    populate(load_registry(clone / "instances"))  # stage's report authorisation too
    dns = Route53DnsServer(free_port())
    dns.start()
    postmark.lookup = dns_lookup("127.0.0.1", dns.port)
    evidence_root = tmp_path / "evidence"
    env = dict(world["env"], ROLLOUT_EVIDENCE_ROOT=str(evidence_root))
    # In this process, verify (like rotate) reads the working tree's instances, where stage is not active.
    from tools import verify_partition_mail

    monkeypatch.setattr(verify_partition_mail, "load_registry", lambda: load_registry(clone / "instances"))
    yield {
        "admin": world.admin,
        "clone": clone,
        "env": env,
        "resolver": f"127.0.0.1:{dns.port}",
        "evidence": evidence_root,
        "world": world,
    }
    dns.stop()


def in_process(cascade, *args: str, runner: InProcess | None = None):
    """``python tools/rollout.py <args>`` from the clone, in this process, its steps through ``runner``."""
    from tools import rollout as cli

    world = cascade["world"]
    clock = world.clock.clock()
    runner = runner or InProcess(cascade["clone"], clock)
    extra = [] if "--record-gate" in args else ["--wait", "5", "--resolver", cascade["resolver"]]
    return world.run(cli.main, *args, *extra, env=cascade["env"], checkout=cascade["clone"], runner=runner, clock=clock)


def as_printed(cascade, command: str, runner: InProcess | None = None):
    """A rollout command the rollout printed, run in this process exactly as printed (its options parsed back)."""
    from tools import rollout as cli

    argv = shlex.split(command)
    assert argv[:2] == ["python", "tools/rollout.py"], command
    world = cascade["world"]
    clock = world.clock.clock()
    runner = runner or InProcess(cascade["clone"], clock)
    return world.run(cli.main, *argv[2:], env=cascade["env"], checkout=cascade["clone"], runner=runner, clock=clock)


def valid_evidence(path) -> dict:
    """An evidence file, valid against its documented schema."""
    document = json.loads(path.read_text())
    jsonschema.validate(document, json.loads(EVIDENCE_SCHEMA.read_text()))
    return document


def commit_gates(cascade) -> None:
    """What the operator does after --record-gate: commit the gates file (reviewed, merged)."""
    git(cascade["clone"], "add", "docs/rollout-gates.json")
    git(cascade["clone"], "commit", "-q", "-m", "Gate passed: Postmark's compliance reply")


def stacks(cascade) -> list[str]:
    cfn = client("cloudformation", cascade["admin"])
    return sorted(s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"].endswith("COMPLETE"))


def test_a_full_rollout_deploys_and_verifies_both_in_order_and_writes_the_evidence(cascade):
    gate = in_process(cascade, "--record-gate", GATE, "--by", "ops@arda.cards", "--note", "reply PM-42", "--json")
    assert gate.returncode == 0, gate.stderr
    recorded = json.loads(gate.stdout)
    assert recorded["outcome"] == "gate-recorded" and recorded["file"] == "docs/rollout-gates.json"
    assert json.loads((cascade["clone"] / "docs" / "rollout-gates.json").read_text()) == [recorded["gate"]]
    commit_gates(cascade)
    # The documented CI mode (old code: the children's masks never reached the runner). Each step's output is
    # captured as a child's: its ::add-mask:: line reaches the rollout as it does from a child process.
    step_summary = cascade["evidence"].parent / "step-summary.md"
    cascade["env"].update(GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(step_summary))
    result = in_process(cascade, "--yes", "--json")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    masks = [line for line in result.stderr.splitlines() if line.startswith("::add-mask::")]
    assert masks == [f"::add-mask::{TOKEN}"], "the rollout masks the token its children resolved, once"
    assert "::add-mask::" not in result.stdout
    order = [line.split(":")[0] for line in result.stderr.splitlines() if "deployed and verified" in line]
    assert order == ["Alpha002-dev-Email", "Alpha002-stage-Email"]
    document = json.loads(result.stdout)
    assert document["outcome"] == "verified"
    assert [p["target"]["partition"] for p in document["partitions"]] == ["dev", "stage"]
    assert stacks(cascade) == ["Alpha002-dev-Email", "Alpha002-stage-Email"]
    (run_dir,) = [p for p in cascade["evidence"].iterdir() if p.is_dir()]
    for stack in ("Alpha002-dev-Email", "Alpha002-stage-Email"):
        record = valid_evidence(run_dir / f"{stack}.json")
        assert record in document["partitions"], "--json lists each partition as its evidence file has it"
        assert record["verified"] is True and record["target"]["account"] == "111122223333"
        assert record["outcome"] == "verified" and record["executed"] is True
        assert record["change_set"].startswith("arn:aws:cloudformation:us-east-1:111122223333:changeSet/")
        assert {c["status"] for c in record["checks"]} == {"PASS"} and len(record["checks"]) >= 8
        assert len(record["exports"]) == 6 and record["tool"]["commit"] != "unknown"
        assert [s["step"] for s in record["steps"]] == ["pre-flight", "plan", "deploy", "verify"]
        report = (run_dir / f"{stack}.md").read_text()
        assert f"# {stack}: rollout evidence" in report and "| V-PART-010 | Postmark DKIM verified | PASS |" in report
        # Facts, not constants: the change set the stack says it executed, the rehearsal said so first.
        executed = client("cloudformation", cascade["admin"]).describe_stacks(StackName=stack)["Stacks"][0]
        assert record["change_set"] == executed["ChangeSetId"] and record["rehearsal"].startswith("http://127.0.0.1:")
        assert report.startswith("**REHEARSAL** (AWS was http://127.0.0.1:")
        assert "Add MailHostedZone (AWS::Route53::HostedZone)" in report
        assert "Sign-off row: | Verification: every check PASS | V-PART-" in report
        shareable = (run_dir / f"{stack}.shareable.md").read_text()
        assert "111122223333" not in shareable and "arn:" not in shareable and "| V-PART-010 |" in shareable
    stage = json.loads((run_dir / "Alpha002-stage-Email.json").read_text())
    assert [g["gate"] for g in stage["gates"]] == [GATE] and stage["gates"][0]["by"] == "ops@arda.cards"
    assert_token_nowhere(result.stdout, result.stderr.replace(masks[0], ""), folders=[cascade["evidence"]])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["qa"], "partition must be one of dev, stage, demo, prod, got: 'qa'"),
        (["--record-gate", GATE], "--record-gate needs --by WHO"),
        (["prod"], "rollout: error: partition 'prod' is not active (active: dev)"),
        (
            ["--record-gate", "pen-test-signed", "--by", "ops"],
            "--record-gate must name a gate an instance file requires (none: no instance file has [rollout] "
            "requires_gates), got: 'pen-test-signed'",
        ),
    ],
)
def test_usage_errors(world, run_cli, args, message):
    from tools import rollout as cli

    result = run_cli(cli.main, args)
    assert result.returncode == 2 and message in result.stderr


def test_the_resume_command_run_exactly_as_printed_finishes_the_rollout(cascade):
    first = in_process(cascade, "--yes")  # stage waits for its gate: refused after dev is done
    assert first.returncode == 3, first.stdout + first.stderr[-3000:]
    line = first.stderr.splitlines()[-1]
    assert line.startswith(f"rollout: error: stage: not started: gate '{GATE}' is not recorded"), line
    printed = line.split("then resume with: ", 1)[1].split(";")[0].strip()
    assert printed == f"python tools/rollout.py --from stage --wait 5 --resolver {cascade['resolver']} --yes"
    # The line ends with what the run changed: dev's deploy step, as it reported it.
    assert "; Alpha002-dev-Email deploy: registered dev.ardamails.com with Postmark (rerunning is safe); " in line
    assert line.endswith(" executed: CREATE_COMPLETE")
    gate = ok(in_process(cascade, "--record-gate", GATE, "--by", "ops@arda.cards", "--note", "PM-42"))
    assert "in docs/rollout-gates.json; commit it for review" in gate.stdout
    uncommitted = as_printed(cascade, printed)  # recorded, not committed: not a reviewed gate yet
    assert uncommitted.returncode == 3, uncommitted.stderr[-2000:]
    assert f"gate '{GATE}' is recorded in docs/rollout-gates.json but not committed" in uncommitted.stderr
    commit_gates(cascade)
    ok(as_printed(cascade, printed))
    assert stacks(cascade) == ["Alpha002-dev-Email", "Alpha002-stage-Email"]


def test_drift_stops_the_rollout_with_its_rows_and_the_commands_that_repair_and_resume(cascade):
    from tools import rotate_dkim

    world = cascade["world"]
    ok(in_process(cascade, "dev", "--yes"))
    cfn = client("cloudformation", cascade["admin"])
    stack = cfn.describe_stacks(StackName="Alpha002-dev-Email")["Stacks"][0]
    zone = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["MailHostedZoneId"]
    route53 = client("route53", cascade["admin"])
    change_record(route53, zone, "UPSERT", "_dmarc.dev.ardamails.com.", "TXT", ['"v=DMARC1; p=none"'], 3600)
    evidence = cascade["evidence"] / "drifted"
    drifted = in_process(cascade, "dev", "--yes", "--evidence-dir", str(evidence))
    # Old code: the deploy's refusal pointed at a "table above" the rollout had swallowed, without --overwrite-drift.
    assert drifted.returncode == 3, drifted.stderr[-3000:]
    line = drifted.stderr.splitlines()[-1]
    assert "rollout: error: dev: deploy not run: the live stack has drifted from the deployed template: Dmarc" in line
    assert 'live "v=DMARC1; p=none"' in line and "table above" not in line
    repair = line.split("as the deployed template says with: ", 1)[1].split(", then resume with: ")[0]
    assert repair == "python deploy.py Alpha002 dev --overwrite-drift"
    # The failed run's evidence, field by field, against the world.
    record = valid_evidence(evidence / "Alpha002-dev-Email.json")
    assert record["outcome"] == "refused" and record["verified"] is False and record["executed"] is False
    assert record["change_set"] == "" and record["changes_deployed"] == []
    assert [(d["resource"], d["actual"]) for d in record["plan"]["drift"]] == [("DmarcRecord", '"v=DMARC1; p=none"')]
    assert [(s["step"], s["exit"]) for s in record["steps"]] == [("pre-flight", 0), ("plan", 0), ("deploy", None)]
    assert record["checks"] == [] and record["exports"] == {}
    report = (evidence / "Alpha002-dev-Email.md").read_text()
    assert "- Verified: NO" in report and "Verification: NOT every check passed" in report
    assert "- Change set executed: (none: deploy not run: drift)" in report
    assert cfn.describe_stacks(StackName="Alpha002-dev-Email")["Stacks"][0]["ChangeSetId"] == stack["ChangeSetId"]
    ok(world.deploy(*repair.split()[4:], "--yes", checkout=cascade["clone"], env=cascade["env"]))
    resumed = ok(as_printed(cascade, line.split("then resume with: ", 1)[1].strip()))
    assert "Alpha002-dev-Email: verified (no changes to deploy)" in resumed.stdout
    # The no-change run's evidence says so: no change set of its own, the deploy skipped, every check PASS.
    unchanged = valid_evidence(evidence / "Alpha002-dev-Email.json")
    assert unchanged["verified"] is True and unchanged["change_set"] == "" and unchanged["changes_deployed"] == []
    assert unchanged["steps"][2] == {"step": "deploy", "exit": None, "seconds": 0.0, "skipped": "no changes"}
    assert {c["status"] for c in unchanged["checks"]} == {"PASS"} and len(unchanged["exports"]) == 6
    report = (evidence / "Alpha002-dev-Email.md").read_text()
    assert "- Change set executed: (none: no changes to deploy)" in report
    assert "- no changes: the stack already matched the committed template; no deploy ran" in report
    # A rotation adds a record: the evidence lists the addition (old code left the added DkimSlot1Record out).
    ok(world.run(rotate_dkim.main, "Alpha002", "dev", env=cascade["env"], clock=world.clock.clock()))
    after = cascade["evidence"] / "rotated"
    ok(in_process(cascade, "dev", "--yes", "--evidence-dir", str(after)))
    record = valid_evidence(after / "Alpha002-dev-Email.json")
    assert [(c["action"], c["logical_id"]) for c in record["changes_deployed"]] == [("Add", "DkimSlot2Record")]
    live = cfn.list_stack_resources(StackName="Alpha002-dev-Email")["StackResourceSummaries"]
    assert "DkimSlot2Record" in {r.get("LogicalResourceId") for r in live}
    assert record["change_set"] == cfn.describe_stacks(StackName="Alpha002-dev-Email")["Stacks"][0]["ChangeSetId"]
    assert "- Add DkimSlot2Record (AWS::Route53::RecordSet)" in (after / "Alpha002-dev-Email.md").read_text()


def test_a_deploy_by_another_run_between_the_plan_and_the_deploy_step_is_not_credited_to_the_rollout(cascade):
    # Old code: the evidence copied the plan's changes and took the stack's last executed change set: another
    # operator's deploy in between was recorded as the rollout's own.
    import deploy
    from tools import rotate_dkim
    from tools.lib.deploy.context import Checkout

    world, clone = cascade["world"], cascade["clone"]
    clock = world.clock.clock()
    ok(in_process(cascade, "dev", "--yes"))
    ok(world.run(rotate_dkim.main, "Alpha002", "dev", env=cascade["env"], clock=clock))  # something to deploy
    theirs = []

    def another_operator() -> None:
        argv = ["Alpha002", "dev", "--yes", "--json"]
        theirs.append(captured(lambda: deploy.main(argv, checkout=Checkout(clone), clock=clock)))

    raced = cascade["evidence"] / "raced"
    runner = InProcess(clone, clock, after={"plan": another_operator})
    result = ok(in_process(cascade, "dev", "--yes", "--evidence-dir", str(raced), runner=runner))
    code, stdout, _ = theirs[0]
    assert code == 0 and json.loads(stdout)["outcome"] == "deployed", "the other run deployed the rotation"
    their_change_set = json.loads(stdout)["change_set"]
    cfn = client("cloudformation", cascade["admin"])
    assert cfn.describe_stacks(StackName="Alpha002-dev-Email")["Stacks"][0]["ChangeSetId"] == their_change_set
    record = valid_evidence(raced / "Alpha002-dev-Email.json")
    assert [(c["action"], c["logical_id"]) for c in record["plan"]["changes"]] == [("Add", "DkimSlot2Record")]
    assert record["outcome"] == "verified" and record["executed"] is False
    assert record["change_set"] == "" and record["changes_deployed"] == [], "the rollout's deploy found nothing"
    assert [(s["step"], s["exit"]) for s in record["steps"]][2] == ("deploy", 0)
    report = (raced / "Alpha002-dev-Email.md").read_text()
    assert "- Change set executed: (none: the deploy step found no changes)" in report
    assert their_change_set not in report
    assert "Alpha002-dev-Email: verified (no changes to deploy)" in result.stdout


@pytest.mark.slow
def test_ctrl_c_in_the_deploy_step_reports_the_steps_last_line_and_writes_the_evidence(cascade):
    """The subprocess contract: heartbeats while a slow stack updates, then Ctrl-C reaches the rollout only (as at
    a terminal: its children run in their own sessions); it passes the signal to the deploy step, waits for its
    last line, reports it verbatim, writes the evidence and lists the partition in --json, and exits 130."""
    CONTROLS.slow_execution = math.inf  # the executed change set never settles (the aws_env fixture resets it)
    argv = [PYTHON, "tools/rollout.py", "dev", "--yes", "--json", "--heartbeat", "1", "--wait", "5"]
    argv += ["--resolver", cascade["resolver"]]
    process = subprocess.Popen(argv, cwd=cascade["clone"], env=cascade["env"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    lines: list[str] = []
    out: list[str] = []
    readers = [threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True),
               threading.Thread(target=lambda: out.extend(process.stdout), daemon=True)]  # fmt: skip
    for reader in readers:
        reader.start()
    beat = "Alpha002-dev-Email: deploy: still running after "
    try:
        for _ in range(600):  # until the deploy step has followed the stack for three heartbeats (60 s at most)
            deploying = [line for line in list(lines) if line.startswith(beat)]
            if len(deploying) >= 3 or process.poll() is not None:
                break
            time.sleep(0.1)
        assert len(deploying) >= 3, "".join(lines)[-3000:]  # old code: silent for the whole step
        process.send_signal(signal.SIGINT)
        process.wait(timeout=180)
    finally:
        process.kill()
    for reader in readers:
        reader.join(timeout=10)
    assert all("; last: " in line for line in deploying[1:]), deploying
    assert any("CREATE_IN_PROGRESS" in line or "change set" in line for line in deploying), deploying
    assert process.returncode == 130, "".join(lines)[-3000:]
    cfn = client("cloudformation", cascade["admin"])
    stack = cfn.describe_stacks(StackName="Alpha002-dev-Email")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_IN_PROGRESS", "the update carries on: a stopped follow touches nothing"
    # Old code: "rollout: interrupted (Ctrl-C); dev: nothing was changed", the deploy step's own line never shown.
    last = lines[-1].rstrip("\n")
    said = last.split(" was stopped and said: ", 1)[1].split('"; evidence in ')[0].removeprefix('"')
    assert last.startswith("rollout: interrupted (Ctrl-C); dev: the deploy step of Alpha002-dev-Email was stopped")
    assert said.startswith("deploy: interrupted (Ctrl-C); Alpha002-dev-Email: registered dev.ardamails.com")
    watch = f"aws cloudformation describe-stack-events --stack-name {stack['StackId']} --region us-east-1"
    assert f"executed; CloudFormation carries on: watch it with: {watch}" in said
    assert last.endswith(f"resume with: python tools/rollout.py dev --from dev --wait 5 --resolver "
                         f"{cascade['resolver']} --heartbeat 1 --yes")  # fmt: skip
    document = json.loads("".join(out))  # stdout is the one document
    assert document["outcome"] == "interrupted" and document["exit_code"] == 130
    (listed,) = document["partitions"]
    (run_dir,) = [p for p in cascade["evidence"].iterdir() if p.is_dir()]
    record = valid_evidence(run_dir / "Alpha002-dev-Email.json")
    assert listed == record and record["outcome"] == "interrupted" and record["verified"] is False
    executed = said.split("change set ", 1)[1].split(" executed;")[0]
    assert record["change_set"] == executed and record["executed"] is True
    assert executed.startswith("arn:aws:cloudformation:us-east-1:111122223333:changeSet/arda-mail-")
    assert "Add MailHostedZone" in {f"{c['action']} {c['logical_id']}" for c in record["changes_deployed"]}
    deploy_step = record["steps"][-1]
    assert (deploy_step["step"], deploy_step["exit"], deploy_step["signal"]) == ("deploy", 130, "SIGINT")
    assert deploy_step["said"] == said, "the evidence has the step's last line too"
    report = (run_dir / "Alpha002-dev-Email.md").read_text()
    assert "- Outcome: interrupted" in report and f"- Change set executed: {executed}" in report


def test_a_partition_taken_down_is_adopted_in_the_cascade_and_its_evidence_says_so(cascade):
    """Issue 31: dev was destroyed (its zone and webhook secret retained); the rollout's deploy step adopts them."""
    world = cascade["world"]
    ok(world.deploy("--yes"))
    cfn = client("cloudformation", cascade["admin"])
    exports = {
        o["OutputKey"]: o["OutputValue"]
        for o in cfn.describe_stacks(StackName="Alpha002-dev-Email")["Stacks"][0]["Outputs"]
    }
    zone_id = exports["MailHostedZoneId"].split("/")[-1]
    servers = client("route53", cascade["admin"]).get_hosted_zone(Id=zone_id)["DelegationSet"]["NameServers"]
    ok(world.deploy("--destroy", "--yes"))
    result = in_process(cascade, "dev", "--yes", "--json")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    (record,) = json.loads(result.stdout)["partitions"]
    assert record["outcome"] == "verified" and record["executed"] is True
    assert record["adopted"]["zone"]["id"] == zone_id
    assert record["adopted"]["zone"]["name_servers"] == sorted(s.lower() for s in servers)
    assert record["adopted"]["webhook_secret"] == {"arn": exports["WebhookSecretArn"]}
    (run_dir,) = [p for p in cascade["evidence"].iterdir() if p.is_dir()]
    assert valid_evidence(run_dir / "Alpha002-dev-Email.json") == record
    report = (run_dir / "Alpha002-dev-Email.md").read_text()
    assert f"- Adopted (retained by an earlier stack, kept): hosted zone {zone_id} with its name servers" in report
    assert "arn:" not in (run_dir / "Alpha002-dev-Email.shareable.md").read_text()
