"""Least privilege, proven in the world that evaluates IAM (tools/rehearsal/iam_world.py).

The world's operator holds exactly docs/permissions.md's operator policy, PlatformRoot's
delegation role exactly its documented policy. Here: each run the tool has works under
them, a run whose action is removed fails with AccessDenied named in one line, the
delegation handler works under AWS CDK's exact grants, and --preflight tells which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest

from templates import permissions
from tests.conftest import STACK, committed_clone, generate_in, ok
from tools.lib.plan.template import parse_template
from tools.rehearsal import iam_world
from tools.rehearsal.aws import OPERATOR_ROLE_NAME, PLATFORM_ROOT_ROLE, change_record, client, credentials
from tools.rehearsal.repo import git

pytestmark = pytest.mark.moto

ACCOUNT, REGION, INFRA = "111122223333", "us-east-1", "Alpha002"


def operator_policy(world, mode: str | None = None, without: str | None = None) -> None:
    """Give the world's operator one mode's documented policy (``None``: every mode), minus one action."""
    policy = permissions.as_dict(permissions.operator_policy(ACCOUNT, REGION, INFRA, mode))
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
    from instances.registry import load_registry
    from tools.rehearsal.aws import ALPHA002_DEPLOYER_ROLE, credentials, staff
    from tools.rehearsal.aws import reset as reset_emulator
    from tools.rehearsal.world import populate

    def again(world) -> None:
        reset_emulator(aws_env, timeout=10)
        world.parent_zone_id = populate(load_registry(), empty=True)["ardamails.com"]
        world.root = staff(PLATFORM_ROOT_ROLE.split(":")[4])
        world.admin = staff(ACCOUNT)
        world.env.update(credentials(ALPHA002_DEPLOYER_ROLE))

    return again


# -- set-ups: what earlier runs of the same mode, or someone else, left (made under every mode's policy) ----------


def nothing(world, tmp_path):
    return None


def deployed(world, tmp_path):
    ok(world.deploy("--yes"))


def deployed_and_token_rotated(world, tmp_path):
    deployed(world, tmp_path)
    new_token(world, tmp_path)


def destroyed(world, tmp_path):
    ok(world.deploy("--yes"))
    ok(world.deploy("--destroy", "--yes"))


def drifted(world, tmp_path):
    """Someone edits a record of a deployed stack by hand."""
    ok(world.deploy("--yes"))
    zone = outputs(world)["MailHostedZoneId"]
    change_record(client("route53", world.admin), zone, "UPSERT", "_dmarc.dev.ardamails.com.", "TXT", ['"x"'], 3600)


def record_gone(world, tmp_path):
    """Someone deletes the deployed DMARC record."""
    zone = outputs(world)["MailHostedZoneId"]
    dmarc = '"v=DMARC1; p=none; rua=mailto:dmarc-reports@arda.cards"'
    change_record(client("route53", world.admin), zone, "DELETE", "_dmarc.dev.ardamails.com.", "TXT", [dmarc], 3600)


def foreign_delegation(world, tmp_path):
    theirs = ["ns-1.elsewhere.example.", "ns-2.elsewhere.example."]
    change_record(client("route53", world.root), world.parent_zone_id, "CREATE", "dev.ardamails.com.", "NS", theirs)


def foreign_delegation_gone(world, tmp_path):
    theirs = ["ns-1.elsewhere.example.", "ns-2.elsewhere.example."]
    change_record(client("route53", world.root), world.parent_zone_id, "DELETE", "dev.ardamails.com.", "NS", theirs)


def rotate(world, tmp_path):
    domain = world.postmark.only_domain()
    world.postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    world.postmark.verify_dkim(domain["ID"])
    world.postmark.rotate_dkim(domain["ID"])


NEW_TOKEN = "pm-acct-a-new-token-0123456789"


def new_token(world, tmp_path):
    world.postmark.token = None  # the operator rotated the token in 1Password: Postmark takes the new one


def repaired(world, tmp_path):
    zone = outputs(world)["MailHostedZoneId"]
    change_record(client("route53", world.admin), zone, "UPSERT", "_dmarc.dev.ardamails.com.", "TXT", ['"x"'], 3600)


def retag(world, tmp_path):
    """Every resource's tags change: the update path of each resource type (the world checks each type's
    update calls whatever the change; a code change would need a subprocess: the in-process modules are this tree's).
    """
    checkout = committed_clone(tmp_path / "checkout", world.checkout)
    config = checkout / "instances" / "Alpha002" / "dev.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[tags]\n", '[tags]\nTeam = "mail"\n'))
    generate_in(checkout, "dev")
    git(checkout, "commit", "-qam", "tag every resource")
    world.changed_checkout = checkout


# -- the runs --------------------------------------------------------------------------------------------


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


def preflight(world):
    return world.deploy("--preflight")


def every_resource_checked(world, result) -> None:
    """After a plan under the plan policy alone: CloudFormation checked every resource's drift (AWS's terms)."""
    assert "did not check every resource" not in result.stdout + result.stderr
    cfn = client("cloudformation", world.admin)
    drifts = cfn.describe_stack_resource_drifts(StackName=STACK)["StackResourceDrifts"]
    statuses = {d["LogicalResourceId"]: (d["ResourceType"], d["StackResourceDriftStatus"]) for d in drifts}
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    selectors = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack["Parameters"]}
    body = parse_template(cfn.get_template(StackName=STACK)["TemplateBody"], "the deployed template")
    resources = {  # the template's resources whose condition holds: empty DKIM slots are not published
        name for name in body["Resources"] if selectors.get(name.replace("Record", "Selector"), "x")
    }
    assert set(statuses) == resources, "a resource was left out of the detection"
    for logical_id, (kind, status) in statuses.items():
        wanted = "NOT_CHECKED" if kind.startswith("Custom::") else "IN_SYNC"
        assert status == wanted, f"{logical_id} ({kind}) is {status}"


def own_row_passes(mode: str):
    """``--preflight`` under one mode's policy exits 1 (the other modes' rows fail): its own row must pass."""

    def check(world, result) -> None:
        rows = [line for line in result.stdout.splitlines() if f"IAM: {mode} " in line]
        assert len(rows) == 1 and " PASS " in rows[0], result.stdout + result.stderr

    return check


def with_new_token(*args: str):
    return lambda w: w.deploy(*args, env=dict(w.env, OP_STANDIN_SECRET=NEW_TOKEN))


@dataclass(frozen=True)
class Run:
    """One command of a mode: its set-up (under every mode's policy), the command, its exit code."""

    name: str
    setup: object
    command: object
    code: int
    fresh: bool = False  # an empty world first
    check: object = None  # more to check of its result, under the mode's whole policy


# Each mode's runs, in an order where each run's world is what the runs before it left. preflight exits 1
# under one mode's policy (the other modes' rows fail): its own mode's row must pass.
MODE_RUNS = {
    "plan": (
        Run("preflight", nothing, preflight, 1, check=own_row_passes("plan")),
        Run("plan of a first creation", nothing, lambda w: w.deploy("--plan"), 0),
        Run("plan of an update", deployed_and_token_rotated, with_new_token("--plan"), 0, check=every_resource_checked),
        Run("plan with drift", drifted, lambda w: w.deploy("--plan"), 0, fresh=True),
        Run("plan of an adoption", destroyed, lambda w: w.deploy("--plan", "--resolver", w.resolver()), 0, fresh=True),
    ),
    "deploy": (
        Run("preflight", nothing, preflight, 1, check=own_row_passes("deploy")),
        Run("first creation", nothing, lambda w: w.deploy("--yes"), 0),
        Run("no-change deploy", nothing, lambda w: w.deploy("--yes"), 0),
        Run("DKIM rotation", rotate, lambda w: w.deploy("--yes"), 0),
        Run("new Postmark token", new_token, with_new_token("--yes"), 0),
        Run("drift repair", repaired, with_new_token("--yes", "--overwrite-drift"), 0),
        Run(
            "every resource updated",
            retag,
            lambda w: w.deploy(
                "--yes",
                "--allow-iam-changes",
                checkout=w.changed_checkout,
                env=dict(w.env, OP_STANDIN_SECRET=NEW_TOKEN),
            ),
            0,
        ),
        Run("failed create (rolled back)", foreign_delegation, lambda w: w.deploy("--yes"), 1, fresh=True),
        Run(
            "failed stack deleted and created again",
            foreign_delegation_gone,
            lambda w: w.deploy("--yes", "--delete-failed-stack"),
            0,
        ),
        Run(
            "adoption after a destroy",
            destroyed,
            lambda w: w.deploy("--yes", "--resolver", w.resolver()),
            0,
            fresh=True,
        ),
    ),
    "verify": (
        Run("preflight", nothing, preflight, 1, check=own_row_passes("verify")),
        Run("verify", deployed, verify, 1),  # Postmark has not verified the new domain yet: V-PART-010 fails
        Run("verify of a missing record", record_gone, verify, 1),  # which of Route 53 or DNS lacks it
    ),
    "destroy": (
        Run("preflight", nothing, preflight, 1, check=own_row_passes("destroy")),
        Run("destroy", deployed, lambda w: w.deploy("--destroy", "--yes"), 0),
    ),
    "purge": (
        Run("preflight", nothing, preflight, 1, check=own_row_passes("purge")),
        Run("purge with its stack", deployed, lambda w: w.purge("--yes"), 0),
        Run(
            "purge after a destroy",
            destroyed,
            lambda w: w.purge("--yes"),
            0,
            fresh=True,
        ),
    ),
}
PROVEN_MODES = tuple(MODE_RUNS)

# The first run of each mode that needs each action of that mode's policy (the test below keeps this true).
FIRST_NEEDED_BY: dict[str, dict[str, tuple[str, ...]]] = {
    "plan": {
        "preflight": (
            "iam:GetRole",
            "iam:SimulatePrincipalPolicy",
        ),
        "plan of a first creation": (
            "cloudformation:CreateChangeSet",
            "cloudformation:DeleteChangeSet",
            "cloudformation:DeleteStack",
            "cloudformation:DescribeChangeSet",
            "cloudformation:DescribeStacks",
            "cloudformation:ListChangeSets",
            "route53:ListHostedZonesByName",
            "secretsmanager:ListSecrets",
        ),
        "plan of an update": (
            "cloudformation:DescribeStackDriftDetectionStatus",
            "cloudformation:DescribeStackResourceDrifts",
            "cloudformation:DetectStackDrift",
            "cloudformation:DetectStackResourceDrift",
            "cloudformation:GetTemplate",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
            "lambda:GetFunction",
            "lambda:GetFunctionCodeSigningConfig",
            "lambda:GetFunctionRecursionConfig",
            "lambda:GetFunctionScalingConfig",
            "lambda:GetRuntimeManagementConfig",
            "logs:DescribeIndexPolicies",
            "logs:DescribeLogGroups",
            "logs:DescribeResourcePolicies",
            "logs:GetDataProtectionPolicy",
            "logs:ListTagsForResource",
            "route53:GetHostedZone",
            "route53:ListHostedZones",
            "route53:ListQueryLoggingConfigs",
            "route53:ListResourceRecordSets",
            "route53:ListTagsForResource",
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetSecretValue",
        ),
        "plan of an adoption": ("cloudformation:ListExports", "ec2:DescribeRegions"),
    },
    "deploy": {
        "preflight": (
            "iam:GetRole",
            "iam:SimulatePrincipalPolicy",
        ),
        "first creation": (
            "cloudformation:CreateChangeSet",
            "cloudformation:DescribeChangeSet",
            "cloudformation:DescribeStackEvents",
            "cloudformation:DescribeStacks",
            "cloudformation:ExecuteChangeSet",
            "cloudformation:SetStackPolicy",
            "cloudformation:UpdateTerminationProtection",
            "iam:CreateRole",
            "iam:GetRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
            "iam:ListRoleTags",
            "iam:PassRole",
            "iam:PutRolePolicy",
            "iam:TagRole",
            "iam:UntagRole",
            "lambda:CreateFunction",
            "lambda:GetFunction",
            "lambda:GetFunctionCodeSigningConfig",
            "lambda:GetFunctionRecursionConfig",
            "lambda:GetFunctionScalingConfig",
            "lambda:GetRuntimeManagementConfig",
            "lambda:InvokeFunction",
            "lambda:ListTags",
            "lambda:TagResource",
            "lambda:UntagResource",
            "logs:CreateLogGroup",
            "logs:DescribeIndexPolicies",
            "logs:DescribeLogGroups",
            "logs:DescribeResourcePolicies",
            "logs:GetDataProtectionPolicy",
            "logs:ListTagsForResource",
            "logs:PutRetentionPolicy",
            "logs:TagResource",
            "logs:UntagResource",
            "route53:ChangeResourceRecordSets",
            "route53:ChangeTagsForResource",
            "route53:CreateHostedZone",
            "route53:GetChange",
            "route53:GetHostedZone",
            "route53:ListHostedZones",
            "route53:ListHostedZonesByName",
            "route53:ListQueryLoggingConfigs",
            "route53:ListResourceRecordSets",
            "route53:ListTagsForResource",
            "secretsmanager:CreateSecret",
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetRandomPassword",
            "secretsmanager:GetSecretValue",
            "secretsmanager:ListSecrets",
            "secretsmanager:TagResource",
            "secretsmanager:UntagResource",
        ),
        "no-change deploy": (
            "cloudformation:GetStackPolicy",
            "cloudformation:DeleteChangeSet",
            "cloudformation:DescribeStackDriftDetectionStatus",
            "cloudformation:DescribeStackResourceDrifts",
            "cloudformation:DetectStackDrift",
            "cloudformation:DetectStackResourceDrift",
            "cloudformation:GetTemplate",
            "cloudformation:ListChangeSets",
        ),
        "new Postmark token": ("secretsmanager:UpdateSecret",),
        "every resource updated": (
            "iam:DeleteRolePolicy",
            "iam:UpdateAssumeRolePolicy",
            "iam:UpdateRole",
            "iam:UpdateRoleDescription",
            "lambda:PublishVersion",
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
            "logs:DeleteRetentionPolicy",
            "route53:UpdateHostedZoneComment",
        ),
        "failed create (rolled back)": (
            "iam:DeleteRole",
            "lambda:DeleteFunction",
            "logs:DeleteLogGroup",
            "route53:DeleteHostedZone",
            "secretsmanager:DeleteSecret",
        ),
        "failed stack deleted and created again": ("cloudformation:DeleteStack",),
        "adoption after a destroy": ("cloudformation:ListExports", "ec2:DescribeRegions"),
    },
    "verify": {
        "preflight": (
            "iam:GetRole",
            "iam:SimulatePrincipalPolicy",
        ),
        "verify": (
            "cloudformation:DescribeStacks",
            "route53:GetHostedZone",
        ),
        "verify of a missing record": ("route53:ListResourceRecordSets",),
    },
    "destroy": {
        "preflight": (
            "iam:GetRole",
            "iam:SimulatePrincipalPolicy",
        ),
        "destroy": (
            "cloudformation:DeleteStack",
            "cloudformation:DescribeStackEvents",
            "cloudformation:DescribeStackResources",
            "cloudformation:DescribeStacks",
            "cloudformation:GetTemplate",
            "cloudformation:ListImports",
            "cloudformation:UpdateTerminationProtection",
            "iam:DeleteRole",
            "iam:DeleteRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
            "iam:TagRole",
            "iam:UntagRole",
            "lambda:DeleteFunction",
            "lambda:GetFunction",
            "lambda:InvokeFunction",
            "logs:DeleteLogGroup",
            "logs:DescribeLogGroups",
            "route53:ChangeResourceRecordSets",
            "route53:GetChange",
            "route53:GetHostedZone",
            "route53:ListHostedZones",
            "route53:ListResourceRecordSets",
            "secretsmanager:DeleteSecret",
            "secretsmanager:DescribeSecret",
        ),
    },
    "purge": {
        "preflight": (
            "iam:GetRole",
            "iam:SimulatePrincipalPolicy",
        ),
        "purge with its stack": (
            "cloudformation:DeleteStack",
            "cloudformation:DescribeStackEvents",
            "cloudformation:DescribeStackResources",
            "cloudformation:DescribeStacks",
            "cloudformation:GetTemplate",
            "cloudformation:ListExports",
            "cloudformation:ListImports",
            "cloudformation:UpdateTerminationProtection",
            "ec2:DescribeRegions",
            "iam:DeleteRole",
            "iam:DeleteRolePolicy",
            "iam:ListAttachedRolePolicies",
            "iam:ListRolePolicies",
            "iam:TagRole",
            "iam:UntagRole",
            "lambda:DeleteFunction",
            "lambda:GetFunction",
            "lambda:InvokeFunction",
            "logs:DeleteLogGroup",
            "logs:DescribeLogGroups",
            "route53:ChangeResourceRecordSets",
            "route53:DeleteHostedZone",
            "route53:GetChange",
            "route53:GetHostedZone",
            "route53:ListHostedZones",
            "route53:ListResourceRecordSets",
            "route53:ListTagsForResource",
            "secretsmanager:DeleteSecret",
            "secretsmanager:DescribeSecret",
        ),
        "purge after a destroy": (
            "route53:ListHostedZonesByName",
            "secretsmanager:ListSecrets",
        ),
    },
}


def run_mode(world, tmp_path, reset, mode: str, *, without: str | None = None, until: str | None = None):
    """Run one mode's runs, each under that mode's policy alone (set-ups under every mode's); what each used.

    ``without``: that action is taken out of the mode's policy; ``until``: stop after that run (its result).
    """
    used: dict[str, str] = {}
    result = None
    reset(world)
    for run in MODE_RUNS[mode]:
        if run.fresh:
            reset(world)
        operator_policy(world)
        run.setup(world, tmp_path / mode / run.name.replace(" ", "-"))
        operator_policy(world, mode, without=without if run.name == until or until is None else None)
        iam_world.GRANTED.clear()
        result = run.command(world)
        for principal, action in iam_world.GRANTED:
            if principal.endswith(f":role/{OPERATOR_ROLE_NAME}"):
                used.setdefault(action, run.name)
        if run.name == until:
            return result, used
        output = result.stdout + result.stderr
        assert result.returncode == run.code, f"{mode}: {run.name}: {output[-3000:]}"
        assert "not authorized" not in output and "AccessDenied" not in output, f"{mode}: {run.name}: {output[-3000:]}"
        if run.check is not None:
            run.check(world, result)
    return result, used


@pytest.mark.slow
@pytest.mark.parametrize("mode", PROVEN_MODES)
def test_each_mode_runs_under_its_own_policy_alone_and_needs_all_of_it(world, tmp_path, reset, mode):
    _, used = run_mode(world, tmp_path, reset, mode)
    documented = set(permissions.operator_actions(ACCOUNT, REGION, INFRA, mode))
    assert set(used) - documented == set(), "the world allowed an action the mode's policy does not hold"
    assert documented - set(used) == set(), f"the {mode} policy holds actions none of its runs needs"
    first = {}
    for action, run in sorted(used.items()):
        first.setdefault(run, []).append(action)
    assert used == {action: run for run, actions in FIRST_NEEDED_BY.get(mode, {}).items() for action in actions}, (
        "FIRST_NEEDED_BY is out of date; the runs needed:\n"
        + "\n".join(f"{run!r}: {tuple(actions)!r}," for run, actions in first.items())
    )


def test_the_rollout_policy_is_exactly_the_policies_of_the_commands_it_runs():
    """A rollout runs --preflight, --plan, the deploy and verify of each partition, as child processes."""
    union = set()
    for mode in ("plan", "deploy", "verify"):
        union |= set(permissions.operator_actions(ACCOUNT, REGION, INFRA, mode))
    assert set(permissions.operator_actions(ACCOUNT, REGION, INFRA, "rollout")) == union


# Optional calls: without them the run goes on (exit 0), and one line names the refused action.
DEGRADES = {
    ("plan", "secretsmanager:GetSecretValue"): "the plan cannot tell whether the token changed",
    # A plan whose drift detection failed says so and that a deploy would be refused, and ends 0: it is a plan.
    **{("plan", action): "drift detection fails" for action in FIRST_NEEDED_BY["plan"]["plan of an update"]},
}

# The runs cheap enough for every suite run; the rest: pytest -m exhaustive.
SAMPLED = {
    ("deploy", "cloudformation:CreateChangeSet"),  # the tool's own call
    ("deploy", "iam:CreateRole"),  # a resource CloudFormation creates with the caller's permissions
    ("deploy", "iam:PassRole"),  # ... with a condition (iam:PassedToService)
    ("deploy", "secretsmanager:CreateSecret"),  # ... on a secret that does not exist yet, by its name
    ("deploy", "lambda:InvokeFunction"),  # the custom resource, invoked with the caller's credentials
    ("plan", "cloudformation:DeleteStack"),  # the empty stack a plan's CREATE made
    ("plan", "lambda:GetFunctionRecursionConfig"),  # drift detection's read of a resource
    ("destroy", "cloudformation:GetTemplate"),  # what a teardown retains
    ("purge", "route53:DeleteHostedZone"),
    ("verify", "iam:SimulatePrincipalPolicy"),  # --preflight's own question
}


def _cases():
    for mode, runs in FIRST_NEEDED_BY.items():
        for run, actions in runs.items():
            for action in actions:
                marks = () if (mode, action) in SAMPLED else (pytest.mark.exhaustive,)
                yield pytest.param(mode, action, run, id=f"{mode}-{action}", marks=marks)


@pytest.mark.parametrize(("mode", "action", "needed_by"), list(_cases()))
def test_without_one_action_the_run_that_needs_it_fails_naming_it(world, tmp_path, reset, mode, action, needed_by):
    result, _ = run_mode(world, tmp_path, reset, mode, without=action, until=needed_by)
    output = (result.stdout + result.stderr).splitlines()
    if (mode, action) not in DEGRADES:
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


def test_preflight_simulates_an_identity_center_role_by_its_full_arn(world, postmark):
    """IAM Identity Center's roles live under a path; an assumed-role ARN drops it ("IAM identifiers")."""
    iam = client("iam", world.admin)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    name = "AWSReservedSSO_ArdaOperator_0123456789abcdef"
    role = iam.create_role(
        RoleName=name, Path="/aws-reserved/sso.amazonaws.com/", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    assert role == f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/{name}"
    policy = permissions.as_dict(permissions.operator_policy(ACCOUNT, REGION, INFRA, "deploy"))
    iam.put_role_policy(RoleName=name, PolicyName="documented", PolicyDocument=json.dumps(policy))
    result = world.deploy("--preflight", env=dict(world.env, **credentials(role)))
    rows = {line.split("  ")[1].strip(): line for line in result.stdout.splitlines()[2:] if line.startswith("  IAM")}
    assert " PASS " in rows["IAM: deploy"] and " PASS " in rows["IAM: plan"], result.stdout + result.stderr
    assert " FAIL " in rows["IAM: destroy"] and "cloudformation:ListImports" in rows["IAM: destroy"]
    assert f"{role} lacks" in rows["IAM: destroy"], "the simulation names the role by its full ARN"
