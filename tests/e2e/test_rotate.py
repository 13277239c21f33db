"""tools/rotate_dkim.py as a user runs it: its main() through the CLI frame, real argv and exit codes.

The stand-in `op` first on PATH and the Postmark stand-in on 127.0.0.1. The happy
path and the 505 no-op over a deployed world live in test_dkim_lifecycle.py; these
are the conventions every CLI keeps.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import TOKEN, assert_token_nowhere
from tools import rotate_dkim

DOMAIN = "dev.ardamails.com"


@pytest.fixture
def run(run_in):
    """``run(env, *argv)``: the command's main() in this process, with ``env`` as its environment."""
    return lambda env, *args: run_in(env, rotate_dkim.main, *args)


@pytest.fixture(autouse=True)
def postmark_rules(postmark, tmp_path):
    """After every test: only allowlisted calls, the token only in its header and in no file."""
    yield
    for call in postmark.requests:
        assert (call.method, call.path.split("/")[1]) in {("GET", "domains"), ("POST", "domains")}, call
        assert not (call.method == "POST" and call.path == "/domains"), "rotation never registers a domain"
        others = {k: v for k, v in call.headers.items() if k != "X-Postmark-Account-Token"}
        assert TOKEN not in json.dumps(others) + call.path + call.query + call.body
    assert_token_nowhere(folders=[tmp_path])


def test_starts_a_rotation_and_prints_the_pending_key_and_next_commands(cli_env, postmark, run):
    domain = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}", active=True, pending=False)
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Alpha002-dev-Email: DKIM rotation of {DOMAIN} started"
    assert lines[1] == f"  pending key: {domain['DKIMPendingHost']} TXT {domain['DKIMPendingTextValue']}"
    assert lines[-2:] == [
        "  python deploy.py Alpha002 dev",
        "  python tools/verify_partition_mail.py Alpha002 dev --wait 960",
    ]
    assert domain["DKIMUpdateStatus"] == "Pending" and domain["DKIMHost"] != domain["DKIMPendingHost"]
    assert len(postmark.calls("POST", r"/domains/\d+/rotatedkim")) == 1
    assert_token_nowhere(result.stdout, result.stderr)


def test_in_a_rehearsal_world_the_verify_it_prints_carries_the_worlds_resolver(cli_env, postmark, run):
    # Old code: "--wait 960" without --resolver; run as printed, verify asked the system resolver and failed 7 checks.
    postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}", active=True, pending=False)
    world = dict(cli_env, REHEARSAL_RESOLVER="127.0.0.1:5353", AWS_ENDPOINT_URL="http://127.0.0.1:5000")
    result = run(world, "Alpha002", "dev", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["next"] == [
        "python deploy.py Alpha002 dev",
        "python tools/verify_partition_mail.py Alpha002 dev --resolver 127.0.0.1:5353 --wait 960",
    ]


def test_a_pending_rotation_is_a_successful_no_op(cli_env, postmark, run):
    domain = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}", active=True, pending=True)
    before = dict(domain)
    result = run(cli_env, "Alpha002", "dev", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["started"] is False
    assert document["pending_key"]["host"] == before["DKIMPendingHost"]
    assert domain == before


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "usage: rotate_dkim.py"),
        (["Alpha002"], 2, "usage: rotate_dkim.py"),
        (["Alpha002", "prod"], 2, "rotate: error: partition 'prod' is not active in infrastructure 'Alpha002'"),
        (["Gamma003", "dev"], 2, "rotate: error: unknown infrastructure 'Gamma003'"),
    ],
)
def test_usage_and_unknown_partitions(cli_env, postmark, tmp_path, args, code, message, run):
    result = run(cli_env, *args)
    assert result.returncode == code
    assert message in result.stderr
    assert postmark.requests == []
    assert not (tmp_path / "op-argv.log").exists(), "nothing resolved before the arguments are good"


def test_an_unregistered_domain_is_one_clear_line(cli_env, postmark, run):
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"rotate: error: Alpha002-dev-Email: {DOMAIN} is not registered with Postmark; "
        "deploy the partition before rotating DKIM"
    )
    assert postmark.calls("POST") == []


def test_postmark_down_is_one_clear_line(cli_env, postmark, run):
    postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}", active=True, pending=False)
    down = (503, {"ErrorCode": 0, "Message": "Service Unavailable"}, {"Retry-After": "0"})
    postmark.fail("POST", r"/domains/\d+/rotatedkim", [down] * 5)
    result = run(cli_env, "Alpha002", "dev")
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rotate: error: Alpha002-dev-Email: Postmark POST /domains/")
    assert "failed after 5 attempts: HTTP 503" in last and "Traceback" not in result.stderr
    assert_token_nowhere(result.stdout, result.stderr)


def test_a_rejected_token_is_never_shown(cli_env, postmark, run):
    postmark.token = "some-other-token"
    result = run(cli_env, "Alpha002", "dev", "--debug")
    assert result.returncode == 1
    assert "the account token was rejected (HTTP 401" in result.stderr
    assert_token_nowhere(result.stdout, result.stderr)
