"""The AWS layer (tools/lib/aws/): how each operation pages is AWS's data; pages are bounded; one client per
service and region; every failure is one sentence naming the operation as the AWS CLI spells it."""

from __future__ import annotations

import pytest
from botocore.hooks import HierarchicalEmitter
from botocore.stub import Stubber

from tests.fake_aws import aws_over, real_client, stubbable
from tools.lib.aws.clients import Aws
from tools.lib.aws.errors import AwsError
from tools.lib.aws.pages import Paging, PagingError, bounded_pages, paging_of


def test_how_an_operation_pages_is_read_from_aws_models():
    route53 = paging_of(real_client("route53"), "list_resource_record_sets")
    assert route53 == Paging(
        ("StartRecordName", "StartRecordType", "StartRecordIdentifier"),
        ("NextRecordName", "NextRecordType", "NextRecordIdentifier"),
        "IsTruncated",
    )
    assert paging_of(real_client("cloudformation"), "list_exports") == Paging(("NextToken",), ("NextToken",))
    assert paging_of(real_client("iam"), "simulate_principal_policy") == Paging(("Marker",), ("Marker",), "IsTruncated")
    # No paginator entry, but the operation takes and answers a NextToken (botocore ships none for it).
    assert paging_of(real_client("cloudformation"), "describe_stack_resource_drifts").inputs == ("NextToken",)


@pytest.mark.parametrize("operation", ["describe_stacks_typo", "get_hosted_zone"])
def test_an_operation_that_does_not_page_is_a_programming_error(operation):
    with pytest.raises(ValueError, match="does not page|has no operation"):
        paging_of(real_client("route53" if operation == "get_hosted_zone" else "cloudformation"), operation)


def record_pages(*pages):
    """A Route 53 that answers ``pages`` in turn and records each request."""
    asked = []

    def fetch(**request):
        asked.append(request)
        return pages[len(asked) - 1]

    return fetch, asked


def test_route53_pages_follow_all_three_tokens_and_stop_when_not_truncated():
    paging = paging_of(real_client("route53"), "list_resource_record_sets")
    fetch, asked = record_pages(
        {"ResourceRecordSets": [1], "IsTruncated": True, "NextRecordName": "b.", "NextRecordType": "TXT"},
        # Not truncated: the next-record fields that may come along are not followed.
        {"ResourceRecordSets": [2], "IsTruncated": False, "NextRecordName": "c.", "NextRecordType": "A"},
    )
    pages = list(bounded_pages(fetch, paging, {"HostedZoneId": "Z1"}))
    assert [p["ResourceRecordSets"] for p in pages] == [[1], [2]]
    assert asked == [
        {"HostedZoneId": "Z1"},
        {"HostedZoneId": "Z1", "StartRecordName": "b.", "StartRecordType": "TXT"},
    ]


def test_a_token_answered_twice_or_pages_without_end_stop_with_a_reason():
    paging = Paging(("NextToken",), ("NextToken",))
    fetch, asked = record_pages(*[{"NextToken": "t1"}, {"NextToken": "t2"}, {"NextToken": "t1"}])
    with pytest.raises(PagingError, match="answered the same page token twice"):
        list(bounded_pages(fetch, paging, {}))
    assert len(asked) == 3

    def endless(**request):
        endless.calls += 1
        return {"NextToken": f"t{endless.calls}"}

    endless.calls = 0
    with pytest.raises(PagingError, match="went on past 5 pages"):
        list(bounded_pages(endless, paging, {}, max_pages=5))
    assert endless.calls == 5


def test_every_failure_is_one_sentence_naming_the_operation_and_the_stack():
    clients = stubbable("route53", "cloudformation")
    aws = aws_over("Alpha002-dev-Email", **clients)
    with Stubber(clients["route53"]) as stub:
        stub.add_client_error("get_hosted_zone", service_error_code="NoSuchHostedZone", service_message="gone")
        with pytest.raises(AwsError) as info:
            aws.call("route53", "get_hosted_zone", Id="Z1")
    assert str(info.value) == "Alpha002-dev-Email: route53 get-hosted-zone failed (NoSuchHostedZone: gone)"
    assert info.value.code == "NoSuchHostedZone" and info.value.operation == "GetHostedZone"
    assert info.value.says("NoSuchHostedZone", "gone") and not info.value.says("NoSuchHostedZone", "other")


def test_a_paging_failure_is_an_aws_error_too():
    clients = stubbable("cloudformation")
    aws = aws_over("Alpha002-dev-Email", **clients)
    with Stubber(clients["cloudformation"]) as stub:
        for _ in range(2):
            stub.add_response("list_exports", {"Exports": [], "NextToken": "same"})
        with pytest.raises(AwsError, match="^Alpha002-dev-Email: cloudformation list-exports answered the same"):
            aws.items("cloudformation", "list_exports", "Exports")


def test_items_walk_every_page():
    clients = stubbable("secretsmanager")
    aws = aws_over("Alpha002-dev-Email", **clients)
    with Stubber(clients["secretsmanager"]) as stub:
        stub.add_response("list_secrets", {"SecretList": [{"Name": "a"}], "NextToken": "t"}, {})
        stub.add_response("list_secrets", {"SecretList": [{"Name": "b"}]}, {"NextToken": "t"})
        assert [s["Name"] for s in aws.items("secretsmanager", "list_secrets", "SecretList")] == ["a", "b"]


class Session:
    """Counts the clients made, by service and region."""

    def __init__(self) -> None:
        self.events = HierarchicalEmitter()
        self.made = []

    def client(self, service, **kwargs):
        self.made.append((service, kwargs.get("region_name")))
        return real_client(service)


def test_one_client_per_service_and_region_and_global_services_take_none():
    session = Session()
    aws = Aws(session, "us-east-1", "Alpha002-dev-Email")
    for _ in range(2):
        aws.client_for("cloudformation")
        aws.client_for("cloudformation", "eu-west-1")
        aws.client_for("route53", "eu-west-1")
    assert session.made == [("cloudformation", "us-east-1"), ("cloudformation", "eu-west-1"), ("route53", None)]
    assert Aws.action("cloudformation", "describe_stacks", "eu-west-1") == "cloudformation describe-stacks (eu-west-1)"
