"""The deploy's modes with botocore's Stubber: the exact AWS call sequences, step by step.

In the spirit of aws-cli's test_deployer.py. Every step runs for real; only what
lies outside AWS is handed in through ``Services`` (the token, Postmark, cfn-lint,
git), and STS, CloudFormation and Secrets Manager are stubbed with expected
parameters. The pipeline's steps are functions handed their clients (the AWS layer over
stubbed clients, ``tests/fake_aws.py``), so the test hands them stubs. Four tests patch
one thing each where no seam is worth having: the inline template limit, the terminal's
stdin, and the confirmation step (interrupted, or the account a change set names).

The Stubber tests run one call at a time, in step order (``side_by_side=1``). The waves
tests at the end run a mode side by side, as deploy.py does, over scripted fakes that
hold one call until another has arrived: which calls are in flight together. What
lies outside AWS includes the Postmark domain IDs a deploy remembers (in memory here).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import threading
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from instances.registry import DEFAULT_ROOT, load_registry
from templates.dkim import txt_record_value
from templates.render import template_path
from tests.clock import FakeClock
from tests.conftest import TOKEN
from tests.fake_aws import aws_over, stubbable
from tools.lib.aws.clients import Aws
from tools.lib.aws.cloudformation import Stack
from tools.lib.cfn_lint import Verdict
from tools.lib.deploy import modes
from tools.lib.deploy.context import Ctx, Services, Target
from tools.lib.deploy.drift import DriftCheck, finish_detection, peek_detection
from tools.lib.deploy.outcomes import DeployFailed, StackStateError
from tools.lib.deploy.parameters import template_parameters
from tools.lib.deploy.state import StackState
from tools.lib.errors import ArdaMailError, NotDone, Refused
from tools.lib.journal import Journal
from tools.lib.logger import Secret, holds_secret
from tools.lib.output import Sink
from tools.lib.plan.report import Plan
from tools.lib.postmark_client import PostmarkError
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


def stubbed_aws():
    """The AWS layer over offline clients, each behind a Stubber that checks every call and its parameters."""
    clients = stubbable("cloudformation", "sts", "secretsmanager", "route53")
    aws = aws_over(STACK, **clients)
    aws.stubs = {name: Stubber(client) for name, client in clients.items()}
    return aws


class RememberedIds(dict):
    """Postmark domain IDs remembered by (domain, stack ID), in memory (deploy.py keeps them in a cache folder)."""

    def recall(self, api, domain, stack_id):
        return self.get((domain, stack_id))

    def remember(self, api, domain, stack_id, domain_id):
        self[(domain, stack_id)] = domain_id


@dataclasses.dataclass
class Fakes:
    """What the run used outside AWS: the token, Postmark (and the IDs remembered of it), cfn-lint, git."""

    touched: list = dataclasses.field(default_factory=list)
    lint_errors: list = dataclasses.field(default_factory=list)
    dirty: list = dataclasses.field(default_factory=list)
    rendered: str = BODY
    registered: bool = False  # whether Postmark knows the domain before the run
    ids: RememberedIds = dataclasses.field(default_factory=RememberedIds)
    asked: list = dataclasses.field(default_factory=list)  # the IDs GET /domains/{id} was asked for

    def services(self) -> Services:
        def resolve(ref):
            self.touched.append("op")
            return Secret(TOKEN)

        return Services(
            resolve_token=resolve,
            postmark=lambda token: FakePostmark(self),
            lint=lambda body: Verdict(list(self.lint_errors), [], cached=True),
            unreviewed=lambda root: list(self.dirty),
            render=lambda config, source: self.rendered,
            handler_source=lambda: "",
            domain_ids=self.ids,
        )


DETAILS = {
    "ID": 1,
    "Name": "dev.ardamails.com",
    "DKIMPendingHost": DKIM.host,
    "DKIMPendingTextValue": DKIM.value,
    "DKIMUpdateStatus": "Pending",
    "ReturnPathDomain": "pm-bounces.dev.ardamails.com",
    "ReturnPathDomainCNAMEValue": "pm.mtasv.net",
}


class FakePostmark:
    """The Postmark client's Domains calls, answered from memory (the real client has its own tests)."""

    def __init__(self, fakes: Fakes) -> None:
        self.fakes = fakes

    def list_domains(self, count=500, offset=0):
        self.fakes.touched.append("postmark")
        found = [{"ID": 1, "Name": "dev.ardamails.com"}] if self.fakes.registered else []
        return {"TotalCount": len(found), "Domains": found}

    def create_domain(self, name, return_path_domain):
        self.fakes.registered = True
        return {"ID": 1, "Name": name}

    def get_domain(self, domain_id):
        self.fakes.asked.append(domain_id)
        if domain_id != DETAILS["ID"] or not self.fakes.registered:
            raise PostmarkError(f"Postmark GET /domains/{domain_id} failed: HTTP 422, ErrorCode 510: not found", 422)
        return dict(DETAILS)


@pytest.fixture
def aws():
    stubbed = stubbed_aws()
    for stub in stubbed.stubs.values():
        stub.activate()
    yield stubbed
    for stub in stubbed.stubs.values():
        stub.assert_no_pending_responses()


@dataclasses.dataclass
class Run:
    ctx: Ctx
    out: io.StringIO
    clock: FakeClock
    fakes: Fakes
    record: Plan  # the reviewer's record the mode fills

    @property
    def text(self) -> str:
        return self.out.getvalue()


def make(aws, fakes: Fakes | None = None) -> Run:
    out = io.StringIO()
    fakes = fakes or Fakes()
    clock = FakeClock()
    ctx = Ctx(
        Target(CONFIG),
        aws,
        Sink(json_mode=False, human=out),
        Journal(),
        services=fakes.services(),
        clock=clock.clock(),
        side_by_side=1,  # the guards one after another, in step order: each Stubber expects its calls in order
    )
    return Run(ctx, out, clock, fakes, Plan())


def cfn(aws):
    return aws.stubs["cloudformation"]


def expect_identity(aws, account="111122223333"):
    aws.stubs["sts"].add_response(
        "get_caller_identity",
        {"Account": account, "Arn": f"arn:aws:sts::{account}:assumed-role/Ops/me", "UserId": "u"},
        {},
    )


def expect_no_zone_of_the_domain(aws):
    """A first creation looks for a zone of the mail domain already there (a second one is refused)."""
    aws.stubs["route53"].add_response(
        "list_hosted_zones_by_name",
        {"HostedZones": [], "IsTruncated": False, "MaxItems": "100"},
        {"DNSName": "dev.ardamails.com", "MaxItems": "100"},
    )
    # ... and for a secret holding one of the stack's secret names (a creation would fail half-way).
    names = ["Alpha002-dev-Email/PostmarkAccountToken", "Alpha002-dev-Email/WebhookCredential"]
    aws.stubs["secretsmanager"].add_response(
        "list_secrets",
        {"SecretList": []},
        {"Filters": [{"Key": "name", "Values": names}], "IncludePlannedDeletion": True},
    )


def expect_stack(aws, status, outputs=()):
    if status is None:
        cfn(aws).add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message=f"Stack with id {STACK} does not exist",
        )
        return
    stack = {"StackName": STACK, "StackId": STACK_ID, "StackStatus": status, "CreationTime": NOW}
    if outputs:
        stack["Outputs"] = list(outputs)
    cfn(aws).add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": STACK})


def expect_examined(aws, status):
    """Step 5 of a stack that exists: described, then its change sets listed, once per run (in flight? stale?)."""
    expect_stack(aws, status)
    expect_no_stale_change_sets(aws)


def expect_deployed_template(aws):
    """Step 5 of an update: the deployed template (the same bytes; no zone output, so no record comparison), and
    the stack policy (none yet), read once, beside the other guards: protecting the stack later asks no more."""
    cfn(aws).add_response("get_template", {"TemplateBody": BODY}, {"StackName": STACK_ID, "TemplateStage": "Original"})
    cfn(aws).add_response("get_stack_policy", {}, {"StackName": STACK_ID})


def expect_create_change_set(aws, kind):
    params = {
        "PostmarkAccountToken": TOKEN,
        "DkimSlot1Selector": DKIM.selector,
        "DkimSlot1Value": txt_record_value(DKIM.value),
        "DkimSlot2Selector": "",
        "DkimSlot2Value": "",
        "DkimSlot3Selector": "",
        "DkimSlot3Value": "",
    }
    cfn(aws).add_response(
        "create_change_set",
        {"Id": CS_ARN, "StackId": STACK_ID},
        {
            "StackName": STACK,
            "ChangeSetName": ANY,
            "ClientToken": ANY,  # the change set's name (test_the_change_set_name_is_its_retry_token)
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


def expect_review_stack_deleted(aws, others=()):
    """The empty REVIEW_IN_PROGRESS stack of a CREATE is deleted only when no other change set is on it."""
    expect_stack(aws, "REVIEW_IN_PROGRESS")
    cfn(aws).add_response(
        "list_change_sets", {"Summaries": [{"ChangeSetName": n} for n in others]}, {"StackName": STACK_ID}
    )
    if not others:
        cfn(aws).add_response("delete_stack", {}, {"StackName": STACK_ID})


def expect_discard_create(aws, change_set=CS_ARN):
    cfn(aws).add_response("delete_change_set", {}, {"ChangeSetName": change_set})
    expect_review_stack_deleted(aws)


def expect_change_set(aws, status, reason=None, changes=()):
    body = {"ChangeSetId": CS_ARN, "StackName": STACK, "Status": status, "Changes": list(changes)}
    if reason:
        body["StatusReason"] = reason
    cfn(aws).add_response("describe_change_set", body, {"ChangeSetName": CS_ARN})


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
        "LogicalResourceId": "DkimSlot1Record",
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


def stack_event(event_id, status):
    return event(event_id, STACK, status, resource_type="AWS::CloudFormation::Stack")


def expect_events(aws, events):
    """One describe_stack_events call, by StackId: the one Describe call of a poll."""
    cfn(aws).add_response("describe_stack_events", {"StackEvents": events}, {"StackName": STACK_ID})


def expect_no_stale_change_sets(aws):
    cfn(aws).add_response("list_change_sets", {"Summaries": []}, {"StackName": STACK_ID})


def expect_protect(aws):
    """Termination protection turned on, the stack policy set (neither was there yet: a new stack has no
    policy, and an updated one's was read with the guards)."""
    expect_termination_protection(aws)
    expect_policy_set(aws)


def expect_termination_protection(aws):
    cfn(aws).add_response(
        "update_termination_protection",
        {"StackId": STACK_ID},
        {"EnableTerminationProtection": True, "StackName": STACK_ID},
    )


def expect_policy_set(aws):
    cfn(aws).add_response("set_stack_policy", {}, {"StackName": STACK_ID, "StackPolicyBody": ANY})


def expect_execute(aws, previous_events=()):
    expect_events(aws, list(previous_events))
    # The change set's name is the retry token; what this execution creates goes if it rolls back.
    execute = {"ChangeSetName": CS_ARN, "ClientRequestToken": "arda-mail-x", "RetainExceptOnCreate": True}
    cfn(aws).add_response("execute_change_set", {}, execute)


def expect_success(aws, status):
    """After the terminal event: the stack policy the run knows is missing, set while one describe_stacks reads
    the settled stack (its exports; in step order here, ``side_by_side`` 1), then termination protection."""
    outputs = [
        {
            "OutputKey": "MailDomainName",
            "OutputValue": "dev.ardamails.com",
            "ExportName": "Alpha002-dev-API-MailDomainName",
        },
        {"OutputKey": "CfnIoMarker", "OutputValue": "partition-email/v2"},
    ]
    expect_policy_set(aws)
    expect_stack(aws, status, outputs)
    expect_termination_protection(aws)


def ready_update(aws, changes=(MODIFY_RECORD,)):
    expect_identity(aws)
    expect_examined(aws, "UPDATE_COMPLETE")
    expect_deployed_template(aws)
    expect_create_change_set(aws, "UPDATE")
    expect_change_set(aws, "CREATE_COMPLETE", changes=list(changes))


def deploy(run: Run, **options) -> str:
    return modes.deploy(run.ctx, modes.Options(**{"assume_yes": True, **options}), run.record)


# -- the sequences ----------------------------------------------------------------------------------


@pytest.mark.vcheck("V-CLI-003")
def test_create_sequence(aws):
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    run = make(aws)
    expect_identity(aws)
    expect_stack(aws, None)
    expect_create_change_set(aws, "CREATE")
    expect_change_set(aws, "CREATE_PENDING")
    expect_change_set(aws, "CREATE_COMPLETE", changes=[ADD_ZONE])
    expect_execute(aws, [stack_event("e0", "REVIEW_IN_PROGRESS")])
    expect_events(aws, [event("e1", "MailHostedZone", "CREATE_IN_PROGRESS"), stack_event("e0", "REVIEW_IN_PROGRESS")])
    expect_events(aws, [stack_event("e2", "CREATE_COMPLETE"), event("e1", "MailHostedZone", "CREATE_IN_PROGRESS")])
    expect_success(aws, "CREATE_COMPLETE")
    assert deploy(run) == "deployed"
    # One Describe call per poll, every 2 s: at most 30 a minute, the end noticed within one poll.
    assert run.clock.slept == [2.0, 2.0], "polls every 2 s, not botocore's waiter delays"
    assert "termination protection turned on" in run.text and "stack policy set" in run.text
    assert "Add     MailHostedZone  AWS::Route53::HostedZone  -" in run.text
    assert run.text.index("CREATE_IN_PROGRESS") < run.text.index("CREATE_COMPLETE")
    assert "  Alpha002-dev-API-MailDomainName = dev.ardamails.com" in run.text
    assert "CfnIoMarker" not in run.text and TOKEN not in run.text
    assert run.fakes.touched == ["op", "postmark"]
    (entry,) = run.ctx.journal.entries[1:]
    assert entry.state == "settled", "an executed change set is never undone"


@pytest.mark.parametrize("status", ["UPDATE_COMPLETE", "CREATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"])
def test_update_sequence(aws, status):
    run = make(aws)
    expect_identity(aws)
    expect_examined(aws, status)
    expect_deployed_template(aws)
    expect_create_change_set(aws, "UPDATE")
    expect_change_set(aws, "CREATE_COMPLETE", changes=[MODIFY_RECORD])
    expect_execute(aws, [stack_event("e0", status)])
    expect_events(aws, [stack_event("e1", "UPDATE_COMPLETE")])
    expect_success(aws, "UPDATE_COMPLETE")
    assert deploy(run) == "deployed"
    assert "Modify  DkimSlot1Record  AWS::Route53::RecordSet  True" in run.text


def test_review_in_progress_is_created_again(aws):
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    run = make(aws)
    expect_identity(aws)
    expect_examined(aws, "REVIEW_IN_PROGRESS")
    expect_create_change_set(aws, "CREATE")
    expect_change_set(aws, "CREATE_COMPLETE", changes=[ADD_ZONE])
    with pytest.raises(NotDone):
        deploy(run, assume_yes=False)


@pytest.mark.parametrize(
    "reason",
    [
        "The submitted information didn't contain changes. Submit different information to create a change set.",
        "No updates are to be performed.",
    ],
)
@pytest.mark.vcheck("V-PART-020")
def test_empty_change_set_is_no_changes(aws, reason):
    run = make(aws)
    expect_identity(aws)
    expect_examined(aws, "UPDATE_COMPLETE")
    expect_deployed_template(aws)
    expect_create_change_set(aws, "UPDATE")
    expect_change_set(aws, "FAILED", reason=reason)
    cfn(aws).add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    expect_protect(aws)  # checked on every deploy, also one with no changes
    assert deploy(run) == "no-changes"
    assert f"{STACK}: no changes" in run.text
    assert [e.state for e in run.ctx.journal.entries] == ["made"], "only Postmark's registration is left to say"


def test_failed_change_set_is_left_to_the_journal(aws):
    """The step raises; the journal holds the change set's undo (the frame unwinds it and says so)."""
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    run = make(aws)
    expect_identity(aws)
    expect_stack(aws, None)
    expect_create_change_set(aws, "CREATE")
    expect_change_set(aws, "FAILED", reason="Parameter 'DkimValue' must match pattern")
    with pytest.raises(DeployFailed, match="the change set failed: Parameter 'DkimValue' must match pattern"):
        deploy(run)
    expect_discard_create(aws)
    run.ctx.journal.unwind()
    assert run.ctx.journal.summary().endswith("the change set was deleted, nothing executed")


def test_rollback_complete_is_explained_and_left_alone(aws):
    run = make(aws)
    expect_identity(aws)
    expect_stack(aws, "ROLLBACK_COMPLETE")
    with pytest.raises(StackStateError, match="ROLLBACK_COMPLETE .*rerun with --delete-failed-stack") as info:
        deploy(run)
    assert info.value.exit_code == 3
    assert run.fakes.touched == [] and run.ctx.journal.entries == []


def test_rollback_complete_is_deleted_with_the_flag(aws):
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    run = make(aws)
    expect_identity(aws)
    expect_examined(aws, "ROLLBACK_COMPLETE")
    expect_events(aws, [stack_event("r1", "ROLLBACK_COMPLETE")])
    cfn(aws).add_response("delete_stack", {}, {"StackName": STACK_ID})
    expect_events(aws, [stack_event("d1", "DELETE_IN_PROGRESS")])
    expect_events(aws, [stack_event("d2", "DELETE_COMPLETE"), stack_event("d1", "DELETE_IN_PROGRESS")])
    expect_create_change_set(aws, "CREATE")
    expect_change_set(aws, "CREATE_COMPLETE", changes=[ADD_ZONE])
    with pytest.raises(NotDone):
        deploy(run, assume_yes=False, delete_failed_stack=True)
    said = run.ctx.journal.summary()
    assert said.startswith(
        "registered dev.ardamails.com with Postmark (rerunning is safe); deleted the ROLLBACK_COMPLETE"
    )
    assert "left for review" in said


def test_busy_stack_is_refused(aws):
    run = make(aws)
    expect_identity(aws)
    expect_stack(aws, "UPDATE_IN_PROGRESS")
    with pytest.raises(StackStateError, match="the stack is busy \\(UPDATE_IN_PROGRESS\\)"):
        deploy(run)
    assert run.fakes.touched == [], "a read-only guard refused after something was resolved or registered"


def test_failed_execution_prints_each_failed_resource(aws):
    run = make(aws)
    ready_update(aws)
    expect_execute(aws, [stack_event("e0", "UPDATE_COMPLETE")])
    failed = event("e2", "DkimSlot1Record", "UPDATE_FAILED", reason="Invalid Resource Record: FATAL problem")
    history = [stack_event("e3", "UPDATE_ROLLBACK_COMPLETE"), failed, stack_event("e1", "UPDATE_IN_PROGRESS")]
    expect_events(aws, history + [stack_event("e0", "UPDATE_COMPLETE")])
    expect_events(aws, history + [stack_event("e0", "UPDATE_COMPLETE")])
    with pytest.raises(DeployFailed, match="the stack update ended in UPDATE_ROLLBACK_COMPLETE"):
        deploy(run)
    assert f"{STACK}: UPDATE_ROLLBACK_COMPLETE; failed resources:" in run.text
    assert (
        "  DkimSlot1Record (AWS::Route53::HostedZone) UPDATE_FAILED: Invalid Resource Record: FATAL problem" in run.text
    )
    assert run.ctx.journal.summary().endswith(
        f"change set {CS_ARN} executed and rolled back (UPDATE_ROLLBACK_COMPLETE)"
    )


@pytest.mark.vcheck("V-CLI-003")
def test_non_tty_without_yes_keeps_the_change_set_for_review(aws):
    run = make(aws)
    ready_update(aws)
    with pytest.raises(NotDone) as info:
        deploy(run, assume_yes=False)
    assert info.value.exit_code == 4
    run.ctx.journal.unwind()  # nothing to undo: it is kept on purpose
    said = run.ctx.journal.summary()
    kept = (
        "change set arda-mail-x left for review, not executed: to deploy, run python deploy.py Alpha002 dev --yes "
        "(it replaces this change set)"
    )
    assert said.endswith(kept) and len(said) < 300, "one short line naming the one command"
    assert "execute-change-set" not in said, "the AWS CLI's execute would skip deploy.py's protections"


def test_plan_deletes_the_change_set_and_the_review_stack(aws):
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    run = make(aws, Fakes(registered=True))
    expect_identity(aws)
    expect_stack(aws, None)
    expect_create_change_set(aws, "CREATE")
    expect_change_set(aws, "CREATE_COMPLETE", changes=[ADD_ZONE])
    expect_discard_create(aws)
    assert modes.plan(run.ctx, modes.Options(plan=True), run.record) == "planned"
    assert "plan only; change set deleted, nothing executed" in run.text
    assert [e.state for e in run.ctx.journal.entries] == ["undone"], "a plan registers nothing with Postmark"


@pytest.mark.vcheck("V-PART-017")
def test_wrong_account_is_refused_before_anything_else(aws):
    run = make(aws)
    expect_identity(aws, account="999988887777")
    with pytest.raises(Refused, match="account 999988887777 .* names 111122223333"):
        deploy(run)
    assert run.fakes.touched == []


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ExpiredToken", "the AWS credentials are expired or invalid (ExpiredToken)"),
        ("AccessDenied", "AWS denied sts get-caller-identity (AccessDenied: m)"),
        ("Throttling", "AWS kept throttling sts get-caller-identity after retries"),
        ("ValidationError", "sts get-caller-identity failed (ValidationError: m)"),
    ],
)
def test_aws_errors_become_one_sentence(aws, code, message):
    run = make(aws)
    aws.stubs["sts"].add_client_error("get_caller_identity", service_error_code=code, service_message="m")
    with pytest.raises(ArdaMailError) as info:
        deploy(run)
    assert message in str(info.value)
    assert str(info.value).startswith(f"{STACK}: ")


@pytest.mark.vcheck("V-PART-018")
def test_stale_committed_template_is_refused(aws):
    run = make(aws, Fakes(rendered="something else"))
    expect_identity(aws)
    with pytest.raises(Refused, match="templates/Alpha002-dev-Email.yaml differs .* run: python generate.py dev"):
        deploy(run)


def test_uncommitted_inputs_are_refused_and_a_plan_says_so(aws):
    run = make(aws, Fakes(dirty=["instances/Alpha002/dev.toml"]))
    expect_identity(aws)
    with pytest.raises(Refused, match="not committed as reviewed: instances/Alpha002/dev.toml; commit them"):
        deploy(run)


def test_template_over_the_inline_limit_is_refused(aws, monkeypatch):
    run = make(aws)
    expect_identity(aws)
    monkeypatch.setattr("tools.lib.deploy.guards.MAX_TEMPLATE_BODY_BYTES", len(BODY.encode()) - 1)
    with pytest.raises(Refused, match=r"over CloudFormation's \d+-byte limit for an inline template"):
        deploy(run)
    assert len(BODY.encode()) < 51_200, "the real template fits inline"


def test_cfn_lint_errors_refuse_before_postmark(aws):
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    run = make(aws, Fakes(lint_errors=["E3001 Invalid resource type AWS::Route53::HostedZon"]))
    expect_identity(aws)
    expect_stack(aws, None)
    with pytest.raises(Refused, match=r"cfn-lint found 1 error\(s\): E3001 Invalid resource type"):
        deploy(run)
    assert run.ctx.journal.entries == [], "Postmark was not called"


def test_dkim_parameters_are_split_for_the_template():
    params = template_parameters(Secret(TOKEN), REGISTRATION, ["", "", ""], STACK)
    assert params["DkimSlot1Selector"] == DKIM.selector
    assert params["DkimSlot1Value"] == txt_record_value(DKIM.value)
    assert params["DkimSlot2Selector"] == params["DkimSlot2Value"] == ""
    empty = template_parameters(Secret(TOKEN), None, ["", "", ""], STACK)
    assert all(empty[f"DkimSlot{n}{part}"] == "" for n in (1, 2, 3) for part in ("Selector", "Value"))


def test_a_key_keeps_the_slot_the_deployed_stack_gave_it():
    # The pending key was deployed in slot 3; verified, it is active, and stays in slot 3.
    stack = {
        "StackStatus": "UPDATE_COMPLETE",
        "Parameters": [{"ParameterKey": "DkimSlot3Selector", "ParameterValue": DKIM.selector}],
    }
    deployed = StackState(stack, "UPDATE").dkim_selectors()
    assert deployed == ["", "", DKIM.selector]
    assert StackState(stack, "CREATE").dkim_selectors() == ["", "", ""], "a new stack holds no key"
    active = dataclasses.replace(REGISTRATION, dkim_keys=(dataclasses.replace(DKIM, state="active"),))
    params = template_parameters(Secret(TOKEN), active, deployed, STACK)
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
    with pytest.raises(ArdaMailError) as info:
        template_parameters(Secret(TOKEN), bad, ["", "", ""], STACK)
    assert str(info.value).startswith("Alpha002-dev-Email: Postmark's DKIM keys cannot be published: ")
    assert problem in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("answer", "executes"), [("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False)])
def test_terminal_asks_before_executing(aws, monkeypatch, answer, executes):
    run = make(aws)
    ready_update(aws)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    if executes:
        expect_execute(aws, [stack_event("e0", "UPDATE_COMPLETE")])
        expect_events(aws, [stack_event("e1", "UPDATE_COMPLETE")])
        expect_success(aws, "UPDATE_COMPLETE")
        assert deploy(run, assume_yes=False, is_tty=True) == "deployed"
    else:
        with pytest.raises(NotDone, match="not executed \\(answered no\\)"):
            deploy(run, assume_yes=False, is_tty=True)
        assert "left for review" in run.ctx.journal.summary()


@pytest.mark.parametrize(
    ("status", "advice"),
    [
        ("UPDATE_ROLLBACK_FAILED", "finish the rollback (aws cloudformation continue-update-rollback"),
        ("DELETE_FAILED", "its deletion failed: fix what blocked it"),
        ("ROLLBACK_FAILED", "delete it (aws cloudformation delete-stack)"),
    ],
)
def test_each_stuck_state_gets_its_own_advice(aws, status, advice):
    run = make(aws)
    expect_identity(aws)
    expect_stack(aws, status)
    with pytest.raises(StackStateError) as info:
        deploy(run)
    assert advice in str(info.value)
    assert status == "UPDATE_ROLLBACK_FAILED" or "continue-update-rollback" not in str(info.value)


def test_a_plan_never_deletes_a_failed_stack(aws):
    run = make(aws)
    expect_identity(aws)
    expect_stack(aws, "ROLLBACK_COMPLETE")
    with pytest.raises(Refused, match="a plan never deletes it") as info:
        modes.plan(run.ctx, modes.Options(plan=True, delete_failed_stack=True), run.record)
    assert "rerun with --delete-failed-stack" not in str(info.value)


def test_plan_leaves_a_review_stack_that_holds_someone_elses_change_set(aws):
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    run = make(aws, Fakes(registered=True))
    expect_identity(aws)
    expect_stack(aws, None)
    expect_create_change_set(aws, "CREATE")
    expect_change_set(aws, "CREATE_COMPLETE", changes=[ADD_ZONE])
    cfn(aws).add_response("delete_change_set", {}, {"ChangeSetName": CS_ARN})
    expect_review_stack_deleted(aws, others=["their-deploy"])
    assert modes.plan(run.ctx, modes.Options(plan=True), run.record) == "planned"
    assert "holds 1 other change set(s) (their-deploy)" in run.text


def test_an_interrupted_review_leaves_the_change_set_to_the_journal(aws, monkeypatch):
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    run = make(aws)
    expect_identity(aws)
    expect_stack(aws, None)
    expect_create_change_set(aws, "CREATE")
    expect_change_set(aws, "CREATE_COMPLETE", changes=[ADD_ZONE])

    def interrupt(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr("tools.lib.deploy.modes.confirm", interrupt)
    with pytest.raises(KeyboardInterrupt):
        deploy(run, assume_yes=False, is_tty=True)
    expect_discard_create(aws)
    run.ctx.journal.unwind()
    assert run.ctx.journal.summary() == (
        "registered dev.ardamails.com with Postmark (rerunning is safe); the change set was deleted, nothing executed"
    )


def test_an_aws_error_says_what_is_left_when_cleanup_fails(aws):
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    run = make(aws)
    expect_identity(aws)
    expect_stack(aws, None)
    expect_create_change_set(aws, "CREATE")
    cfn(aws).add_client_error("describe_change_set", service_error_code="InternalFailure", service_message="boom")
    with pytest.raises(ArdaMailError, match=r"cloudformation describe-change-set failed \(InternalFailure: boom\)"):
        deploy(run)
    cfn(aws).add_client_error("delete_change_set", service_error_code="AccessDenied", service_message="no")
    cfn(aws).add_response("describe_change_set", {"ChangeSetId": CS_ARN}, {"ChangeSetName": CS_ARN})  # still there
    run.ctx.journal.unwind()
    said = run.ctx.journal.summary()
    assert "nothing executed, but the change set could not be deleted: remove it with: aws cloudformation " in said
    assert re.search(
        r"delete-change-set --change-set-name arda-mail-\d{8}-\d{6}-[0-9a-f]{6} --stack-name Alpha002-dev-Email "
        r"--region us-east-1",
        said,
    ), said
    assert (
        "delete-stack --stack-name Alpha002-dev-Email --region us-east-1 (only while it is REVIEW_IN_PROGRESS)" in said
    )
    assert "AWS denied cloudformation delete-change-set (AccessDenied: no)" in said, "why the undo failed"


def test_a_change_set_in_another_account_is_never_executed(aws, monkeypatch):
    expect_no_zone_of_the_domain(aws)  # a first creation: no zone of the domain yet
    # A split STS endpoint answered for the right account; CloudFormation made the change set elsewhere.
    foreign = CS_ARN.replace(":111122223333:", ":999988887777:")
    run = make(aws)
    expect_identity(aws)
    expect_stack(aws, None)
    cfn(aws).add_response("create_change_set", {"Id": foreign, "StackId": STACK_ID}, None)
    cfn(aws).add_response(
        "describe_change_set",
        {"ChangeSetId": foreign, "StackName": STACK, "Status": "CREATE_COMPLETE", "Changes": [ADD_ZONE]},
        {"ChangeSetName": foreign},
    )
    with pytest.raises(Refused) as info:
        deploy(run)
    assert f"the change set {foreign} is in account 999988887777" in str(info.value)
    assert "but the instance config names 111122223333; nothing executed" in str(info.value)
    expect_discard_create(aws, foreign)
    run.ctx.journal.unwind()
    assert run.ctx.journal.summary().endswith("the change set was deleted, nothing executed")


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


def follower(pages):
    clock, lines = FakeClock(), []
    cfn = EventsOnly(pages)
    return Stack(aws_over(cloudformation=cfn), STACK, clock=clock.clock(), on_heartbeat=lines.append), cfn, clock, lines


def test_a_quiet_stack_gets_a_heartbeat_every_30_seconds():
    busy = [event("e1", "NsDelegation", "CREATE_IN_PROGRESS", resource_type="Custom::NsDelegation")]
    done = [stack_event("e2", "CREATE_COMPLETE")] + busy
    stack, cfn, clock, lines = follower([busy] + [busy] * 40 + [done])
    assert stack.follow(STACK_ID, None).status == "CREATE_COMPLETE"
    # 41 quiet polls of 2 s: heartbeats at 30 s and 60 s, each naming the last event.
    assert len(lines) == 2
    assert (
        lines[0] == f"{STACK}: still waiting after 30s; last event: CREATE_IN_PROGRESS NsDelegation at {NOW:%H:%M:%S}"
    )
    # One Describe call per poll, every 2 s: 30 calls a minute at most.
    assert len(cfn.calls) == len(clock.slept) + 1 and set(clock.slept) == {2.0}
    assert all(kwargs == {"StackName": STACK_ID} for _, kwargs in cfn.calls), "followed by StackId"


def test_a_stack_that_never_settles_ends_at_the_deadline():
    busy = [event("e1", "NsDelegation", "CREATE_IN_PROGRESS", resource_type="Custom::NsDelegation")]
    stack, cfn, clock, _ = follower([busy])
    followed = stack.follow(STACK_ID, None, timeout_seconds=120)
    assert followed.status is None and followed.elapsed == 120, "the deadline came first: the step says what it means"
    assert clock.seconds == 120 and len(cfn.calls) == 61


def expect_detection(aws, state: str, **more):
    """CloudFormation's answer about the drift detection "detection-1": ``state``, and ``more`` fields."""
    status = {"StackId": STACK_ID, "StackDriftDetectionId": "detection-1", "Timestamp": NOW, "DetectionStatus": state}
    cfn(aws).add_response(
        "describe_stack_drift_detection_status", {**status, **more}, {"StackDriftDetectionId": "detection-1"}
    )


def expect_resource_drifts(aws, logical_id: str, resource_type: str, status: str, **more):
    """CloudFormation's answer listing one drifted resource of the stack: ``status``, and ``more`` fields."""
    drift = {"StackId": STACK_ID, "LogicalResourceId": logical_id, "ResourceType": resource_type,
             "StackResourceDriftStatus": status, "Timestamp": NOW, **more}  # fmt: skip
    cfn(aws).add_response(
        "describe_stack_resource_drifts",
        {"StackResourceDrifts": [drift]},
        {"StackName": STACK, "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"]},
    )


def test_cloudformation_drift_found_meanwhile_refuses_before_executing(aws):
    run = make(aws)
    expect_detection(aws, "DETECTION_IN_PROGRESS")
    expect_detection(aws, "DETECTION_COMPLETE", StackDriftStatus="DRIFTED")
    difference = {
        "PropertyPath": "/Description",
        "ExpectedValue": "Lets the runtime write tenant mail records",
        "ActualValue": "edited in the console",
        "DifferenceType": "NOT_EQUAL",
    }
    expect_resource_drifts(aws, "DnsRecordsRole", "AWS::IAM::Role", "MODIFIED", PropertyDifferences=[difference])
    # Not a record: --overwrite-drift cannot put it back, so it is refused with or without it.
    with pytest.raises(Refused, match="DnsRecordsRole changed outside CloudFormation .* puts back only DNS records"):
        finish_detection(run.ctx, DriftCheck([], "detection-1"), plan=False, overwrite=False)
    assert "DnsRecordsRole  /Description  Lets the runtime write tenant mail records  edited in the console" in run.text
    assert run.clock.slept == [2.0], "the detection is polled on the run's clock"


def test_one_look_at_the_detection_while_the_change_set_is_made_is_taken_as_its_verdict(aws):
    run = make(aws)
    expect_detection(aws, "DETECTION_IN_PROGRESS")
    assert peek_detection(run.ctx, DriftCheck([], "detection-1")) is None, "still running: step 10 waits for it"
    assert run.clock.slept == [], "a look never waits"
    cfn(aws).add_client_error("describe_stack_drift_detection_status", service_error_code="Throttling")
    assert peek_detection(run.ctx, DriftCheck([], "detection-1")) is None, "unreadable: step 10 reads it again"
    assert peek_detection(run.ctx, DriftCheck([], None)) is None, "no detection, no call"
    expect_detection(aws, "DETECTION_COMPLETE", StackDriftStatus="DRIFTED")
    expect_resource_drifts(aws, "WebhookSecret", "AWS::SecretsManager::Secret", "DELETED")
    detected = peek_detection(run.ctx, DriftCheck([], "detection-1"))
    assert detected is not None and run.text == "", "a look prints nothing: step 10 says what it found"
    # Step 10 takes the look's verdict as its own (the Stubber has no answer left: a call would fail).
    with pytest.raises(Refused, match="WebhookSecret changed outside CloudFormation"):
        finish_detection(run.ctx, DriftCheck([], "detection-1"), plan=False, overwrite=False, detected=detected)
    assert "WebhookSecret  (resource)" in run.text and run.clock.slept == []


def test_a_read_ahead_runs_beside_the_run_or_in_step_order_when_one_at_a_time():
    started = threading.Event()
    release = threading.Event()

    def read(value):
        started.set()
        assert release.wait(5), "never released"
        return value

    side_by_side = make(aws_over()).ctx
    side_by_side = dataclasses.replace(side_by_side, side_by_side=2)
    answer = modes.ahead(side_by_side, read, "found")
    assert started.wait(5), "the read started at once, in its own thread"
    release.set()
    assert answer() == "found"
    failing = modes.ahead(side_by_side, lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing()  # its error reaches whoever takes the answer
    started.clear()
    lazy = modes.ahead(make(aws_over()).ctx, read, "later")  # side_by_side 1
    assert not started.is_set(), "one at a time: the read waits for its answer to be taken"
    assert lazy() == "later"


@pytest.mark.parametrize("ending", ["returns", "fails"])
def test_every_read_a_mode_started_ahead_has_ended_when_the_mode_returns_or_fails(ending):
    """Its AWS call must not come after the run counted its calls, nor its secret's mask line after the
    ``--json`` document; its answer, taken or not, and its error are dropped."""
    ctx = dataclasses.replace(make(aws_over()).ctx, side_by_side=2)
    started, release, ended = threading.Event(), threading.Event(), []

    def slow():
        started.set()
        assert release.wait(10), "never released"
        ended.append("slow")

    def let_it_end():
        assert started.wait(10)
        release.set()

    threading.Thread(target=let_it_end, daemon=True).start()
    with pytest.raises(Refused) if ending == "fails" else contextlib.nullcontext():
        with modes.Ahead(ctx) as ahead_:
            ahead_(slow)  # never taken
            ahead_(lambda: 1 / 0)  # its error is nobody's
            if ending == "fails":
                raise Refused("a guard refused")
    assert ended == ["slow"]


def test_a_signal_does_not_wait_for_the_reads_a_mode_started_ahead():
    ctx = dataclasses.replace(make(aws_over()).ctx, side_by_side=2)
    release = threading.Event()
    with pytest.raises(KeyboardInterrupt), modes.Ahead(ctx) as ahead_:
        ahead_(release.wait, 10)
        raise KeyboardInterrupt
    release.set()


def test_the_change_set_name_is_its_retry_token():
    """A retry after a lost answer must be the same request: CloudFormation matches it by the token."""
    sent = {}

    class Cfn:
        def create_change_set(self, **kwargs):
            sent.update(kwargs)
            return {"Id": f"arn:aws:cloudformation:us-east-1:111122223333:changeSet/{kwargs['ChangeSetName']}/1"}

    change_set = Stack(aws_over(cloudformation=Cfn()), STACK).create_change_set(
        "arda-mail-20261205-120000-abcdef", BODY, {}, {}, "CREATE"
    )
    assert sent["ClientToken"] == sent["ChangeSetName"] == change_set.name == "arda-mail-20261205-120000-abcdef"


def test_purge_batches_stay_within_route53s_limits():
    from tools.lib.deploy.destroy import MAX_BATCH_CHARACTERS, MAX_BATCH_RECORDS, delete_batches

    def record(i, values, size):
        return {"Name": f"r{i}.", "Type": "TXT", "TTL": 60, "ResourceRecords": [{"Value": "x" * size}] * values}

    by_characters = [record(i, 1, 410) for i in range(150)]  # 61,500 characters
    batches = delete_batches(by_characters)
    assert [len(b) for b in batches] == [78, 72]
    by_count = [record(i, 4, 1) for i in range(600)]  # 2,400 ResourceRecord elements
    assert [len(b) for b in delete_batches(by_count)] == [250, 250, 100]
    for batch in batches + delete_batches(by_count):
        values = [v["Value"] for c in batch for v in c["ResourceRecordSet"]["ResourceRecords"]]
        assert len(values) <= MAX_BATCH_RECORDS and sum(map(len, values)) <= MAX_BATCH_CHARACTERS
        assert {c["Action"] for c in batch} == {"DELETE"}
    flat = [c["ResourceRecordSet"] for b in batches for c in b]
    assert flat == by_characters, "every record once, in order"
    assert delete_batches([]) == []


def test_an_empty_describe_stacks_answer_means_no_stack():
    """aws-cli's deployer reads an empty list as 'no stack'; an IndexError here would be a traceback."""

    class Cfn:
        def describe_stacks(self, **kwargs):
            return {"Stacks": []}

    assert Stack(aws_over(cloudformation=Cfn()), STACK).describe() is None


# -- waves: which calls a run asks side by side -------------------------------------------------------
#
# Each AWS call is a round trip; calls that do not wait for each other's answers are asked together. These
# tests run a mode side by side (as deploy.py does) over scripted fakes, and hold one call's answer until
# another call has arrived: a hold that is let go because the other call came proves the two were in flight
# together (one after the other, the hold would wait in vain, and say so).

HELD_SECONDS = 5.0  # a hold waits this long for its other call, and only when the two are NOT side by side


class Arrivals:
    """Every call the fakes received, in order; ``holds``: an operation whose first call is answered only once
    another operation has arrived (``waited`` says whether it came)."""

    def __init__(self, holds: dict[str, str]) -> None:
        self.order: list[str] = []
        self.holds = dict(holds)
        self.waited: dict[str, bool] = {}
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def _event(self, operation: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(operation, threading.Event())

    def arrive(self, operation: str) -> None:
        with self._lock:
            self.order.append(operation)
            other = self.holds.pop(operation, None)
        self._event(operation).set()
        if other is not None:
            self.waited[operation] = self._event(other).wait(HELD_SECONDS)

    def side_by_side(self) -> dict[str, bool]:
        """Each held operation → whether the one it waited for arrived while it was held."""
        return dict(self.waited)


class Scripted:
    """A fake AWS service: each operation answers from ``answers`` (a value, or a function of the request)."""

    def __init__(self, arrivals: Arrivals, answers: dict) -> None:
        self._arrivals = arrivals
        self._answers = answers

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self._answers:
            raise AttributeError(name)

        def operation(**request):
            self._arrivals.arrive(name)
            answer = self._answers[name]
            return answer(**request) if callable(answer) else answer

        return operation


ZONE_ID = "Z0123456789"
TOKEN_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:111122223333:secret:Alpha002-dev-Email/PostmarkAccountToken-AbCdEf"


def running_stack() -> dict:
    """A running stack as deploy.py left it: protected, naming its zone and token secret, no DKIM key yet."""
    parameters = {"PostmarkAccountToken": "****"} | {
        f"DkimSlot{n}{p}": "" for n in (1, 2, 3) for p in ("Selector", "Value")
    }
    return {
        "StackName": STACK,
        "StackId": STACK_ID,
        "StackStatus": "UPDATE_COMPLETE",
        "CreationTime": NOW,
        "EnableTerminationProtection": True,
        "ChangeSetId": "arn:aws:cloudformation:us-east-1:111122223333:changeSet/arda-mail-before/0",
        "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        "Outputs": [
            {"OutputKey": "MailHostedZoneId", "OutputValue": ZONE_ID},
            {"OutputKey": "PostmarkAccountTokenSecretArn", "OutputValue": TOKEN_SECRET_ARN},
        ],
    }


def live_records(stack: dict) -> list[dict]:
    """The zone's record sets exactly as the deployed template (BODY) and the stack's parameters say: no drift."""
    from tools.lib.aws.cloudformation import parameter_values
    from tools.lib.plan.diff import RECORD_TYPE
    from tools.lib.plan.template import live_resources, parse_template

    resources = live_resources(parse_template(BODY, "the deployed template"), parameter_values(stack))
    return [
        {
            "Name": props["Name"] + ".",
            "Type": props["Type"],
            "TTL": int(props["TTL"]),
            "ResourceRecords": [{"Value": v} for v in props["ResourceRecords"]],
        }
        for props in (r["Properties"] for r in resources.values() if r["Type"] == RECORD_TYPE)
    ]


def scripted_world(holds: dict[str, str], *, changes=(MODIFY_RECORD,), secret: object = None) -> tuple[Aws, Arrivals]:
    """A running stack (zone, token secret, no drift) that a deploy updates with ``changes`` (none: no changes);
    ``secret``: GetSecretValue's answer (default: the deployed token secret holds the run's token)."""
    arrivals = Arrivals(holds)
    stack = running_stack()
    executed = threading.Event()

    def events(**request):
        if executed.is_set():
            return {"StackEvents": [stack_event("e1", "UPDATE_COMPLETE"), stack_event("e0", "UPDATE_COMPLETE")]}
        return {"StackEvents": [stack_event("e0", "UPDATE_COMPLETE")]}

    def change_set(**request):
        if changes:
            return {"ChangeSetId": CS_ARN, "StackName": STACK, "Status": "CREATE_COMPLETE", "Changes": list(changes)}
        reason = (
            "The submitted information didn't contain changes. Submit different information to create a change set."
        )
        return {"ChangeSetId": CS_ARN, "StackName": STACK, "Status": "FAILED", "StatusReason": reason, "Changes": []}

    def execute(**request):
        executed.set()
        return {}

    from templates.partition_email import stack_policy

    detection = {"StackId": STACK_ID, "StackDriftDetectionId": "detection-1", "Timestamp": NOW}
    cloudformation = {
        "describe_stacks": {"Stacks": [stack]},
        "list_change_sets": {"Summaries": []},
        "get_template": {"TemplateBody": BODY},
        "get_stack_policy": {"StackPolicyBody": json.dumps(stack_policy())},
        "detect_stack_drift": {"StackDriftDetectionId": "detection-1"},
        "describe_stack_drift_detection_status": detection | {"DetectionStatus": "DETECTION_COMPLETE"},
        "describe_stack_resource_drifts": {"StackResourceDrifts": []},
        "create_change_set": {"Id": CS_ARN, "StackId": STACK_ID},
        "describe_change_set": change_set,
        "delete_change_set": {},
        "describe_stack_events": events,
        "execute_change_set": execute,
    }
    identity = {"Account": "111122223333", "Arn": "arn:aws:sts::111122223333:assumed-role/Ops/me", "UserId": "u"}
    aws = aws_over(
        STACK,
        sts=Scripted(arrivals, {"get_caller_identity": identity}),
        cloudformation=Scripted(arrivals, cloudformation),
        route53=Scripted(arrivals, {"list_resource_record_sets": {"ResourceRecordSets": live_records(stack)}}),
        secretsmanager=Scripted(arrivals, {"get_secret_value": secret or {"SecretString": TOKEN}}),
    )
    return aws, arrivals


def side_by_side(aws, fakes: Fakes | None = None) -> Run:
    """A run whose read-only calls go side by side, as deploy.py's do."""
    run = make(aws, fakes or Fakes(registered=True))
    return dataclasses.replace(run, ctx=dataclasses.replace(run.ctx, side_by_side=5))


def test_the_records_and_the_drift_detection_are_asked_side_by_side():
    """Both need only the described stack (its outputs name the zone): neither waits for the other's answer."""
    aws, arrivals = scripted_world({"list_resource_record_sets": "detect_stack_drift"})
    run = side_by_side(aws)
    assert deploy(run) == "deployed"
    assert arrivals.side_by_side() == {"list_resource_record_sets": True}, arrivals.order


@pytest.mark.parametrize("mode", ["deploy", "plan"])
def test_the_look_at_drifts_verdict_is_asked_beside_the_request_that_makes_the_change_set(mode):
    """The detection was started at step 5; its one look does not wait for CreateChangeSet's answer."""
    aws, arrivals = scripted_world({"create_change_set": "describe_stack_drift_detection_status"})
    run = side_by_side(aws)
    if mode == "deploy":
        assert deploy(run) == "deployed"
    else:
        assert modes.plan(run.ctx, modes.Options(plan=True), run.record) == "planned"
    assert arrivals.side_by_side() == {"create_change_set": True}, arrivals.order
    assert arrivals.order.count("describe_stack_drift_detection_status") == 1, "one look, taken as the verdict"


def token_row(run: Run):
    (row,) = [p for p in run.record.parameters if p.name == "PostmarkAccountToken"]
    return row.old, row.new, row.changed


def test_the_deployed_token_secret_is_read_beside_the_wait_for_the_change_set():
    """The review compares the new token with the deployed secret's: read once the change set exists, beside the
    wait for it, not after it (its answer is taken where the review needs it)."""
    aws, arrivals = scripted_world({"describe_change_set": "get_secret_value"})
    run = side_by_side(aws)
    assert deploy(run) == "deployed"
    assert arrivals.side_by_side() == {"describe_change_set": True}, arrivals.order
    assert arrivals.order.index("create_change_set") < arrivals.order.index("get_secret_value"), "never before"
    assert token_row(run) == ("****", "****", False)


def test_a_deployed_token_read_ahead_is_compared_never_shown():
    old = "old-account-token-0f3c9a"
    aws, _ = scripted_world({}, secret={"SecretString": old})
    run = side_by_side(aws)
    assert deploy(run) == "deployed"
    assert token_row(run) == ("****", "**** (changed)", True)
    assert old not in run.text and holds_secret(old), "registered as a secret the moment it was read"


def test_a_deployed_token_that_cannot_be_read_is_said_where_the_review_needs_it_and_only_then():
    def denied(**request):
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetSecretValue")

    aws, _ = scripted_world({}, secret=denied)
    run = side_by_side(aws)
    assert deploy(run) == "deployed"
    warning = f"{STACK}: cannot read the deployed token secret ("
    assert warning in run.text and run.text.index("change set (1 change(s))") < run.text.index(warning)
    assert token_row(run) == ("****", "**** (cannot tell)", False)
    aws, _ = scripted_world({}, secret=denied, changes=())
    run = side_by_side(aws)
    assert deploy(run) == "no-changes"
    assert warning not in run.text, "no review, nothing to say about what it would have compared"


# -- Postmark's domain by the ID an earlier deploy of the stack remembered ----------------------------------


def test_a_deploy_remembers_the_domains_postmark_id_and_the_next_asks_for_it_directly():
    fakes = Fakes(registered=True)
    aws, _ = scripted_world({})
    first = side_by_side(aws, fakes)
    assert deploy(first) == "deployed"
    assert fakes.touched == ["op", "postmark"] and fakes.asked == [1], "found by name: listed, then its details"
    assert fakes.ids == {("dev.ardamails.com", STACK_ID): 1}, "remembered for the stack its change set is on"
    aws, _ = scripted_world({}, changes=())
    again = side_by_side(aws, fakes)
    assert deploy(again) == "no-changes"
    assert fakes.touched == ["op", "postmark", "op"] and fakes.asked == [1, 1], "one round trip: by ID, no listing"


@pytest.mark.parametrize("remembered", [7, 1], ids=["an ID Postmark does not know", "an ID of a stack before"])
def test_a_remembered_id_that_does_not_hold_costs_the_listing_and_nothing_else(remembered):
    """A stale hint: Postmark answers 422 for the ID, or it was remembered for another stack (not even asked)."""
    aws, _ = scripted_world({})
    plain = side_by_side(aws)
    assert deploy(plain) == "deployed"
    fakes = Fakes(registered=True)
    stack_before = STACK_ID.replace("/1", "/0")
    fakes.ids[("dev.ardamails.com", STACK_ID if remembered == 7 else stack_before)] = remembered
    aws, _ = scripted_world({})
    run = side_by_side(aws, fakes)
    assert deploy(run) == "deployed"
    assert fakes.touched == ["op", "postmark"], "found by name, as without a hint"
    assert fakes.asked == ([7, 1] if remembered == 7 else [1])
    assert fakes.ids[("dev.ardamails.com", STACK_ID)] == 1, "the ID Postmark gave the domain, remembered anew"
    noticed = re.compile(r"noticed [\d.]+s after")  # the fake clock's now is not NOW
    assert noticed.sub("", run.text) == noticed.sub("", plain.text), "the operator is told exactly the same"
    assert run.record == plain.record


def test_a_plan_asks_by_a_remembered_id_and_remembers_nothing_itself():
    fakes = Fakes(registered=True)
    aws, _ = scripted_world({})
    run = side_by_side(aws, fakes)
    assert modes.plan(run.ctx, modes.Options(plan=True), run.record) == "planned"
    assert fakes.touched == ["op", "postmark"] and fakes.ids == {}, "only a deploy remembers"
    fakes.ids[("dev.ardamails.com", STACK_ID)] = 1
    aws, _ = scripted_world({})
    run = side_by_side(aws, fakes)
    assert modes.plan(run.ctx, modes.Options(plan=True), run.record) == "planned"
    assert fakes.touched == ["op", "postmark", "op"] and fakes.asked == [1, 1]
