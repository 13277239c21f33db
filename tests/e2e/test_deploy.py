"""deploy.py end to end, as an operator runs it, against local stand-ins only.

A moto server on 127.0.0.1 (``AWS_ENDPOINT_URL``, with ``tools/rehearsal/moto_compat/``),
the Postmark stand-in and the stand-in ``op``. PlatformRoot's parent zone lives in
a second moto account; the deploying credentials belong to Alpha002's account.
``world.deploy`` runs deploy.py's main() in this process through the CLI frame;
``tests/e2e/test_cli_contract.py`` runs the same commands as subprocesses.
"""

from __future__ import annotations

import json
import re

import pytest

from templates.dkim import join_txt_strings
from tests.conftest import STACK, TOKEN, assert_token_nowhere, free_port
from tools.rehearsal.aws import client, credentials

pytestmark = pytest.mark.moto

EXPORTS = [
    "DnsRecordsRoleArn",
    "MailDomainName",
    "MailHostedZoneId",
    "PostmarkAccountTokenSecretArn",
    "ReturnPathDomain",
    "WebhookSecretArn",
]


def _records(route53, zone_id):
    # Route 53 names end in a dot; moto leaves it off records CloudFormation made.
    return {
        (r["Name"].rstrip("."), r["Type"]): r
        for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    }


@pytest.mark.vcheck("V-PART-003", "V-PART-004", "V-PART-006", "V-PART-008", "V-PART-016", "V-PART-019", "V-PART-020")
def test_deploy_creates_the_stack_then_finds_no_changes(world, postmark, tmp_path):
    from tools.rehearsal.moto_compat import CONTROLS
    from tools.rehearsal.moto_compat.controls import WORLD_AGENT

    before = len(CONTROLS.served)
    first = world.deploy("--yes")
    assert first.returncode == 0, first.stderr
    # The world's log tells deploy.py's calls from its own (the custom resource's handler, inside AWS: patch 20).
    during = CONTROLS.served[before:]
    own = [s.action for s in during if s.caller == WORLD_AGENT]
    assert "AssumeRole" in own and "ChangeResourceRecordSets" in own
    counted = int(re.search(r"finished in [\d.]+s, (\d+) AWS call", first.stderr).group(1))
    assert len([s for s in during if s.caller != WORLD_AGENT]) == counted
    assert f"{STACK}: CREATE_COMPLETE" in first.stdout
    for name in EXPORTS:
        assert f"  Alpha002-dev-API-{name} = " in first.stdout
    assert "Add     MailHostedZone" in first.stdout

    cfn = client("cloudformation", world["admin"])
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    tags = {t["Key"]: t["Value"] for t in stack["Tags"]}
    assert tags["arda:managed-by"] == "arda-partition-mail/deploy.py" and tags["arda:partition"] == "dev"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    route53 = client("route53", world["admin"])
    records = _records(route53, outputs["MailHostedZoneId"])
    domain = postmark.domains[next(iter(postmark.domains))]
    dkim = records[(domain["DKIMPendingHost"], "TXT")]
    # The 2048-bit key arrives split into <=255-character strings and joins back intact.
    (value,) = [r["Value"] for r in dkim["ResourceRecords"]]
    assert join_txt_strings(value) == domain["DKIMPendingTextValue"]
    assert [len(s) for s in re.findall(r'"([^"]*)"', value)] == [255, len(domain["DKIMPendingTextValue"]) - 255]
    assert records[("pm-bounces.dev.ardamails.com", "CNAME")]["ResourceRecords"] == [{"Value": "pm.mtasv.net"}]
    assert records[("dev.ardamails.com", "TXT")]["ResourceRecords"] == [
        {"Value": '"v=spf1 include:spf.mtasv.net ~all"'}
    ]
    assert records[("_dmarc.dev.ardamails.com", "TXT")]["ResourceRecords"] == [
        {"Value": '"v=DMARC1; p=none; rua=mailto:dmarc-reports@arda.cards"'}
    ]
    # The delegation custom resource wrote the NS record into PlatformRoot's parent zone.
    parent = _records(client("route53", world["root"]), world["parent_zone_id"])
    zone_ns = route53.get_hosted_zone(Id=outputs["MailHostedZoneId"])["DelegationSet"]["NameServers"]
    delegated = [r["Value"].rstrip(".") for r in parent[("dev.ardamails.com", "NS")]["ResourceRecords"]]
    assert sorted(delegated) == sorted(zone_ns)
    # Postmark: registered once, with the right Return-Path; no server, no sender.
    (post,) = postmark.calls("POST", "/domains")
    assert json.loads(post.body)["ReturnPathDomain"] == "pm-bounces.dev.ardamails.com"

    asked = len(postmark.requests)
    second = world.deploy("--yes")
    assert second.returncode == 0, second.stderr
    assert f"{STACK}: no changes; the stack already matches the committed template" in second.stdout
    # The first deploy remembered the domain's Postmark ID for the stack: asked for by it, without the listing.
    assert [(r.method, r.path) for r in postmark.requests[asked:]] == [("GET", f"/domains/{domain['ID']}")]
    # The empty change set was deleted, not left behind.
    assert [s for s in cfn.list_change_sets(StackName=STACK)["Summaries"] if s["Status"] == "FAILED"] == []
    assert len(postmark.calls("POST", "/domains")) == 1
    for call in postmark.requests:
        assert not call.path.startswith("/servers") and not (call.method == "POST" and call.path == "/senders")
    assert_token_nowhere(first.stdout, first.stderr, second.stdout, second.stderr, folders=[tmp_path])


@pytest.mark.vcheck("V-PART-017")
def test_credentials_of_another_account_are_refused(world, postmark, tmp_path):
    env = world["env"]
    env.update(credentials("arn:aws:iam::999988887777:role/Elsewhere"))
    result = world.deploy("--yes")
    assert result.returncode == 3
    assert "Alpha002-dev-Email: refusing to deploy: the AWS credentials are for account 999988887777" in result.stderr
    assert "names 111122223333" in result.stderr
    assert postmark.requests == []
    assert not (tmp_path / "op-argv.log").exists(), "the token must not even be resolved"
    cfn = client("cloudformation", world["admin"])
    assert cfn.describe_stacks()["Stacks"] == []


@pytest.mark.vcheck("V-CLI-003")
def test_dry_run_makes_no_request_anywhere(world, postmark, tmp_path):
    env = world["env"]
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens: any call would fail
    result = world.deploy("--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "target: account 111122223333, region us-east-1, stack Alpha002-dev-Email"
    order = [
        "op read op://",
        "::add-mask:: ***",
        "cfn-lint",
        "Postmark register",
        "create_change_set Alpha002-dev-Email",
    ]
    positions = [next(i for i, line in enumerate(lines) if text in line) for text in order]
    assert positions == sorted(positions)
    assert "PostmarkAccountToken=****" in result.stdout
    assert postmark.requests == []
    assert not (tmp_path / "op-argv.log").exists()


@pytest.mark.vcheck("V-PART-019")
def test_on_github_actions_exactly_one_mask_line(world, postmark):
    env = world["env"]
    env["GITHUB_ACTIONS"] = "true"
    result = world.deploy("--yes")
    assert result.returncode == 0, result.stderr
    masks = [line for line in result.stdout.splitlines() if line.startswith("::add-mask::")]
    assert masks == [f"::add-mask::{TOKEN}"]
    assert result.stdout.splitlines()[0] == masks[0], "the mask comes before anything else on stdout"
    rest = result.stdout.replace(masks[0], "", 1)
    assert_token_nowhere(rest, result.stderr)


@pytest.mark.vcheck("V-CLI-003")
def test_plan_shows_changes_and_leaves_nothing(world, postmark):
    result = world.deploy("--plan")
    assert result.returncode == 0, result.stderr
    assert "Add     MailHostedZone" in result.stdout
    assert "plan only; change set deleted, nothing executed" in result.stdout
    cfn = client("cloudformation", world["admin"])
    assert [s for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"] == []
    assert postmark.calls("POST") == [], "--plan is read-only at Postmark too"


def test_without_a_terminal_or_yes_the_change_set_is_left(world, postmark):
    result = world.deploy()
    assert result.returncode == 4
    # Left undone on purpose is not an error; the way on is deploy.py's own, never the AWS CLI's execute.
    (line,) = [entry for entry in result.stderr.splitlines() if entry.startswith("deploy: not done:")]
    assert "deploy: error:" not in result.stderr
    assert line.startswith("deploy: not done: Alpha002-dev-Email: not executing without a terminal or --yes; ")
    cfn = client("cloudformation", world["admin"])
    (summary,) = cfn.list_change_sets(StackName=STACK)["Summaries"]
    left = summary["ChangeSetName"]
    assert line.endswith(
        f"; change set {left} left for review, not executed: to deploy, run python deploy.py Alpha002 dev --yes "
        "(it replaces this change set)"
    )
    assert len(line) < 400 and "execute-change-set" not in result.stderr
    assert summary["Status"] == "CREATE_COMPLETE" and " purpose=review " in summary["Description"]
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    # The one command the line names: the operator's own change set left for review is not "in flight".
    deployed = world.deploy("--yes")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert f"deleted the unexecuted change set {left} of an earlier run" in deployed.stderr
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_preflight_reports_each_check(world, postmark):
    ok = world.deploy("--preflight")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    title, header, *rows = ok.stdout.splitlines()
    assert title == "Alpha002-dev-Email: pre-flight" and header.split() == ["CHECK", "RESULT", "DETAIL"]
    # The account is checked first: wrong credentials stop before the token is even resolved.
    modes = [f"IAM: {mode}" for mode in ("plan", "deploy", "destroy", "purge", "verify", "rollout")]
    names = [row.split("  ")[1].strip() for row in rows]
    assert names == ["AWS identity", *modes, "1Password token", "Postmark token"]
    assert all(" PASS " in row for row in rows), ok.stdout
    bad = world.deploy("--preflight", env=dict(world.env, OP_STANDIN_EXIT="1"))
    assert bad.returncode == 1
    assert "1Password token  FAIL" in bad.stdout and "Postmark token   SKIP" in bad.stdout
    # Old code: the table, exit 1, and no error line.
    assert bad.stderr.splitlines()[-1] == (
        "deploy: error: Alpha002-dev-Email: 1 pre-flight check(s) failed: 1Password token; each row above says why"
    )
    assert_token_nowhere(ok.stdout, ok.stderr, bad.stdout, bad.stderr)


def test_unknown_profile_is_a_usage_error_in_one_line(world, postmark):
    result = world.deploy("--profile", "no-such-profile", "--yes")
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "deploy: error: Alpha002-dev-Email: --profile must name a profile of the AWS config (/dev/null), "
        "got: 'no-such-profile'"
    )
    assert "Traceback" not in result.stderr
    assert postmark.requests == []


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "usage: deploy.py"),
        (["--region", "eu-west-1"], 2, "--region must be the instance config's region 'us-east-1'"),
        (["--plan", "--dry-run"], 2, "not allowed with argument"),
    ],
)
def test_usage_errors(world, postmark, run_cli, args, code, message):
    import deploy

    result = run_cli(deploy.main, (["Alpha002", "dev"] if args else []) + args)
    assert result.returncode == code
    assert message in result.stderr
    assert postmark.requests == []
