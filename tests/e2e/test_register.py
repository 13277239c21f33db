"""tools/register_partition_mail_signature.py as a user runs it.

Its main() in this process through the CLI frame (real argv, exit codes and output;
the subprocess run is in test_cli_contract.py), the stand-in `op` first on PATH and
the Postmark stand-in on 127.0.0.1. After each run: nothing went to /servers, no
Sender Signature was created, the token travelled only in its header and appears
in no output and no file.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import TOKEN, assert_token_nowhere
from tools import register_partition_mail_signature


@pytest.fixture
def run(run_in):
    """``run(env, *argv)``: the command's main() in this process, with ``env`` as its environment."""
    return lambda env, *args: run_in(env, register_partition_mail_signature.main, *args)


@pytest.fixture(autouse=True)
def postmark_rules(postmark, tmp_path):
    """After every test: the rules over every request the stand-in saw."""
    yield
    for call in postmark.requests:
        assert not call.path.startswith("/servers"), call
        assert not (call.method == "POST" and call.path.startswith("/senders")), call
        others = {k: v for k, v in call.headers.items() if k != "X-Postmark-Account-Token"}
        assert TOKEN not in json.dumps(others) + call.path + call.query + call.body
    assert_token_nowhere(folders=[tmp_path])


@pytest.mark.vcheck("V-CLI-002", "V-CLI-005", "V-PART-019")
def test_registers_and_prints_the_records(cli_env, postmark, tmp_path, run):
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 0, result.stderr
    assert "Alpha002-dev-Email: dev.ardamails.com registered now with Postmark" in result.stdout
    assert "DKIM verified: no, Return-Path verified: no" in result.stdout
    header, dkim, return_path = result.stdout.splitlines()[1:4]
    assert header.split() == ["HOST", "TYPE", "VALUE"]
    assert dkim.split()[0].endswith("._domainkey.dev.ardamails.com") and dkim.split()[1] == "TXT"
    assert return_path.split() == ["pm-bounces.dev.ardamails.com", "CNAME", "pm.mtasv.net"]
    (post,) = postmark.calls("POST", "/domains")
    assert json.loads(post.body)["ReturnPathDomain"] == "pm-bounces.dev.ardamails.com"
    # The reference went to op; the token never was on any command line.
    argv = (tmp_path / "op-argv.log").read_text()
    assert json.loads(argv) == ["read", "--no-newline", "op://Arda-Platform/PostmarkNonProd/credential"]
    assert_token_nowhere(result.stdout, result.stderr, argv)


def test_second_run_changes_nothing(cli_env, postmark, run):
    assert run(cli_env, "Alpha002", "dev").returncode == 0
    again = run(cli_env, "Alpha002", "dev")
    assert again.returncode == 0
    assert "already registered" in again.stdout
    assert len(postmark.calls("POST")) == 1


def test_json_output(cli_env, postmark, run):
    postmark.add_domain("dev.ardamails.com", "pm-bounces.dev.ardamails.com", active=True, pending=True)
    result = run(cli_env, "Alpha002", "dev", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["stack"] == "Alpha002-dev-Email" and data["created"] is False
    assert [k["state"] for k in data["dkim_keys"]] == ["active", "pending"]
    assert [r["type"] for r in data["records"]] == ["TXT", "TXT", "CNAME"]
    assert_token_nowhere(result.stdout, result.stderr)


def test_return_path_mismatch_is_corrected(cli_env, postmark, run):
    postmark.add_domain("dev.ardamails.com", "bounce.dev.ardamails.com")
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 0
    assert "already registered, Return-Path corrected" in result.stdout
    assert len(postmark.calls("PUT")) == 1


@pytest.mark.parametrize("args", [[], ["Alpha002"], ["Alpha002", "dev", "extra"]])
@pytest.mark.vcheck("V-CLI-002")
def test_wrong_number_of_arguments_prints_usage(cli_env, postmark, args, run):
    result = run(cli_env, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: register_partition_mail_signature.py")
    assert result.stdout == "" and postmark.requests == []


def test_help_documents_exit_codes(cli_env, run):
    result = run(cli_env, "--help")
    assert result.returncode == 0
    assert "exit codes:" in result.stdout and "POSTMARK_API_URL" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Alpha003", "dev"], "register: error: unknown infrastructure 'Alpha003': expected one of Alpha002"),
        (
            ["Alpha002", "prod"],
            "register: error: partition 'prod' is not active in infrastructure 'Alpha002' "
            "(it is not active in any infrastructure)",
        ),
        (["Alpha002", "qa"], "register: error: unknown partition 'qa': expected one of dev, stage, demo, prod"),
    ],
)
def test_unknown_or_inactive_targets_touch_nothing(cli_env, postmark, tmp_path, args, message, run):
    result = run(cli_env, *args)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert postmark.requests == []
    assert not (tmp_path / "op-argv.log").exists(), "no secret may be resolved"


@pytest.mark.vcheck("V-CLI-002")
def test_onepassword_failure_stops_before_postmark(cli_env, postmark, run):
    cli_env.update(OP_STANDIN_EXIT="1", OP_STANDIN_STDERR="[ERROR] account is not signed in")
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 1
    assert (
        "register: error: Alpha002-dev-Email: op read op://Arda-Platform/PostmarkNonProd/credential failed "
        "(exit 1): [ERROR] account is not signed in" in result.stderr
    )
    assert postmark.requests == []


def test_onepassword_empty_value(cli_env, postmark, run):
    cli_env["OP_STANDIN_SECRET"] = ""
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 1
    assert "returned an empty value" in result.stderr
    assert result.stdout == "" and postmark.requests == []


def test_op_missing(cli_env, postmark, tmp_path, run):
    cli_env["PATH"] = str(tmp_path)
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 1
    assert "the 1Password CLI 'op' is not on PATH" in result.stderr
    assert postmark.requests == []


def test_5xx_then_success(cli_env, postmark, run):
    postmark.fail("GET", "/domains", [(503, {"ErrorCode": 0, "Message": "maintenance"}, {})])
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 0, result.stderr
    assert "Postmark GET /domains answered HTTP 503; retry 1" in result.stderr


def test_429_with_retry_after(cli_env, postmark, run):
    postmark.fail("POST", "/domains", [(429, {"ErrorCode": 429, "Message": "Rate limit"}, {"Retry-After": "1"})])
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 0, result.stderr
    assert "Postmark POST /domains answered HTTP 429; retry 1 in 1.0s" in result.stderr
    assert len(postmark.calls("POST", "/domains")) == 2


@pytest.mark.vcheck("V-CLI-002")
def test_persistent_500_fails_with_code_and_message(cli_env, postmark, run):
    # Retry-After: 0 keeps the test quick; the jittered backoff itself is timed in-process
    # (test_postmark_registration.py, with an injected sleep).
    postmark.fail(
        "GET", "/domains", [(500, {"ErrorCode": 0, "Message": "Internal Server Error"}, {"Retry-After": "0"})] * 5
    )
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 1
    assert (
        "register: error: Alpha002-dev-Email: Postmark GET /domains failed after 5 attempts: "
        "HTTP 500, ErrorCode 0: Internal Server Error" in result.stderr
    )
    assert_token_nowhere(result.stdout, result.stderr)


def test_401_token_rejected(cli_env, postmark, run):
    cli_env["OP_STANDIN_SECRET"] = "an-old-revoked-token"
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 1
    assert "the account token was rejected (HTTP 401, ErrorCode 10" in result.stderr
    assert "an-old-revoked-token" not in result.stdout + result.stderr
    assert len(postmark.requests) == 1


def test_debug_traceback_keeps_the_token_hidden(cli_env, postmark, run):
    postmark.fail("GET", "/domains", [(422, {"ErrorCode": 300, "Message": f"echo {TOKEN}"}, {})])
    result = run(cli_env, "Alpha002", "dev", "--debug")
    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ErrorCode 300: echo ***" in result.stderr
    assert_token_nowhere(result.stdout, result.stderr)


@pytest.mark.vcheck("V-PART-019")
def test_on_github_actions_the_only_token_is_the_mask(cli_env, postmark, run):
    cli_env["GITHUB_ACTIONS"] = "true"
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"::add-mask::{TOKEN}"
    assert_token_nowhere("\n".join(lines[1:]), result.stderr)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/servers#", "http://192.0.2.1:80\\@127.0.0.1:9/"])
def test_a_bad_postmark_url_is_refused_before_1password_is_asked(cli_env, postmark, tmp_path, run_in, url):
    # Old code: op read ran first (and for '/servers#' the client then sent GET /servers).
    from tools import rotate_dkim

    env = dict(cli_env, POSTMARK_API_URL=url)
    for main in (register_partition_mail_signature.main, rotate_dkim.main):
        result = run_in(env, main, "Alpha002", "dev")
        assert result.returncode == 1
        assert "POSTMARK_API_URL must be scheme://host[:port] and nothing more" in result.stderr
    assert not (tmp_path / "op-argv.log").exists(), "op was run"
    assert postmark.requests == []
