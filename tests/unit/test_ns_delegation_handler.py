"""The NS delegation handler with botocore's Stubber: exact call sequences."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from botocore.stub import ANY, Stubber

from templates import ns_delegation_handler as h

ROLE = "arn:aws:iam::444455556666:role/ArdaMailsNsDelegation"
NS = ["ns-2.awsdns-02.net", "ns-1.awsdns-01.com"]
NS_FQDN = sorted(n + "." for n in NS)
PARENT_ID = "Z0PARENT"
PHYSICAL = "ns-delegation/ardamails.com/dev.ardamails.com"
CREDS = {
    "AccessKeyId": "ASIAEXAMPLEEXAMPLE01",
    "SecretAccessKey": "secret-example",
    "SessionToken": "token-example",
    "Expiration": "2030-01-01T00:00:00Z",
}


def event(request="Create", physical=None, **props):
    base = {
        "ServiceToken": "arn:aws:lambda:us-east-1:111122223333:function:f",
        "AssumeRoleArn": ROLE,
        "ParentZoneName": "ardamails.com",
        "RecordName": "dev.ardamails.com",
        "NameServers": NS,
        "TTL": "172800",
    }
    base.update(props)
    e = {
        "RequestType": request,
        "ResponseURL": "http://127.0.0.1:9/cfn-response",
        "StackId": "arn:aws:cloudformation:us-east-1:111122223333:stack/Alpha002-dev-Email/1",
        "RequestId": "req-1",
        "LogicalResourceId": "NsDelegation",
        "ResourceType": "Custom::NsDelegation",
        "ResourceProperties": base,
    }
    if physical:
        e["PhysicalResourceId"] = physical
    return e


class FakeSession:
    """Hands out the stubbed clients and remembers how they were asked for."""

    def __init__(self):
        self.sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
        self.route53 = boto3.client("route53", aws_access_key_id="a", aws_secret_access_key="b")
        self.cloudformation = boto3.client(
            "cloudformation", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
        )
        self.sts_stub = Stubber(self.sts)
        self.r53_stub = Stubber(self.route53)
        self.cfn_stub = Stubber(self.cloudformation)
        self.requests = []
        self.operations = []
        for client in (self.sts, self.route53, self.cloudformation):
            client.meta.events.register("before-call.*.*", self._record)

    def _record(self, model, **_):
        self.operations.append(model.name)

    def client(self, name, **kwargs):
        self.requests.append((name, kwargs))
        return {"sts": self.sts, "route53": self.route53, "cloudformation": self.cloudformation}[name]

    def __enter__(self):
        for stub in (self.sts_stub, self.r53_stub, self.cfn_stub):
            stub.activate()
        return self

    def __exit__(self, *exc):
        for stub in (self.sts_stub, self.r53_stub, self.cfn_stub):
            stub.deactivate()

    def done(self):
        for stub in (self.sts_stub, self.r53_stub, self.cfn_stub):
            stub.assert_no_pending_responses()
        assert "GetChange" not in self.operations


class Responses:
    """Captures what the handler PUTs to CloudFormation."""

    def __init__(self):
        self.sent = []

    def __call__(self, request, timeout):
        self.sent.append(
            (request.get_method(), request.full_url, dict(request.header_items()), json.loads(request.data))
        )

        class Answer:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def read(self):
                return b""

        return Answer()


@pytest.fixture
def session():
    with FakeSession() as s:
        yield s


@pytest.fixture
def responses(monkeypatch):
    captured = Responses()
    monkeypatch.setattr(h.urllib.request, "urlopen", captured)
    return captured


def expect_assume(session, record="dev.ardamails.com"):
    session.sts_stub.add_response(
        "assume_role",
        {"Credentials": CREDS},
        {"RoleArn": ROLE, "RoleSessionName": f"arda-ns-{record}@req-1"},  # the partition and the request
    )


def expect_zone_lookup(session, zones=None):
    zones = zones if zones is not None else [_zone(PARENT_ID, "ardamails.com.")]
    session.r53_stub.add_response(
        "list_hosted_zones_by_name",
        {"HostedZones": zones, "IsTruncated": False, "MaxItems": "100"},
        {"DNSName": "ardamails.com."},
    )


def _zone(zone_id, name, private=False):
    return {
        "Id": f"/hostedzone/{zone_id}",
        "Name": name,
        "CallerReference": zone_id,
        "Config": {"PrivateZone": private},
    }


def expect_change(session, action, name="dev.ardamails.com.", values=NS_FQDN, ttl=172800):
    session.r53_stub.add_response(
        "change_resource_record_sets",
        {"ChangeInfo": {"Id": "/change/C1", "Status": "PENDING", "SubmittedAt": "2026-01-01T00:00:00Z"}},
        {
            "HostedZoneId": PARENT_ID,
            "ChangeBatch": {
                "Comment": ANY,
                "Changes": [
                    {
                        "Action": action,
                        "ResourceRecordSet": {
                            "Name": name,
                            "Type": "NS",
                            "TTL": ttl,
                            "ResourceRecords": [{"Value": v} for v in values],
                        },
                    }
                ],
            },
        },
    )


def expect_delete(session, record):
    """A DELETE of exactly ``record`` (Route 53 deletes only a record repeated as it stands)."""
    session.r53_stub.add_response(
        "change_resource_record_sets",
        {"ChangeInfo": {"Id": "/change/C2", "Status": "PENDING", "SubmittedAt": "2026-01-01T00:00:00Z"}},
        {
            "HostedZoneId": PARENT_ID,
            "ChangeBatch": {"Comment": ANY, "Changes": [{"Action": "DELETE", "ResourceRecordSet": record}]},
        },
    )


def expect_record_read(session, found, name="dev.ardamails.com."):
    session.r53_stub.add_response(
        "list_resource_record_sets",
        {"ResourceRecordSets": found, "IsTruncated": False, "MaxItems": "1"},
        {"HostedZoneId": PARENT_ID, "StartRecordName": name, "StartRecordType": "NS", "MaxItems": "1"},
    )


def ns_record(name="dev.ardamails.com.", values=NS_FQDN, ttl=172800):
    return {"Name": name, "Type": "NS", "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}


def answered(responses):
    assert len(responses.sent) == 1, "exactly one answer to CloudFormation"
    method, url, headers, body = responses.sent[0]
    assert method == "PUT" and url == "http://127.0.0.1:9/cfn-response"
    assert headers.get("Content-type", "") == ""
    assert body["RequestId"] == "req-1" and body["LogicalResourceId"] == "NsDelegation"
    return body


@pytest.mark.vcheck("V-PART-003", "V-PART-015")
def test_create_upserts_the_ns_record_with_assumed_credentials(session, responses):
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [])
    expect_change(session, "UPSERT")
    h.handler(event("Create"), None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS", body["Reason"]
    assert body["PhysicalResourceId"] == PHYSICAL
    assert body["Data"] == {"ParentZoneId": PARENT_ID, "Result": "upserted"}
    route53_kwargs = dict(session.requests)["route53"]
    assert route53_kwargs["aws_session_token"] == "token-example"
    session.done()


def test_update_in_place_upserts_and_keeps_the_physical_id(session, responses):
    # The record holds what this resource wrote before (OldResourceProperties): it is ours to change.
    new_ns = ["ns-9.awsdns-09.org", "ns-8.awsdns-08.co.uk"]
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record()])
    expect_change(session, "UPSERT", values=sorted(n + "." for n in new_ns))
    update = event("Update", PHYSICAL, NameServers=new_ns)
    update["OldResourceProperties"] = event()["ResourceProperties"]
    h.handler(update, None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == PHYSICAL
    session.done()


def ttl_update() -> dict:
    update = event("Update", PHYSICAL, TTL="3600")
    update["OldResourceProperties"] = event()["ResourceProperties"]
    return update


def expect_stack_status(session, status):
    stack_id = event()["StackId"]
    session.cfn_stub.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "Alpha002-dev-Email",
                    "StackId": stack_id,
                    "StackStatus": status,
                    "CreationTime": "2026-01-01T00:00:00Z",
                }
            ]
        },
        {"StackName": stack_id},
    )


@pytest.mark.vcheck("V-IAC-008")
def test_an_update_in_place_refuses_a_delegation_someone_else_took_over(session, responses):
    # Old code: an Update with the same physical ID (a TTL change) UPSERTed over someone else's record.
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record(values=["ns-1.other.example.", "ns-2.other.example."])])
    expect_stack_status(session, "UPDATE_IN_PROGRESS")
    h.handler(ttl_update(), None, session=session)
    body = answered(responses)
    assert body["Status"] == "FAILED"
    assert "ardamails.com. already delegates dev.ardamails.com. to other name servers" in body["Reason"]
    session.done()  # no change call was stubbed: nothing was overwritten


def test_the_rollback_of_a_refused_update_leaves_the_record_and_succeeds(session, responses):
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record(values=["ns-1.other.example.", "ns-2.other.example."])])
    expect_stack_status(session, "UPDATE_ROLLBACK_IN_PROGRESS")
    rollback = event("Update", PHYSICAL)  # the old properties again
    rollback["OldResourceProperties"] = ttl_update()["ResourceProperties"]
    h.handler(rollback, None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS" and body["Data"]["Result"] == "someone else's, left in place"
    session.done()


def test_a_stack_status_that_cannot_be_read_means_refuse(session, responses):
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record(values=["ns-1.other.example.", "ns-2.other.example."])])
    session.cfn_stub.add_client_error("describe_stacks", "AccessDenied", "not allowed")
    h.handler(ttl_update(), None, session=session)
    assert answered(responses)["Status"] == "FAILED"
    session.done()


def test_an_update_whose_record_was_removed_writes_it_again(session, responses):
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [])
    expect_change(session, "UPSERT", ttl=3600)
    h.handler(ttl_update(), None, session=session)
    assert answered(responses)["Status"] == "SUCCESS"
    session.done()


def test_rename_writes_the_new_record_and_cleanup_removes_the_old(session, responses):
    # Update to a new record name: UPSERT the new one, report a new physical ID ...
    expect_assume(session, "mail-dev.ardamails.com")
    expect_zone_lookup(session)
    expect_record_read(session, [], name="mail-dev.ardamails.com.")
    expect_change(session, "UPSERT", name="mail-dev.ardamails.com.")
    h.handler(event("Update", PHYSICAL, RecordName="mail-dev.ardamails.com"), None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS"
    assert body["PhysicalResourceId"] == "ns-delegation/ardamails.com/mail-dev.ardamails.com"
    # ... so CloudFormation's cleanup sends Delete with the old properties and ID.
    responses.sent.clear()
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record()])
    expect_delete(session, ns_record())
    h.handler(event("Delete", PHYSICAL), None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS" and body["Data"]["Result"] == "deleted"
    session.done()


def test_delete_repeats_the_record_exactly_as_it_stands(session, responses):
    current = ns_record(ttl=300)  # someone lowered the TTL by hand: DELETE must match it
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [current])
    expect_delete(session, current)
    h.handler(event("Delete", PHYSICAL), None, session=session)
    assert answered(responses)["Status"] == "SUCCESS"
    session.done()


@pytest.mark.vcheck("V-IAC-008")
def test_delete_of_a_record_already_gone_succeeds(session, responses):
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record(name="eu.ardamails.com.")])  # the next name, not ours
    h.handler(event("Delete", PHYSICAL), None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS" and body["Data"]["Result"] == "already gone"
    session.done()


@pytest.mark.vcheck("V-IAC-008")
def test_delete_leaves_a_record_that_now_points_elsewhere(session, responses):
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record(values=["ns-7.other.example."])])
    h.handler(event("Delete", PHYSICAL), None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS" and body["Data"]["Result"] == "changed by someone else, left in place"
    assert "ChangeResourceRecordSets" not in session.operations
    session.done()


def test_delete_racing_another_delete_succeeds(session, responses):
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record()])
    session.r53_stub.add_client_error(
        "change_resource_record_sets",
        service_error_code="InvalidChangeBatch",
        service_message="Tried to delete resource record set [name='dev.ardamails.com.', type='NS'] "
        "but it was not found",
    )
    h.handler(event("Delete", PHYSICAL), None, session=session)
    assert answered(responses)["Data"]["Result"] == "already gone"
    session.done()


def test_rollback_delete_after_a_failed_create_touches_nothing(session, responses):
    h.handler(event("Delete", "ns-delegation-failed/req-0"), None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "ns-delegation-failed/req-0"
    assert session.operations == []


def test_access_denied_is_retried_while_iam_propagates(session, responses):
    for _ in range(2):
        session.sts_stub.add_client_error("assume_role", service_error_code="AccessDenied", service_message="not yet")
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [])
    expect_change(session, "UPSERT")
    sleeps = []
    h.handler(event("Create"), None, session=session, sleep=sleeps.append)
    assert answered(responses)["Status"] == "SUCCESS"
    assert len(sleeps) == 2 and 2 <= sleeps[0] < 3 and 4 <= sleeps[1] < 5
    session.done()


def test_access_denied_past_the_deadline_fails_with_a_reason(session, responses):
    clock = iter([0.0, 0.0, 200.0])
    session.sts_stub.add_client_error("assume_role", service_error_code="AccessDenied", service_message="nope")
    session.sts_stub.add_client_error("assume_role", service_error_code="AccessDenied", service_message="nope")
    with pytest.raises(h.DelegationError, match=f"could not assume {ROLE} \\(AccessDenied\\): nope"):
        h.handle(event("Create"), session, remaining_seconds=180, sleep=lambda s: None, clock=lambda: next(clock))


def test_other_assume_role_errors_are_not_retried(session, responses):
    session.sts_stub.add_client_error(
        "assume_role", service_error_code="RegionDisabledException", service_message="off"
    )
    h.handler(event("Create"), None, session=session, sleep=lambda s: pytest.fail("must not retry"))
    body = answered(responses)
    assert body["Status"] == "FAILED"
    assert "RegionDisabledException" in body["Reason"]
    assert body["PhysicalResourceId"] == "ns-delegation-failed/req-1"


@pytest.mark.parametrize(
    ("zones", "reason"),
    [
        ([], "no public hosted zone named ardamails.com. is visible to the PlatformRoot role"),
        ([_zone("ZPRIV", "ardamails.com.", private=True)], "no public hosted zone named ardamails.com."),
        ([_zone("ZOTHER", "ardamails.com.cn.")], "no public hosted zone named ardamails.com."),
        (
            [_zone("ZA", "ardamails.com."), _zone("ZB", "ardamails.com.")],
            "2 public hosted zones are named ardamails.com. (ZA, ZB)",
        ),
    ],
)
def test_parent_zone_missing_or_ambiguous_fails_the_request(session, responses, zones, reason):
    expect_assume(session)
    expect_zone_lookup(session, zones)
    h.handler(event("Create"), None, session=session)
    body = answered(responses)
    assert body["Status"] == "FAILED"
    assert reason in body["Reason"]
    session.done()


def test_private_zone_of_the_same_name_is_skipped(session, responses):
    expect_assume(session)
    expect_zone_lookup(session, [_zone("ZPRIV", "ardamails.com.", private=True), _zone(PARENT_ID, "ardamails.com.")])
    expect_record_read(session, [])
    expect_change(session, "UPSERT")
    h.handler(event("Create"), None, session=session)
    assert answered(responses)["Status"] == "SUCCESS"
    session.done()


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        ({"RecordName": "ardamails.com"}, "RecordName 'ardamails.com' is not a name below ParentZoneName"),
        ({"RecordName": "dev.example.com"}, "is not a name below ParentZoneName"),
        ({"NameServers": ""}, "missing resource properties: NameServers"),
        ({"TTL": "two days"}, "TTL must be a whole number, got 'two days'"),
    ],
)
@pytest.mark.vcheck("V-IAC-008")
def test_bad_properties_fail_before_any_aws_call(session, responses, props, reason):
    h.handler(event("Create", **props), None, session=session)
    body = answered(responses)
    assert body["Status"] == "FAILED" and reason in body["Reason"]
    assert session.operations == []


@pytest.mark.vcheck("V-IAC-008")
def test_unexpected_errors_are_still_answered(session, responses):
    expect_assume(session)
    session.r53_stub.add_client_error(
        "list_hosted_zones_by_name", service_error_code="Throttling", http_status_code=400
    )
    h.handler(event("Update", PHYSICAL), None, session=session)
    body = answered(responses)
    assert body["Status"] == "FAILED" and "Throttling" in body["Reason"]
    # A failed update keeps the old physical ID, so no cleanup Delete follows.
    assert body["PhysicalResourceId"] == PHYSICAL


@pytest.mark.vcheck("V-IAC-008")
def test_a_malformed_event_is_still_answered(responses):
    broken = event("Create")
    del broken["ResourceProperties"]["AssumeRoleArn"]
    broken["RequestType"] = "Create"
    h.handler(broken, None, session=object())
    assert answered(responses)["Status"] == "FAILED"


def test_reason_is_kept_short(session, responses):
    h.handler(event("Create", RecordName="x" * 5000 + ".example.com"), None, session=session)
    assert len(answered(responses)["Reason"]) <= h.MAX_REASON_LENGTH


# -- hostile parents, events and clocks -------------------------------------------------------


@pytest.mark.vcheck("V-IAC-008")
def test_create_refuses_a_delegation_that_belongs_to_someone_else(session, responses):
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record(values=["ns-1.other.example.", "ns-2.other.example."])])
    h.handler(event("Create"), None, session=session)
    body = answered(responses)
    assert body["Status"] == "FAILED"
    assert "ardamails.com. already delegates dev.ardamails.com. to other name servers" in body["Reason"]
    assert "ns-1.other.example." in body["Reason"]
    session.done()  # no change call was stubbed: nothing was overwritten


def test_create_over_its_own_delegation_succeeds(session, responses):
    # A retried Create (or one after a rollback that kept the record) finds its own name servers.
    expect_assume(session)
    expect_zone_lookup(session)
    expect_record_read(session, [ns_record()])
    expect_change(session, "UPSERT")
    h.handler(event("Create"), None, session=session)
    assert answered(responses)["Status"] == "SUCCESS"
    session.done()


@pytest.mark.parametrize("missing", ["StackId", "RequestId", "LogicalResourceId"])
def test_an_event_without_its_ids_is_still_answered(responses, missing):
    broken = event("Create")
    del broken[missing]
    h.handler(broken, None, session=object())
    assert len(responses.sent) == 1
    assert responses.sent[0][3]["Status"] == "FAILED"


def test_an_event_without_a_response_url_is_logged_not_raised(responses, caplog):
    broken = event("Create")
    del broken["ResponseURL"]
    h.handler(broken, None, session=object())
    assert responses.sent == [] and "no ResponseURL in the event" in caplog.text


@pytest.mark.parametrize("reason", ["é" * 3000, "字" * 2000, "x" * 9000, '"\\' * 1500])
def test_the_answer_fits_cloudformations_4096_bytes(reason):
    body = h.response_body(event("Create"), "FAILED", reason, "p" * 3000, {"Result": "r" * 3000})
    assert len(body) <= h.MAX_RESPONSE_BYTES
    decoded = json.loads(body)
    assert decoded["Status"] == "FAILED" and decoded["Data"] == {}
    assert reason.startswith(decoded["Reason"].removesuffix("...")) and len(decoded["Reason"]) > 100


class RecordingSession:
    """A session that records how clients are asked for, then refuses to go further."""

    def __init__(self):
        self.requests = []

    def client(self, name, **kwargs):
        self.requests.append((name, kwargs))
        raise h.DelegationError("stop here")


@pytest.mark.parametrize(
    ("role", "region"),
    [
        (ROLE, "us-east-1"),
        ("arn:aws-cn:iam::444455556666:role/ArdaMailsNsDelegation", "cn-northwest-1"),
        ("arn:aws-us-gov:iam::444455556666:role/ArdaMailsNsDelegation", "us-gov-west-1"),
    ],
)
def test_sts_is_called_in_route53s_signing_region(responses, role, region):
    session = RecordingSession()
    h.handler(event("Create", AssumeRoleArn=role), None, session=session)
    ((name, kwargs),) = session.requests
    assert name == "sts" and kwargs["region_name"] == region


class Context:
    def __init__(self, seconds):
        self.seconds = seconds
        self.log_stream_name = "stream"

    def get_remaining_time_in_millis(self):
        return int(self.seconds * 1000)


def test_no_aws_call_starts_without_time_to_answer(session, responses):
    h.handler(event("Create"), Context(h.RESPONSE_RESERVE_SECONDS + 0.5), session=session)
    body = answered(responses)
    assert body["Status"] == "FAILED" and "out of time before AssumeRole" in body["Reason"]
    assert session.requests == []
    session.done()


def test_route53_timeouts_fit_the_time_left():
    tight = h.boto_config(6.0)
    assert tight.read_timeout == 2.0 and tight.retries["max_attempts"] == 3
    assert h.boto_config(600.0).read_timeout == 20.0


@pytest.mark.parametrize(
    ("record", "request_id", "expected"),
    [
        ("dev.ardamails.com.", "req-1", "arda-ns-dev.ardamails.com@req-1"),
        (
            "stage.ardamails.com",
            "5f1b2c3d-aaaa-bbbb-cccc-0123456789ab",
            "arda-ns-stage.ardamails.com@5f1b2c3d-aaaa-bbbb-c",
        ),
        ("x" * 80 + ".example.com", "r" * 80, "arda-ns-" + "x" * 36 + "@" + "r" * 19),
        ("we ird/name.example.com", None, "arda-ns-we-ird-name.example.com@no-request-id"),
    ],
)
def test_the_session_name_says_which_partition_and_which_request(record, request_id, expected):
    # Old code: one constant name, so PlatformRoot's CloudTrail could not tell partitions or runs apart.
    name = h.session_name({"record": record}, {"RequestId": request_id})
    assert name == expected and 2 <= len(name) <= 64
    assert re.fullmatch(r"[\w+=,.@-]+", name)


# -- under CDK's grant set: no route53:ListResourceRecordSets for the PlatformRoot role ----------


def deny_record_read(session, name="dev.ardamails.com."):
    session.r53_stub.add_client_error(
        "list_resource_record_sets",
        "AccessDenied",
        "User is not authorized to perform: route53:ListResourceRecordSets",
        expected_params={"HostedZoneId": PARENT_ID, "StartRecordName": name, "StartRecordType": "NS", "MaxItems": "1"},
    )


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_without_list_permission_the_record_is_written_and_the_unchecked_ownership_said(
    session, responses, caplog, request_type
):
    # Old code: AccessDenied, so the Create failed (ROLLBACK_COMPLETE) under CDK's delegation role.
    expect_assume(session)
    expect_zone_lookup(session)
    deny_record_read(session)
    expect_change(session, "UPSERT")
    h.handler(event(request_type, PHYSICAL if request_type == "Update" else None), None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS", body.get("Reason")
    assert body["Data"]["Result"] == "upserted (ownership not checked: no ListResourceRecordSets)"
    assert "whether someone else delegates this name was NOT checked" in caplog.text
    session.done()


def test_without_list_permission_delete_removes_exactly_what_it_wrote(session, responses):
    # Old code: AccessDenied, so the Delete failed (DELETE_FAILED) under CDK's delegation role.
    expect_assume(session)
    expect_zone_lookup(session)
    deny_record_read(session)
    expect_delete(session, ns_record())
    h.handler(event("Delete", PHYSICAL), None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS" and body["Data"]["Result"] == "deleted"
    session.done()


def test_without_list_permission_someone_elses_record_survives_the_delete(session, responses):
    expect_assume(session)
    expect_zone_lookup(session)
    deny_record_read(session)
    session.r53_stub.add_client_error(
        "change_resource_record_sets",
        "InvalidChangeBatch",
        "Tried to delete resource record set [name='dev.ardamails.com.', type='NS'] but the values provided do not "
        "match the current values",
    )
    h.handler(event("Delete", PHYSICAL), None, session=session)
    body = answered(responses)
    assert body["Status"] == "SUCCESS"
    assert body["Data"]["Result"] == "not as written (gone, or changed by someone else), left in place"
    session.done()
