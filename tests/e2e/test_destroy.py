"""Stack protections, the follow that cannot hang, unexecuted change sets, and --destroy, against the emulator."""

from __future__ import annotations

import json
import math
import os
import re
from datetime import timedelta

import pytest

from templates.partition_email import stack_policy
from tests.conftest import STACK, assert_token_nowhere, ok
from tools.rehearsal.aws import client, credentials
from tools.rehearsal.moto_compat import CONTROLS

pytestmark = pytest.mark.moto


def outputs(world) -> dict[str, str]:
    stack = client("cloudformation", world["admin"]).describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def stack_id(world) -> str:
    return client("cloudformation", world["admin"]).describe_stacks(StackName=STACK)["Stacks"][0]["StackId"]


def delegated(world) -> bool:
    records = client("route53", world["root"]).list_resource_record_sets(HostedZoneId=world["parent_zone_id"])
    return any(
        r["Name"].rstrip(".") == "dev.ardamails.com" and r["Type"] == "NS" for r in records["ResourceRecordSets"]
    )


def rotate(postmark) -> None:
    """Something to change: Postmark verifies the first key, then a rotation adds a pending one."""
    domain = postmark.only_domain()
    postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    postmark.verify_dkim(domain["ID"])
    postmark.rotate_dkim(domain["ID"])


def test_every_deploy_leaves_termination_protection_and_the_stack_policy(world, postmark):
    first = ok(world.deploy("--yes"))
    assert "termination protection turned on" in first.stderr
    cfn = client("cloudformation", world["admin"])
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["EnableTerminationProtection"] is True
    policy = json.loads(cfn.get_stack_policy(StackName=STACK)["StackPolicyBody"])
    assert policy == stack_policy()
    (deny,) = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny["Action"] == ["Update:Replace", "Update:Delete"]
    assert deny["Resource"] == ["LogicalResourceId/MailHostedZone", "LogicalResourceId/WebhookSecret"]
    # Someone turns protection off in the console: the next deploy, even with no changes, puts it back.
    cfn.update_termination_protection(EnableTerminationProtection=False, StackName=STACK)
    again = ok(world.deploy("--yes"))
    assert "no changes" in again.stdout and "termination protection turned on" in again.stderr
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["EnableTerminationProtection"] is True
    with pytest.raises(cfn.exceptions.ClientError, match="cannot be deleted while TerminationProtection is enabled"):
        cfn.delete_stack(StackName=STACK)


def another_runs_change_set(
    world, *, host: str, purpose: str = "deploy", minutes_old: float = 0, changes: bool = True
) -> str:
    """A change set another operator's deploy.py made on the stack (its Description names that run); its name.

    ``minutes_old``: moved back in AWS's own time, as if it was made that long ago; ``changes``: a DMARC
    policy change (without: the deployed template and values, which CloudFormation answers with FAILED).
    """
    from moto.cloudformation import cloudformation_backends

    from tools.lib.deploy.changeset import Owner

    cfn = client("cloudformation", world.admin)
    stack = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    body = cfn.get_template(StackName=STACK)["TemplateBody"]
    parameters = [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in stack["Parameters"]]
    owner = Owner("0123abcd", purpose, "arn:aws:sts::111122223333:assumed-role/Ops/someone-else", host, 4242)
    name = f"arda-mail-other-{host}-{purpose}"
    created = cfn.create_change_set(
        StackName=STACK,
        ChangeSetName=name,
        ChangeSetType="UPDATE",
        TemplateBody=(body if isinstance(body, str) else json.dumps(body)).replace(
            "p=none", "p=quarantine" if changes else "p=none"
        ),
        Parameters=parameters,
        Capabilities=["CAPABILITY_IAM"],
        Description=owner.description(),
    )
    if minutes_old:
        found = cloudformation_backends["111122223333"]["us-east-1"].change_sets[created["Id"]]
        found.creation_time -= timedelta(minutes=minutes_old)
    return name


def test_change_sets_are_owned_by_identity_and_aged_on_aws_clock(world, postmark):
    ok(world.deploy("--yes"))
    rotate(postmark)
    cfn = client("cloudformation", world["admin"])

    def waiting():
        summaries = cfn.list_change_sets(StackName=STACK)["Summaries"]
        return sorted(s["ChangeSetName"] for s in summaries if s["ExecutionStatus"] == "AVAILABLE")

    # Another host's run may still execute its change set: a deploy refuses, naming who made it. A local
    # clock 31 minutes fast changes nothing: age is measured on AWS's clock.
    flying = another_runs_change_set(world, host="ci-runner-7")
    world.clock.seconds += 31 * 60
    soon = world.deploy("--yes")
    assert soon.returncode == 3, soon.stdout + soon.stderr
    assert f"another deploy is in flight: its change set {flying} (made by arn:aws:sts::111122223333:assumed-role/" in (
        soon.stderr
    )
    assert "Ops/someone-else on ci-runner-7)" in soon.stderr and waiting() == [flying]
    # Half an hour on, on AWS's clock: nobody executed it; it is left over. A change set left for review, or a
    # plan's, is never in flight, whoever made it.
    cfn.delete_change_set(ChangeSetName=flying, StackName=STACK)
    stale = another_runs_change_set(world, host="ci-runner-7", minutes_old=31)
    review = another_runs_change_set(world, host="laptop-of-someone", purpose="review")
    kept = world.deploy("--keep-change-set")
    assert kept.returncode == 4, kept.stdout + kept.stderr
    assert f"kept unexecuted change set {stale} (--keep-change-set)" in kept.stderr
    assert f"kept unexecuted change set {review} (--keep-change-set)" in kept.stderr
    assert len(waiting()) == 3, "the two, and this run's own left for review"
    cleaned = ok(world.deploy("--yes"))
    for name in (stale, review):
        assert f"deleted the unexecuted change set {name} of an earlier run" in cleaned.stderr
    assert waiting() == []


def test_a_failed_change_set_never_blocks_a_deploy(world, postmark):
    ok(world.deploy("--yes"))
    failed = another_runs_change_set(world, host="ci-runner-7", changes=False)
    cfn = client("cloudformation", world["admin"])
    (summary,) = [s for s in cfn.list_change_sets(StackName=STACK)["Summaries"] if s["ChangeSetName"] == failed]
    assert summary["Status"] == "FAILED", "CloudFormation: the submitted information didn't contain changes"
    rotate(postmark)
    deployed = ok(world.deploy("--yes"))
    assert f"deleted the unexecuted change set {failed} of an earlier run" in deployed.stderr


def test_a_stack_that_never_settles_gets_heartbeats_then_the_deadline(world, postmark):
    ok(world.deploy("--yes"))
    rotate(postmark)
    CONTROLS.slow_execution = math.inf  # the aws_env fixture resets it
    result = world.deploy("--yes", "--timeout", "0.6")
    assert result.returncode == 1, result.stdout + result.stderr
    # On the fake clock every poll is exactly 2 s: a heartbeat at 30 s, the deadline at 36 s.
    assert re.search(rf"{STACK}: still waiting after 30s; last event: UPDATE_IN_PROGRESS {STACK}", result.stderr)
    (line,) = [entry for entry in result.stderr.splitlines() if entry.startswith("deploy: error:")]
    assert line.startswith(f"deploy: error: {STACK}: not settled after 36s (--timeout); change set arn:")
    assert line.endswith(
        f"executed; CloudFormation carries on: watch it with: aws cloudformation "
        f"describe-stack-events --stack-name {stack_id(world)} --region us-east-1"
    )
    assert set(world.clock.slept) == {2.0}, "followed on the run's clock, never waiting for real"


def test_destroy_needs_a_confirmation_and_the_right_account(world, postmark, tmp_path):
    ok(world.deploy("--yes"))
    unconfirmed = world.deploy("--destroy")
    assert unconfirmed.returncode == 4
    assert "not deleting without a terminal or --yes; nothing was deleted" in unconfirmed.stderr
    assert "RETAIN  MailHostedZone" in unconfirmed.stdout and "DELETE  NsDelegation" in unconfirmed.stdout
    elsewhere = dict(world["env"], **credentials("arn:aws:iam::999988887777:role/Elsewhere"))
    wrong = world.deploy("--destroy", "--yes", env=elsewhere)
    assert wrong.returncode == 3 and "the AWS credentials are for account 999988887777" in wrong.stderr
    assert client("cloudformation", world["admin"]).describe_stacks(StackName=STACK)["Stacks"]
    assert delegated(world)
    usage = world.deploy("--purge-retained")
    assert usage.returncode == 2 and "--purge-retained goes with --destroy" in usage.stderr


@pytest.mark.vcheck("V-PART-003")
def test_destroy_takes_the_partition_down_and_names_what_it_keeps(world, postmark, tmp_path):
    ok(world.deploy("--yes"))
    kept = outputs(world)
    result = ok(world.deploy("--destroy", "--yes"))
    assert "termination protection turned off" in result.stderr
    assert f"{STACK}: DELETE_COMPLETE; the NS delegation left ardamails.com" in result.stdout
    assert f"aws route53 delete-hosted-zone --id {kept['MailHostedZoneId']}" in result.stdout
    assert f"aws secretsmanager delete-secret --secret-id {kept['WebhookSecretArn']}" in result.stdout
    assert not delegated(world), "the custom resource's Delete removes the NS record"
    cfn = client("cloudformation", world["admin"])
    assert [s for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"] == []
    route53 = client("route53", world["admin"])
    assert route53.get_hosted_zone(Id=kept["MailHostedZoneId"])["HostedZone"]["Name"].startswith("dev.ardamails.com")
    secrets = client("secretsmanager", world["admin"])
    assert secrets.describe_secret(SecretId=kept["WebhookSecretArn"]).get("DeletedDate") is None
    with pytest.raises(secrets.exceptions.ResourceNotFoundException):
        secrets.describe_secret(SecretId=kept["PostmarkAccountTokenSecretArn"])
    again = ok(world.deploy("--destroy", "--yes"))
    assert "no such stack in account 111122223333; nothing to take down" in again.stdout
    zone_id = kept["MailHostedZoneId"].split("/")[-1]
    assert f"retained by an earlier stack: hosted zone {zone_id}, webhook secret {kept['WebhookSecretArn']}" in (
        again.stdout
    )
    assert_token_nowhere(result.stdout, result.stderr, folders=[tmp_path])


@pytest.mark.vcheck("V-PART-003")
def test_purge_after_a_plain_destroy_finds_what_was_retained_by_name_and_tags(world, postmark):
    ok(world.deploy("--yes"))
    kept = outputs(world)
    secrets = client("secretsmanager", world["admin"])
    # Someone else's secret with the partition's tag (another tool's): not the webhook secret, never deleted.
    other = secrets.create_secret(
        Name="elsewhere", SecretString="x", Tags=[{"Key": "arda:partition", "Value": "dev"}], Description="not ours"
    )["ARN"]
    ok(world.deploy("--destroy", "--yes"))
    purged = ok(world.purge("--yes"))
    zone_id = kept["MailHostedZoneId"].split("/")[-1]
    assert f"no such stack; retained by an earlier one, to purge: hosted zone {zone_id}" in purged.stdout
    route53 = client("route53", world["admin"])
    with pytest.raises(route53.exceptions.NoSuchHostedZone):
        route53.get_hosted_zone(Id=zone_id)
    assert secrets.describe_secret(SecretId=kept["WebhookSecretArn"]).get("DeletedDate") is not None
    assert secrets.describe_secret(SecretId=other).get("DeletedDate") is None, "only the partition's own secret"
    nothing = ok(world.purge("--yes"))
    assert "no such stack, and nothing it retained in account 111122223333" in nothing.stdout


def test_destroy_with_purge_retained_leaves_nothing(world, postmark):
    ok(world.deploy("--yes"))
    kept = outputs(world)
    result = ok(world.purge("--yes"))
    assert f"deleted the hosted zone {kept['MailHostedZoneId']}" in result.stdout
    assert "scheduled the webhook secret's deletion in 7 days" in result.stdout
    route53 = client("route53", world["admin"])
    with pytest.raises(route53.exceptions.NoSuchHostedZone):
        route53.get_hosted_zone(Id=kept["MailHostedZoneId"])
    secrets = client("secretsmanager", world["admin"])
    assert secrets.describe_secret(SecretId=kept["WebhookSecretArn"]).get("DeletedDate") is not None


def test_purge_refuses_what_no_longer_looks_like_the_partitions_and_deletes_nothing(world, postmark):
    ok(world.deploy("--yes"))
    kept = outputs(world)
    zone_id = kept["MailHostedZoneId"].split("/")[-1]
    route53 = client("route53", world["admin"])
    # Someone handed the zone to another team: the stack still records it, the tags say otherwise.
    route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=zone_id, RemoveTagKeys=["arda:partition"])
    refused = world.purge("--yes")
    assert refused.returncode == 3, refused.stderr
    (line,) = [entry for entry in refused.stderr.splitlines() if entry.startswith("deploy: error:")]
    assert f"{STACK}: refusing to purge: hosted zone {zone_id} is not tagged as Alpha002's" in line
    assert "nothing was deleted" in line
    cfn = client("cloudformation", world["admin"])
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["EnableTerminationProtection"] is True
    # Without the stack, the same zone is not found as the partition's either.
    ok(world.deploy("--destroy", "--yes"))
    after = ok(world.purge("--yes"))
    assert f"hosted zone {zone_id}" not in after.stdout
    assert route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Id"].endswith(zone_id)


def test_a_rewritten_output_cannot_point_the_purge_at_another_secret(world, postmark):
    # Old code: the purge deleted whatever WebhookSecretArn's output named.
    from moto.cloudformation import cloudformation_backends

    ok(world.deploy("--yes"))
    kept = outputs(world)
    secrets = client("secretsmanager", world["admin"])
    unrelated = secrets.create_secret(Name="payments/signing-key", SecretString="x")["ARN"]
    stack = cloudformation_backends["111122223333"]["us-east-1"].get_stack(STACK)
    stack.output_map["WebhookSecretArn"].value = unrelated
    assert outputs(world)["WebhookSecretArn"] == unrelated
    ok(world.purge("--yes"))
    assert secrets.describe_secret(SecretId=unrelated).get("DeletedDate") is None, "another team's secret"
    assert secrets.describe_secret(SecretId=kept["WebhookSecretArn"]).get("DeletedDate") is not None


def test_destroy_refuses_while_another_stack_imports_an_export_and_changes_nothing(world, postmark):
    ok(world.deploy("--yes"))
    cfn = client("cloudformation", world["admin"])
    zone = {"Fn::ImportValue": "Alpha002-dev-API-MailHostedZoneId"}
    tenant = {
        "Resources": {
            "Zone": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/tenant/zone", "Type": "String", "Value": zone},
            }
        },
    }
    cfn.create_stack(StackName="Alpha002-dev-TenantApi", TemplateBody=json.dumps(tenant))
    refused = world.deploy("--destroy", "--yes")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    (line,) = [entry for entry in refused.stderr.splitlines() if entry.startswith("deploy: error:")]
    assert "refusing to destroy: its exports are imported (Alpha002-dev-API-MailHostedZoneId by " in line
    assert "Alpha002-dev-TenantApi" in line and "aws cloudformation list-imports --export-name" in line
    (stack,) = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE" and stack["EnableTerminationProtection"] is True
    # The world refuses the deletion as CloudFormation does, whoever asks.
    cfn.update_termination_protection(EnableTerminationProtection=False, StackName=STACK)
    cfn.delete_stack(StackName=STACK)
    (stack,) = cfn.describe_stacks(StackName=STACK)["Stacks"]
    assert stack["StackStatus"] == "DELETE_FAILED"
    # Once nothing imports it, the destroy goes through.
    cfn.delete_stack(StackName="Alpha002-dev-TenantApi")
    ok(world.deploy("--destroy", "--yes"))


def test_after_a_purge_the_webhook_secrets_recovery_window_is_named_and_a_new_zone_is_made(world, postmark):
    ok(world.deploy("--yes"))
    kept = outputs(world)
    zone_id = kept["MailHostedZoneId"].split("/")[-1]
    ok(world.deploy("--destroy", "--yes"))
    route53 = client("route53", world["admin"])

    def zones():
        found = route53.list_hosted_zones_by_name(DNSName="dev.ardamails.com")["HostedZones"]
        return [z["Id"].split("/")[-1] for z in found if z["Name"] == "dev.ardamails.com."]

    ok(world.purge("--yes"))
    # The purged webhook secret keeps its name through its recovery window (Secrets Manager's rule): a
    # creation now would fail half-way, so it is refused up front, naming the secret and what frees the name.
    refused = world.deploy("--yes")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    (line,) = [entry for entry in refused.stderr.splitlines() if entry.startswith("deploy: error:")]
    webhook = kept["WebhookSecretArn"]
    assert f"the secret Alpha002-dev-Email/WebhookCredential ({webhook}) was deleted with a recovery window" in line
    assert f"aws secretsmanager restore-secret --secret-id {webhook}) to have it adopted" in line
    assert f"aws secretsmanager delete-secret --secret-id {webhook} --force-delete-without-recovery" in line
    assert zones() == [], "the refused run created nothing"
    client("secretsmanager", world["admin"]).delete_secret(SecretId=webhook, ForceDeleteWithoutRecovery=True)
    ok(world.deploy("--yes"))
    assert len(zones()) == 1 and zones() != [zone_id], "nothing retained: a new zone"


def test_a_retained_secret_holding_the_stacks_secret_name_refuses_a_creation(world, postmark):
    secrets = client("secretsmanager", world["admin"])
    held = secrets.create_secret(Name="Alpha002-dev-Email/WebhookCredential", SecretString="x")["ARN"]
    secrets.create_secret(Name="Alpha002-dev-Email/WebhookCredentialOld", SecretString="x")  # a prefix: no clash
    refused = world.deploy("--yes")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert (
        f"the secret Alpha002-dev-Email/WebhookCredential ({held}) holds the stack's webhook secret name and is not "
        "provably the partition's" in refused.stderr
    )
    assert postmark.requests == [], "refused before Postmark was asked"


def test_a_zone_of_the_domain_made_by_hand_is_not_silently_doubled(world, postmark):
    route53 = client("route53", world["admin"])
    theirs = route53.create_hosted_zone(Name="dev.ardamails.com", CallerReference="by-hand")["HostedZone"]["Id"]
    refused = world.deploy("--yes")
    assert refused.returncode == 3
    assert f"({theirs.split('/')[-1]}), not made by this tool" in refused.stderr
    assert f"aws route53 delete-hosted-zone --id {theirs.split('/')[-1]}" in refused.stderr
    assert postmark.requests == [], "refused before Postmark was asked"


def tenant_dkim_records(route53, zone_id: str, count: int, domain: str = "dev.ardamails.com") -> list[dict]:
    """``count`` tenants' DKIM keys, as the runtime writes them: 2048-bit keys, ~410 characters each."""
    key = "k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9
    records = [
        {
            "Name": f"{i:04d}pm._domainkey.tenant{i}.{domain}.",
            "Type": "TXT",
            "TTL": 3600,
            "ResourceRecords": [{"Value": f'"{key[:250]}" "{key[250:]}"'}],
        }
        for i in range(count)
    ]
    for start in range(0, count, 50):
        changes = [{"Action": "CREATE", "ResourceRecordSet": r} for r in records[start : start + 50]]
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return records


def test_purge_of_a_zone_with_150_tenant_keys_stays_within_route53s_limits_and_resumes(world, postmark):
    ok(world.deploy("--yes"))
    kept = outputs(world)
    zone_id = kept["MailHostedZoneId"].split("/")[-1]
    route53 = client("route53", world["admin"])
    records = tenant_dkim_records(route53, zone_id, 150)  # ~62,000 characters: more than one request may hold
    # A purge stopped half-way earlier: 40 keys are gone already; the rest and the zone go now.
    changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in records[:40]]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    ok(world.deploy("--destroy", "--yes"))
    purged = ok(world.purge("--yes"))
    assert f"deleted the hosted zone {zone_id}" in purged.stdout
    with pytest.raises(route53.exceptions.NoSuchHostedZone):
        route53.get_hosted_zone(Id=zone_id)


def test_the_world_refuses_a_request_beyond_route53s_limits(world):
    zone = client("route53", world["admin"]).create_hosted_zone(Name="limits.test", CallerReference="l")
    route53 = client("route53", world["admin"])
    zone_id = zone["HostedZone"]["Id"]
    records = tenant_dkim_records(route53, zone_id, 100, "limits.test")
    with pytest.raises(route53.exceptions.InvalidChangeBatch, match="32000"):
        changes = [{"Action": "DELETE", "ResourceRecordSet": r} for r in records]  # ~41,000 characters
        route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    changed = dict(records[0], TTL=60)
    with pytest.raises(route53.exceptions.InvalidChangeBatch, match="do not match the current values"):
        route53.change_resource_record_sets(
            HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": changed}]}
        )


def test_destroy_yes_on_a_terminal_never_asks(world, postmark):
    """``--yes`` deletes without asking, on a terminal too (a pseudo-terminal here; no input is ever given)."""
    import os
    import pty
    import select
    import subprocess

    from tests.conftest import PYTHON

    ok(world.deploy("--yes"))
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [PYTHON, "deploy.py", "Alpha002", "dev", "--destroy", "--yes"],
        cwd=world.checkout,
        env=world.env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            process.kill()
            raise AssertionError(f"no output for 120 s (waiting for an answer?): {seen[-2000:]!r}")
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0, seen.decode(errors="replace")[-3000:]
    text = seen.decode(errors="replace")
    assert "Type the stack name" not in text and "DELETE_COMPLETE" in text


def test_a_purge_never_deletes_a_zone_a_stack_in_another_region_still_uses(world, postmark, tmp_path):
    """The infrastructure's region changed in a commit while the stack still lives in the old one."""
    import subprocess
    import sys

    from tests.conftest import committed_clone
    from tools.rehearsal.repo import git

    ok(world.deploy("--yes"))
    zone_id = outputs(world)["MailHostedZoneId"]
    moved = committed_clone(tmp_path / "moved", world.checkout)
    infra = moved / "instances" / "Alpha002" / "infrastructure.toml"
    infra.write_text(infra.read_text().replace('region = "us-east-1"', 'region = "us-west-2"'))
    done = subprocess.run([sys.executable, "generate.py"], cwd=moved, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    git(moved, "commit", "-qam", "Alpha002 moves to us-west-2")
    refused = world.deploy(
        "--destroy", "--purge-retained", "--resolver", world.resolver(), "--yes", checkout=moved,
        env=dict(world.env, AWS_DEFAULT_REGION="us-west-2"),
    )  # fmt: skip
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"  # the test's own clients look where the stack is
    assert refused.returncode == 3, refused.stdout + refused.stderr
    (line,) = [entry for entry in refused.stderr.splitlines() if entry.startswith("deploy: error:")]
    assert line.startswith(f"deploy: error: {STACK}: refusing to purge: the stack {STACK} lives in us-east-1 ")
    assert f"ardamails.com still delegates dev.ardamails.com to hosted zone {zone_id}'s name servers" in line
    assert line.endswith("nothing was deleted")
    route53 = client("route53", world["admin"])
    assert route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"] == "dev.ardamails.com."
    cfn = client("cloudformation", world["admin"])
    assert cfn.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_a_purge_refuses_when_dns_cannot_say_whether_the_parent_still_delegates(world, postmark, monkeypatch):
    from tools.lib import delegation

    ok(world.deploy("--yes"))
    ok(world.deploy("--destroy", "--yes"))
    monkeypatch.setattr(delegation, "LIFETIME_SECONDS", 0.5)  # how long DNS is given: not 5 s of this suite's time
    silent = f"127.0.0.1:{free_port_udp()}"  # nothing answers there
    refused = world.deploy("--destroy", "--purge-retained", "--resolver", silent, "--yes")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"DNS ({silent}) could not say whether ardamails.com still delegates dev.ardamails.com" in refused.stderr
    assert ok(world.purge("--yes")), "with a resolver that answers, the purge goes on"


def free_port_udp() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
