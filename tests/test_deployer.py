"""deploy.py's sequence with botocore's Stubber: the exact CloudFormation calls.

1Password, Postmark and cfn-lint are replaced by fixed answers here (each has its
own tests); STS and CloudFormation are stubbed with expected parameters, in the
spirit of aws-cli's test_deployer.py.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime

import boto3
import pytest
from botocore.hooks import HierarchicalEmitter
from botocore.stub import ANY, Stubber

import deploy
from instances.registry import DEFAULT_ROOT, load_registry
from templates.dkim import txt_record_value
from templates.render import template_path
from tests.conftest import TOKEN
from tools.lib.logger import Secret
from tools.lib.registration import DkimKey, Registration

STACK = "Alpha002-dev-Email"
STACK_ID = f"arn:aws:cloudformation:us-east-1:111122223333:stack/{STACK}/1"
CS_ARN = "arn:aws:cloudformation:us-east-1:111122223333:changeSet/arda-mail-x/1"
NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
DKIM = DkimKey("pending", "20261126pm", "20261126pm._domainkey.dev.ardamails.com", "k=rsa;p=" + "Q" * 384)
REGISTRATION = Registration(
    domain="dev.ardamails.com",
    domain_id=1,
    dkim_keys=(DKIM,),
    return_path_domain="pm-bounces.dev.ardamails.com",
    return_path_cname="pm.mtasv.net",
    dkim_verified=False,
    return_path_verified=False,
    created=True,
    return_path_updated=False,
)
CONFIG = load_registry(DEFAULT_ROOT).lookup("Alpha002", "dev")
BODY = template_path(CONFIG).read_text()


class FakeSession:
    """Hands out stubbed clients; counts nothing (the stubs do the checking)."""

    def __init__(self):
        kwargs = {"region_name": "us-east-1", "aws_access_key_id": "a", "aws_secret_access_key": "b"}
        self.clients = {
            "cloudformation": boto3.client("cloudformation", **kwargs),
            "sts": boto3.client("sts", **kwargs),
        }
        self.stubs = {name: Stubber(client) for name, client in self.clients.items()}
        self.events = HierarchicalEmitter()

    def client(self, name, **_):
        return self.clients[name]


@pytest.fixture
def session(monkeypatch):
    s = FakeSession()
    for stub in s.stubs.values():
        stub.activate()
    monkeypatch.setattr("tools.lib.op_resolver.resolve", lambda ref, **_: Secret(TOKEN))
    monkeypatch.setattr(deploy.PartitionDeploy, "lint", lambda self, body, started=None: None)
    # The git guard has its own tests (test_deploy_guards.py); here only the AWS call sequence counts.
    monkeypatch.setattr(deploy.PartitionDeploy, "check_committed", lambda self, plan: None)
    # The plan's details (deployed template, drift, token comparison) are proved against the emulator
    # in test_plan_e2e.py; here the deployed stack has no template to compare with.
    monkeypatch.setattr(deploy.PartitionDeploy, "deployed_state", lambda self, existing: ({}, {}))
    monkeypatch.setattr(deploy.PartitionDeploy, "check_drift", lambda self, existing, plan, overwrite: None)
    monkeypatch.setattr(deploy.PartitionDeploy, "token_changed", lambda self, existing, token: None)
    monkeypatch.setattr(deploy.PartitionDeploy, "register", lambda self, token, read_only: REGISTRATION)
    yield s
    for stub in s.stubs.values():
        stub.assert_no_pending_responses()


def make(session):
    out = io.StringIO()
    sleeps = []
    run = deploy.PartitionDeploy(deploy.Target(CONFIG, "us-east-1"), session, out=out, sleep=sleeps.append)
    return run, out, sleeps


def cfn(session):
    return session.stubs["cloudformation"]


def expect_identity(session, account="111122223333"):
    session.stubs["sts"].add_response(
        "get_caller_identity",
        {"Account": account, "Arn": f"arn:aws:sts::{account}:assumed-role/Ops/me", "UserId": "u"},
        {},
    )


def expect_stack(session, status):
    if status is None:
        cfn(session).add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message=f"Stack with id {STACK} does not exist",
        )
        return
    stack = {"StackName": STACK, "StackId": STACK_ID, "StackStatus": status, "CreationTime": NOW}
    cfn(session).add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})


def expect_create_change_set(session, kind):
    params = {
        "PostmarkAccountToken": TOKEN,
        "DkimSlot1Selector": DKIM.selector,
        "DkimSlot1Value": txt_record_value(DKIM.value),
        "DkimSlot2Selector": "",
        "DkimSlot2Value": "",
        "DkimSlot3Selector": "",
        "DkimSlot3Value": "",
    }
    cfn(session).add_response(
        "create_change_set",
        {"Id": CS_ARN, "StackId": STACK_ID},
        {
            "StackName": STACK,
            "ChangeSetName": ANY,
            "ChangeSetType": kind,
            "TemplateBody": BODY,
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            "Capabilities": ["CAPABILITY_IAM"],
            "Tags": [
                {"Key": "Owner", "Value": "platform-devops"},
                {"Key": "Project", "Value": "arda-mail"},
                {"Key": "arda:infrastructure", "Value": "Alpha002"},
                {"Key": "arda:partition", "Value": "dev"},
                {"Key": "arda:managed-by", "Value": "arda-partition-mail/deploy.py"},
            ],
            "Description": ANY,
        },
    )


def expect_review_stack_deleted(session, others=()):
    """The empty REVIEW_IN_PROGRESS stack of a CREATE is deleted only when no other change set is on it."""
    expect_stack(session, "REVIEW_IN_PROGRESS")
    cfn(session).add_response(
        "list_change_sets", {"Summaries": [{"ChangeSetName": n} for n in others]}, {"StackName": STACK_ID}
    )
    if not others:
        cfn(session).add_response("delete_stack", {}, {"StackName": STACK_ID})


def expect_change_set(session, status, reason=None, changes=()):
    body = {"ChangeSetId": CS_ARN, "StackName": STACK, "Status": status, "Changes": list(changes)}
    if reason:
        body["StatusReason"] = reason
    cfn(session).add_response("describe_change_set", body, {"ChangeSetName": CS_ARN})


ADD_ZONE = {
    "Type": "Resource",
    "ResourceChange": {
        "Action": "Add",
        "LogicalResourceId": "MailHostedZone",
        "ResourceType": "AWS::Route53::HostedZone",
    },
}
MODIFY_RECORD = {
    "Type": "Resource",
    "ResourceChange": {
        "Action": "Modify",
        "LogicalResourceId": "DkimPendingRecord",
        "ResourceType": "AWS::Route53::RecordSet",
        "Replacement": "True",
    },
}


def event(event_id, logical_id, status, reason=None, resource_type="AWS::Route53::HostedZone"):
    e = {
        "StackId": STACK_ID,
        "EventId": event_id,
        "StackName": STACK,
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "Timestamp": NOW,
        "ResourceStatus": status,
    }
    if reason:
        e["ResourceStatusReason"] = reason
    return e


def expect_events(session, events):
    """One describe_stack_events call, by StackId: the one Describe call of a poll."""
    cfn(session).add_response("describe_stack_events", {"StackEvents": events}, {"StackName": STACK_ID})


def expect_no_stale_change_sets(session):
    cfn(session).add_response("list_change_sets", {"Summaries": []}, {"StackName": STACK_ID})


def expect_protect(session):
    """Termination protection turned on, the stack policy set (neither was there yet)."""
    cfn(session).add_response(
        "update_termination_protection",
        {"StackId": STACK_ID},
        {"EnableTerminationProtection": True, "StackName": STACK_ID},
    )
    cfn(session).add_response("get_stack_policy", {}, {"StackName": STACK_ID})
    cfn(session).add_response("set_stack_policy", {}, {"StackName": STACK_ID, "StackPolicyBody": ANY})


def expect_success(session, status):
    """After the terminal event: one describe_stacks for the exports, then the protections."""
    expect_outputs(session, status)
    expect_protect(session)


def expect_execute(session, previous_events=()):
    expect_events(session, list(previous_events))
    cfn(session).add_response("execute_change_set", {}, {"ChangeSetName": CS_ARN})


def expect_outputs(session, status):
    stack = {
        "StackName": STACK,
        "StackId": STACK_ID,
        "StackStatus": status,
        "CreationTime": NOW,
        "Outputs": [
            {
                "OutputKey": "MailDomainName",
                "OutputValue": "dev.ardamails.com",
                "ExportName": "Alpha002-dev-API-MailDomainName",
            },
            {"OutputKey": "CfnIoMarker", "OutputValue": "partition-email/v2"},
        ],
    }
    cfn(session).add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})


@pytest.mark.vcheck("V-CLI-003")
def test_create_sequence(session):
    run, out, sleeps = make(session)
    expect_identity(session)
    expect_stack(session, None)
    expect_create_change_set(session, "CREATE")
    expect_change_set(session, "CREATE_PENDING")
    expect_change_set(session, "CREATE_COMPLETE", changes=[ADD_ZONE])
    expect_execute(session, [event("e0", STACK, "REVIEW_IN_PROGRESS", resource_type="AWS::CloudFormation::Stack")])
    expect_events(
        session, [event("e1", "MailHostedZone", "CREATE_IN_PROGRESS"), event("e0", STACK, "REVIEW_IN_PROGRESS")]
    )
    expect_events(
        session,
        [
            event("e2", STACK, "CREATE_COMPLETE", resource_type="AWS::CloudFormation::Stack"),
            event("e1", "MailHostedZone", "CREATE_IN_PROGRESS"),
        ],
    )
    expect_success(session, "CREATE_COMPLETE")
    code = run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)
    text = out.getvalue()
    assert code == 0
    # One Describe call per poll, every 2 s: at most 30 a minute, the end noticed within one poll.
    assert sleeps == [2.0, 2.0], "polls every 2 s, not botocore's waiter delays"
    assert "termination protection turned on" in text and "stack policy set" in text
    assert "Add     MailHostedZone  AWS::Route53::HostedZone  -" in text
    assert text.index("CREATE_IN_PROGRESS") < text.index("CREATE_COMPLETE")
    assert "  Alpha002-dev-API-MailDomainName = dev.ardamails.com" in text
    assert "CfnIoMarker" not in text and TOKEN not in text


@pytest.mark.parametrize("status", ["UPDATE_COMPLETE", "CREATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"])
def test_update_sequence(session, status):
    run, out, _ = make(session)
    expect_identity(session)
    expect_stack(session, status)
    expect_no_stale_change_sets(session)
    expect_create_change_set(session, "UPDATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[MODIFY_RECORD])
    expect_execute(session, [event("e0", STACK, status, resource_type="AWS::CloudFormation::Stack")])
    expect_events(session, [event("e1", STACK, "UPDATE_COMPLETE", resource_type="AWS::CloudFormation::Stack")])
    expect_success(session, "UPDATE_COMPLETE")
    assert run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False) == 0
    assert "Modify  DkimPendingRecord  AWS::Route53::RecordSet  True" in out.getvalue()


def test_review_in_progress_is_created_again(session):
    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, "REVIEW_IN_PROGRESS")
    expect_no_stale_change_sets(session)
    expect_create_change_set(session, "CREATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[ADD_ZONE])
    with pytest.raises(deploy.NotExecuted):
        run.deploy(plan=False, assume_yes=False, is_tty=False, delete_failed_stack=False)


@pytest.mark.parametrize(
    "reason",
    [
        "The submitted information didn't contain changes. Submit different information to create a change set.",
        "No updates are to be performed.",
    ],
)
@pytest.mark.vcheck("V-PART-020")
def test_empty_change_set_is_no_changes(session, reason):
    run, out, _ = make(session)
    expect_identity(session)
    expect_stack(session, "UPDATE_COMPLETE")
    expect_no_stale_change_sets(session)
    expect_create_change_set(session, "UPDATE")
    expect_change_set(session, "FAILED", reason=reason)
    cfn(session).add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    expect_protect(session)  # checked on every deploy, also one with no changes
    assert run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False) == 0
    assert f"{STACK}: no changes" in out.getvalue()


def test_failed_change_set_is_deleted_and_reported(session):
    from tools.lib.deployer import DeployFailed

    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, None)
    expect_create_change_set(session, "CREATE")
    expect_change_set(session, "FAILED", reason="Parameter 'DkimValue' must match pattern")
    cfn(session).add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    expect_review_stack_deleted(session)
    with pytest.raises(
        DeployFailed,
        match="the change set failed: Parameter 'DkimValue' must match pattern; the change set was deleted, "
        "nothing executed",
    ):
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)


def test_rollback_complete_is_explained_and_left_alone(session):
    from tools.lib.deployer import StackStateError

    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, "ROLLBACK_COMPLETE")
    with pytest.raises(StackStateError, match="ROLLBACK_COMPLETE .*rerun with --delete-failed-stack") as info:
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)
    assert info.value.exit_code == 3


def test_rollback_complete_is_deleted_with_the_flag(session):
    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, "ROLLBACK_COMPLETE")
    expect_events(session, [event("r1", STACK, "ROLLBACK_COMPLETE", resource_type="AWS::CloudFormation::Stack")])
    cfn(session).add_response("delete_stack", {}, {"StackName": STACK_ID})
    expect_events(session, [event("d1", STACK, "DELETE_IN_PROGRESS", resource_type="AWS::CloudFormation::Stack")])
    expect_events(
        session,
        [
            event("d2", STACK, "DELETE_COMPLETE", resource_type="AWS::CloudFormation::Stack"),
            event("d1", STACK, "DELETE_IN_PROGRESS", resource_type="AWS::CloudFormation::Stack"),
        ],
    )
    expect_create_change_set(session, "CREATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[ADD_ZONE])
    with pytest.raises(deploy.NotExecuted):
        run.deploy(plan=False, assume_yes=False, is_tty=False, delete_failed_stack=True)


def test_busy_stack_is_refused(session):
    from tools.lib.deployer import StackStateError

    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, "UPDATE_IN_PROGRESS")
    with pytest.raises(StackStateError, match="the stack is busy \\(UPDATE_IN_PROGRESS\\)"):
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)


def test_failed_execution_prints_each_failed_resource(session):
    run, out, _ = make(session)
    expect_identity(session)
    expect_stack(session, "UPDATE_COMPLETE")
    expect_no_stale_change_sets(session)
    expect_create_change_set(session, "UPDATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[MODIFY_RECORD])
    expect_execute(session, [event("e0", STACK, "UPDATE_COMPLETE", resource_type="AWS::CloudFormation::Stack")])
    failed = event("e2", "DkimPendingRecord", "UPDATE_FAILED", reason="Invalid Resource Record: FATAL problem")
    history = [
        event("e3", STACK, "UPDATE_ROLLBACK_COMPLETE", resource_type="AWS::CloudFormation::Stack"),
        failed,
        event("e1", STACK, "UPDATE_IN_PROGRESS", resource_type="AWS::CloudFormation::Stack"),
    ]
    expect_events(session, history + [event("e0", STACK, "UPDATE_COMPLETE")])
    expect_events(session, history + [event("e0", STACK, "UPDATE_COMPLETE")])
    assert run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False) == 1
    text = out.getvalue()
    assert f"{STACK}: UPDATE_ROLLBACK_COMPLETE; failed resources:" in text
    assert (
        "  DkimPendingRecord (AWS::Route53::HostedZone) UPDATE_FAILED: Invalid Resource Record: FATAL problem" in text
    )


@pytest.mark.vcheck("V-CLI-003")
def test_non_tty_without_yes_leaves_the_change_set(session):
    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, "UPDATE_COMPLETE")
    expect_no_stale_change_sets(session)
    expect_create_change_set(session, "UPDATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[MODIFY_RECORD])
    with pytest.raises(deploy.NotExecuted) as info:
        run.deploy(plan=False, assume_yes=False, is_tty=False, delete_failed_stack=False)
    assert info.value.exit_code == 4
    assert f"--change-set-name {CS_ARN}" in str(info.value)


def test_plan_deletes_the_change_set_and_the_review_stack(session):
    run, out, _ = make(session)
    expect_identity(session)
    expect_stack(session, None)
    expect_create_change_set(session, "CREATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[ADD_ZONE])
    cfn(session).add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    expect_review_stack_deleted(session)
    assert run.deploy(plan=True, assume_yes=True, is_tty=False, delete_failed_stack=False) == 0
    assert "plan only" in out.getvalue()


@pytest.mark.vcheck("V-PART-017")
def test_wrong_account_is_refused_before_anything_else(session):
    run, _, _ = make(session)
    expect_identity(session, account="999988887777")
    with pytest.raises(deploy.Refused, match="account 999988887777 .* names 111122223333"):
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ExpiredToken", "the AWS credentials are expired or invalid (ExpiredToken)"),
        ("AccessDenied", "AWS denied sts get-caller-identity (AccessDenied: m)"),
        ("Throttling", "AWS kept throttling sts get-caller-identity after retries"),
        ("ValidationError", "sts get-caller-identity failed (ValidationError: m)"),
    ],
)
def test_aws_errors_become_one_sentence(session, code, message):
    run, _, _ = make(session)
    session.stubs["sts"].add_client_error("get_caller_identity", service_error_code=code, service_message="m")
    with pytest.raises(deploy.ArdaMailError) as info:
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{STACK}: ")


@pytest.mark.vcheck("V-PART-018")
def test_stale_committed_template_is_refused(session, monkeypatch):
    run, _, _ = make(session)
    expect_identity(session)
    monkeypatch.setattr(deploy, "render", lambda config, source: "something else")
    with pytest.raises(
        deploy.Refused, match="templates/Alpha002-dev-Email.yaml differs .* run: python generate.py dev"
    ):
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)


def test_template_over_the_inline_limit_is_refused(session, monkeypatch):
    run, _, _ = make(session)
    expect_identity(session)
    monkeypatch.setattr(deploy, "MAX_TEMPLATE_BODY_BYTES", len(BODY.encode()) - 1)
    with pytest.raises(deploy.Refused, match=r"over CloudFormation's \d+-byte limit for an inline template"):
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)
    assert len(BODY.encode()) < 51_200, "the real template fits inline"


def test_dkim_parameters_are_split_for_the_template():
    params = deploy.template_parameters(Secret(TOKEN), REGISTRATION, ["", "", ""], STACK)
    assert params["DkimSlot1Selector"] == DKIM.selector
    assert params["DkimSlot1Value"] == txt_record_value(DKIM.value)
    assert params["DkimSlot2Selector"] == params["DkimSlot2Value"] == ""
    empty = deploy.template_parameters(Secret(TOKEN), None, ["", "", ""], STACK)
    assert all(empty[f"DkimSlot{n}{part}"] == "" for n in (1, 2, 3) for part in ("Selector", "Value"))


def test_a_key_keeps_the_slot_the_deployed_stack_gave_it():
    # The pending key was deployed in slot 3; verified, it is active, and stays in slot 3.
    stack = {"Parameters": [{"ParameterKey": "DkimSlot3Selector", "ParameterValue": DKIM.selector}]}
    deployed = deploy.deployed_dkim_selectors(stack)
    assert deployed == ["", "", DKIM.selector]
    active = dataclasses.replace(REGISTRATION, dkim_keys=(dataclasses.replace(DKIM, state="active"),))
    params = deploy.template_parameters(Secret(TOKEN), active, deployed, STACK)
    assert params["DkimSlot3Selector"] == DKIM.selector
    assert params["DkimSlot1Selector"] == params["DkimSlot2Selector"] == ""


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('k=rsa;p="x"', "without quotes or backslashes"),
        ("k=rsa;p=" + "A" * 3990, "must fit one TXT record of 4000 characters"),
        ("k=rsa;\np=x", "without quotes or backslashes"),
    ],
)
def test_an_unpublishable_dkim_value_is_one_clear_error(value, problem):
    bad = dataclasses.replace(REGISTRATION, dkim_keys=(dataclasses.replace(DKIM, value=value),))
    with pytest.raises(deploy.ArdaMailError) as info:
        deploy.template_parameters(Secret(TOKEN), bad, ["", "", ""], STACK)
    assert str(info.value).startswith("Alpha002-dev-Email: Postmark's DKIM keys cannot be published: ")
    assert problem in str(info.value) and "\n" not in str(info.value)


def test_cfn_lint_errors_stop_and_warnings_are_shown(caplog, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    run = deploy.PartitionDeploy(deploy.Target(CONFIG, "us-east-1"), FakeSession(), out=io.StringIO())
    broken = BODY.replace("Type: AWS::Route53::HostedZone", "Type: AWS::Route53::HostedZon", 1)
    with pytest.raises(deploy.Refused, match=r"cfn-lint found \d+ error\(s\): .*AWS::Route53::HostedZon"):
        run.lint(broken)
    unused = BODY.replace("Parameters:\n", "Parameters:\n  Unused:\n    Type: String\n", 1)
    with caplog.at_level("WARNING"):
        run.lint(unused)
    assert any("cfn-lint" in r.getMessage() and "W2001" in r.getMessage() for r in caplog.records)


def _ready_update(session):
    expect_identity(session)
    expect_stack(session, "UPDATE_COMPLETE")
    expect_no_stale_change_sets(session)
    expect_create_change_set(session, "UPDATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[MODIFY_RECORD])


def test_ctrl_c_while_following_says_the_stack_carries_on(session, capsys):
    _ready_update(session)
    expect_execute(session, [event("e0", STACK, "UPDATE_COMPLETE", resource_type="AWS::CloudFormation::Stack")])
    expect_events(session, [event("e1", STACK, "UPDATE_IN_PROGRESS", resource_type="AWS::CloudFormation::Stack")])

    def interrupt(_seconds):
        raise KeyboardInterrupt

    out = io.StringIO()
    run = deploy.PartitionDeploy(deploy.Target(CONFIG, "us-east-1"), session, out=out, sleep=interrupt)
    assert run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False) == 130
    err = capsys.readouterr().err
    assert "stopped following; CloudFormation carries on" in err
    assert f"aws cloudformation describe-stack-events --stack-name {STACK_ID} --region us-east-1" in err


@pytest.mark.parametrize(("answer", "executes"), [("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False)])
def test_terminal_asks_before_executing(session, monkeypatch, answer, executes):
    run, _, _ = make(session)
    _ready_update(session)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    if executes:
        expect_execute(session, [event("e0", STACK, "UPDATE_COMPLETE", resource_type="AWS::CloudFormation::Stack")])
        expect_events(session, [event("e1", STACK, "UPDATE_COMPLETE", resource_type="AWS::CloudFormation::Stack")])
        expect_success(session, "UPDATE_COMPLETE")
        assert run.deploy(plan=False, assume_yes=False, is_tty=True, delete_failed_stack=False) == 0
    else:
        with pytest.raises(deploy.NotExecuted, match="not executed; change set arn:.* left for review"):
            run.deploy(plan=False, assume_yes=False, is_tty=True, delete_failed_stack=False)


# -- guards before any change, and nothing left half-done -------------------------------------


def test_a_busy_stack_is_refused_before_the_token_or_postmark(session, monkeypatch):
    from tools.lib.deployer import StackStateError

    touched = []
    monkeypatch.setattr("tools.lib.op_resolver.resolve", lambda ref, **_: touched.append("op"))
    monkeypatch.setattr(deploy.PartitionDeploy, "register", lambda self, token, read_only: touched.append("pm"))
    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, "UPDATE_IN_PROGRESS")
    with pytest.raises(StackStateError):
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)
    assert touched == [], "a read-only guard refused after something was resolved or registered"


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        ("UPDATE_ROLLBACK_FAILED", "finish the rollback (aws cloudformation continue-update-rollback"),
        ("DELETE_FAILED", "its deletion failed: fix what blocked it"),
        ("ROLLBACK_FAILED", "delete it (aws cloudformation delete-stack)"),
    ],
)
def test_each_stuck_state_gets_its_own_advice(session, status, advice):
    from tools.lib.deployer import StackStateError

    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, status)
    with pytest.raises(StackStateError) as info:
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)
    assert advice in str(info.value)
    assert status == "UPDATE_ROLLBACK_FAILED" or "continue-update-rollback" not in str(info.value)


def test_a_plan_never_deletes_a_failed_stack(session):
    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, "ROLLBACK_COMPLETE")
    with pytest.raises(deploy.Refused, match="a plan never deletes it") as info:
        run.deploy(plan=True, assume_yes=True, is_tty=False, delete_failed_stack=True)
    assert "rerun with --delete-failed-stack" not in str(info.value)


def test_plan_leaves_a_review_stack_that_holds_someone_elses_change_set(session, caplog):
    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, None)
    expect_create_change_set(session, "CREATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[ADD_ZONE])
    cfn(session).add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    expect_review_stack_deleted(session, others=["their-deploy"])
    assert run.deploy(plan=True, assume_yes=True, is_tty=False, delete_failed_stack=False) == 0
    assert "holds 1 other change set(s) (their-deploy)" in caplog.text


def test_ctrl_c_before_executing_deletes_the_change_set(session, monkeypatch):
    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, None)
    expect_create_change_set(session, "CREATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[ADD_ZONE])
    cfn(session).add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    expect_review_stack_deleted(session)

    def interrupt(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(deploy.PartitionDeploy, "confirm", interrupt)
    with pytest.raises(deploy.Interrupted) as info:
        run.deploy(plan=False, assume_yes=False, is_tty=True, delete_failed_stack=False)
    assert str(info.value) == (
        "Alpha002-dev-Email: interrupted before executing; the change set was deleted, nothing executed"
    )
    assert info.value.exit_code == 130


def test_an_aws_error_while_waiting_says_what_is_left_when_cleanup_fails(session):
    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, None)
    expect_create_change_set(session, "CREATE")
    cfn(session).add_client_error("describe_change_set", service_error_code="InternalFailure", service_message="boom")
    cfn(session).add_client_error("delete_change_set", service_error_code="AccessDenied", service_message="no")
    with pytest.raises(deploy.ArdaMailError) as info:
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)
    text = str(info.value)
    assert "describe_change_set failed (InternalFailure: boom)" in text
    assert "nothing executed, but the change set could not be deleted: remove it with: aws cloudformation " in text
    assert f"delete-change-set --change-set-name {CS_ARN} --region us-east-1" in text
    assert (
        "delete-stack --stack-name Alpha002-dev-Email --region us-east-1 (only while it is REVIEW_IN_PROGRESS)" in text
    )


def test_a_change_set_in_another_account_is_never_executed(session, monkeypatch):
    # A split STS endpoint answered for the right account; CloudFormation made the change set elsewhere.
    foreign = CS_ARN.replace(":111122223333:", ":999988887777:")
    monkeypatch.setattr(__name__ + ".CS_ARN", foreign)
    run, _, _ = make(session)
    expect_identity(session)
    expect_stack(session, None)
    expect_create_change_set(session, "CREATE")
    expect_change_set(session, "CREATE_COMPLETE", changes=[ADD_ZONE])
    cfn(session).add_response("delete_change_set", {}, {"ChangeSetName": foreign})
    expect_review_stack_deleted(session)
    with pytest.raises(deploy.Refused) as info:
        run.deploy(plan=False, assume_yes=True, is_tty=False, delete_failed_stack=False)
    assert f"the change set {foreign} is in account 999988887777" in str(info.value)
    assert "but the instance config names 111122223333; nothing executed" in str(info.value)
    assert str(info.value).endswith("the change set was deleted, nothing executed")


# -- following: one call per poll, a heartbeat, a deadline --------------------------------------


class EventsOnly:
    """A CloudFormation stand-in for following: a script of event pages, one per call."""

    def __init__(self, pages):
        self.pages = list(pages)
        self.calls = []

    def describe_stack_events(self, **kwargs):
        self.calls.append(("describe_stack_events", kwargs))
        return {"StackEvents": self.pages.pop(0) if len(self.pages) > 1 else self.pages[0]}

    def __getattr__(self, name):
        raise AssertionError(f"following must not call {name}")


def follower(pages, *, timeout=3600.0):
    from tools.lib.deployer import Deployer

    now = [0.0]
    sleeps, lines = [], []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    cfn = EventsOnly(pages)
    deployer = Deployer(
        cfn, STACK, sleep=sleep, clock=lambda: now[0], on_heartbeat=lines.append, timeout_seconds=timeout
    )
    deployer.stack_id = STACK_ID
    return deployer, cfn, sleeps, lines, now


def test_a_quiet_stack_gets_a_heartbeat_every_30_seconds():
    busy = [event("e1", "NsDelegation", "CREATE_IN_PROGRESS", resource_type="Custom::NsDelegation")]
    done = [event("e2", STACK, "CREATE_COMPLETE", resource_type="AWS::CloudFormation::Stack")] + busy
    deployer, cfn, sleeps, lines, now = follower([busy] + [busy] * 40 + [done])
    assert deployer.follow_stack(None) == "CREATE_COMPLETE"
    # 41 quiet polls of 2 s: heartbeats at 30 s and 60 s, each naming the last event.
    assert len(lines) == 2
    assert (
        lines[0] == f"{STACK}: still waiting after 30s; last event: CREATE_IN_PROGRESS NsDelegation at {NOW:%H:%M:%S}"
    )
    # One Describe call per poll, every 2 s: 30 calls a minute at most.
    assert len(cfn.calls) == len(sleeps) + 1 and set(sleeps) == {2.0}
    assert all(kwargs == {"StackName": STACK_ID} for _, kwargs in cfn.calls), "followed by StackId"


def test_a_stack_that_never_settles_ends_at_the_deadline():
    from tools.lib.deployer import FollowTimeout

    busy = [event("e1", "NsDelegation", "CREATE_IN_PROGRESS", resource_type="Custom::NsDelegation")]
    deployer, cfn, sleeps, _, now = follower([busy], timeout=120)
    with pytest.raises(FollowTimeout) as info:
        deployer.follow_stack(None)
    assert now[0] == 120 and len(cfn.calls) == 61
    assert str(info.value) == (
        f"{STACK}: not settled after 120s (--timeout); CloudFormation carries on: watch it with: "
        f"aws cloudformation describe-stack-events --stack-name {STACK_ID}"
    )
    assert info.value.exit_code == 1


def test_a_lint_pass_is_remembered_for_the_same_bytes_only(caplog, monkeypatch, tmp_path):
    from tools.lib import cfn_lint, lint_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    run = deploy.PartitionDeploy(deploy.Target(CONFIG, "us-east-1"), FakeSession(), out=io.StringIO())
    unused = BODY.replace("Parameters:\n", "Parameters:\n  Unused:\n    Type: String\n", 1)
    run.lint(unused)
    (cached,) = list((tmp_path / "arda-partition-mail" / "cfn-lint").iterdir())
    assert cached.name == lint_cache.key(unused, ["us-east-1"])

    def no_second_lint(*_, **__):
        raise AssertionError("the same bytes were linted twice")

    monkeypatch.setattr(cfn_lint.subprocess, "Popen", no_second_lint)
    caplog.clear()
    with caplog.at_level("INFO"):
        run.lint(unused)
    assert any("W2001" in r.getMessage() for r in caplog.records), "cached warnings are shown again"
    assert any("cached" in r.getMessage() for r in caplog.records)
    # One byte, another region or another cfn-lint: a new key, linted again.
    assert lint_cache.key(unused + " ", ["us-east-1"]) != cached.name
    assert lint_cache.key(unused, ["eu-west-1"]) != cached.name
    monkeypatch.setattr(lint_cache, "version", lambda name: "0.0.0")
    assert lint_cache.key(unused, ["us-east-1"]) != cached.name


def test_a_lint_error_is_never_remembered(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    run = deploy.PartitionDeploy(deploy.Target(CONFIG, "us-east-1"), FakeSession(), out=io.StringIO())
    broken = BODY.replace("Type: AWS::Route53::HostedZone", "Type: AWS::Route53::HostedZon", 1)
    for _ in range(2):
        with pytest.raises(deploy.Refused, match="cfn-lint found"):
            run.lint(broken)
    assert not (tmp_path / "arda-partition-mail").exists()


def test_cloudformation_drift_found_meanwhile_refuses_before_executing(session):
    run, out, _ = make(session)
    run._detection = "detection-1"
    cfn(session).add_response(
        "describe_stack_drift_detection_status",
        {
            "StackId": STACK_ID,
            "StackDriftDetectionId": "detection-1",
            "DetectionStatus": "DETECTION_IN_PROGRESS",
            "Timestamp": NOW,
        },
        {"StackDriftDetectionId": "detection-1"},
    )
    cfn(session).add_response(
        "describe_stack_drift_detection_status",
        {
            "StackId": STACK_ID,
            "StackDriftDetectionId": "detection-1",
            "StackDriftStatus": "DRIFTED",
            "DetectionStatus": "DETECTION_COMPLETE",
            "Timestamp": NOW,
        },
        {"StackDriftDetectionId": "detection-1"},
    )
    role_drift = {
        "StackId": STACK_ID,
        "LogicalResourceId": "DnsRecordsRole",
        "ResourceType": "AWS::IAM::Role",
        "StackResourceDriftStatus": "MODIFIED",
        "Timestamp": NOW,
        "PropertyDifferences": [
            {
                "PropertyPath": "/Description",
                "ExpectedValue": "Lets the runtime write tenant mail records",
                "ActualValue": "edited in the console",
                "DifferenceType": "NOT_EQUAL",
            }
        ],
    }
    cfn(session).add_response(
        "describe_stack_resource_drifts",
        {"StackResourceDrifts": [role_drift]},
        {"StackName": STACK, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]},
    )
    with pytest.raises(deploy.Refused, match="1 value\\(s\\) were changed outside CloudFormation"):
        run.finish_cloudformation_drift(plan=False, overwrite=False)
    assert "DnsRecordsRole  /Description  Lets the runtime write tenant mail records  edited in the console" in (
        out.getvalue()
    )
