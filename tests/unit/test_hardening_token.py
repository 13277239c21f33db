"""Hostile input and faults around the Postmark token: it never leaks, whole or in part.

Each class of the hardening review, table-driven where it can be. The CLI runs call
register's main() in this process through the CLI frame (real argv, exit code,
stdout and stderr); timing-based faults (a reply that trickles in) run the client
on a clock that only moves when it looks. Every check
searches what the program printed for the token in every encoded form (raw, repr,
JSON, URL, workflow-command) and, where a cut could leave a piece, for any 8
characters of it.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
from werkzeug.wrappers import Response

from tests.conftest import TOKEN, assert_token_nowhere
from tools import register_partition_mail_signature
from tools.lib import logger
from tools.lib.logger import RedactionFilter, Secret, encoded_forms, escape_workflow_value
from tools.lib.postmark_client import PostmarkClient, PostmarkError, RetryPolicy

DOMAIN = "dev.ardamails.com"


@pytest.fixture
def register(run_in):
    """``register(env, *args)``: register's main() for Alpha002 dev with ``env`` as its environment."""
    return lambda env, *args: run_in(env, register_partition_mail_signature.main, "Alpha002", "dev", *args)


def one_error_line(result, prog: str = "register", debug: bool = False) -> str:
    """The run failed with exactly one error line, and a traceback only with --debug; that line."""
    assert debug or "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith(f"{prog}: error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


# -- the resolved token's shape ------------------------------------------------------------

BAD_TOKENS = [
    ("line break", "pm-acct-1234\r\nX-Injected: yes"),
    ("newline inside", "pm-acct-1234\nsecond-line-5678"),
    ("space", "pm-acct-1234 5678-abcd"),
    ("tab", "pm-acct-1234\t5678-abcd"),
    ("control", "pm-acct-1234\x1b[2J5678"),
    ("non-ascii", "pm-acct-1234é5678-abcd"),
]


@pytest.mark.parametrize(("what", "token"), BAD_TOKENS, ids=[b[0] for b in BAD_TOKENS])
@pytest.mark.parametrize("actions", [False, True], ids=["terminal", "github-actions"])
def test_a_badly_shaped_token_is_refused_and_never_shown(cli_env, postmark, what, token, actions, register):
    env = dict(cli_env, OP_STANDIN_SECRET=token, **({"GITHUB_ACTIONS": "true"} if actions else {}))
    result = register(env, "--debug")
    assert result.returncode == 1
    line = one_error_line(result, debug=True)
    assert "returned a value with spaces, line breaks, control or non-ASCII characters" in line
    assert postmark.requests == [], "nothing is sent with a malformed token"
    for piece in {token, *token.split()}:
        assert_token_nowhere(result.stdout, result.stderr, token=piece)
    assert "::add-mask::" not in result.stdout


def test_masks_escape_percent_cr_and_lf_as_github_documents():
    assert escape_workflow_value("a%b\rc\nd") == "a%25b%0Dc%0Ad"


def test_every_encoded_form_is_redacted():
    redactor = RedactionFilter()
    token = "pm\\acct\"quote'tab%2F/é"
    redactor.add(token)
    for form in encoded_forms(token):
        assert redactor.redact(f"x{form}y") == "x***y", form
    assert redactor.redact(repr({"PostmarkAccountToken": token})) == "{'PostmarkAccountToken': '***'}"
    assert redactor.redact(json.dumps({"t": token})) == '{"t": "***"}'


def test_op_that_fails_with_the_secret_on_stderr_never_shows_it(cli_env, postmark, register):
    env = dict(cli_env, OP_STANDIN_EXIT="1", OP_STANDIN_STDERR=f"[ERROR] could not read {TOKEN} for you")
    result = register(env)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "op read op://Arda-Platform/PostmarkNonProd/credential failed (exit 1): [ERROR] could not read ***" in line
    assert_token_nowhere(result.stdout, result.stderr, fragment=8)


# -- Postmark answering in hostile ways ------------------------------------------------------


def respond(status: int, body: str = "", headers: dict | None = None, reason: str | None = None):
    def handler(request):
        response = Response(body, status=status, headers=headers or {}, content_type="application/json")
        if reason is not None:
            response.status = f"{status} {reason}"
        return response

    return handler


HOSTILE_REPLIES = [
    (
        "redirect to /servers",
        respond(302, "", {"Location": "/servers"}),
        "answered HTTP 302, a redirect; the Postmark API never redirects, so it was not followed",
    ),
    (
        "redirect to another host over http",
        respond(307, "", {"Location": "http://collector.example/steal"}),
        "answered HTTP 307, a redirect to collector.example; the Postmark API never redirects, so it was not followed",
    ),
    (
        "token echoed across the 200-character cut",
        respond(422, "x" * 190 + TOKEN + "y" * 50),
        "failed: HTTP 422, ErrorCode None: " + "x" * 190 + "***",
    ),
    (
        "token in the reason phrase",
        respond(418, "", reason=f"I am {TOKEN}"),
        "failed: HTTP 418, ErrorCode None: I am ***",
    ),
    (
        "token in a long JSON message",
        respond(422, json.dumps({"ErrorCode": 300, "Message": "z" * 180 + TOKEN + "z" * 100})),
        "ErrorCode 300: " + "z" * 180 + "***",
    ),
    (
        "TotalCount is not a number",
        respond(200, json.dumps({"TotalCount": "lots", "Domains": []})),
        "answered a malformed reply: TotalCount must be a whole number from 0 to 9007199254740991, got: 'lots'",
    ),
    (
        "a domain without an ID",
        respond(200, json.dumps({"TotalCount": 1, "Domains": [{"Name": DOMAIN}]})),
        "answered a malformed reply: ID must be a whole number from 0 to 9007199254740991, got: None",
    ),
    (
        "Domains is not a list",
        respond(200, json.dumps({"TotalCount": 1, "Domains": {"Name": DOMAIN}})),
        "answered a malformed reply: Domains must be a list of objects",
    ),
    (
        "an HTML page from a proxy",
        respond(200, "<html>503 Service Unavailable</html>"),
        "answered HTTP 200 without a JSON object",
    ),
]


@pytest.mark.parametrize(("what", "handler", "message"), HOSTILE_REPLIES, ids=[h[0] for h in HOSTILE_REPLIES])
def test_hostile_replies_are_one_redacted_line(cli_env, postmark, httpserver, what, handler, message, register):
    httpserver.clear()
    httpserver.expect_request("/domains").respond_with_handler(handler)
    httpserver.expect_request("/servers").respond_with_data("should never be called", status=200)
    result = register(cli_env, "--debug")
    assert result.returncode == 1
    line = one_error_line(result, debug=True)
    assert message in line, line
    assert not [entry for entry, _ in httpserver.log if entry.path == "/servers"], "a redirect was followed"
    assert_token_nowhere(result.stdout, result.stderr, fragment=8)


def test_malformed_domain_details_are_one_line(cli_env, postmark, register):
    domain = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    postmark.fail("GET", r"/domains/\d+", [(200, {**domain, "ID": str(domain["ID"])}, {})])
    result = register(cli_env)
    assert result.returncode == 1
    assert "answered a malformed reply: ID must be a whole number from 0 to 9007199254740991, got: '1001'" in (
        one_error_line(result)
    )
    postmark.fail("GET", r"/domains/\d+", [(200, {**domain, "DKIMPendingTextValue": 42}, {})])
    again = register(cli_env)
    assert "DKIMPendingTextValue must be a string, got: 42" in one_error_line(again)


MALFORMED = "answered a malformed reply"
WHOLE = "must be a whole number from 0 to 9007199254740991, got:"
LISTING = "register: error: Alpha002-dev-Email: Postmark GET /domains"
IS_IT_POSTMARK = "; is POSTMARK_API_URL really Postmark's API?"
# (status, the body as sent, the one line the run ends with). JSON's NaN and Infinity are what Python's
# encoder writes for float('nan') and float('inf'), and what json.loads reads back: a stand-in can send them.
HOSTILE_VALUES = [
    *(
        (422, f'{{"ErrorCode": {raw}, "Message": "m"}}', f"{LISTING} answered HTTP 422 with a malformed error reply: "
         f"ErrorCode {WHOLE} {shown} (Message: m){IS_IT_POSTMARK}")
        for raw, shown in [
            ("Infinity", "inf"),
            ("-Infinity", "-inf"),
            ("NaN", "nan"),
            ("1e400", "inf"),
            ("1" + "0" * 30, "1" + "0" * 30),
            ("9007199254740992", "9007199254740992"),
            ("-1", "-1"),
            ("1.5", "1.5"),
            ("true", "True"),
            ('"five"', "'five'"),
            ("[512]", "[512]"),
        ]
    ),
    (500, '{"ErrorCode": 0, "Message": {"nested": true}}', f"{LISTING} answered HTTP 500 after 5 attempts with a "
     f"malformed error reply: Message must be a string, got: {{'nested': True}}{IS_IT_POSTMARK}"),
    (200, '{"TotalCount": Infinity, "Domains": []}', f"{LISTING} {MALFORMED}: TotalCount {WHOLE} inf{IS_IT_POSTMARK}"),
    (200, '{"TotalCount": 1e400, "Domains": []}', f"{LISTING} {MALFORMED}: TotalCount {WHOLE} inf{IS_IT_POSTMARK}"),
    (200, '{"TotalCount": 9007199254740992, "Domains": []}',
     f"{LISTING} {MALFORMED}: TotalCount {WHOLE} 9007199254740992{IS_IT_POSTMARK}"),
    (200, '{"TotalCount": 1, "Domains": [{"ID": NaN, "Name": "x"}]}',
     f"{LISTING} {MALFORMED}: ID {WHOLE} nan{IS_IT_POSTMARK}"),
    (200, '{"TotalCount": 1, "Domains": [{"ID": 1, "Name": -Infinity}]}',
     f"{LISTING} {MALFORMED}: Name must be a string, got: -inf{IS_IT_POSTMARK}"),
    (200, "[" * 100_000 + "]" * 100_000, f"{LISTING} answered HTTP 200 without a JSON object"),
    (200, '{"a":' * 50_000 + "1" + "}" * 50_000, f"{LISTING} answered HTTP 200 without a JSON object"),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "line"), HOSTILE_VALUES, ids=[h[1][:40] for h in HOSTILE_VALUES])
def test_a_hostile_value_is_one_line_naming_it_never_unexpected(cli_env, postmark, register, status, body, line):
    # Old code: ErrorCode Infinity was "unexpected OverflowError", an array nested 100,000 deep "unexpected
    # RecursionError", 1.5 read as ErrorCode 1, and 10**30 passed as an ID.
    postmark.fail("GET", "/domains", [(status, body, {"Retry-After": "0"})] * 5)
    result = register(cli_env)
    assert result.returncode == 1
    assert one_error_line(result) == line
    assert result.stderr.splitlines()[-1] == line


HOSTILE_DETAILS = [
    ("DKIMVerified", "false", "DKIMVerified must be true or false, got: 'false'"),
    ("DKIMVerified", 1, "DKIMVerified must be true or false, got: 1"),
    ("ReturnPathDomainVerified", float("nan"), "ReturnPathDomainVerified must be true or false, got: nan"),
    ("SafeToRemoveRevokedKeyFromDNS", "maybe", "SafeToRemoveRevokedKeyFromDNS must be true or false, got: 'maybe'"),
    ("SafeToRemoveRevokedKeyFromDNS", [], "SafeToRemoveRevokedKeyFromDNS must be true or false, got: []"),
    ("ID", 2**53, "ID must be a whole number from 0 to 9007199254740991, got: 9007199254740992"),
    ("ID", float("inf"), "ID must be a whole number from 0 to 9007199254740991, got: inf"),
    ("DKIMPendingHost", float("nan"), "DKIMPendingHost must be a string, got: nan"),
]


@pytest.mark.parametrize(("field", "value", "said"), HOSTILE_DETAILS)
def test_a_hostile_domain_detail_is_one_line_naming_it(cli_env, postmark, register, field, value, said):
    # Old code: DKIMVerified "false" was taken as true (bool("false")), and the registration said verified.
    domain = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}")
    postmark.fail("GET", r"/domains/\d+", [(200, {**domain, field: value}, {})])
    result = register(cli_env)
    assert result.returncode == 1
    assert one_error_line(result) == (
        f"register: error: Alpha002-dev-Email: Postmark GET /domains/{domain['ID']} {MALFORMED}: {said}{IS_IT_POSTMARK}"
    )


def test_retry_after_nan_falls_back_to_backoff(cli_env, postmark, register):
    postmark.fail("GET", "/domains", [(503, {"ErrorCode": 0, "Message": "busy"}, {"Retry-After": "nan"})])
    result = register(cli_env)
    assert result.returncode == 0, result.stderr


def test_an_http_proxy_never_sees_the_loopback_call(cli_env, postmark, register):
    from pytest_httpserver import HTTPServer

    proxy = HTTPServer(host="127.0.0.1", port=0)
    proxy.expect_request("").respond_with_data("proxied", status=200)
    proxy.start()
    try:
        env = dict(cli_env, HTTP_PROXY=proxy.url_for("/"), http_proxy=proxy.url_for("/"), ALL_PROXY=proxy.url_for("/"))
        result = register(env)
    finally:
        proxy.stop()
    assert result.returncode == 0, result.stderr
    assert proxy.log == [], "the token crossed a proxy over plain http"


def test_a_reply_that_trickles_in_meets_the_call_deadline(httpserver):
    def trickle(request):
        def body():
            for byte in b'{"TotalCount": 0, "Domains": []}':
                time.sleep(0.01)
                yield bytes([byte])

        return Response(body(), status=200, content_type="application/json", direct_passthrough=True)

    ticks = itertools.count()  # the client's clock: half a second passes at every look (a reply that crawls)
    httpserver.expect_request("/domains").respond_with_handler(trickle)
    client = PostmarkClient(
        Secret(TOKEN),
        httpserver.url_for("").rstrip("/"),
        retry=RetryPolicy(max_attempts=2, base_delay=0.0),
        deadline=2.0,
        clock=lambda: next(ticks) * 0.5,
        sleep=lambda seconds: None,
    )
    with pytest.raises(PostmarkError, match=r"Postmark GET /domains timed out after \d attempts"):
        client.list_domains()
    assert next(ticks) * 0.5 < 10, "the deadline bounds the whole call, however slowly bytes arrive"


@pytest.fixture(autouse=True)
def _fresh_redactor(monkeypatch):
    monkeypatch.setattr(logger, "REDACTOR", RedactionFilter())
