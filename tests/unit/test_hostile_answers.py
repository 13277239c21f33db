"""Hostile or broken answers are bounded and said in one line: endless pages, repeated pages, YAML bombs, quotes.

Each of these hung or misled before: Postmark paging the same page with a TotalCount of
a billion, CloudFormation answering empty pages with a new NextToken forever (thousands
of calls a minute, not bounded by --timeout), a YAML alias bomb as the deployed
template, and a failure reason that merely quotes "No updates are to be performed".
"""

from __future__ import annotations

import itertools
import json

import pytest

from tests.clock import FakeClock
from tests.conftest import TOKEN
from tests.fake_aws import aws_over
from tools.lib.aws.cloudformation import Stack
from tools.lib.aws.errors import AwsError
from tools.lib.errors import ArdaMailError
from tools.lib.logger import Secret
from tools.lib.plan.template import parse_template
from tools.lib.postmark_client import PostmarkClient
from tools.lib.registration import find_domain

STACK_ID = "arn:aws:cloudformation:us-east-1:111122223333:stack/Alpha002-dev-Email/1"


class Endless:
    """A CloudFormation that pages forever: empty pages, each with a new (or the same) NextToken."""

    def __init__(self, same_token: bool = False) -> None:
        self.calls = 0
        self.same_token = same_token

    def describe_stack_events(self, **kwargs):
        self.calls += 1
        return {"StackEvents": [], "NextToken": "again" if self.same_token else f"token-{self.calls}"}

    def describe_change_set(self, **kwargs):
        self.calls += 1
        return {"Status": "CREATE_COMPLETE", "Changes": [], "NextToken": f"token-{self.calls}"}


@pytest.mark.parametrize("same_token", [False, True], ids=["new token every page", "the same token again"])
def test_events_that_page_forever_are_one_bounded_error(same_token):
    cfn = Endless(same_token)
    stack = Stack(aws_over(cloudformation=cfn), "Alpha002-dev-Email", clock=FakeClock().clock())
    with pytest.raises(AwsError, match="^Alpha002-dev-Email: cloudformation describe-stack-events .*not AWS's paging"):
        stack.follow(STACK_ID, None)
    assert cfn.calls <= 101, f"{cfn.calls} calls for one poll"


def test_a_change_set_that_pages_forever_is_one_bounded_error():
    cfn = Endless()
    stack = Stack(aws_over(cloudformation=cfn), "Alpha002-dev-Email", clock=FakeClock().clock())
    with pytest.raises(AwsError, match="cloudformation describe-change-set went on past 100 pages; not AWS's paging"):
        stack.wait_for_change_set("arn:cs")
    assert cfn.calls <= 102


class Reason:
    def __init__(self, reason: str) -> None:
        self.reason = reason

    def describe_change_set(self, **kwargs):
        return {"Status": "FAILED", "StatusReason": self.reason}


@pytest.mark.parametrize(
    ("reason", "no_changes"),
    [
        (
            "The submitted information didn't contain changes. Submit different information to create a change set.",
            True,
        ),
        ("No updates are to be performed.", True),
        ("Template error: a resource's Description says 'No updates are to be performed'", False),
        ("Parameter X failed: The submitted information didn't contain changes", False),
    ],
)
def test_only_cloudformations_own_sentences_mean_no_changes(reason, no_changes):
    stack = Stack(aws_over(cloudformation=Reason(reason)), "Alpha002-dev-Email", clock=FakeClock().clock())
    ready = stack.wait_for_change_set("arn:cs")
    assert (ready.status, ready.no_changes) == ("FAILED", no_changes)


def test_a_yaml_alias_bomb_is_refused_before_it_is_built():
    bomb = "a: &a ['x','x','x','x','x','x','x','x','x']\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(12)
    )
    with pytest.raises(ArdaMailError, match="could not be read as a CloudFormation template: YAML aliases"):
        parse_template(bomb, "the deployed template of Alpha002-dev-Email")


def test_postmark_paging_the_same_page_forever_is_one_error(httpserver):
    page = {"TotalCount": 10**9, "Domains": [{"ID": 1, "Name": "other.example"}]}
    httpserver.expect_request("/domains").respond_with_json(page)
    client = PostmarkClient(Secret(TOKEN), httpserver.url_for("").rstrip("/"))
    with pytest.raises(ArdaMailError, match="answered the same page twice"):
        find_domain(client, "dev.ardamails.com")
    assert len(httpserver.log) == 2


def test_postmark_paging_new_pages_forever_stops_at_the_budget(httpserver):
    counter = itertools.count()

    def handler(request):
        from werkzeug.wrappers import Response

        start = next(counter) * 500
        body = {"TotalCount": 10**9, "Domains": [{"ID": start + i, "Name": f"d{start + i}.example"} for i in range(3)]}
        return Response(json.dumps(body), content_type="application/json")

    httpserver.expect_request("/domains").respond_with_handler(handler)
    client = PostmarkClient(Secret(TOKEN), httpserver.url_for("").rstrip("/"))
    with pytest.raises(ArdaMailError, match="went on past 50000 domains"):
        find_domain(client, "dev.ardamails.com")
    assert len(httpserver.log) == 100


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("Parameters: just a string\nResources: {}\n", "its Parameters must be a mapping, got: str"),
        ({"Resources": {"Zone": "a string"}}, "its Resources entry 'Zone' must be a mapping, got: str"),
        ({"Resources": [1, 2]}, "its Resources must be a mapping, got: list"),
        ("- a list\n", "not a template (no mapping at the top)"),
    ],
)
def test_a_template_of_the_wrong_shape_is_one_sentence_never_unexpected(body, said):
    with pytest.raises(ArdaMailError) as raised:
        parse_template(body, "the deployed template of Alpha002-dev-Email")
    assert str(raised.value) == (
        f"the deployed template of Alpha002-dev-Email could not be read as a CloudFormation template: {said}"
    )
