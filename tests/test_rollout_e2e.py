"""tools/rollout.py in the rehearsal world: dev and stage active in a temporary clone.

The emulator, the Postmark stand-in and a DNS server answering from the emulator's
zones (so verification is earned); the rollout runs as a subprocess from the clone,
which holds the stage partition as a committed, reviewed change.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from instances.registry import load_registry
from tests.conftest import PYTHON, assert_token_nowhere, free_port
from tools.rehearsal.aws import change_record, client, credentials
from tools.rehearsal.dns import Route53DnsServer
from tools.rehearsal.postmark import dns_lookup
from tools.rehearsal.repo import committed_copy, git
from tools.rehearsal.world import REPORT_DOMAIN_ACCOUNT, populate

pytestmark = pytest.mark.moto

GATE = "postmark-compliance-reply"


@pytest.fixture
def cascade(world, postmark, tmp_path):
    clone = committed_copy(tmp_path / "clone")
    dev = (clone / "instances" / "Alpha002" / "dev.toml").read_text()
    stage = dev.replace("dev.ardamails.com", "stage.ardamails.com") + f'\n[rollout]\nrequires_gates = ["{GATE}"]\n'
    (clone / "instances" / "Alpha002" / "stage.toml").write_text(stage)
    generated = subprocess.run([PYTHON, "generate.py", "stage"], cwd=clone, capture_output=True, text=True, timeout=60)
    assert generated.returncode == 0, generated.stderr
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "stage follows dev, after Postmark's compliance reply")
    populate(load_registry(clone / "instances"))  # stage's report authorisation too
    dns = Route53DnsServer(free_port())
    dns.start()
    postmark.lookup = dns_lookup("127.0.0.1", dns.port)
    evidence_root = tmp_path / "evidence"
    env = dict(world["env"], ROLLOUT_EVIDENCE_ROOT=str(evidence_root))
    yield {**world, "clone": clone, "env": env, "resolver": f"127.0.0.1:{dns.port}", "evidence": evidence_root}
    dns.stop()


def rollout(cascade, *args):
    argv = [PYTHON, "tools/rollout.py", *args]
    if "--record-gate" not in args:
        argv += ["--wait", "5", "--resolver", cascade["resolver"]]
    return subprocess.run(
        argv,
        cwd=cascade["clone"],
        env=cascade["env"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def stacks(cascade) -> list[str]:
    cfn = client("cloudformation", cascade["deployer"])
    return sorted(s["StackName"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"].endswith("COMPLETE"))


def report_authorisation(partition: str) -> dict:
    route53 = client("route53", credentials(f"arn:aws:iam::{REPORT_DOMAIN_ACCOUNT}:role/ReportDomainOwner"))
    (zone,) = route53.list_hosted_zones_by_name(DNSName="arda.cards")["HostedZones"][:1]
    return {"route53": route53, "zone": zone["Id"], "name": f"{partition}.ardamails.com._report._dmarc.arda.cards."}


def test_a_full_rollout_deploys_and_verifies_both_in_order_and_writes_the_evidence(cascade):
    gate = rollout(cascade, "--record-gate", GATE, "--by", "ops@arda.cards", "--note", "reply sent, ticket PM-42")
    assert gate.returncode == 0, gate.stderr
    result = rollout(cascade, "--yes")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    order = [line.split(":")[0] for line in result.stdout.splitlines() if "deployed and verified" in line]
    assert order == ["Alpha002-dev-Email", "Alpha002-stage-Email"]
    assert stacks(cascade) == ["Alpha002-dev-Email", "Alpha002-stage-Email"]
    (run_dir,) = [p for p in cascade["evidence"].iterdir() if p.is_dir()]
    for stack in ("Alpha002-dev-Email", "Alpha002-stage-Email"):
        record = json.loads((run_dir / f"{stack}.json").read_text())
        assert record["verified"] is True and record["target"]["account"] == "111122223333"
        assert record["change_set"].startswith("arn:aws:cloudformation:us-east-1:111122223333:changeSet/")
        assert {c["status"] for c in record["checks"]} == {"PASS"} and len(record["checks"]) >= 8
        assert len(record["exports"]) == 6 and record["tool"]["commit"] != "unknown"
        assert [s["step"] for s in record["steps"]] == ["pre-flight", "plan", "deploy", "verify"]
        report = (run_dir / f"{stack}.md").read_text()
        assert f"# {stack}: rollout evidence" in report and "| V-PART-010 | Postmark DKIM verified | PASS |" in report
    stage = json.loads((run_dir / "Alpha002-stage-Email.json").read_text())
    assert [g["gate"] for g in stage["gates"]] == [GATE] and stage["gates"][0]["by"] == "ops@arda.cards"
    assert_token_nowhere(result.stdout, result.stderr, folders=[cascade["evidence"]])

    # Nothing to change: the rerun passes straight through (no deploy step), still verifying.
    again = rollout(cascade, "--yes")
    assert again.returncode == 0, again.stderr[-2000:]
    assert " deploy " not in again.stderr and "verify" in again.stderr


def test_a_failed_verification_stops_before_stage_and_from_resumes(cascade):
    assert rollout(cascade, "--record-gate", GATE, "--by", "ops").returncode == 0
    # The report domain's owner removes dev's DMARC report authorisation by hand.
    auth = report_authorisation("dev")
    change_record(auth["route53"], auth["zone"], "DELETE", auth["name"], "TXT", ['"v=DMARC1"'])
    failed = rollout(cascade, "--yes")
    assert failed.returncode == 1
    (line,) = [entry for entry in failed.stderr.splitlines() if entry.startswith("rollout: error:")]
    assert line.startswith("rollout: error: dev: verify failed (exit 1): ")
    assert "V-PART-009" in line and line.endswith("resume with: python tools/rollout.py --from dev --yes")
    assert stacks(cascade) == ["Alpha002-dev-Email"], "stage never started"

    refused = rollout(cascade, "--from", "stage", "--yes")
    assert refused.returncode == 3
    assert "stage: not started: its predecessor dev is not verified" in refused.stderr

    change_record(auth["route53"], auth["zone"], "CREATE", auth["name"], "TXT", ['"v=DMARC1"'])
    resumed = rollout(cascade, "--from", "stage", "--yes")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert stacks(cascade) == ["Alpha002-dev-Email", "Alpha002-stage-Email"]


def test_a_missing_gate_stops_the_cascade_with_its_name(cascade):
    result = rollout(cascade, "--yes")
    assert result.returncode == 3
    assert f"stage: not started: gate '{GATE}' is not recorded" in result.stderr
    assert f"python tools/rollout.py --record-gate {GATE} --by <who>" in result.stderr
    assert stacks(cascade) == ["Alpha002-dev-Email"]
    without = rollout(cascade, "--through", "dev", "--yes")
    assert without.returncode == 0, without.stderr[-2000:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["qa"], "partition must be one of dev, stage, demo, prod, got: 'qa'"),
        (["--record-gate", GATE], "--record-gate needs --by WHO"),
        (["prod"], "rollout: error: partition 'prod' is not active (active: dev, stage)"),
    ],
)
def test_usage_errors(cascade, args, message):
    result = rollout(cascade, *args)
    assert result.returncode == 2 and message in result.stderr
