"""The plan a reviewer reads, against the emulator, as a user runs it.

Every change is committed in a temporary clone first (deploy.py deploys only
committed work), then ``deploy.py`` runs from it: its main() in this process, or a
subprocess where the code that renders the template changed in the clone. Each test
checks the printed tables, the Markdown summary and ``--json`` for the same facts,
and that the token appears in none of them.
"""

from __future__ import annotations

import errno
import json
import subprocess

import pytest

from tests.conftest import PYTHON, STACK, TOKEN, assert_token_nowhere, committed_clone, deploy, generate_in, ok
from tools.rehearsal.aws import change_record, client
from tools.rehearsal.repo import git

pytestmark = pytest.mark.moto


@pytest.fixture
def clone(tmp_path, committed_checkout):
    return committed_clone(tmp_path / "clone", committed_checkout)


def no_space(path, text, **_):
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def commit_change(clone, path: str, old: str, new: str, message: str) -> None:
    """Edit one file, regenerate the template, commit both: a reviewed change."""
    target = clone / path
    text = target.read_text()
    assert old in text, f"{path} does not contain {old!r}"
    target.write_text(text.replace(old, new))
    if path.startswith("instances/"):  # configuration: rendered by this working tree's code, in this process
        generate_in(clone, "dev")
    else:  # the code that renders changed: only the clone's own generate.py renders it
        result = subprocess.run([PYTHON, "generate.py", "dev"], cwd=clone, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", message)


@pytest.mark.vcheck("V-CLI-003")
def test_a_dmarc_policy_change_shows_the_old_and_the_new_value(world, postmark, clone, tmp_path):
    ok(world.deploy("--yes", checkout=clone))
    commit_change(clone, "instances/Alpha002/dev.toml", 'policy = "none"', 'policy = "quarantine"', "stricter DMARC")
    out = tmp_path / "out"
    out.mkdir()
    summary = out / "plan.md"
    result = ok(world.deploy("--plan", "--summary-file", str(summary), checkout=clone))
    old = '"v=DMARC1; p=none; rua=mailto:dmarc-reports@arda.cards"'
    new = '"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@arda.cards"'
    (row,) = [line for line in result.stdout.splitlines() if "DmarcRecord" in line and "ResourceRecords" in line]
    assert row.split()[:2] == ["DmarcRecord", "ResourceRecords[0]"] and old in row and new in row
    text = summary.read_text()
    assert f"| DmarcRecord | ResourceRecords[0] | {old} | {new} |" in text
    assert "| Modify | DmarcRecord | AWS::Route53::RecordSet | False |" in text
    as_json = json.loads(ok(world.deploy("--plan", "--json", checkout=clone)).stdout)
    assert {"logical_id": "DmarcRecord", "path": "ResourceRecords[0]", "old": old, "new": new} in as_json["properties"]
    assert_token_nowhere(result.stdout, result.stderr, text, json.dumps(as_json), folders=[out])


def test_a_dkim_rotation_shows_its_parameter_changes(world, postmark, tmp_path):
    ok(world.deploy("--yes"))
    domain = postmark.only_domain()
    postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    postmark.verify_dkim(domain["ID"])
    postmark.rotate_dkim(domain["ID"])
    new_selector = domain["DKIMPendingHost"].split(".")[0]
    result = ok(world.deploy("--plan", "--json"))
    plan = json.loads(result.stdout)
    params = {p["name"]: p for p in plan["parameters"]}
    assert params["DkimSlot2Selector"] == {
        "name": "DkimSlot2Selector",
        "old": "(empty)",
        "new": new_selector,
        "changed": True,
    }
    assert params["DkimSlot2Value"]["new"].startswith("k=rsa;p=MIIBIjAN...") and params["DkimSlot2Value"]["changed"]
    assert params["DkimSlot1Selector"]["changed"] is False
    # The NoEcho token: never its value, but whether it changed.
    assert params["PostmarkAccountToken"] == {
        "name": "PostmarkAccountToken",
        "old": "****",
        "new": "****",
        "changed": False,
    }
    assert [c["logical_id"] for c in plan["changes"]] == ["DkimSlot2Record"]
    assert "PARAMETER" in result.stderr and "DkimSlot2Selector" in result.stderr
    assert_token_nowhere(result.stdout, result.stderr)


@pytest.mark.slow
def test_a_new_iam_action_is_gated(world, postmark, clone, tmp_path):
    """The template code itself changes in the clone: deploy.py must run from there, as a subprocess."""
    env = world["env"]
    ok(deploy(env, "--yes", checkout=clone))
    commit_change(
        clone,
        "templates/partition_email.py",
        "Action=[awacs_route53.GetHostedZone, awacs_route53.ListResourceRecordSets],",
        "Action=[awacs_route53.GetHostedZone, awacs_route53.ListResourceRecordSets, "
        "awacs_route53.ListTagsForResource],",
        "the runtime reads zone tags",
    )
    refused = deploy(env, "--yes", checkout=clone)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "IAM changes that WIDEN permissions" in refused.stdout
    (row,) = [line for line in refused.stdout.splitlines() if "new action route53:ListTagsForResource" in line]
    assert row.split()[:4] == ["DnsRecordsRole", "policy", "PartitionMailRecords", "ReadPartitionZone"]
    assert (
        "widens IAM permissions (1 grant(s), table above); review them, then rerun with --allow-iam-changes --yes"
        in refused.stderr
    )
    cfn = client("cloudformation", world["admin"])
    waiting = [c for c in cfn.list_change_sets(StackName=STACK)["Summaries"] if c["ExecutionStatus"] == "AVAILABLE"]
    assert waiting == [], "the refused change set is deleted"
    allowed = ok(deploy(env, "--yes", "--allow-iam-changes", checkout=clone))
    assert f"{STACK}: UPDATE_COMPLETE" in allowed.stdout
    # Narrowing back needs nothing extra.
    git(clone, "revert", "--no-edit", "HEAD")
    ok(deploy(env, "--yes", checkout=clone))


def test_a_record_changed_by_hand_is_drift(world, postmark, tmp_path):
    ok(world.deploy("--yes"))
    cfn = client("cloudformation", world["admin"])
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]}
    route53 = client("route53", world["admin"])
    # Whoever edits a record writes what the job summary renders: it must stay text (old code: raw HTML).
    hand_edit = '"v=DMARC1; p=none; rua=mailto:x@evil.test <img src=x onerror=alert(1)> | [x](y)"'
    change_record(route53, outputs["MailHostedZoneId"], "UPSERT", "_dmarc.dev.ardamails.com.", "TXT", [hand_edit], 3600)
    summary = tmp_path / "drift.md"
    shown = ok(world.deploy("--plan", "--summary-file", str(summary)))
    assert "drift: live values differ from the deployed template" in shown.stdout
    rows = [line for line in shown.stdout.splitlines() if line.strip().startswith("DmarcRecord")]
    assert len(rows) == 1, shown.stdout
    (row,) = rows
    assert "ResourceRecords" in row and hand_edit in row and "p=none; rua=mailto:dmarc-reports@arda.cards" in row
    written = summary.read_text()
    assert "| DmarcRecord | ResourceRecords | " in written
    assert "&lt;img src=x onerror=alert\\(1\\)&gt; \\| [x]\\(y\\)" in written and "<img" not in written

    # A refusal stays a refusal when its summary cannot be written (old code: exit 1).
    full = tmp_path / "full.md"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("deploy.write_file", no_space)
        refused = world.deploy("--yes", "--summary-file", str(full))
    assert refused.returncode == 3
    assert f"{STACK}: cannot write the plan summary to {full} (No space left on device); the run's outcome stands" in (
        refused.stderr
    )
    assert "1 value(s) were changed outside CloudFormation (table above)" in refused.stderr
    assert "--overwrite-drift" in refused.stderr

    repaired = ok(world.deploy("--yes", "--overwrite-drift"))
    assert "put 1 drifted record(s) back as the deployed template says" in repaired.stderr
    live = route53.list_resource_record_sets(HostedZoneId=outputs["MailHostedZoneId"])["ResourceRecordSets"]
    (dmarc,) = [r for r in live if r["Name"].rstrip(".") == "_dmarc.dev.ardamails.com"]
    assert dmarc["ResourceRecords"] == [{"Value": '"v=DMARC1; p=none; rua=mailto:dmarc-reports@arda.cards"'}]
    assert "drift" not in ok(world.deploy("--plan")).stdout
    assert_token_nowhere(
        shown.stdout, shown.stderr, refused.stdout, refused.stderr, repaired.stdout, folders=[tmp_path]
    )


def test_the_step_summary_holds_the_same_facts_as_the_summary_file(world, postmark, tmp_path):
    env = world["env"]
    step_summary = tmp_path / "step-summary.md"
    step_summary.write_text("# earlier steps\n")
    summary = tmp_path / "plan.md"
    env = dict(env, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(step_summary))
    result = ok(world.deploy("--plan", "--summary-file", str(summary), env=env))
    assert step_summary.read_text() == "# earlier steps\n" + summary.read_text()
    assert "## Plan: target: account 111122223333, region us-east-1, stack Alpha002-dev-Email" in summary.read_text()
    assert "| Add | MailHostedZone | AWS::Route53::HostedZone | - |" in summary.read_text()
    masks = [line for line in result.stdout.splitlines() if line.startswith("::add-mask::")]
    assert masks == [f"::add-mask::{TOKEN}"]
    assert_token_nowhere(result.stdout.replace(masks[0], ""), result.stderr, folders=[tmp_path])


def test_a_summary_destination_is_checked_before_anything_and_a_late_failure_keeps_the_outcome(
    world, postmark, tmp_path
):
    for where, said in [
        (tmp_path / "missing" / "plan.md", f"its folder {tmp_path / 'missing'} does not exist"),
        (tmp_path, "it is a folder"),
    ]:
        bad = world.deploy("--yes", "--summary-file", str(where))
        assert bad.returncode == 2, bad.stderr
        assert f"--summary-file must be a file in an existing folder this user can write, got: '{where}' ({said})" in (
            bad.stderr
        )
    assert client("cloudformation", world["admin"]).describe_stacks()["Stacks"] == []
    assert postmark.requests == [], "nothing ran (old code: deployed, then exit 1)"
    summary = tmp_path / "plan.md"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("deploy.write_file", no_space)
        deployed = world.deploy("--yes", "--summary-file", str(summary))
        assert deployed.returncode == 0, "the stack was created: that is the outcome"
        assert "cannot write the plan summary" in deployed.stderr and "the run's outcome stands" in deployed.stderr
        planned = world.deploy("--plan", "--summary-file", str(summary))
    assert planned.returncode == 1, "a plan is for its summary"
    (line,) = [entry for entry in planned.stderr.splitlines() if entry.startswith("deploy: error:")]
    assert line.endswith("(No space left on device); the plan is shown above; rerun --plan once it can be written")


def test_a_record_deleted_by_hand_is_reported_as_drift_and_put_back(world, postmark):
    ok(world.deploy("--yes"))
    cfn = client("cloudformation", world["admin"])
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]}
    route53 = client("route53", world["admin"])
    live = route53.list_resource_record_sets(HostedZoneId=outputs["MailHostedZoneId"])["ResourceRecordSets"]
    (dmarc,) = [r for r in live if r["Name"].rstrip(".") == "_dmarc.dev.ardamails.com"]
    # What `aws route53 change-resource-record-sets` with a DELETE of the exact record does.
    route53.change_resource_record_sets(
        HostedZoneId=outputs["MailHostedZoneId"],
        ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": dmarc}]},
    )
    shown = ok(world.deploy("--plan"))
    rows = [line for line in shown.stdout.splitlines() if line.strip().startswith("DmarcRecord")]
    assert rows, shown.stdout
    # Not "the stack already matches": the plan says what the deploy right after would do.
    assert "already matches" not in shown.stdout
    assert f"{STACK}: no template changes, but the live stack has drifted" in shown.stdout
    assert (
        f"{STACK}: a deploy now would be refused (exit 3) because of the drift above; put the drifted records back "
        "as the deployed template says with: python deploy.py Alpha002 dev --overwrite-drift" in shown.stdout
    )
    refused = world.deploy("--yes")
    assert refused.returncode == 3 and "--overwrite-drift" in refused.stderr
    ok(world.deploy("--yes", "--overwrite-drift"))
    live = route53.list_resource_record_sets(HostedZoneId=outputs["MailHostedZoneId"])["ResourceRecordSets"]
    assert [r["ResourceRecords"] for r in live if r["Name"].rstrip(".") == "_dmarc.dev.ardamails.com"] == [
        dmarc["ResourceRecords"]
    ]


def dns_records_role(world) -> str:
    resources = client("cloudformation", world["admin"]).describe_stack_resources(StackName=STACK)["StackResources"]
    return next(r["PhysicalResourceId"] for r in resources if r.get("LogicalResourceId") == "DnsRecordsRole")


def test_drift_on_a_role_is_shown_and_refused_even_with_overwrite_drift(world, postmark):
    import json as json_module

    ok(world.deploy("--yes"))
    iam = client("iam", world["admin"])
    role = dns_records_role(world)
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    # Someone widens the runtime's role in the console.
    wide = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "route53:*", "Resource": "*"}]}
    iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json_module.dumps(wide))
    shown = ok(world.deploy("--plan"))
    assert "drift: live values differ from the deployed template" in shown.stdout
    assert any(line.strip().startswith("DnsRecordsRole") and "/Policies" in line for line in shown.stdout.splitlines())
    by_hand = "DnsRecordsRole changed outside CloudFormation and --overwrite-drift puts back only DNS records"
    assert by_hand in shown.stdout
    for extra in ((), ("--overwrite-drift",)):
        refused = world.deploy("--yes", *extra)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        (line,) = [entry for entry in refused.stderr.splitlines() if entry.startswith("deploy: error:")]
        assert "DnsRecordsRole changed outside CloudFormation" in line
        assert "--overwrite-drift puts back only DNS records" in line
        assert f"aws cloudformation describe-stack-resource-drifts --stack-name {STACK}" in line


def test_a_drift_detection_that_fails_for_a_resource_stops_unattended_deploys(world, postmark):
    from tools.rehearsal.moto_compat import CONTROLS

    ok(world.deploy("--yes"))
    CONTROLS.drift_check_fails["NsDelegationFunction"] = "Internal Failure"  # the aws_env fixture resets it
    refused = world.deploy("--yes")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    # CloudFormation's reason is a JSON object naming each resource and why; the line says it plainly.
    assert (
        "drift detection did not check every resource (DETECTION_FAILED: NsDelegationFunction: Internal Failure)"
        in (refused.stderr)
    )
    assert "--overwrite-drift" in refused.stderr
    plan = ok(world.deploy("--plan"))  # a plan says so and goes on
    assert f"{STACK}: a deploy now would be refused (exit 3): CloudFormation's drift detection did not check" in (
        plan.stdout
    )
    ok(world.deploy("--yes", "--overwrite-drift"))  # the operator's decision: deploy without that check


def test_the_first_create_plan_reads_on_one_screen_and_verbose_shows_every_property(world, postmark):
    plan = ok(world.deploy("--plan"))
    lines = plan.stdout.splitlines()
    assert len(lines) <= 60 and max(len(line) for line in lines) <= 160, plan.stdout
    assert "  PostmarkAccountToken  (none)    **** (new)" in plan.stdout, "nothing is deployed: new, not changed"
    assert "(changed)" not in plan.stdout and "property changes" not in plan.stdout
    assert "IAM grants of the new stack" in plan.stdout and "action route53:ChangeResourceRecordSets" in plan.stdout
    verbose = ok(world.deploy("--plan", "--verbose"))
    assert "  DmarcRecord                 (the resource)" in verbose.stdout and "ADDED" in verbose.stdout
    assert "DmarcRecord                 Name" in verbose.stdout
    assert not any(line.split()[1:3] == ["{}", "(none)"] for line in verbose.stdout.splitlines() if line.strip())


def test_an_added_resource_in_an_update_is_one_unmistakable_row(world, postmark):
    ok(world.deploy("--yes"))
    domain = postmark.only_domain()
    postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    postmark.verify_dkim(domain["ID"])
    postmark.rotate_dkim(domain["ID"])  # a new pending key: a DKIM slot record is added
    plan = ok(world.deploy("--plan"))
    added = [line for line in plan.stdout.splitlines() if "(the resource)" in line]
    assert added and all(line.split()[-1] == "ADDED" for line in added), plan.stdout
    assert not any(line.strip().endswith("{}  (none)") for line in plan.stdout.splitlines())


def test_the_first_plan_says_what_registering_with_postmark_adds_and_the_deploy_does_it(world, postmark):
    plan = ok(world.deploy("--plan", "--json"))
    document = json.loads(plan.stdout)
    planned = {c["logical_id"] for c in document["changes"]}
    assert "DkimSlot1Record" not in planned and document["after_registration"] == ["DkimSlot1Record"]
    assert (
        "dev.ardamails.com is not registered with Postmark yet: the deploy registers it and adds DkimSlot1Record too"
        in plan.stderr
    )
    deployed = json.loads(ok(world.deploy("--yes", "--json")).stdout)
    done = {c["logical_id"] for c in deployed["changes"]}
    assert done == planned | {"DkimSlot1Record"}, "exactly the plan and what it said registration adds"
    assert postmark.requests and "after_registration" not in deployed
