"""tools/verify_partition_mail.py against a real DNS server on 127.0.0.1 (dnslib),
the stack in moto and the Postmark stand-in: each record missing or wrong gives its own FAIL.

The command's main() runs in this process (through the CLI frame) on a fake clock,
so ``--wait`` never waits for real; tests/e2e/test_cli_contract.py runs it as a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from templates.dkim import txt_record_value
from templates.partition_email import EXPORTED_OUTPUTS, O_ZONE_ID, R_ZONE
from templates.render import template_path
from tests.conftest import PYTHON, REPO, TOKEN, assert_token_nowhere, free_port, use_env
from tools import verify_partition_mail
from tools.lib.plan.template import load_template
from tools.rehearsal.aws import client, create_parent_zone, staff
from tools.rehearsal.postmark import dns_lookup

pytestmark = pytest.mark.moto

ACCOUNT = "111122223333"  # Alpha002's account
DOMAIN = "dev.ardamails.com"
DMARC = "v=DMARC1; p=none; rua=mailto:dmarc-reports@arda.cards"


@pytest.fixture
def deployed(aws_env, cli_env, postmark, dns_zone, instance_config):
    """The stack created in moto (Alpha002's account), Postmark holding the domain, DNS serving it all."""
    create_parent_zone()
    creds = staff(ACCOUNT)  # Alpha002's administrator sets the stack up
    # A rotation in progress: an active key and a pending one. Postmark looks both up in the DNS stand-in.
    domain = postmark.add_domain(DOMAIN, f"pm-bounces.{DOMAIN}", active=True, pending=True)
    postmark.lookup = dns_lookup("127.0.0.1", dns_zone.port)
    selector = domain["DKIMHost"].split(".")[0]
    pending = domain["DKIMPendingHost"].split(".")[0]
    active_host, active_value = domain["DKIMHost"], domain["DKIMTextValue"]
    pending_host, pending_value = domain["DKIMPendingHost"], domain["DKIMPendingTextValue"]
    cfn = client("cloudformation", creds)
    cfn.create_stack(
        StackName="Alpha002-dev-Email",
        TemplateBody=json.dumps(interface_of(template_path(instance_config).read_text())),
        Parameters=[
            {"ParameterKey": "PostmarkAccountToken", "ParameterValue": TOKEN},
            {"ParameterKey": "DkimSlot1Selector", "ParameterValue": selector},
            {"ParameterKey": "DkimSlot1Value", "ParameterValue": txt_record_value(active_value)},
            {"ParameterKey": "DkimSlot2Selector", "ParameterValue": pending},
            {"ParameterKey": "DkimSlot2Value", "ParameterValue": txt_record_value(pending_value)},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks()["Stacks"][0]["Outputs"]}
    zone = client("route53", creds).get_hosted_zone(Id=outputs["MailHostedZoneId"])
    name_servers = zone["DelegationSet"]["NameServers"]
    dns_zone.set(DOMAIN, "NS", name_servers)
    dns_zone.set(DOMAIN, "TXT", ["v=spf1 include:spf.mtasv.net ~all"])
    dns_zone.set(f"_dmarc.{DOMAIN}", "TXT", [DMARC])
    dns_zone.set(active_host, "TXT", [active_value])
    dns_zone.set(pending_host, "TXT", [pending_value])
    dns_zone.set(f"pm-bounces.{DOMAIN}", "CNAME", ["pm.mtasv.net"])
    dns_zone.set(f"{DOMAIN}._report._dmarc.arda.cards", "TXT", ["v=DMARC1"])
    cli_env.update(
        AWS_ENDPOINT_URL=aws_env,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        **creds,
    )
    return {
        "env": cli_env,
        "domain": domain,
        "name_servers": name_servers,
        "hosts": {"DKIMHost": active_host, "DKIMPendingHost": pending_host},
    }


def interface_of(body: str) -> dict:
    """The deployed stack as verify reads it: the real parameters, the zone and the six exports, nothing else.

    The whole stack (roles, function, delegation, secrets) is deployed for real in test_deploy.py,
    test_dkim_lifecycle.py and the runbook rehearsal; verify reads only these.
    """
    template = load_template(body)
    outputs = {
        name: {
            "Value": {"Ref": R_ZONE} if name == O_ZONE_ID else f"placeholder-{name}",
            "Export": {"Name": f"Alpha002-dev-API-{name}"},
        }
        for name in EXPORTED_OUTPUTS
    }
    resources = {R_ZONE: template["Resources"][R_ZONE]}
    return {"Parameters": template["Parameters"], "Resources": resources, "Outputs": outputs}


@pytest.fixture
def instance_config():
    from instances.registry import load_registry

    return load_registry().lookup("Alpha002", "dev")


@pytest.fixture
def verify_at(run_in):
    """``verify_at(env, resolver, *args)``: verify_partition_mail.py's main() with ``env`` as the environment."""
    return lambda env, resolver, *args: run_in(
        env, verify_partition_mail.main, "Alpha002", "dev", "--resolver", resolver, *args
    )


@pytest.fixture
def verify(verify_at):
    """``verify(env, dns_zone, *args)``: verify against the DNS stand-in."""
    return lambda env, dns_zone, *args: verify_at(env, f"127.0.0.1:{dns_zone.port}", *args)


def rows(result):
    return {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("V-")}


@pytest.mark.vcheck(
    "V-PART-003",
    "V-PART-004",
    "V-PART-005",
    "V-PART-006",
    "V-PART-007",
    "V-PART-008",
    "V-PART-009",
    "V-PART-010",
    "V-PART-011",
    "V-CLI-004",
)
def test_everything_passes(deployed, dns_zone, postmark, verify):
    result = verify(deployed["env"], dns_zone)
    assert result.returncode == 0, result.stdout + result.stderr
    found = rows(result)
    # One run reports the final roles: verifying made the pending key active and the old one revoked
    # (kept in DNS until Postmark says it is safe to remove): V-PART-006 and V-PART-021, no pending row.
    assert sorted(found) == sorted([f"V-PART-{n:03d}" for n in (3, 4, 5, 6, 8, 9, 10, 11, 21)])
    assert all("  PASS  " in row for row in found.values()), result.stdout
    assert deployed["hosts"]["DKIMPendingHost"] in found["V-PART-006"], "the new key is the active one now"
    assert deployed["hosts"]["DKIMHost"] in found["V-PART-021"], "the old key is revoked, kept until safe"
    assert "Alpha002-dev-Email: 9/9 checks passed" in result.stdout
    verifies = [c.path for c in postmark.calls("PUT")]
    domain_id = deployed["domain"]["ID"]
    assert verifies == [f"/domains/{domain_id}/verifyDkim", f"/domains/{domain_id}/verifyReturnPath"]
    assert_token_nowhere(result.stdout, result.stderr)


@pytest.mark.vcheck("V-CLI-004")
def test_json_shape(deployed, dns_zone, verify):
    result = verify(deployed["env"], dns_zone, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {k: data[k] for k in ("command", "exit_code", "stack", "outcome")} == {
        "command": "verify",
        "exit_code": 0,
        "stack": "Alpha002-dev-Email",
        "outcome": "passed",
    }
    for check in data["checks"]:
        assert set(check) == {"id", "check", "status", "detail"}
        assert check["status"] in ("PASS", "FAIL")


BROKEN = [
    ("V-PART-003", lambda z: z.set(DOMAIN, "NS", ["ns1.elsewhere.example"]), "found 'ns1.elsewhere.example'"),
    ("V-PART-003", lambda z: z.remove(DOMAIN, "NS"), "found nothing"),
    ("V-PART-004", lambda z: z.set(DOMAIN, "TXT", ["v=spf1 -all"]), "found 'v=spf1 -all'"),
    ("V-PART-004", lambda z: z.remove(DOMAIN, "TXT"), "found nothing"),
    ("V-PART-008", lambda z: z.remove(f"pm-bounces.{DOMAIN}", "CNAME"), "found nothing"),
    ("V-PART-005", lambda z: z.remove(f"_dmarc.{DOMAIN}", "TXT"), "found nothing"),
    (
        "V-PART-005",
        lambda z: z.set(f"_dmarc.{DOMAIN}", "TXT", ["v=DMARC1; p=none; rua=mailto:someone@example.com"]),
        "rua=mailto:someone@example.com",
    ),
    (
        "V-PART-008",
        lambda z: z.set(f"pm-bounces.{DOMAIN}", "CNAME", ["bounces.example.com"]),
        "found 'bounces.example.com'",
    ),
    ("V-PART-009", lambda z: z.remove(f"{DOMAIN}._report._dmarc.arda.cards", "TXT"), "RFC 7489"),
]


@pytest.mark.parametrize(("check_id", "breakage", "detail"), BROKEN, ids=[f"{b[0]}-{i}" for i, b in enumerate(BROKEN)])
@pytest.mark.vcheck("V-PART-003", "V-PART-004", "V-PART-005", "V-PART-008", "V-PART-009")
def test_each_broken_record_fails_its_own_check(deployed, dns_zone, check_id, breakage, detail, verify):
    breakage(dns_zone)
    result = verify(deployed["env"], dns_zone)
    assert result.returncode == 1
    found = rows(result)
    failed = sorted(i for i, row in found.items() if "  FAIL  " in row)
    # Postmark looks the Return-Path up in the same DNS, so its verdict fails with the record.
    assert failed == [check_id] + (["V-PART-011"] if check_id == "V-PART-008" else []), result.stdout
    assert detail in found[check_id]
    assert "expected" in found[check_id]


# The active key's host is the revoked key's after verifying (the pending one took over), so its row is
# V-PART-021; the pending key Postmark cannot see stays pending (V-PART-007).
@pytest.mark.parametrize(("which", "check_id"), [("DKIMHost", "V-PART-021"), ("DKIMPendingHost", "V-PART-007")])
@pytest.mark.vcheck("V-PART-006", "V-PART-007")
def test_each_dkim_key_is_checked(deployed, dns_zone, which, check_id, verify):
    host = deployed["hosts"][which]
    dns_zone.set(host, "TXT", ["k=rsa;p=SOMETHINGELSE"])
    result = verify(deployed["env"], dns_zone)
    assert result.returncode == 1
    found = rows(result)
    # A pending key Postmark cannot find in DNS also keeps its verdict at Pending.
    postmark_too = ["V-PART-010"] if which == "DKIMPendingHost" else []
    assert [i for i, row in found.items() if "  FAIL  " in row] == [check_id, *postmark_too]
    assert "k=rsa;p=SOMETHINGELSE" in found[check_id]


@pytest.mark.vcheck("V-PART-007")
def test_a_missing_dkim_record_fails(deployed, dns_zone, verify):
    host = deployed["hosts"]["DKIMPendingHost"]
    dns_zone.remove(host, "TXT")
    result = verify(deployed["env"], dns_zone)
    assert result.returncode == 1
    found = rows(result)
    # Postmark cannot see the pending key either, so its verdict stays Pending.
    assert [i for i, row in found.items() if "  FAIL  " in row] == ["V-PART-007", "V-PART-010"]
    rerun = f"python tools/verify_partition_mail.py Alpha002 dev --resolver 127.0.0.1:{dns_zone.port} --wait 960"
    assert f"found nothing; publish it: run python deploy.py Alpha002 dev, then {rerun}" in found["V-PART-007"]
    # Route 53's SOA: TTL 900, minimum 86400: a resolver may cache "not found" for 900 s (RFC 2308).
    assert (
        f"may answer 'not found' for up to 900s (the zone's SOA, RFC 2308): rerun {rerun} before concluding"
        in found["V-PART-007"]
    )
    assert "DKIMUpdateStatus 'Pending'" in found["V-PART-010"]
    assert "Postmark has not yet seen the pending key" in found["V-PART-010"]
    # The run ends with one line: which checks failed, and the step that comes first, runnable as printed.
    assert result.stderr.splitlines()[-1] == (
        f"verify: error: Alpha002-dev-Email: 2 check(s) failed: V-PART-007 DKIM (pending) TXT at {host}, "
        f"V-PART-010 Postmark DKIM verified; run python deploy.py Alpha002 dev, then {rerun}"
    )


@pytest.mark.vcheck("V-PART-010", "V-PART-011")
def test_postmark_verdict_needs_update_status_verified_as_well(deployed, dns_zone, postmark, verify):
    # DKIMVerified stays true while a rotation's key waits: the status must be Verified too.
    postmark.fail("PUT", r"/domains/\d+/verifyDkim", [(200, deployed["domain"], {})])
    dns_zone.set(f"pm-bounces.{DOMAIN}", "CNAME", ["elsewhere.example.com"])
    result = verify(deployed["env"], dns_zone)
    assert result.returncode == 1
    found = rows(result)
    assert sorted(i for i, row in found.items() if "  FAIL  " in row) == ["V-PART-008", "V-PART-010", "V-PART-011"]
    assert "found DKIMVerified true, DKIMUpdateStatus 'Pending'" in found["V-PART-010"]
    assert "expected ReturnPathDomainVerified true; found false" in found["V-PART-011"]


@pytest.mark.vcheck("V-CLI-004")
def test_wait_succeeds_when_a_record_appears_late(deployed, dns_zone, verify, clock):
    dns_zone.remove(f"_dmarc.{DOMAIN}", "TXT")
    clock.after(3.0, lambda: dns_zone.set(f"_dmarc.{DOMAIN}", "TXT", [DMARC]))  # published 3 s into the wait
    result = verify(deployed["env"], dns_zone, "--wait", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"for V-PART-005 to pass through 127.0.0.1:{dns_zone.port}" in result.stderr, "which check, which resolver"
    assert 3.0 <= clock.seconds < 20, "it stopped waiting once the record was there"
    assert clock.slept[1] > clock.slept[0], "the backoff grows"


@pytest.mark.vcheck("V-PART-010")
def test_under_wait_postmark_is_asked_again_until_it_has_seen_the_records(deployed, dns_zone, postmark, verify, clock):
    # Postmark looks DNS up itself, through resolvers that still cache "not found": its first answers lag ours.
    seen = postmark.lookup
    postmark.lookup = lambda name, kind: [] if clock.seconds < 20 else seen(name, kind)
    result = verify(deployed["env"], dns_zone, "--wait", "120")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waiting" in result.stderr and "for Postmark to verify dev.ardamails.com" in result.stderr
    assert 20 <= clock.seconds < 120, "it stopped once Postmark agreed"
    once = verify(deployed["env"], dns_zone)  # without --wait: Postmark is asked once
    assert once.returncode == 0


def test_wait_gives_up_when_time_runs_out(deployed, dns_zone, verify, clock):
    dns_zone.remove(f"_dmarc.{DOMAIN}", "TXT")
    result = verify(deployed["env"], dns_zone, "--wait", "45")
    assert result.returncode == 1
    assert "  FAIL  " in rows(result)["V-PART-005"]
    # The last round starts one look (5 s, a query's lifetime) before the deadline, so it ends by it.
    assert clock.seconds == 40 and max(clock.slept) <= 30, "backoff capped at 30 s, deadline kept"
    assert result.stderr.splitlines()[-1].startswith(
        "verify: error: Alpha002-dev-Email: 1 check(s) failed: V-PART-005 DMARC TXT at _dmarc.dev.ardamails.com; "
    )


def test_no_postmark_reads_dkim_from_the_stack(deployed, dns_zone, postmark, tmp_path, verify):
    result = verify(deployed["env"], dns_zone, "--no-postmark")
    assert result.returncode == 0, result.stdout + result.stderr
    found = rows(result)
    # Without Postmark the roles are unknown: one row per slot the stack publishes.
    dkim_rows = [line for line in result.stdout.splitlines() if line.startswith("V-PART-006")]
    assert ["DKIM (slot 1)" in dkim_rows[0], "DKIM (slot 2)" in dkim_rows[1]] == [True, True], dkim_rows
    assert all("  PASS  " in row for row in dkim_rows) and "V-PART-010" not in found
    assert postmark.requests == []
    assert not (tmp_path / "op-argv.log").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "usage: verify_partition_mail.py"),
        (["Alpha002", "dev", "--resolver", "dns.example:53"], "--resolver must be IP[:PORT]"),
        (["Gamma003", "dev"], "verify: error: unknown infrastructure 'Gamma003'"),
        (["Alpha002", "prod"], "verify: error: partition 'prod' is not active in infrastructure 'Alpha002'"),
    ],
)
def test_usage_errors(cli_env, run_cli, monkeypatch, args, message):
    use_env(monkeypatch, cli_env)
    result = run_cli(verify_partition_mail.main, args)
    assert result.returncode == 2
    assert message in result.stderr


WAIT_BOUNDS = [
    ("-1", "verify: error: --wait must be 0 to 3600 seconds, got: -1"),
    ("-0.5", "verify: error: --wait must be 0 to 3600 seconds, got: -0.5"),
    ("3600.5", "verify: error: --wait must be 0 to 3600 seconds, got: 3600.5"),
    ("86400", "verify: error: --wait must be 0 to 3600 seconds, got: 86400"),
    ("inf", "verify: error: --wait must be 0 to 3600 seconds, got: inf"),
    ("-inf", "verify: error: --wait must be 0 to 3600 seconds, got: -inf"),
    ("1e309", "verify: error: --wait must be 0 to 3600 seconds, got: inf"),
    ("nan", "verify: error: --wait must be 0 to 3600 seconds, got: nan"),
]


@pytest.mark.parametrize(("wait", "line"), WAIT_BOUNDS)
def test_wait_must_be_finite_and_within_its_bounds(cli_env, run_cli, monkeypatch, wait, line):
    # Old code: --wait inf was accepted, and waited for ever on a check that could not pass.
    use_env(monkeypatch, cli_env)
    result = run_cli(verify_partition_mail.main, ["Alpha002", "dev", f"--wait={wait}"])
    assert (result.returncode, result.stderr, result.stdout) == (2, line + "\n", "")


def test_wait_inf_as_a_user_types_it_is_exit_2_and_one_line(cli_env):
    # Real argv and exit code: the shell hands "inf" over as typed, argparse makes it a float, check() refuses it.
    result = subprocess.run(
        [PYTHON, "tools/verify_partition_mail.py", "Alpha002", "dev", "--wait", "inf"],
        cwd=REPO,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "verify: error: --wait must be 0 to 3600 seconds, got: inf\n"


@pytest.mark.parametrize("wait", ["0", "3600"])
def test_the_bounds_themselves_are_accepted(deployed, dns_zone, verify, clock, wait):
    result = verify(deployed["env"], dns_zone, "--wait", wait)
    assert result.returncode == 0, result.stderr
    assert clock.seconds == 0, "everything passed at once: nothing to wait for"


FAILURE_LINES = [
    # (breakage, failing rows named, what the line says to do; {verify} is the rerun, runnable as printed)
    (
        lambda z: z.set(DOMAIN, "TXT", ["v=spf1 -all"]),
        "1 check(s) failed: V-PART-004 SPF TXT at dev.ardamails.com",
        "each failing row above says what was expected and what was found; once it is put right: {verify}",
    ),
    (
        lambda z: z.remove(f"pm-bounces.{DOMAIN}", "CNAME"),
        "2 check(s) failed: V-PART-008 Return-Path CNAME at pm-bounces.dev.ardamails.com, "
        "V-PART-011 Postmark Return-Path verified",
        "each failing row above says what was expected and what was found; once it is put right: {verify}",
    ),
]


@pytest.mark.parametrize(("breakage", "failed", "todo"), FAILURE_LINES)
@pytest.mark.vcheck("V-CLI-004")
def test_a_failing_verify_ends_with_one_error_line(deployed, dns_zone, verify, breakage, failed, todo):
    # Old code: the table, then exit 1 and no error line at all.
    breakage(dns_zone)
    result = verify(deployed["env"], dns_zone, "--json")
    rerun = f"python tools/verify_partition_mail.py Alpha002 dev --resolver 127.0.0.1:{dns_zone.port} --wait 960"
    line = f"verify: error: Alpha002-dev-Email: {failed}; {todo.format(verify=rerun)}"
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == line
    document = json.loads(result.stdout)
    assert document["outcome"] == "failed" and line.endswith(document["error"])
    assert all(set(check) == {"id", "check", "status", "detail"} for check in document["checks"])


def test_wait_0_with_a_resolver_that_never_answers_is_one_look_not_a_timeout_per_query(
    deployed, verify_at, monkeypatch
):
    # Old code: each query waited its own 5 s lifetime, one after another, and the rows were asked
    # again after Postmark's verdict: 78 s measured with 127.0.0.1:<closed port>, 38 s with 192.0.2.1.
    # Now a round's queries run at once, bounded by one look (DNS_LOOK_SECONDS = QUERY_SECONDS = 5 s;
    # 1 s here, so that the test waits one look of 1 s: the bound is 12 s for 5 s, as before).
    from tools.lib import verify

    look = 1.0
    monkeypatch.setattr(verify, "QUERY_SECONDS", look)
    monkeypatch.setattr(verify, "DNS_LOOK_SECONDS", look)
    silent = f"127.0.0.1:{free_port()}"  # nothing listens: no DNS answer ever comes
    started = time.monotonic()
    result = verify_at(deployed["env"], silent, "--wait", "0")
    seconds = time.monotonic() - started
    assert result.returncode == 1
    assert seconds < 12 * look / 5 + 1, f"{seconds:.1f}s"  # one look and the run itself, not a look per query
    found = rows(result)
    dns_rows = [row for check_id, row in found.items() if check_id not in ("V-PART-010", "V-PART-011")]
    assert all("  FAIL  " in row and f"{silent} did not answer in time" in row for row in dns_rows), result.stdout
    assert all("publish it" not in row for row in dns_rows), "no answer is not a missing record"
    assert result.stderr.splitlines()[-1].endswith(
        f"; {silent} did not answer in time: check it and the network, then rerun "
        f"python tools/verify_partition_mail.py Alpha002 dev --resolver {silent} --wait 0"
    )


def test_each_postmark_round_gets_only_the_time_left(deployed, dns_zone, postmark, verify, clock, monkeypatch):
    # Old code: each Postmark call had its own 120 s, whatever --wait said.
    from tools.lib.postmark_client import PostmarkClient

    budgets: list[float] = []
    within = PostmarkClient.within

    def spy(client, seconds):
        budgets.append(seconds)
        return within(client, seconds)

    monkeypatch.setattr(PostmarkClient, "within", spy)
    postmark.lookup = lambda name, kind: []  # Postmark never sees the records
    result = verify(deployed["env"], dns_zone, "--wait", "120")
    assert result.returncode == 1
    # Asked at 0, 5, 15, 35 and 75 s, then once more at 90 s: the last round gets its 30 s and ends at 120 s.
    assert budgets == [120, 115, 105, 85, 45, 30] and clock.seconds == 90


def test_postmark_answering_error_code_infinity_is_one_line_not_unexpected(deployed, dns_zone, postmark, verify):
    # Old code: "verify: error: ... unexpected OverflowError: cannot convert float infinity to integer".
    postmark.fail("PUT", r"/domains/\d+/verifyDkim", [(422, '{"ErrorCode": Infinity, "Message": "no"}', {})])
    result = verify(deployed["env"], dns_zone)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"verify: error: Alpha002-dev-Email: Postmark PUT /domains/{deployed['domain']['ID']}/verifyDkim answered "
        "HTTP 422 with a malformed error reply: ErrorCode must be a whole number from 0 to 9007199254740991, "
        "got: inf (Message: no); is POSTMARK_API_URL really Postmark's API?"
    )


def test_missing_stack_is_an_error_not_a_traceback(aws_env, cli_env, dns_zone, verify):
    # The configured account's credentials (the account guard passes), and no stack in it.
    cli_env.update(AWS_ENDPOINT_URL=aws_env, **staff(ACCOUNT))
    result = verify(cli_env, dns_zone, "--no-postmark")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "verify: error: Alpha002-dev-Email: no such stack; deploy it first"
    assert "Traceback" not in result.stderr


@pytest.mark.vcheck("V-PART-021", "V-PART-022", "V-PART-010")
def test_revoked_key_rows_follow_postmark(deployed, dns_zone, postmark, verify):
    domain = deployed["domain"]
    old_host, old_value = deployed["hosts"]["DKIMHost"], domain["DKIMTextValue"]
    # Postmark verified the rotation: the old active key is revoked, not yet safe to remove.
    postmark.verify_dkim(domain["ID"])
    assert domain["DKIMRevokedHost"] == old_host
    result = verify(deployed["env"], dns_zone)
    assert result.returncode == 0, result.stdout
    found = rows(result)
    assert f"DKIM (revoked) TXT at {old_host}" in found["V-PART-021"] and "  PASS  " in found["V-PART-021"]
    assert "keep it until Postmark says SafeToRemoveRevokedKeyFromDNS" in found["V-PART-021"]
    assert "V-PART-022" not in found

    # A revoked key that leaves DNS too early fails its row.
    dns_zone.remove(old_host, "TXT")
    early = rows(verify(deployed["env"], dns_zone))
    assert "  FAIL  " in early["V-PART-021"] and "run python deploy.py Alpha002 dev" in early["V-PART-021"]

    # Safe to remove: no longer required; while DNS still has it, verify says to deploy.
    dns_zone.set(old_host, "TXT", [old_value])
    postmark.make_revoked_key_safe(domain["ID"])
    result = verify(deployed["env"], dns_zone)
    assert result.returncode == 1
    found = rows(result)
    assert "V-PART-021" not in found
    assert "  FAIL  " in found["V-PART-022"]
    assert "Postmark says the revoked key is safe to remove: run python deploy.py Alpha002 dev" in found["V-PART-022"]
    dns_zone.remove(old_host, "TXT")
    gone = verify(deployed["env"], dns_zone)
    assert gone.returncode == 0, gone.stdout
    assert "  PASS  " in rows(gone)["V-PART-022"]


@pytest.mark.vcheck("V-PART-007")
def test_a_record_route53_holds_but_the_resolver_does_not_show_is_not_sent_to_deploy(deployed, dns_zone, verify):
    creds = staff(ACCOUNT)  # Alpha002's administrator changes a record by hand
    cfn = client("cloudformation", creds)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks()["Stacks"][0]["Outputs"]}
    host, value = deployed["hosts"]["DKIMPendingHost"], deployed["domain"]["DKIMPendingTextValue"]
    record = {"Name": f"{host}.", "Type": "TXT", "TTL": 3600, "ResourceRecords": [{"Value": f'"{value}"'}]}
    client("route53", creds).change_resource_record_sets(
        HostedZoneId=outputs["MailHostedZoneId"],
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": record}]},
    )
    dns_zone.remove(host, "TXT")  # published, but this resolver does not show it (yet)
    result = verify(deployed["env"], dns_zone)
    assert result.returncode == 1
    row = rows(result)["V-PART-007"]
    assert f"Route 53 holds it, but 127.0.0.1:{dns_zone.port} does not show it yet" in row
    assert "publish it: run" not in row, "deploying again would change nothing"
    assert "waiting" not in result.stderr  # no --wait: asked once
