"""Least privilege, proven in the world that evaluates IAM (tools/rehearsal/iam_world.py).

The world's operator holds exactly docs/permissions.md's operator policy, PlatformRoot's
delegation role exactly its documented policy. Here: each run the tool has works under
them, a run whose action is removed fails with AccessDenied named in one line, the
delegation handler works under AWS CDK's exact grants, and --preflight tells which.
"""

from __future__ import annotations

import json
import subprocess
import sys

import boto3
import pytest

from templates import permissions
from tests.conftest import STACK, ok
from tools.rehearsal import iam_world
from tools.rehearsal.aws import OPERATOR_ROLE_NAME, PLATFORM_ROOT_ROLE, change_record, client, credentials
from tools.rehearsal.repo import committed_copy, git

pytestmark = pytest.mark.moto

ACCOUNT, REGION, INFRA = "111122223333", "us-east-1", "Alpha002"


def operator_policy(world, without: str | None = None) -> None:
    """Give the world's operator the documented policy, minus one action."""
    policy = permissions.as_dict(permissions.operator_policy(ACCOUNT, REGION, INFRA))
    if without is not None:
        for statement in policy["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a != without]
        policy["Statement"] = [s for s in policy["Statement"] if s["Action"]]
    iam = client("iam", world.admin)
    iam.put_role_policy(RoleName=OPERATOR_ROLE_NAME, PolicyName="documented", PolicyDocument=json.dumps(policy))


def delegation_policy(world, recommended: bool) -> None:
    """Give PlatformRoot's delegation role the recommended or the minimum (AWS CDK's) policy."""
    policy = permissions.delegation_role_policy(world.parent_zone_id, "ardamails.com", recommended=recommended)
    iam = client("iam", world.root)
    iam.put_role_policy(
        RoleName=PLATFORM_ROOT_ROLE.rsplit("/", 1)[-1],
        PolicyName="documented",
        PolicyDocument=json.dumps(permissions.as_dict(policy)),
    )


def outputs(world) -> dict[str, str]:
    stack = client("cloudformation", world.admin).describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


@pytest.fixture
def reset(aws_env):
    """``reset(world)``: an empty world again (accounts, roles, parent zone), with fresh credentials."""
    import requests

    from instances.registry import load_registry
    from tools.rehearsal.aws import ALPHA002_DEPLOYER_ROLE, credentials, staff
    from tools.rehearsal.world import populate

    def again(world) -> None:
        requests.post(f"{aws_env}/moto-api/reset", timeout=10)
        populate(load_registry())
        world.root = staff(PLATFORM_ROOT_ROLE.split(":")[4])
        world.admin = staff(ACCOUNT)
        world.env.update(credentials(ALPHA002_DEPLOYER_ROLE))
        zones = client("route53", world.root).list_hosted_zones_by_name(DNSName="ardamails.com", MaxItems="1")
        world.parent_zone_id = zones["HostedZones"][0]["Id"].split("/")[-1]

    return again


# -- the runs: a set-up under the full policy, then the run under test -----------------------


def nothing(world, tmp_path):
    return None


def deployed(world, tmp_path):
    ok(world.deploy("--yes"))


def foreign_delegation(world, tmp_path):
    theirs = ["ns-1.elsewhere.example.", "ns-2.elsewhere.example."]
    change_record(client("route53", world.root), world.parent_zone_id, "CREATE", "dev.ardamails.com.", "NS", theirs)


def rotate(world, tmp_path):
    domain = world.postmark.only_domain()
    world.postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    world.postmark.verify_dkim(domain["ID"])
    world.postmark.rotate_dkim(domain["ID"])


NEW_TOKEN = "pm-acct-a-new-token-0123456789"


def new_token(world, tmp_path):
    world.postmark.token = None  # the operator rotated the token in 1Password: Postmark takes the new one


def retagged(world, tmp_path):
    """Every resource's tags change: the update path of each resource type (the world checks each type's
    update calls whatever the change; a code change would need a subprocess: the in-process modules are this tree's).
    """
    checkout = committed_copy(tmp_path / "checkout")
    config = checkout / "instances" / "Alpha002" / "dev.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[tags]\n", '[tags]\nTeam = "mail"\n'))
    done = subprocess.run([sys.executable, "generate.py", "dev"], cwd=checkout, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    git(checkout, "commit", "-qam", "tag every resource")
    world.changed_checkout = checkout


def verify(world):
    from tools import verify_partition_mail
    from tools.rehearsal.dns import Route53DnsServer
    from tools.rehearsal.world import free_port

    dns = Route53DnsServer(free_port())  # answers from the world's zones at once (no resolver timeouts)
    dns.start()
    try:
        argv = ("Alpha002", "dev", "--resolver", f"127.0.0.1:{dns.port}", "--wait", "0")
        return world.run(verify_partition_mail.main, *argv)
    finally:
        dns.stop()


def repaired(world, tmp_path):
    zone = outputs(world)["MailHostedZoneId"]
    change_record(client("route53", world.admin), zone, "UPSERT", "_dmarc.dev.ardamails.com.", "TXT", ['"x"'], 3600)


def retag(world, tmp_path):
    retagged(world, tmp_path)


# Every run the tool has, in an order where each run's world is what the ones before left
# (a lifecycle, so no run needs a set-up of its own): name → (set-up, the run, exit code).
LIFECYCLE = {
    "deploy": (nothing, lambda w: w.deploy("--yes"), 0),
    "no-change deploy": (nothing, lambda w: w.deploy("--yes"), 0),
    "preflight": (nothing, lambda w: w.deploy("--preflight"), 0),
    "verify": (nothing, verify, 1),  # Postmark has not verified the new domain yet: V-PART-010 fails
    "DKIM rotation": (rotate, lambda w: w.deploy("--yes"), 0),
    "new Postmark token": (new_token, lambda w: w.deploy("--yes", env=dict(w.env, OP_STANDIN_SECRET=NEW_TOKEN)), 0),
    "plan": (nothing, lambda w: w.deploy("--plan", env=dict(w.env, OP_STANDIN_SECRET=NEW_TOKEN)), 0),
    "drift repair": (
        repaired,
        lambda w: w.deploy("--yes", "--overwrite-drift", env=dict(w.env, OP_STANDIN_SECRET=NEW_TOKEN)),
        0,
    ),
    "every resource updated": (
        retag,
        lambda w: w.deploy(
            "--yes", "--allow-iam-changes", checkout=w.changed_checkout, env=dict(w.env, OP_STANDIN_SECRET=NEW_TOKEN)
        ),
        0,
    ),
    "destroy": (nothing, lambda w: w.deploy("--destroy", "--yes"), 0),
    "purge after destroy": (nothing, lambda w: w.deploy("--destroy", "--purge-retained", "--yes"), 0),
    # A fresh world from here on.
    "failed create (rolled back)": (foreign_delegation, lambda w: w.deploy("--yes"), 1),
    "purge": (deployed, lambda w: w.deploy("--destroy", "--purge-retained", "--yes"), 0),
}
FRESH_WORLD_BEFORE = {"failed create (rolled back)", "purge"}

# The first run of the lifecycle that needs each documented action (the lifecycle test keeps this true).
FIRST_NEEDED_BY = {
    "deploy": (
        "cloudformation:CreateChangeSet",
        "cloudformation:DescribeChangeSet",
        "cloudformation:DescribeStackEvents",
        "cloudformation:DescribeStacks",
        "cloudformation:ExecuteChangeSet",
        "cloudformation:GetStackPolicy",
        "cloudformation:SetStackPolicy",
        "cloudformation:UpdateTerminationProtection",
        "iam:CreateRole",
        "iam:GetRole",
        "iam:GetRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies",
        "iam:PassRole",
        "iam:PutRolePolicy",
        "iam:TagRole",
        "lambda:CreateFunction",
        "lambda:GetFunction",
        "lambda:GetFunctionCodeSigningConfig",
        "lambda:InvokeFunction",
        "lambda:TagResource",
        "logs:CreateLogGroup",
        "logs:DescribeLogGroups",
        "logs:PutRetentionPolicy",
        "logs:TagResource",
        "route53:ChangeResourceRecordSets",
        "route53:ChangeTagsForResource",
        "route53:CreateHostedZone",
        "route53:GetChange",
        "route53:GetHostedZone",
        "route53:ListHostedZonesByName",
        "route53:ListQueryLoggingConfigs",
        "route53:ListTagsForResource",
        "secretsmanager:CreateSecret",
        "secretsmanager:GetRandomPassword",
        "secretsmanager:TagResource",
    ),
    "no-change deploy": (
        "cloudformation:DeleteChangeSet",
        "cloudformation:DescribeStackDriftDetectionStatus",
        "cloudformation:DescribeStackResourceDrifts",
        "cloudformation:DetectStackDrift",
        "cloudformation:GetTemplate",
        "cloudformation:ListChangeSets",
        "route53:ListResourceRecordSets",
    ),
    "preflight": ("iam:SimulatePrincipalPolicy",),
    "DKIM rotation": ("secretsmanager:GetSecretValue",),
    "new Postmark token": (
        "secretsmanager:DescribeSecret",
        "secretsmanager:UntagResource",
        "secretsmanager:UpdateSecret",
    ),
    "every resource updated": (
        "iam:UntagRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:UpdateRole",
        "lambda:ListTags",
        "lambda:UntagResource",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
        "logs:ListTagsForResource",
        "logs:UntagResource",
        "route53:UpdateHostedZoneComment",
    ),
    "destroy": (
        "cloudformation:DeleteStack",
        "cloudformation:ListImports",
        "cloudformation:DescribeStackResources",
        "iam:DeleteRole",
        "iam:DeleteRolePolicy",
        "lambda:DeleteFunction",
        "logs:DeleteLogGroup",
        "secretsmanager:DeleteSecret",
    ),
    "purge after destroy": (
        "route53:DeleteHostedZone",
        "secretsmanager:ListSecrets",
    ),
}


# In the documented policy, but no run in this world reaches them yet, each for a stated reason.
NOT_REACHED: dict[str, str] = {}  # none since the world models drift detection (moto patch 18)


@pytest.mark.slow
def test_every_run_works_under_the_documented_policy_and_the_policy_holds_nothing_unused(world, tmp_path, reset):
    used: dict[str, str] = {}
    for name, (setup, command, code) in LIFECYCLE.items():
        if name in FRESH_WORLD_BEFORE:
            reset(world)
        setup(world, tmp_path / name.replace(" ", "-"))
        iam_world.GRANTED.clear()
        result = command(world)
        output = result.stdout + result.stderr
        assert result.returncode == code, f"{name}: {output[-3000:]}"
        assert "not authorized" not in output and "AccessDenied" not in output, f"{name}: {output[-3000:]}"
        for principal, action in iam_world.GRANTED:
            if principal.endswith(f":role/{OPERATOR_ROLE_NAME}"):
                used.setdefault(action, name)
    documented = set(permissions.operator_actions(ACCOUNT, REGION, INFRA))
    assert set(used) - documented == set(), "the world allowed an undocumented action"
    assert documented - set(used) - set(NOT_REACHED) == set(), "documented but no run needs it"
    assert set(NOT_REACHED) <= documented
    assert used == {action: run for run, actions in FIRST_NEEDED_BY.items() for action in actions}


# Optional calls: without them the run goes on, and one line names the refused action.
DEGRADES = {
    "cloudformation:DetectStackDrift": "the records are compared directly instead",
    "secretsmanager:GetSecretValue": "the plan cannot tell whether the token changed",
}

# The runs cheap enough for every suite run (no lifecycle before them); the rest: pytest -m exhaustive.
SAMPLED = {
    "cloudformation:CreateChangeSet",  # the tool's own call
    "iam:CreateRole",  # a resource CloudFormation creates with the caller's permissions
    "iam:PassRole",  # ... with a condition (iam:PassedToService)
    "secretsmanager:CreateSecret",  # ... with a request-tag condition
    "lambda:InvokeFunction",  # the custom resource, invoked with the caller's credentials
    "iam:SimulatePrincipalPolicy",  # --preflight's own question
}


def _cases():
    for run, actions in FIRST_NEEDED_BY.items():
        for action in actions:
            marks = () if action in SAMPLED else (pytest.mark.exhaustive,)
            yield pytest.param(action, run, id=action, marks=marks)


@pytest.mark.parametrize(("action", "needed_by"), list(_cases()))
def test_without_one_action_the_run_that_needs_it_fails_naming_it(world, tmp_path, reset, action, needed_by):
    for name, (setup, command, _) in LIFECYCLE.items():
        if name in FRESH_WORLD_BEFORE:
            reset(world)
        setup(world, tmp_path / name.replace(" ", "-"))
        if name == needed_by:
            operator_policy(world, without=action)
            result = command(world)
            break
        command(world)
    output = (result.stdout + result.stderr).splitlines()
    if action not in DEGRADES:
        assert result.returncode != 0, "\n".join(output[-30:])
    named = [line for line in output if action in line and ("not authorized" in line or "may not call" in line)]
    assert named, f"no line names {action}:\n" + "\n".join(output[-30:])
    assert "Traceback" not in result.stderr


# -- the delegation handler under AWS CDK's exact grants -------------------------------------


def test_deploy_and_destroy_work_under_cdks_exact_delegation_grants(world, postmark):
    delegation_policy(world, recommended=False)
    iam_world.GRANTED.clear()
    route53 = client("route53", world.root)

    def delegation():
        records = route53.list_resource_record_sets(HostedZoneId=world.parent_zone_id)["ResourceRecordSets"]
        return [r for r in records if r["Name"] == "dev.ardamails.com." and r["Type"] == "NS"]

    ok(world.deploy("--yes"))
    assert len(delegation()) == 1
    ok(world.deploy("--destroy", "--yes"))
    assert delegation() == [], "the Delete sends the record exactly as written; Route 53 takes it"
    cfn = client("cloudformation", world.admin)
    assert [s for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"] == []
    # Only CDK's grants were asked of PlatformRoot's role.
    assert {a for p, a in iam_world.GRANTED if p == PLATFORM_ROOT_ROLE} <= CDK_GRANTS


CDK_GRANTS = {"route53:ListHostedZonesByName", "route53:ChangeResourceRecordSets"}


class CloudFormationAnswers:
    """The custom resource protocol's ResponseURL on 127.0.0.1: every answer the handler PUTs."""

    def __init__(self) -> None:
        import http.server
        import threading

        answers = self.answers = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):  # noqa: N802 - http.server's naming
                answers.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cfn-response"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cfn_answers():
    answers = CloudFormationAnswers()
    yield answers
    answers.close()


def test_the_handler_creates_updates_and_deletes_under_cdks_exact_grants(world, cfn_answers):
    from templates import ns_delegation_handler as handler

    delegation_policy(world, recommended=False)
    iam_world.GRANTED.clear()
    # The function's own identity: a role named as CloudFormation names it, allowed to assume PlatformRoot's.
    iam = client("iam", world.admin)
    name = f"{STACK}-NsDelegationFunctionRole-TEST"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    assume = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": PLATFORM_ROOT_ROLE}],
    }
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(assume))
    function = credentials(f"arn:aws:iam::{ACCOUNT}:role/{name}")
    session = boto3.Session(**{k.lower(): v for k, v in function.items()}, region_name=REGION)
    event = {
        "RequestType": "Create",
        "ResponseURL": cfn_answers.url,
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/1",
        "RequestId": "r1",
        "LogicalResourceId": "NsDelegation",
        "ResourceType": "Custom::NsDelegation",
        "ResourceProperties": {
            "AssumeRoleArn": PLATFORM_ROOT_ROLE,
            "ParentZoneName": "ardamails.com",
            "RecordName": "dev.ardamails.com",
            "NameServers": ["ns-1.example.net", "ns-2.example.net"],
            "TTL": "172800",
        },
    }
    route53 = client("route53", world.root)

    def answer():
        return cfn_answers.answers[-1]

    def ns():
        records = route53.list_resource_record_sets(HostedZoneId=world.parent_zone_id)["ResourceRecordSets"]
        return [
            (r["TTL"], sorted(v["Value"] for v in r["ResourceRecords"]))
            for r in records
            if r["Type"] == "NS" and r["Name"] == "dev.ardamails.com."
        ]

    handler.handler(event, None, session=session)
    assert answer()["Status"] == "SUCCESS", answer()["Reason"]
    assert answer()["Data"]["Result"] == "upserted (ownership not checked: no ListResourceRecordSets)"
    assert ns() == [(172800, ["ns-1.example.net.", "ns-2.example.net."])]
    physical = answer()["PhysicalResourceId"]
    update = dict(
        event,
        RequestType="Update",
        RequestId="r2",
        PhysicalResourceId=physical,
        OldResourceProperties=event["ResourceProperties"],
        ResourceProperties=dict(event["ResourceProperties"], TTL="3600"),
    )
    handler.handler(update, None, session=session)
    assert answer()["Status"] == "SUCCESS", answer()["Reason"]
    assert ns() == [(3600, ["ns-1.example.net.", "ns-2.example.net."])]
    delete = dict(update, RequestType="Delete", RequestId="r3")
    handler.handler(delete, None, session=session)
    assert answer()["Status"] == "SUCCESS", answer()["Reason"]
    assert ns() == []
    # Every call the role made was one CDK's grants allow: nothing else was asked of PlatformRoot.
    assert {a for p, a in iam_world.GRANTED if p == PLATFORM_ROOT_ROLE} <= CDK_GRANTS


# -- --preflight: PASS with the documented policy, FAIL naming what is missing ----------------


def test_preflight_names_the_missing_action_per_mode(world, postmark):
    operator_policy(world, without="cloudformation:ExecuteChangeSet")
    result = world.deploy("--preflight")
    assert result.returncode == 1
    rows = {line.split("  ")[1].strip(): line for line in result.stdout.splitlines()[2:]}
    for mode in ("deploy", "rollout"):
        assert " FAIL " in rows[f"IAM: {mode}"] and "lacks cloudformation:ExecuteChangeSet" in rows[f"IAM: {mode}"]
    for mode in ("plan", "destroy", "purge", "verify"):
        assert " PASS " in rows[f"IAM: {mode}"], rows[f"IAM: {mode}"]


def test_preflight_that_cannot_ask_iam_says_so_and_fails(world, postmark):
    operator_policy(world, without="iam:SimulatePrincipalPolicy")
    result = world.deploy("--preflight")
    assert result.returncode == 1
    (row,) = [line for line in result.stdout.splitlines() if "IAM permissions" in line]
    assert " FAIL " in row and "may not call iam:SimulatePrincipalPolicy" in row and "NOT checked" in row
    assert "docs/permissions.md" in row


def test_a_deletion_that_fails_puts_termination_protection_back(world, postmark):
    ok(world.deploy("--yes"))
    operator_policy(world, without="iam:DeleteRole")
    failed = world.deploy("--destroy", "--yes")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "DELETE_FAILED" in failed.stdout + failed.stderr
    assert "not authorized to perform: iam:DeleteRole" in failed.stdout + failed.stderr
    (stack,) = client("cloudformation", world.admin).describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert stack["EnableTerminationProtection"] is True, "the journal put the protection back"
