"""A secret never leaves through a reply: a Postmark that echoes the account token into each field it answers.

Nothing printed, written, deployed or published may hold the token: register, verify
and deploy refuse the reply before it reaches a parameter, a DNS record, the
terminal or a file, and say so in one line.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import TOKEN, assert_token_nowhere
from tools import register_partition_mail_signature, verify_partition_mail
from tools.rehearsal.aws import client

pytestmark = pytest.mark.moto

FIELDS = ["DKIMPendingHost", "DKIMPendingTextValue", "ReturnPathDomainCNAMEValue", "DKIMUpdateStatus"]


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.vcheck("V-PART-019")
def test_a_reply_that_echoes_the_token_is_refused_everywhere(world, tmp_path, field):
    world.postmark.echo_token_into = field
    register = world.run(register_partition_mail_signature.main, "Alpha002", "dev", "--json")
    assert register.returncode == 1
    assert "holds the account token in" in json.loads(register.stdout)["error"]
    deployed = world.deploy("--yes", "--json")
    assert deployed.returncode == 1, deployed.stderr
    assert client("cloudformation", world.admin).describe_stacks()["Stacks"] == [], "nothing was created"
    verify = world.run(verify_partition_mail.main, "Alpha002", "dev", "--json", "--resolver", "127.0.0.1:9")
    assert verify.returncode == 1
    outputs = [register.stdout, register.stderr, deployed.stdout, deployed.stderr, verify.stdout, verify.stderr]
    assert_token_nowhere(*outputs, folders=[tmp_path])
    assert_token_nowhere(*outputs, token=TOKEN.lower())


def test_the_debug_log_never_shows_aws_credentials_or_a_deployed_secret(world, tmp_path):
    assert world.deploy("--yes").returncode == 0
    replaced = dict(world.env, OP_STANDIN_SECRET="pm-acct-a-new-token-0123456789")
    world.postmark.token = None  # any token is accepted: the operator rotated it in 1Password
    result = world.deploy("--plan", "--debug", env=replaced)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "GetSecretValue" in result.stderr, "the deployed token was read back for the comparison"
    assert "Response body: (not logged: it may hold secrets)" in result.stderr
    for secret in (world.env["AWS_SECRET_ACCESS_KEY"], world.env["AWS_SESSION_TOKEN"]):
        assert_token_nowhere(result.stdout, result.stderr, token=secret)
    assert_token_nowhere(result.stdout, result.stderr)  # the deployed (old) token
