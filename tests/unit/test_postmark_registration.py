"""The Postmark client and the idempotent registration, against the HTTP stand-in."""

from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import TOKEN, free_port
from tools.lib.errors import ArdaMailError
from tools.lib.logger import Secret
from tools.lib.postmark_client import (
    DomainExists,
    ForbiddenCall,
    PostmarkClient,
    PostmarkError,
    RetryPolicy,
    TokenRejected,
    resolve_base_url,
)
from tools.lib.postmark_ids import DomainIds
from tools.lib.registration import Found, lookup_registration, read_domain, register_domain

DOMAIN = "dev.ardamails.com"


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(postmark, sleeps):
    return PostmarkClient(Secret(TOKEN), postmark.url, retry=RetryPolicy(base_delay=0.01), sleep=sleeps.append)


def test_happy_path_creates_the_domain_with_its_return_path(client, postmark):
    registration = register_domain(client, DOMAIN)
    assert registration.created and not registration.return_path_updated
    (post,) = postmark.calls("POST", "/domains")
    assert json.loads(post.body) == {"Name": DOMAIN, "ReturnPathDomain": f"pm-bounces.{DOMAIN}"}
    assert post.headers["Content-Type"] == "application/json"
    assert registration.return_path_domain == f"pm-bounces.{DOMAIN}"
    assert registration.return_path_cname == "pm.mtasv.net"
    (pending,) = registration.dkim_keys
    assert pending.state == "pending" and pending.host == f"{pending.selector}._domainkey.{DOMAIN}"
    assert len(pending.value) > 255
    assert [(r["type"], r["purpose"]) for r in registration.records()] == [
        ("TXT", "DKIM (pending)"),
        ("CNAME", "Return-Path"),
    ]
    # Postmark answers the POST with the new domain's details: nothing is asked again.
    assert [(c.method, c.path) for c in postmark.requests] == [("GET", "/domains"), ("POST", "/domains")]


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (lambda d: {k: v for k, v in d.items() if k != "DKIMPendingHost"}, "without a DKIM field"),
        (lambda d: {k: v for k, v in d.items() if k != "ReturnPathDomain"}, "without the Return-Path"),
        (lambda d: {**d, "Name": "other.ardamails.com"}, "naming another domain"),
        (lambda d: {"ID": d["ID"], "Name": d["Name"]}, "a summary only"),
    ],
)
def test_a_creation_answer_that_is_not_the_domains_details_is_read_again(client, postmark, monkeypatch, answer, why):
    created = client.create_domain
    monkeypatch.setattr(client, "create_domain", lambda *a: answer(created(*a)))
    registration = register_domain(client, DOMAIN)
    assert registration.created
    assert [(c.method, c.path) for c in postmark.requests][-1] == ("GET", f"/domains/{registration.domain_id}"), why
    (pending,) = registration.dkim_keys  # the details Postmark gave on the read
    assert pending.state == "pending" and pending.host.endswith(f"._domainkey.{DOMAIN}")
    assert registration.return_path_domain == f"pm-bounces.{DOMAIN}"


def test_already_registered_is_not_posted_again(client, postmark):
    existing = postmark.add_domain(DOMAIN.upper(), f"pm-bounces.{DOMAIN}", active=True, pending=True)
    registration = register_domain(client, DOMAIN)
    assert not registration.created
    assert registration.domain_id == existing["ID"]
    assert [k.state for k in registration.dkim_keys] == ["active", "pending"]
    assert postmark.calls("POST") == []


def test_found_beyond_the_first_page(client, postmark):
    for i in range(501):
        postmark.add_domain(f"tenant{i}.example.com", pending=False)
    target = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    registration = register_domain(client, DOMAIN)
    assert registration.domain_id == target["ID"] and not registration.created
    pages = [c.query for c in postmark.calls("GET", "/domains")]
    assert pages == ["count=500&offset=0", "count=500&offset=500"]
    assert postmark.calls("POST") == []


def test_absent_after_paging_every_page_is_created(client, postmark):
    for i in range(3):
        postmark.add_domain(f"tenant{i}.example.com")
    assert register_domain(client, DOMAIN).created
    assert len(postmark.calls("GET", "/domains")) == 1


def test_creation_race_512_is_looked_up_again(client, postmark):
    postmark.race_on_create = True
    registration = register_domain(client, DOMAIN)
    assert not registration.created
    assert len(postmark.calls("POST", "/domains")) == 1
    assert len(postmark.calls("GET", "/domains")) == 2


def test_512_that_the_listing_does_not_show_yet_says_rerun_not_another_account(client, postmark):
    # Postmark's 512 is about this account's domains: the listing lags, nobody else owns it.
    postmark.fail("POST", "/domains", [(422, {"ErrorCode": "512", "Message": "This domain already exists."}, {})])
    with pytest.raises(ArdaMailError) as raised:
        register_domain(client, DOMAIN)
    assert "already exists in this Postmark account (ErrorCode 512)" in str(raised.value)
    assert "rerun in a minute" in str(raised.value) and "another" not in str(raised.value)


def test_return_path_mismatch_is_put_right(client, postmark):
    existing = postmark.add_domain(DOMAIN, "bounces.dev.ardamails.com")
    registration = register_domain(client, DOMAIN)
    assert registration.return_path_updated
    (put,) = postmark.calls("PUT", rf"/domains/{existing['ID']}")
    assert json.loads(put.body) == {"ReturnPathDomain": f"pm-bounces.{DOMAIN}"}
    assert postmark.domains[existing["ID"]]["ReturnPathDomain"] == f"pm-bounces.{DOMAIN}"


def test_unpublishable_dkim_host_is_refused(client, postmark):
    existing = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    existing["DKIMPendingHost"] = "x._domainkey.evil.example"
    with pytest.raises(ArdaMailError, match="pending DKIM key for dev.ardamails.com is not publishable"):
        register_domain(client, DOMAIN)


@pytest.mark.parametrize(
    ("selector", "publishable"),
    [
        ("20150316104110.pm", True),  # Postmark's own older selectors: two labels (RFC 6376 §3.1)
        ("2026000001pm", True),
        ("a..b", False),  # an empty label
        ("-x.pm", False),  # a label cannot start with a hyphen
        ("x" * 64, False),  # a label is at most 63 characters
        ("a b", False),
    ],
)
def test_a_selector_is_one_or_more_dns_labels(client, postmark, selector, publishable):
    existing = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    existing["DKIMPendingHost"] = f"{selector}._domainkey.{DOMAIN}"
    if publishable:
        (key,) = register_domain(client, DOMAIN).dkim_keys
        assert key.selector == selector
    else:
        with pytest.raises(ArdaMailError, match="pending DKIM key for dev.ardamails.com is not publishable"):
            register_domain(client, DOMAIN)


def test_5xx_then_success_is_retried(client, postmark, sleeps):
    postmark.fail("GET", "/domains", [(500, {"ErrorCode": 0, "Message": "oops"}, {}), (503, "", {})])
    register_domain(client, DOMAIN)
    assert len(sleeps) == 2


def test_429_honours_retry_after(client, postmark, sleeps):
    postmark.fail("GET", "/domains", [(429, {"ErrorCode": 429, "Message": "slow down"}, {"Retry-After": "7"})])
    register_domain(client, DOMAIN)
    assert sleeps == [7.0]


def test_retry_after_is_capped(client, postmark, sleeps):
    postmark.fail("GET", "/domains", [(429, {}, {"Retry-After": "3600"})])
    register_domain(client, DOMAIN)
    assert sleeps == [60.0]


def test_persistent_500_gives_up_with_code_and_message(client, postmark, sleeps):
    postmark.fail("GET", "/domains", [(500, {"ErrorCode": 0, "Message": "Internal error"}, {})] * 5)
    with pytest.raises(PostmarkError) as info:
        register_domain(client, DOMAIN)
    assert str(info.value) == "Postmark GET /domains failed after 5 attempts: HTTP 500, ErrorCode 0: Internal error"
    assert len(sleeps) == 4
    assert len(postmark.requests) == 5


def test_backoff_grows_exponentially_with_jitter():
    policy = RetryPolicy(base_delay=1, max_delay=8)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (6, 8)]:
        assert all(0 <= policy.delay(attempt) <= ceiling for _ in range(50))


def test_401_is_token_rejected(postmark, sleeps):
    client = PostmarkClient(Secret("wrong-token-123"), postmark.url, sleep=sleeps.append)
    with pytest.raises(TokenRejected, match=r"the account token was rejected \(HTTP 401, ErrorCode 10: "):
        register_domain(client, DOMAIN)
    assert sleeps == []


def test_other_errors_name_code_and_message(client, postmark):
    postmark.fail("GET", r"/domains/\d+", [(422, {"ErrorCode": 510, "Message": "This domain was not found."}, {})])
    postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    with pytest.raises(PostmarkError, match=r"HTTP 422, ErrorCode 510: This domain was not found."):
        register_domain(client, DOMAIN)


def test_domain_exists_error_type(client, postmark):
    postmark.add_domain(DOMAIN)
    with pytest.raises(DomainExists):
        client.create_domain(DOMAIN, f"pm-bounces.{DOMAIN}")


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/servers"), ("GET", "/servers"), ("POST", "/senders"), ("DELETE", "/domains/1"), ("GET", "/email")],
)
@pytest.mark.vcheck("V-CLI-005")
def test_calls_outside_the_allowlist_send_nothing(client, postmark, method, path):
    with pytest.raises(ForbiddenCall, match=f"refusing {method} {path}"):
        client.request(method, path)
    assert postmark.requests == []


def test_connection_refused_is_retried_then_explained(sleeps):
    url = f"http://127.0.0.1:{free_port()}"
    client = PostmarkClient(Secret(TOKEN), url, retry=RetryPolicy(max_attempts=3, base_delay=0), sleep=sleeps.append)
    with pytest.raises(PostmarkError, match=f"Postmark GET /domains could not connect after 3 attempts \\({url}\\)"):
        client.list_domains()
    assert len(sleeps) == 2


def test_timeouts_are_retried(postmark, sleeps, monkeypatch):
    client = PostmarkClient(Secret(TOKEN), postmark.url, retry=RetryPolicy(base_delay=0), sleep=sleeps.append)
    real = requests.Session.request
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(kwargs["timeout"])
        if len(calls) == 1:
            raise requests.ReadTimeout("read timed out")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", flaky)
    assert client.list_domains()["TotalCount"] == 0
    assert calls == [(5.0, 30.0), (5.0, 30.0)] and len(sleeps) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "https://api.postmarkapp.com"),
        ("http://127.0.0.1:8025/", "http://127.0.0.1:8025"),
        ("http://localhost:8025", "http://localhost:8025"),
        ("https://postmark.example.test", "https://postmark.example.test"),
    ],
)
def test_base_url(value, expected):
    assert resolve_base_url({} if value is None else {"POSTMARK_API_URL": value}) == expected


@pytest.mark.parametrize("value", ["http://api.postmarkapp.com", "ftp://127.0.0.1", "127.0.0.1:8025"])
def test_base_url_refuses_plain_http_off_this_machine(value):
    with pytest.raises(ArdaMailError, match="POSTMARK_API_URL must"):
        resolve_base_url({"POSTMARK_API_URL": value})


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1:8025/servers#",  # old code: GET /servers
        "http://127.0.0.1:8025/servers?x=",
        "http://192.0.2.1:80\\@127.0.0.1:9/",  # old code: passed the loopback check, connected to 192.0.2.1
        "https://user:hunter2-secret@api.postmarkapp.com",
        "https://api.postmarkapp.com/v2",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:8025/\x1b[2J",
    ],
)
def test_base_url_is_scheme_host_and_port_only(value):
    with pytest.raises(
        ArdaMailError, match=r"POSTMARK_API_URL must be scheme://host\[:port\] and nothing more"
    ) as info:
        resolve_base_url({"POSTMARK_API_URL": value})
    assert "hunter2" not in str(info.value)


@pytest.mark.vcheck("V-CLI-005")
def test_token_travels_only_in_its_header(client, postmark):
    postmark.add_domain(DOMAIN, "wrong.example.com")
    register_domain(client, DOMAIN)
    assert postmark.requests
    for call in postmark.requests:
        assert call.headers["X-Postmark-Account-Token"] == TOKEN
        assert call.headers["Accept"] == "application/json"
        others = {k: v for k, v in call.headers.items() if k != "X-Postmark-Account-Token"}
        assert TOKEN not in json.dumps(others) + call.path + call.query + call.body


# -- which DKIM keys must be published ---------------------------------------------------

HOST = "{}._domainkey.dev.ardamails.com"
KEY1, KEY2, KEY3 = ("k=rsa;p=" + letter * 216 + "IDAQAB" for letter in "ABC")


@pytest.mark.parametrize(
    ("fields", "published", "removable"),
    [
        ({"DKIMPendingHost": HOST.format("k1"), "DKIMPendingTextValue": KEY1}, [("pending", "k1")], None),
        ({"DKIMHost": HOST.format("k1"), "DKIMTextValue": KEY1}, [("active", "k1")], None),
        (
            {
                "DKIMHost": HOST.format("k2"),
                "DKIMTextValue": KEY2,
                "DKIMRevokedHost": HOST.format("k1"),
                "DKIMRevokedTextValue": KEY1,
                "SafeToRemoveRevokedKeyFromDNS": False,
            },
            [("active", "k2"), ("revoked", "k1")],
            None,
        ),
        (
            {
                "DKIMHost": HOST.format("k2"),
                "DKIMTextValue": KEY2,
                "DKIMRevokedHost": HOST.format("k1"),
                "DKIMRevokedTextValue": KEY1,
                "SafeToRemoveRevokedKeyFromDNS": True,
            },
            [("active", "k2")],
            "k1",
        ),
        (  # Postmark's Node SDK types the flag as a string
            {
                "DKIMHost": HOST.format("k2"),
                "DKIMTextValue": KEY2,
                "DKIMRevokedHost": HOST.format("k1"),
                "DKIMRevokedTextValue": KEY1,
                "SafeToRemoveRevokedKeyFromDNS": "true",
            },
            [("active", "k2")],
            "k1",
        ),
        (  # the same key reported in two fields is published once
            {
                "DKIMHost": HOST.format("k1"),
                "DKIMTextValue": KEY1,
                "DKIMPendingHost": HOST.format("k1"),
                "DKIMPendingTextValue": KEY1,
            },
            [("active", "k1")],
            None,
        ),
    ],
)
def test_the_keys_to_publish_follow_postmarks_fields(fields, published, removable):
    from tools.lib.registration import _from_details

    registration = _from_details("dev.ardamails.com", 1, fields, created=False, updated=False)
    assert [(k.state, k.selector) for k in registration.dkim_keys] == published
    assert (registration.removable_key.selector if registration.removable_key else None) == removable


def test_two_values_at_one_dkim_host_are_refused():
    from tools.lib.registration import _from_details

    fields = {
        "DKIMHost": HOST.format("k1"),
        "DKIMTextValue": KEY1,
        "DKIMPendingHost": HOST.format("k1"),
        "DKIMPendingTextValue": KEY2,
    }
    with pytest.raises(ArdaMailError, match="two different DKIM values at k1._domainkey.dev.ardamails.com"):
        _from_details("dev.ardamails.com", 1, fields, created=False, updated=False)


def test_a_post_whose_answer_timed_out_is_not_sent_again_and_may_have_started(postmark, sleeps, monkeypatch):
    # Old code: retried; Postmark answered 505 (the first one had started) and rotate said "nothing changed".
    from tools.lib.journal import Journal
    from tools.lib.registration import rotate_dkim

    postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}", active=True, pending=False)
    client = PostmarkClient(Secret(TOKEN), postmark.url, retry=RetryPolicy(base_delay=0), sleep=sleeps.append)
    real = requests.Session.request
    posts = []

    def answered_too_late(self, method, url, **kwargs):
        response = real(self, method, url, **kwargs)
        if method == "POST":
            posts.append(url)
            raise requests.ReadTimeout("read timed out")  # Postmark acted; the answer never came
        return response

    monkeypatch.setattr(requests.Session, "request", answered_too_late)
    journal = Journal()
    with pytest.raises(PostmarkError, match=r"timed out after the request was sent .*it may have taken effect") as info:
        rotate_dkim(client, DOMAIN, journal)
    assert len(posts) == 1 and sleeps == []
    assert not info.value.changed_nothing
    assert journal.summary() == f"a DKIM rotation of {DOMAIN} may have started at Postmark (rerunning is safe)"


def test_a_post_that_never_connected_is_retried(sleeps):
    url = f"http://127.0.0.1:{free_port()}"
    client = PostmarkClient(Secret(TOKEN), url, retry=RetryPolicy(max_attempts=2, base_delay=0), sleep=sleeps.append)
    with pytest.raises(PostmarkError, match="could not connect after 2 attempts"):
        client.rotate_dkim(1)
    assert len(sleeps) == 1


# -- within(): a waiting caller's deadline bounds every call, its attempts and their timeouts --------------------


class RecordingSession(requests.Session):
    """A real session that notes each attempt's timeouts."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[tuple[float, float]] = []

    def request(self, *args, **kwargs):
        self.timeouts.append(kwargs["timeout"])
        return super().request(*args, **kwargs)


@pytest.fixture
def timed(postmark):
    """A client on the fake clock, and its session."""
    from tests.clock import FakeClock

    clock, session = FakeClock(), RecordingSession()
    client = PostmarkClient(Secret(TOKEN), postmark.url, session=session, sleep=clock.sleep, clock=clock.monotonic)
    return client, session, clock


def test_within_caps_each_attempts_timeouts_at_the_time_left(timed, postmark):
    client, session, _ = timed
    domain = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    client.get_domain(domain["ID"])
    with client.within(3.0):
        client.get_domain(domain["ID"])
        with client.within(60.0):  # nested: the earlier deadline wins
            client.get_domain(domain["ID"])
    assert session.timeouts == [(5.0, 30.0), (3.0, 3.0), (3.0, 3.0)]


def test_within_no_time_left_sends_nothing(timed, postmark):
    client, session, _ = timed
    domain = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    with client.within(0.0), pytest.raises(PostmarkError) as raised:
        client.verify_dkim(domain["ID"])
    assert str(raised.value) == (
        f"Postmark PUT /domains/{domain['ID']}/verifyDkim was not sent: the wait it belongs to had no time "
        f"left for it ({postmark.url})"
    )
    assert session.timeouts == [] and postmark.requests == []


def test_within_a_retry_is_made_only_when_its_pause_leaves_time_for_it(timed, postmark):
    client, session, clock = timed
    domain = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    busy = (503, {"ErrorCode": 0, "Message": "busy"}, {"Retry-After": "20"})
    postmark.fail("GET", r"/domains/\d+", [busy, busy])
    with client.within(10.0), pytest.raises(PostmarkError, match="HTTP 503, ErrorCode 0: busy"):
        client.get_domain(domain["ID"])
    assert len(session.timeouts) == 1 and clock.slept == [], "a 20 s pause would have ended past the deadline"
    with client.within(100.0):
        assert client.get_domain(domain["ID"])["ID"] == domain["ID"]
    assert clock.slept == [20.0]


# -- a remembered ID: asked for directly, taken only when Postmark names the domain there --------------------


def requested(postmark) -> list[tuple[str, str]]:
    return [(c.method, c.path) for c in postmark.requests]


def test_a_remembered_id_is_asked_for_directly(client, postmark):
    target = postmark.add_domain("Dev.ArdaMails.com", f"pm-bounces.{DOMAIN}", active=True)  # Postmark's own case
    found = read_domain(client, DOMAIN, known_id=target["ID"])
    assert requested(postmark) == [("GET", f"/domains/{target['ID']}")], "one round trip instead of two"
    postmark.requests.clear()
    assert lookup_registration(client, DOMAIN, found) == lookup_registration(client, DOMAIN), "what a listing finds"
    assert requested(postmark) == [("GET", "/domains"), ("GET", f"/domains/{target['ID']}")]


HINTS_THAT_DO_NOT_HOLD = {
    "gone (Postmark: 422, ErrorCode 510)": lambda postmark, target, other: 999_999,
    "another domain of the account": lambda postmark, target, other: other["ID"],
    "answered under another ID": lambda postmark, target, other: (
        postmark.fail("GET", f"/domains/{other['ID']}", [(200, dict(target), {})]),
        other["ID"],
    )[1],
    "a malformed answer": lambda postmark, target, other: (
        postmark.fail("GET", f"/domains/{target['ID']}", [(200, {"ID": "1", "Name": DOMAIN}, {})]),
        target["ID"],
    )[1],
    "the token refused for it (401)": lambda postmark, target, other: (
        postmark.fail("GET", f"/domains/{target['ID']}", [(401, {"ErrorCode": 10, "Message": "Bad token"}, {})]),
        target["ID"],
    )[1],
}


@pytest.mark.parametrize("hint", HINTS_THAT_DO_NOT_HOLD, ids=list(HINTS_THAT_DO_NOT_HOLD))
def test_a_remembered_id_that_does_not_hold_costs_a_round_trip_and_finds_what_the_listing_finds(client, postmark, hint):
    other = postmark.add_domain("stage.ardamails.com", "pm-bounces.stage.ardamails.com")
    target = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    known = HINTS_THAT_DO_NOT_HOLD[hint](postmark, target, other)
    found = read_domain(client, DOMAIN, known_id=known)
    assert requested(postmark) == [
        ("GET", f"/domains/{known}"),
        ("GET", "/domains"),
        ("GET", f"/domains/{target['ID']}"),
    ]
    assert found.summary["ID"] == target["ID"] and found.details["Name"] == DOMAIN
    assert lookup_registration(client, DOMAIN, found) == lookup_registration(client, DOMAIN)


def test_a_remembered_id_of_an_unregistered_domain_finds_it_unregistered(client, postmark):
    other = postmark.add_domain("stage.ardamails.com", "pm-bounces.stage.ardamails.com")
    assert read_domain(client, DOMAIN, known_id=other["ID"]) == Found(None, None)
    registration = register_domain(client, DOMAIN, found=Found(None, None))
    assert registration.created, "registered as without a hint"


def test_a_failure_for_a_remembered_id_says_what_the_listing_would_have_said(postmark, sleeps):
    refused = PostmarkClient(
        Secret("not-the-token"), postmark.url, retry=RetryPolicy(base_delay=0.01), sleep=sleeps.append
    )
    target = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    with pytest.raises(TokenRejected) as plain:
        read_domain(refused, DOMAIN)
    with pytest.raises(TokenRejected) as hinted:
        read_domain(refused, DOMAIN, known_id=target["ID"])
    assert str(hinted.value) == str(plain.value)
    assert str(plain.value).startswith("Postmark GET /domains: the account token was rejected (HTTP 401")


@pytest.mark.parametrize("outage", [503, 429])
def test_postmark_failing_for_a_remembered_id_fails_once_not_again_for_the_listing(client, postmark, sleeps, outage):
    """Each call waits out its retries: asking the listing after them would wait the same outage out twice."""
    target = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    busy = (outage, {"ErrorCode": 0, "Message": "try later"}, {})
    postmark.fail("GET", f"/domains/{target['ID']}", [busy] * RetryPolicy().max_attempts)
    with pytest.raises(PostmarkError, match=f"HTTP {outage}"):
        read_domain(client, DOMAIN, known_id=target["ID"])
    assert {path for _, path in requested(postmark)} == {f"/domains/{target['ID']}"}, "the listing was not asked"
    assert len(sleeps) == RetryPolicy().max_attempts - 1


# -- where the IDs are remembered: this user's cache folder, the ID alone ------------------------------------

API = "https://api.postmarkapp.com"
STACK_ID = "arn:aws:cloudformation:us-east-1:111122223333:stack/Alpha002-dev-Email/0b1c"


@pytest.fixture
def ids(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return DomainIds()


def test_an_entry_nested_past_the_parser_is_no_hint(ids, tmp_path):
    ids.remember(API, DOMAIN, STACK_ID, 1001)
    (entry,) = (tmp_path / "arda-partition-mail" / "postmark-domains").iterdir()
    entry.write_text("[" * 1024)  # within the size limit, deeper than json can go
    assert ids.recall(API, DOMAIN, STACK_ID) is None


def test_an_outage_is_what_a_failure_to_be_answered_is():
    assert PostmarkError("no answer", unreachable=True).outage and PostmarkError("busy", 503).outage
    assert not PostmarkError("gone", 422).outage and not PostmarkError("malformed").outage


def test_an_id_is_remembered_per_api_domain_and_stack(ids, tmp_path):
    assert ids.recall(API, DOMAIN, STACK_ID) is None, "nothing yet"
    ids.remember(API, DOMAIN, STACK_ID, 1001)
    assert ids.recall(API, DOMAIN.upper(), STACK_ID) == 1001
    assert ids.recall(API, "stage.ardamails.com", STACK_ID) is None
    assert ids.recall("http://127.0.0.1:8080", DOMAIN, STACK_ID) is None, "a rehearsal world's Postmark is another"
    assert ids.recall(API, DOMAIN, STACK_ID + "-again") is None, "a stack created again learns it anew"
    folder = tmp_path / "arda-partition-mail" / "postmark-domains"
    (entry,) = folder.iterdir()
    assert folder.stat().st_mode & 0o777 == 0o700 and entry.stat().st_mode & 0o777 == 0o600
    assert json.loads(entry.read_text()) == {"domain": DOMAIN, "id": 1001}, "the ID alone: never the token"
    assert TOKEN not in entry.read_text()
    written = entry.stat().st_mtime_ns, entry.stat().st_ino
    ids.remember(API, DOMAIN, STACK_ID, 1001)
    assert (entry.stat().st_mtime_ns, entry.stat().st_ino) == written, "the same ID is not written again"
    ids.remember(API, DOMAIN, STACK_ID, 1002)
    assert ids.recall(API, DOMAIN, STACK_ID) == 1002


@pytest.mark.parametrize(
    "content", ['{"id": "1001"}', '{"id": true}', '{"id": -1}', '{"id": 9007199254740992}', "[1001]", "1001", "{"]
)
def test_an_entry_that_is_not_a_whole_positive_id_is_no_hint(ids, tmp_path, content):
    ids.remember(API, DOMAIN, STACK_ID, 1001)
    (entry,) = (tmp_path / "arda-partition-mail" / "postmark-domains").iterdir()
    entry.write_text(content)
    assert ids.recall(API, DOMAIN, STACK_ID) is None


def test_a_folder_others_may_write_or_a_planted_link_holds_no_hint(ids, tmp_path):
    ids.remember(API, DOMAIN, STACK_ID, 1001)
    folder = tmp_path / "arda-partition-mail" / "postmark-domains"
    (entry,) = folder.iterdir()
    folder.chmod(0o777)
    assert ids.recall(API, DOMAIN, STACK_ID) is None
    ids.remember(API, DOMAIN, STACK_ID, 1002)
    folder.chmod(0o700)
    assert ids.recall(API, DOMAIN, STACK_ID) == 1001, "nothing written into a folder others may write"
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"id": 1003}')
    entry.unlink()
    entry.symlink_to(elsewhere)
    assert ids.recall(API, DOMAIN, STACK_ID) is None, "a link is not followed"
