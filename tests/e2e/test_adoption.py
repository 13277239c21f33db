"""Taking a partition down and bringing it back keeps its zone, its name servers and its tenants' records (issue 31).

``--destroy`` retains the zone and the webhook secret; a deploy after it adopts them (an
IMPORT change set, then the update that brings the rest back) instead of refusing or
making a second zone. Each sequence runs in the world (patch 20 plays CloudFormation's
resource import), under the operator's policy; the deploy policy alone is proven in
``test_least_privilege.py`` ("adoption after a destroy", "plan of an adoption").
"""

from __future__ import annotations

import json
import signal

import pytest

from tests.conftest import STACK, assert_token_nowhere, deploy, ok
from tests.e2e.test_cli_contract import held, start, stop
from tests.e2e.test_destroy import free_port_udp, outputs, tenant_dkim_records
from tools import verify_partition_mail
from tools.rehearsal.aws import change_record, client
from tools.rehearsal.moto_compat import CONTROLS

DOMAIN = "dev.ardamails.com"
TAGS = [{"Key": "arda:infrastructure", "Value": "Alpha002"}, {"Key": "arda:partition", "Value": "dev"}]


def zones(world) -> list[str]:
    found = client("route53", world.admin).list_hosted_zones_by_name(DNSName=DOMAIN)["HostedZones"]
    return [z["Id"].split("/")[-1] for z in found if z["Name"] == f"{DOMAIN}."]


def record_sets(world, zone_id: str) -> list[dict]:
    route53 = client("route53", world.admin)
    pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    return [r for page in pages for r in page["ResourceRecordSets"]]


def name_servers(world, zone_id: str) -> list[str]:
    return client("route53", world.admin).get_hosted_zone(Id=zone_id)["DelegationSet"]["NameServers"]


def delegation(world) -> list[str]:
    """The NS records of the mail domain in the parent zone."""
    found = client("route53", world.root).list_resource_record_sets(
        HostedZoneId=world.parent_zone_id, StartRecordName=DOMAIN, StartRecordType="NS", MaxItems="1"
    )["ResourceRecordSets"]
    return sorted(
        v["Value"].rstrip(".")
        for r in found
        if r["Name"] == f"{DOMAIN}." and r["Type"] == "NS"
        for v in r["ResourceRecords"]
    )


def stack_status(world) -> str | None:
    cfn = client("cloudformation", world.admin)
    stacks = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == STACK]
    live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    return live[0]["StackStatus"] if live else None


def refusal(result) -> str:
    assert result.returncode == 3, result.stdout + result.stderr
    (line,) = [entry for entry in result.stderr.splitlines() if entry.startswith("deploy: error:")]
    return line


def taken_down(world) -> tuple[str, dict[str, str], list[dict]]:
    """Deployed, 50 tenants' DKIM keys written by the runtime, then --destroy: the zone ID, the outputs, the tenants."""
    ok(world.deploy("--yes"))
    kept = outputs(world)
    zone_id = kept["MailHostedZoneId"].split("/")[-1]
    tenants = tenant_dkim_records(client("route53", world.admin), zone_id, 50)
    ok(world.deploy("--destroy", "--yes"))
    return zone_id, kept, tenants


def test_destroy_then_deploy_adopts_the_zone_keeping_its_name_servers_and_tenant_records(world, postmark):
    ok(world.deploy("--yes"))
    kept = outputs(world)
    zone_id = kept["MailHostedZoneId"].split("/")[-1]
    servers, delegated = name_servers(world, zone_id), delegation(world)
    assert delegated, "the first deploy delegated the domain"
    tenants = tenant_dkim_records(client("route53", world.admin), zone_id, 50)
    ok(world.deploy("--destroy", "--yes"))
    assert delegation(world) == [], "the destroy took the delegation away with its NsDelegation"
    before = record_sets(world, zone_id)

    planned = ok(world.deploy("--plan", "--json", "--resolver", world.resolver()))
    document = json.loads(planned.stdout)
    assert document["outcome"] == "planned"
    adoption = document["adoption"]
    assert adoption["zone"] == {
        "id": zone_id,
        "name_servers": sorted(s.lower() for s in servers),
        "records": len(before),
    }
    assert adoption["webhook_secret"] == {"arn": kept["WebhookSecretArn"]}
    assert "DnsRecordsRole" in adoption["created_after"] and "MailHostedZone" not in adoption["created_after"]
    assert {(c["action"], c["logical_id"]) for c in document["changes"]} == {
        ("Import", "MailHostedZone"),
        ("Import", "WebhookSecret"),
    }
    assert record_sets(world, zone_id) == before and zones(world) == [zone_id], "a plan changes nothing"
    assert stack_status(world) is None, "the plan's IMPORT change set and its review stack are gone"

    adopted = ok(world.deploy("--yes", "--resolver", world.resolver()))
    assert f"{STACK}: IMPORT_COMPLETE" in adopted.stdout and f"{STACK}: UPDATE_COMPLETE" in adopted.stdout
    assert f"Import  MailHostedZone  AWS::Route53::HostedZone     {zone_id}" in adopted.stdout
    assert zones(world) == [zone_id], "one zone: the same"
    assert name_servers(world, zone_id) == servers
    live = {(r["Name"], r["Type"]): r["ResourceRecords"] for r in record_sets(world, zone_id) if "ResourceRecords" in r}
    for tenant in tenants:
        assert live[(tenant["Name"], "TXT")] == tenant["ResourceRecords"], "a tenant's record changed"
    assert stack_status(world) == "UPDATE_COMPLETE"
    now = outputs(world)
    assert now["MailHostedZoneId"].split("/")[-1] == zone_id and now["WebhookSecretArn"] == kept["WebhookSecretArn"]
    for record in ("_dmarc", "pm-bounces"):
        assert any(name.startswith(f"{record}.{DOMAIN}") for name, _ in live), f"the stack's {record} record is back"
    assert delegation(world) == delegated, "the same name servers delegated"
    verified = world.run(
        verify_partition_mail.main, "Alpha002", "dev", "--no-postmark", "--resolver", world.resolver(),
        clock=world.clock.clock(),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    again = ok(world.deploy("--yes", "--resolver", world.resolver()))
    assert "no changes" in again.stdout, "the adopted stack is an ordinary stack now"
    assert_token_nowhere(planned.stdout + planned.stderr, adopted.stdout + adopted.stderr)


def test_a_zone_made_by_hand_with_the_partitions_tags_is_adopted_after_a_failed_first_creation(world, postmark):
    theirs = ["ns-1.elsewhere.example.", "ns-2.elsewhere.example."]
    change_record(client("route53", world.root), world.parent_zone_id, "CREATE", f"{DOMAIN}.", "NS", theirs)
    failed = world.deploy("--yes")
    assert failed.returncode == 1 and stack_status(world) == "ROLLBACK_COMPLETE"
    assert zones(world) == [], "a failed first creation leaves no zone"
    change_record(client("route53", world.root), world.parent_zone_id, "DELETE", f"{DOMAIN}.", "NS", theirs)
    route53 = client("route53", world.admin)
    made = route53.create_hosted_zone(Name=DOMAIN, CallerReference="by-hand")["HostedZone"]["Id"].split("/")[-1]
    route53.change_tags_for_resource(ResourceType="hostedzone", ResourceId=made, AddTags=TAGS)
    adopted = ok(world.deploy("--yes", "--delete-failed-stack", "--resolver", world.resolver()))
    assert f"adopting hosted zone {made}" in adopted.stderr
    assert zones(world) == [made] and outputs(world)["MailHostedZoneId"].split("/")[-1] == made
    assert stack_status(world) == "UPDATE_COMPLETE"


def test_a_zone_made_by_hand_without_the_tags_is_refused_naming_both_ways_forward(world, postmark):
    made = client("route53", world.admin).create_hosted_zone(Name=DOMAIN, CallerReference="x")["HostedZone"]["Id"]
    made = made.split("/")[-1]
    line = refusal(world.deploy("--yes", "--resolver", world.resolver()))
    assert f"already holds the public hosted zone {DOMAIN} ({made}), not made by this tool" in line
    assert f"aws route53 delete-hosted-zone --id {made}" in line and "tag it as the partition's" in line
    assert zones(world) == [made] and stack_status(world) is None
    # step 5's refusal: Postmark may have been read beside it (steps 6 and 8's read), never changed
    assert [r for r in postmark.requests if r.method != "GET"] == []
    # The token is read side by side with this guard; the answers are taken in step order, so a 1Password that
    # fails at the same time (step 6) does not hide step 5's refusal.
    both = world.deploy("--yes", "--resolver", world.resolver(), env=dict(world.env, OP_STANDIN_EXIT="1"))
    assert refusal(both) == line
    # ... nor does one that waits for the operator to unlock it keep the refused command from ending.
    waiting = dict(world.env, OP_STANDIN_SLEEP="60")
    refused = deploy(waiting, "--yes", "--resolver", world.resolver(), checkout=world.checkout, timeout=30)
    assert refusal(refused) == line


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_adoption_stopped_between_the_import_and_the_update_says_so_and_a_rerun_finishes_it(world, postmark, signum):
    zone_id, kept, tenants = taken_down(world)
    resolver = world.resolver()
    # the update's change set, after the import ran: made by AWS, its answer not yet read when the signal comes
    # (held before AWS acts, a release after the command ended would make it behind the test's back)
    CONTROLS.hold("CreateChangeSet", after="ExecuteChangeSet", when="after")
    process = start(world, "deploy", "Alpha002", "dev", "--yes", "--resolver", resolver)
    assert held("CreateChangeSet", process), "the adoption never got to its update"
    _, out, err = stop(process, signum)
    CONTROLS.release()
    last = err.splitlines()[-1]
    assert f"adopted hosted zone {zone_id}" in last, last
    assert "the rest of the stack is not back yet: run python deploy.py Alpha002 dev --yes" in last, last
    assert stack_status(world) == "IMPORT_COMPLETE", "the import stands; the update's change set is gone"
    summaries = client("cloudformation", world.admin).list_change_sets(StackName=STACK)["Summaries"]
    assert [s["ExecutionStatus"] for s in summaries] in ([], ["EXECUTE_COMPLETE"]), "only the executed import is there"
    finished = ok(world.deploy("--yes"))  # nothing left to adopt: an ordinary update, no DNS asked
    assert "adopting" not in finished.stderr and f"{STACK}: UPDATE_COMPLETE" in finished.stdout
    assert zones(world) == [zone_id] and outputs(world)["WebhookSecretArn"] == kept["WebhookSecretArn"]
    assert_token_nowhere(out, err)


def test_a_zone_a_stack_in_another_region_claims_is_not_adopted(world, postmark):
    zone_id, _, _ = taken_down(world)
    elsewhere = client("cloudformation", world.admin, region="us-west-2")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}
    elsewhere.create_stack(StackName=STACK, TemplateBody=json.dumps(template))
    line = refusal(world.deploy("--yes", "--resolver", world.resolver()))
    assert f"refusing to adopt the retained hosted zone {zone_id}: the stack {STACK} lives in us-west-2" in line
    assert stack_status(world) is None and zones(world) == [zone_id]


def test_a_delegation_to_other_name_servers_or_dns_that_cannot_answer_refuses_the_adoption(
    world, postmark, monkeypatch
):
    from tools.lib import delegation

    zone_id, _, _ = taken_down(world)
    monkeypatch.setattr(delegation, "LIFETIME_SECONDS", 0.5)  # how long DNS is given: not 5 s of this suite's time
    silent = f"127.0.0.1:{free_port_udp()}"  # nothing answers there
    line = refusal(world.deploy("--yes", "--resolver", silent))
    assert f"DNS ({silent}) could not say whether ardamails.com delegates {DOMAIN} elsewhere" in line
    theirs = ["ns-1.elsewhere.example.", "ns-2.elsewhere.example."]
    change_record(client("route53", world.root), world.parent_zone_id, "CREATE", f"{DOMAIN}.", "NS", theirs)
    line = refusal(world.deploy("--yes", "--resolver", world.resolver()))
    assert f"ardamails.com delegates {DOMAIN} to ns-1.elsewhere.example, ns-2.elsewhere.example" in line
    assert stack_status(world) is None and zones(world) == [zone_id]
