"""The documented moto patches (tools/rehearsal/moto_compat/) against the server; proof bare moto has the gaps.

Each behaviour is CloudFormation's or Route 53's, as cited in the patch's module.
The ``bare moto`` tests run moto without the patches in a separate process and
assert the gap is still there: when a moto release fixes one, its test fails and
the patch can go.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import uuid

import pytest

from tests.conftest import PYTHON, REPO

pytestmark = pytest.mark.moto

ZONE = {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": "example.test"}}


def record(name, value: str = '"v"', **extra) -> dict:
    return {
        "Type": "AWS::Route53::RecordSet",
        **extra,
        "Properties": {
            "HostedZoneId": {"Ref": "Zone"},
            "Name": name,
            "Type": "TXT",
            "TTL": "60",
            "ResourceRecords": [value],
        },
    }


def template(resources: dict, parameters: dict | None = None, conditions: dict | None = None) -> str:
    return json.dumps(
        {
            "Parameters": parameters or {},
            "Conditions": conditions or {},
            "Resources": {"Zone": ZONE, **resources},
            "Outputs": {"ZoneId": {"Value": {"Ref": "Zone"}}},
        }
    )


@pytest.fixture
def cfn(aws_env):
    import boto3

    return boto3.client("cloudformation", region_name="us-east-1")


def run_change_set(cfn, stack: str, body: str, parameters: dict | None = None) -> tuple[list[dict], dict]:
    """Create and execute a change set; its changes and the stack afterwards."""
    exists = any(s["StackName"] == stack for s in cfn.describe_stacks()["Stacks"])
    arn = cfn.create_change_set(
        StackName=stack,
        ChangeSetName=f"cs-{uuid.uuid4().hex[:8]}",
        ChangeSetType="UPDATE" if exists else "CREATE",
        TemplateBody=body,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
    )["Id"]
    changes = [c["ResourceChange"] for c in cfn.describe_change_set(ChangeSetName=arn)["Changes"]]
    cfn.execute_change_set(ChangeSetName=arn)
    return changes, cfn.describe_stacks(StackName=stack)["Stacks"][0]


def txt_names(stack: dict) -> list[str]:
    import boto3

    zone_id = next(o["OutputValue"] for o in stack["Outputs"] if o["OutputKey"] == "ZoneId")
    records = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return sorted(r["Name"].rstrip(".") for r in records if r["Type"] == "TXT")


def failures(cfn, stack: str) -> list[tuple[str, str, str]]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [
        (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
        for e in events
        if e["ResourceStatus"].endswith("_FAILED")
    ]


def test_creating_a_record_set_that_exists_fails_the_stack(cfn):
    body = template({"A": record("k.example.test"), "B": record("k.example.test")})
    _, stack = run_change_set(cfn, "dupe", body)
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    ((logical, status, reason),) = failures(cfn, "dupe")
    assert status == "CREATE_FAILED" and logical in ("A", "B")
    assert "Tried to create resource record set [name='k.example.test.', type='TXT'] but it already exists" in reason


def test_a_record_moving_to_another_resource_is_refused_and_rolled_back(cfn):
    # The old DKIM layout: the key's record leaves "Pending" and arrives in "Active" in one update.
    _, first = run_change_set(cfn, "move", template({"Pending": record("s1._domainkey.example.test", '"key1"')}))
    assert first["StackStatus"] == "CREATE_COMPLETE"
    changes, after = run_change_set(cfn, "move", template({"Active": record("s1._domainkey.example.test", '"key1"')}))
    assert sorted((c["Action"], c["LogicalResourceId"]) for c in changes) == [("Add", "Active"), ("Remove", "Pending")]
    # CloudFormation creates Active before its cleanup deletes Pending: Route 53 refuses the CREATE.
    assert after["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert failures(cfn, "move") == [
        (
            "Active",
            "CREATE_FAILED",
            "[Tried to create resource record set [name='s1._domainkey.example.test.', type='TXT'] "
            "but it already exists]",
        )
    ]
    # Rolled back: the live key is still there, once, and the stack still holds the old resource.
    assert txt_names(after) == ["s1._domainkey.example.test"]
    resources = cfn.describe_stack_resources(StackName="move")["StackResources"]
    assert sorted(r["LogicalResourceId"] for r in resources) == ["Pending", "Zone"]


def test_removed_resources_are_deleted_after_the_new_ones_are_created(cfn):
    # A record replaced in place (its Name changes) and another removed: both leave only in cleanup.
    params = {"Sel": {"Type": "String"}}
    name = {"Fn::Join": [".", [{"Ref": "Sel"}, "_domainkey.example.test"]]}
    body = template({"Slot": record(name), "Gone": record("gone.example.test")}, params)
    run_change_set(cfn, "order", body, {"Sel": "s1"})
    changes, stack = run_change_set(cfn, "order", template({"Slot": record(name)}, params), {"Sel": "s2"})
    assert [(c["Action"], c["LogicalResourceId"], c.get("Replacement")) for c in changes] == [
        ("Modify", "Slot", "True"),
        ("Remove", "Gone", None),
    ]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert txt_names(stack) == ["s2._domainkey.example.test"]
    statuses = [
        (e["LogicalResourceId"], e["ResourceStatus"])
        for e in cfn.describe_stack_events(StackName="order")["StackEvents"]
    ]
    assert statuses.index(("Gone", "DELETE_COMPLETE")) < statuses.index(("Slot", "UPDATE_COMPLETE")), (
        "newest first: the delete comes after the update"
    )


def test_change_sets_honour_conditions(cfn):
    params = {"Sel": {"Type": "String", "Default": ""}}
    conditions = {"HasSel": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Sel"}, ""]}]}}
    name = {"Fn::Join": [".", [{"Ref": "Sel"}, "_domainkey.example.test"]]}
    body = template({"Slot": record(name, Condition="HasSel")}, params, conditions)
    changes, stack = run_change_set(cfn, "cond", body, {"Sel": ""})
    assert [c["LogicalResourceId"] for c in changes] == ["Zone"], "a false condition lists nothing"
    assert txt_names(stack) == []
    changes, stack = run_change_set(cfn, "cond", body, {"Sel": "s1"})
    assert [(c["Action"], c["LogicalResourceId"]) for c in changes] == [("Add", "Slot")]
    assert txt_names(stack) == ["s1._domainkey.example.test"]
    changes, stack = run_change_set(cfn, "cond", body, {"Sel": ""})
    assert [(c["Action"], c["LogicalResourceId"]) for c in changes] == [("Remove", "Slot")]
    assert stack["StackStatus"] == "UPDATE_COMPLETE" and txt_names(stack) == []


BARE_MOTO = textwrap.dedent(
    """
    import json, boto3
    from moto import mock_aws
    zone = {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": "example.test"}}
    def rec(name, **extra):
        return {"Type": "AWS::Route53::RecordSet", **extra, "Properties": {"HostedZoneId": {"Ref": "Zone"},
                "Name": name, "Type": "TXT", "TTL": "60", "ResourceRecords": ['"v"']}}
    with mock_aws():
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        r53 = boto3.client("route53", region_name="us-east-1")
        cfn.create_stack(StackName="dupe", TemplateBody=json.dumps(
            {"Resources": {"Zone": zone, "A": rec("k.example.test"), "B": rec("k.example.test")}}))
        zone_id = r53.list_hosted_zones()["HostedZones"][0]["Id"]
        dupes = [r["Name"] for r in r53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
                 if r["Type"] == "TXT"]
        body = {"Parameters": {"Sel": {"Type": "String", "Default": ""}},
                "Conditions": {"HasSel": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Sel"}, ""]}]}},
                "Resources": {"Zone": zone, "Slot": rec("s.example.test", Condition="HasSel")}}
        cs = cfn.create_change_set(StackName="cond", ChangeSetName="c", ChangeSetType="CREATE",
                                   TemplateBody=json.dumps(body))["Id"]
        changes = cfn.describe_change_set(ChangeSetName=cs)["Changes"]
        listed = [c["ResourceChange"]["LogicalResourceId"] for c in changes]
        again = cfn.create_change_set(StackName="cond", ChangeSetName="d", ChangeSetType="CREATE",
                                      TemplateBody=json.dumps(body))
        same_name = [s["StackId"] for s in cfn.describe_stacks()["Stacks"] if s["StackName"] == "cond"]
        tagged = {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": "tagged.test",
                  "HostedZoneConfig": {"Comment": "said"},
                  "HostedZoneTags": [{"Key": "arda:partition", "Value": "dev"}]}}
        cfn.create_stack(StackName="tags", TemplateBody=json.dumps({"Resources": {"Zone": tagged}}))
        by_name = r53.list_hosted_zones_by_name(DNSName="tagged.test")["HostedZones"]
        tagged_id = [z["Id"] for z in r53.list_hosted_zones()["HostedZones"] if "tagged" in z["Name"]][0]
        tags = r53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=tagged_id.split("/")[-1])
        comment = r53.get_hosted_zone(Id=tagged_id)["HostedZone"].get("Config", {}).get("Comment")
        iam = boto3.client("iam", region_name="us-east-1")
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                 "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
        role = iam.create_role(RoleName="nothing", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        creds = boto3.client("sts", region_name="us-east-1").assume_role(RoleArn=role, RoleSessionName="session")
        creds = creds["Credentials"]
        powerless = boto3.client("route53", aws_access_key_id=creds["AccessKeyId"],
                                 aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"])
        powerless.create_hosted_zone(Name="allowed.test", CallerReference="x")  # no policy at all: allowed
        variable = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetRole",
                    "Resource": "${aws:PrincipalArn}"}]}
        try:
            iam.put_role_policy(RoleName="nothing", PolicyName="v", PolicyDocument=json.dumps(variable))
            variable_refused = False
        except Exception:
            variable_refused = True
        again_ok = True
        other = dict(zone, Properties={"Name": "twice.test"})
        twice = cfn.create_change_set(StackName="twice", ChangeSetName="t", ChangeSetType="CREATE",
                                      TemplateBody=json.dumps({"Resources": {"Zone": other}}))
        cfn.execute_change_set(ChangeSetName=twice["Id"])
        try:
            cfn.execute_change_set(ChangeSetName=twice["Id"])  # CloudFormation: InvalidChangeSetStatus
        except Exception:
            again_ok = False
        try:
            cfn.list_imports(ExportName="anything")
            imports_modelled = True
        except Exception as exc:
            imports_modelled = "is not imported" in str(exc)
        try:
            cfn.delete_change_set(ChangeSetName="arn:aws:cloudformation:us-east-1:123456789012:changeSet/gone/1")
            missing = "deleted"
        except Exception as exc:
            missing = type(exc).__name__ + ": " + str(exc)
        soa_zone = r53.create_hosted_zone(Name="soa.test", CallerReference="soa")["HostedZone"]["Id"]
        soa = [r["ResourceRecords"][0]["Value"] for r in r53.list_resource_record_sets(HostedZoneId=soa_zone)[
            "ResourceRecordSets"] if r["Type"] == "SOA"][0]
        kept = r53.create_hosted_zone(Name="kept.test", CallerReference="kept")["HostedZone"]["Id"].split("/")[-1]
        retained = dict(zone, DeletionPolicy="Retain", Properties={"Name": "kept.test"})
        adopt = cfn.create_change_set(StackName="adopt", ChangeSetName="i", ChangeSetType="IMPORT",
                                      TemplateBody=json.dumps({"Resources": {"Zone": retained}}),
                                      ResourcesToImport=[{"ResourceType": "AWS::Route53::HostedZone",
                                                          "LogicalResourceId": "Zone",
                                                          "ResourceIdentifier": {"Id": kept}}])
        import_actions = [c["ResourceChange"]["Action"]
                          for c in cfn.describe_change_set(ChangeSetName=adopt["Id"])["Changes"]]
        cfn.execute_change_set(ChangeSetName=adopt["Id"])
        adopted = [r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName="adopt")["StackResources"]]
        regions = [r["RegionName"] for r in boto3.client("ec2", region_name="us-east-1").describe_regions()["Regions"]]
        from moto.cloudformation.models import cloudformation_backends
        cfn.create_stack(StackName="half", TemplateBody=json.dumps(
            {"Resources": {"Zone": zone}, "Outputs": {"Z": {"Value": {"Ref": "Zone"}, "Export": {"Name": "z"}}}}))
        half = next(s for s in cloudformation_backends["123456789012"]["us-east-1"].stacks.values()
                    if s.name == "half")
        zones_before = len(r53.list_hosted_zones()["HostedZones"])
        half.resource_map._parsed_resources.pop("Zone")  # as a deletion that removed the zone, then failed
        half.status = "DELETE_FAILED"
        cfn.describe_stacks(StackName="half")
        recreated = len(r53.list_hosted_zones()["HostedZones"]) - zones_before
        print(json.dumps({"import_actions": import_actions, "import_adopted": adopted == [kept], "regions": regions,
                          "described_recreated": recreated,
                          "missing_change_set": missing,
                          "soa": soa, "executed_twice": again_ok, "list_imports_modelled": imports_modelled,
                          "duplicates": dupes, "listed": sorted(listed), "stacks_named_cond": len(same_name),
                          "zones_by_name": len(by_name), "zone_tags": tags["ResourceTagSet"].get("Tags", []),
                          "zone_comment": comment,
                          "powerless_created_a_zone": True, "variable_resource_refused": variable_refused}))
    """
)


def test_bare_moto_still_has_these_gaps():
    result = subprocess.run([PYTHON, "-c", BARE_MOTO], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["duplicates"] == ["k.example.test", "k.example.test"], "bare moto now refuses duplicates"
    assert found["listed"] == ["Slot", "Zone"], "bare moto now honours Conditions in change sets"
    assert found["stacks_named_cond"] == 2, "bare moto now keeps one REVIEW_IN_PROGRESS stack per name"
    assert found["zones_by_name"] == 0, "bare moto now names template zones fully qualified"
    assert found["zone_tags"] == [], "bare moto now applies HostedZoneTags"
    assert found["zone_comment"] is None, "bare moto now keeps a template zone's comment"
    assert found["powerless_created_a_zone"], "bare moto now enforces IAM"
    assert found["variable_resource_refused"], "bare moto now accepts a policy variable as the Resource"
    assert found["executed_twice"], "bare moto now refuses a second execution of a change set"
    assert found["soa"].startswith("{'Value'"), "bare moto now serves the SOA value as text"
    assert not found["list_imports_modelled"], "bare moto now answers ListImports"
    assert "ChangeSetNotFound" not in found["missing_change_set"], "bare moto now answers a missing change set"
    assert found["import_actions"] == ["Add"], "bare moto now lists an IMPORT change set's resources as Import"
    assert not found["import_adopted"], "bare moto now adopts the existing resource instead of creating one"
    assert {"us-gov-west-1", "cn-north-1"} <= set(found["regions"]), "bare moto now lists one partition's regions"
    assert "ap-east-1" in found["regions"], "bare moto now lists only the enabled regions"
    assert found["described_recreated"] == 1, "bare moto no longer creates what a half-deleted stack's outputs name"


def test_describe_regions_lists_the_enabled_regions_of_the_callers_partition(aws_env):
    import boto3

    ec2 = boto3.client("ec2", region_name="us-east-1")
    enabled = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions()["Regions"]}
    assert {"us-east-1", "us-west-2", "eu-west-1"} <= set(enabled)
    assert set(enabled.values()) <= {"opt-in-not-required", "opted-in"}
    every = {r["RegionName"]: r["OptInStatus"] for r in ec2.describe_regions(AllRegions=True)["Regions"]}
    assert every["ap-east-1"] == "not-opted-in" and set(enabled) < set(every)
    assert not any(name.startswith(("us-gov-", "cn-")) for name in every), "another partition's regions"


def test_a_change_set_that_does_not_exist_is_not_found(cfn):
    from botocore.exceptions import ClientError

    gone = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/gone/1"
    for call in (cfn.delete_change_set, cfn.describe_change_set):
        with pytest.raises(ClientError) as raised:
            call(ChangeSetName=gone)
        assert raised.value.response["Error"]["Code"] == "ChangeSetNotFound"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_role_without_the_permission_is_refused_and_a_variable_resource_is_accepted(cfn):
    import boto3

    from tools.rehearsal.aws import client, credentials

    iam = boto3.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}  # fmt: skip
    iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust))
    own = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetRole",
           "Resource": "${aws:PrincipalArn}"}]}  # fmt: skip
    iam.put_role_policy(RoleName="reader", PolicyName="own", PolicyDocument=json.dumps(own))
    reader = credentials("arn:aws:iam::123456789012:role/reader")
    assert client("iam", reader).get_role(RoleName="reader")["Role"]["RoleName"] == "reader"
    with pytest.raises(Exception, match="not authorized to perform: route53:CreateHostedZone on resource: \\*"):
        client("route53", reader).create_hosted_zone(Name="refused.test", CallerReference="x")


def test_a_zone_from_a_template_is_tagged_and_found_by_name(cfn):
    import boto3

    zone = {
        "Type": "AWS::Route53::HostedZone",
        "Properties": {
            "Name": "tagged.test",
            "HostedZoneConfig": {"Comment": "said"},
            "HostedZoneTags": [{"Key": "arda:partition", "Value": "dev"}],
        },
    }
    cfn.create_stack(StackName="tags", TemplateBody=json.dumps({"Resources": {"Zone": zone}}))
    route53 = boto3.client("route53")
    (found,) = route53.list_hosted_zones_by_name(DNSName="tagged.test")["HostedZones"]
    assert found["Name"] == "tagged.test." and found["Config"]["Comment"] == "said"
    tags = route53.list_tags_for_resource(ResourceType="hostedzone", ResourceId=found["Id"].split("/")[-1])
    assert tags["ResourceTagSet"]["Tags"] == [{"Key": "arda:partition", "Value": "dev"}]


def test_a_zone_with_more_than_ten_tags_fails_counting_the_stacks_propagated_tags(cfn):
    zone_tags = [{"Key": f"t{i}", "Value": "x"} for i in range(9)]
    zone = {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": "many.test", "HostedZoneTags": zone_tags}}
    body = json.dumps({"Resources": {"Zone": zone}})
    cfn.create_stack(StackName="nine", TemplateBody=body, Tags=[{"Key": "owner", "Value": "me"}])  # 10: fine
    assert cfn.describe_stacks(StackName="nine")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    cs = cfn.create_change_set(StackName="eleven", ChangeSetName="c", ChangeSetType="CREATE",
                               TemplateBody=body.replace("many.test", "more.test"),
                               Tags=[{"Key": "owner", "Value": "me"}, {"Key": "cost", "Value": "1"}])  # fmt: skip
    cfn.get_waiter("change_set_create_complete").wait(ChangeSetName=cs["Id"], WaiterConfig={"Delay": 0.1})
    cfn.execute_change_set(ChangeSetName=cs["Id"])
    (stack,) = cfn.describe_stacks(StackName="eleven")["Stacks"]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    events = cfn.describe_stack_events(StackName="eleven")["StackEvents"]
    (failed,) = [e for e in events if e["ResourceStatus"] == "CREATE_FAILED"]
    assert "at most 10 tags, got 11" in failed["ResourceStatusReason"]


def test_a_zones_soa_reads_as_route53s(aws_env):
    import boto3

    route53 = boto3.client("route53")
    zone = route53.create_hosted_zone(Name="soa.test", CallerReference="soa")["HostedZone"]["Id"]
    (soa,) = [
        r for r in route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"] if r["Type"] == "SOA"
    ]
    primary, contact, serial, refresh, retry, expire, minimum = soa["ResourceRecords"][0]["Value"].split()
    assert primary.endswith(".") and contact == "awsdns-hostmaster.amazon.com."
    assert (serial, refresh, retry, expire, minimum, soa["TTL"]) == ("1", "7200", "900", "1209600", "86400", 900)


def test_a_second_create_change_set_joins_the_stack_under_review(cfn):
    body = template({"A": record("a.example.test")})
    first = cfn.create_change_set(StackName="review", ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=body)
    second = cfn.create_change_set(StackName="review", ChangeSetName="two", ChangeSetType="CREATE", TemplateBody=body)
    assert first["StackId"] == second["StackId"]
    assert [s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]] == ["REVIEW_IN_PROGRESS"]
    assert len(cfn.list_change_sets(StackName=first["StackId"])["Summaries"]) == 2
    cfn.execute_change_set(ChangeSetName=second["Id"])
    (stack,) = cfn.describe_stacks(StackName="review")["Stacks"]
    assert stack["StackId"] == first["StackId"] and stack["StackStatus"] == "CREATE_COMPLETE"
    with pytest.raises(cfn.exceptions.AlreadyExistsException):
        cfn.create_change_set(StackName="review", ChangeSetName="three", ChangeSetType="CREATE", TemplateBody=body)


def test_a_failed_update_rolls_back_what_it_already_changed(cfn):
    import boto3

    params = {"Val": {"Type": "String"}, "Name": {"Type": "String"}}
    body = template(
        {
            "A": record("a.example.test", {"Ref": "Val"}),
            "B": record({"Ref": "Name"}),
            "C": record("c.example.test"),
        },
        params,
    )
    _, first = run_change_set(cfn, "undo", body, {"Val": '"old"', "Name": "b.example.test"})
    # A's value changes in place (fine); B is renamed onto C's name (refused): all of it rolls back.
    _, after = run_change_set(cfn, "undo", body, {"Val": '"new"', "Name": "c.example.test"})
    assert after["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    zone_id = next(o["OutputValue"] for o in after["Outputs"] if o["OutputKey"] == "ZoneId")
    records = boto3.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    txt = sorted((r["Name"].rstrip("."), r["ResourceRecords"][0]["Value"]) for r in records if r["Type"] == "TXT")
    assert txt == [("a.example.test", '"old"'), ("b.example.test", '"v"'), ("c.example.test", '"v"')]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in after["Parameters"]}
    assert parameters == {"Val": '"old"', "Name": "b.example.test"}


def test_tokens_make_a_retry_the_same_request_and_without_them_a_second_one_is_refused(cfn):
    body = template({"A": record("a.example.test")})
    first = cfn.create_change_set(
        StackName="tokens", ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=body, ClientToken="one"
    )
    again = cfn.create_change_set(
        StackName="tokens", ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=body, ClientToken="one"
    )
    assert again["Id"] == first["Id"]
    with pytest.raises(cfn.exceptions.AlreadyExistsException):
        cfn.create_change_set(StackName="tokens", ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=body)
    cfn.execute_change_set(ChangeSetName=first["Id"], ClientRequestToken="run-1")
    cfn.execute_change_set(ChangeSetName=first["Id"], ClientRequestToken="run-1")  # the retry: answered alike
    with pytest.raises(cfn.exceptions.InvalidChangeSetStatusException):
        cfn.execute_change_set(ChangeSetName=first["Id"])


@pytest.mark.parametrize("retain_except_on_create", [False, True])
def test_a_rolled_back_creation_keeps_retained_resources_unless_asked_not_to(cfn, retain_except_on_create):
    import boto3

    kept = {"Type": "AWS::Route53::HostedZone", "DeletionPolicy": "Retain", "Properties": {"Name": "kept.test"}}
    bad = {"Type": "AWS::Route53::RecordSet", "Properties": {"HostedZoneId": {"Ref": "Kept"}, "Name": "x.kept.test",
           "Type": "TXT", "TTL": "60", "ResourceRecords": ['"v"']}}  # fmt: skip
    clash = dict(bad, Properties=dict(bad["Properties"]))  # the same record twice: the second CREATE fails
    body = json.dumps({"Resources": {"Kept": kept, "One": bad, "Two": {**clash, "DependsOn": "One"}}})
    cs = cfn.create_change_set(StackName="retain", ChangeSetName="c", ChangeSetType="CREATE", TemplateBody=body)
    cfn.get_waiter("change_set_create_complete").wait(ChangeSetName=cs["Id"], WaiterConfig={"Delay": 0.1})
    cfn.execute_change_set(ChangeSetName=cs["Id"], RetainExceptOnCreate=retain_except_on_create)
    assert cfn.describe_stacks(StackName="retain")["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    zones = boto3.client("route53").list_hosted_zones_by_name(DNSName="kept.test")["HostedZones"]
    left = [z for z in zones if z["Name"] == "kept.test."]
    assert len(left) == (0 if retain_except_on_create else 1)


def test_a_request_held_after_the_server_acted_waits_with_its_answer(cfn):
    import threading

    import boto3

    from tools.rehearsal.moto_compat import CONTROLS

    answers = []
    creator = boto3.client("cloudformation")  # its own client: it waits in another thread
    body = json.dumps({"Resources": {"Zone": ZONE}})
    CONTROLS.hold("CreateStack", when="after")
    thread = threading.Thread(target=lambda: answers.append(creator.create_stack(StackName="held", TemplateBody=body)))
    thread.start()
    assert CONTROLS.wait_for("CreateStack", timeout=30)
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] == ["held"], "the server acted"
    assert answers == [], "its answer waits"
    CONTROLS.release()
    thread.join(30)
    assert answers[0]["StackId"] == cfn.describe_stacks(StackName="held")["Stacks"][0]["StackId"]


def test_a_deletion_that_failed_half_way_shows_the_outputs_it_had_and_creates_nothing_again(cfn):
    """The zone is deleted first (it depends on the secret), then the caller may not delete the secret: moto
    evaluated the exported outputs again on DescribeStacks and created the zone anew, with the caller's
    permissions (or answered a 500 where the caller may not create it)."""
    import boto3

    from tools.rehearsal.aws import client, credentials

    secret = {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "half/Secret", "SecretString": "s"}}
    zone = dict(ZONE, DependsOn="Secret")
    exported = {"ZoneId": {"Value": {"Ref": "Zone"}, "Export": {"Name": "half-zone"}}}  # moto evaluates exports
    _, stack = run_change_set(
        cfn, "half", json.dumps({"Resources": {"Zone": zone, "Secret": secret}, "Outputs": exported})
    )
    iam = boto3.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}  # fmt: skip
    iam.create_role(RoleName="deleter", AssumeRolePolicyDocument=json.dumps(trust))
    actions = ["cloudformation:*", "route53:*", "secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    allowed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*", "Action": actions}]}
    iam.put_role_policy(RoleName="deleter", PolicyName="all-but-secrets", PolicyDocument=json.dumps(allowed))
    deleter = credentials("arn:aws:iam::123456789012:role/deleter")
    client("cloudformation", deleter).delete_stack(StackName="half")
    (half,) = client("cloudformation", deleter).describe_stacks(StackName="half")["Stacks"]
    assert half["StackStatus"] == "DELETE_FAILED", half["StackStatus"]
    assert half["Outputs"] == stack["Outputs"], "the outputs as they were when the deletion began"
    zones = boto3.client("route53").list_hosted_zones()["HostedZones"]
    assert [z["Name"] for z in zones if z["Name"] == "example.test."] == [], "the deleted zone is not made again"


def test_a_deleted_stack_is_described_by_its_id_without_outputs(cfn):
    body = template({}, parameters=None)
    _, stack = run_change_set(cfn, "gone", body)
    assert stack["Outputs"], "a live stack's outputs (patch 4)"
    cfn.delete_stack(StackName=stack["StackId"])
    (deleted,) = cfn.describe_stacks(StackName=stack["StackId"])["Stacks"]
    assert deleted["StackStatus"] == "DELETE_COMPLETE" and "Outputs" not in deleted


# -- patch 20: IMPORT change sets ------------------------------------------------------------------------

KEPT_ZONE = {
    "Type": "AWS::Route53::HostedZone",
    "DeletionPolicy": "Retain",
    "Properties": {"Name": "kept.test", "HostedZoneConfig": {"Comment": "kept"}},
}
KEPT_SECRET = {
    "Type": "AWS::SecretsManager::Secret",
    "DeletionPolicy": "Retain",
    "Properties": {"Name": "kept/Webhook", "Description": "kept", "SecretString": "s"},
}
OTHER = {"Type": "AWS::SecretsManager::Secret", "Properties": {"Name": "other/Thing", "SecretString": "o"}}


def retained(cfn) -> tuple[str, str]:
    """A zone and a secret left behind by a deleted stack (DeletionPolicy Retain): the zone ID, the secret ARN."""
    run_change_set(cfn, "first", json.dumps({"Resources": {"Zone": KEPT_ZONE, "Secret": KEPT_SECRET}}))
    held = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="first")["StackResources"]
    }
    cfn.delete_stack(StackName="first")
    return held["Zone"], held["Secret"]


def to_import(zone_id: str | None = None, secret_arn: str | None = None) -> list[dict]:
    found = []
    if secret_arn:
        found.append(
            {
                "ResourceType": "AWS::SecretsManager::Secret",
                "LogicalResourceId": "Secret",
                "ResourceIdentifier": {"Id": secret_arn},
            }
        )
    if zone_id:
        found.append(
            {
                "ResourceType": "AWS::Route53::HostedZone",
                "LogicalResourceId": "Zone",
                "ResourceIdentifier": {"Id": zone_id},
            }
        )
    return found


def import_change_set(cfn, stack: str, resources: dict, resources_to_import: list[dict], **extra) -> dict:
    """An IMPORT change set of ``resources``; DescribeChangeSet's answer."""
    body = {"Resources": resources, **extra.pop("sections", {})}
    made = cfn.create_change_set(
        StackName=stack,
        ChangeSetName=f"import-{uuid.uuid4().hex[:8]}",
        ChangeSetType="IMPORT",
        TemplateBody=json.dumps(body),
        ResourcesToImport=resources_to_import,
        **extra,
    )
    return cfn.describe_change_set(ChangeSetName=made["Id"])


def statuses(cfn, stack: str) -> list[tuple[str, str]]:
    """The stack's events, oldest first: (logical ID, status)."""
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [(e["LogicalResourceId"], e["ResourceStatus"]) for e in reversed(events)]


def test_an_import_adopts_retained_resources_into_a_new_stack(cfn):
    import boto3

    from tools.rehearsal.moto_compat.resource_imports import STATUS_REASON

    zone_id, secret_arn = retained(cfn)
    change_set = import_change_set(
        cfn, "adopt", {"Zone": KEPT_ZONE, "Secret": KEPT_SECRET}, to_import(zone_id, secret_arn)
    )
    assert (change_set["Status"], change_set["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    assert change_set["StatusReason"] == STATUS_REASON
    changes = [c["ResourceChange"] for c in change_set["Changes"]]
    assert [(c["Action"], c["LogicalResourceId"], c["PhysicalResourceId"], c["ResourceType"]) for c in changes] == [
        ("Import", "Secret", secret_arn, "AWS::SecretsManager::Secret"),
        ("Import", "Zone", zone_id, "AWS::Route53::HostedZone"),
    ]
    assert all("Replacement" not in c for c in changes)
    assert cfn.describe_stacks(StackName="adopt")["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    cfn.execute_change_set(ChangeSetName=change_set["ChangeSetId"])
    assert cfn.describe_stacks(StackName="adopt")["Stacks"][0]["StackStatus"] == "IMPORT_COMPLETE"
    held = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="adopt")["StackResources"]
    }
    assert held == {"Zone": zone_id, "Secret": secret_arn}, "the very zone and secret, nothing made anew"
    zones = boto3.client("route53").list_hosted_zones_by_name(DNSName="kept.test")["HostedZones"]
    assert [z["Id"].split("/")[-1] for z in zones if z["Name"] == "kept.test."] == [zone_id]
    assert statuses(cfn, "adopt")[1:] == [
        ("adopt", "IMPORT_IN_PROGRESS"),
        ("Secret", "IMPORT_IN_PROGRESS"),
        ("Secret", "IMPORT_COMPLETE"),
        ("Zone", "IMPORT_IN_PROGRESS"),
        ("Zone", "IMPORT_COMPLETE"),
        ("adopt", "IMPORT_COMPLETE"),
    ]


def host(cfn) -> dict:
    """A stack holding one secret and exporting nothing: the template an import adds to."""
    template = {"Resources": {"Other": OTHER}, "Outputs": {"OtherArn": {"Value": {"Ref": "Other"}}}}
    run_change_set(cfn, "host", json.dumps(template))
    return template


def unless(resources: dict, name: str, key: str) -> dict:
    """``resources`` with one attribute of one resource left out."""
    return {**resources, name: {k: v for k, v in resources[name].items() if k != key}}


REFUSALS = {
    "without-deletion-policy": (
        lambda z, s: (unless({"Other": OTHER, "Zone": KEPT_ZONE}, "Zone", "DeletionPolicy"), to_import(z), {}),
        "The following resources to import [Zone] must have DeletionPolicy attribute specified in the template.",
    ),
    "not-in-the-template": (
        lambda z, s: ({"Other": OTHER, "Zone": KEPT_ZONE}, to_import(z, s), {}),
        "The logical resource ids [Secret] provided in ResourceToImport do not exist in the template.",
    ),
    "the-wrong-identifier": (
        lambda z, s: (
            {"Other": OTHER, "Zone": KEPT_ZONE},
            [{**to_import(z)[0], "ResourceIdentifier": {"HostedZoneId": z}}],
            {},
        ),
        "Invalid resource identifier for resource type AWS::Route53::HostedZone. Expected [Id]",
    ),
    "another-type": (
        lambda z, s: ({"Other": OTHER, "Zone": KEPT_SECRET}, to_import(z), {}),
        "Resource type of [Zone] passed in ResourceToImport does not match with resource type defined in the "
        "template. Resource type in ResourceToImport: AWS::Route53::HostedZone; Resource type in Template: "
        "AWS::SecretsManager::Secret.",
    ),
    "a-custom-resource": (
        lambda z, s: (
            {"Other": OTHER, "Zone": {"Type": "Custom::Thing", "DeletionPolicy": "Retain"}},
            [{**to_import(z)[0], "ResourceType": "Custom::Thing"}],
            {},
        ),
        "The following resource types are not supported for resource import: Custom::Thing",
    ),
    "nothing-new": (
        lambda z, s: ({"Other": OTHER}, [{**to_import(secret_arn=s)[0], "LogicalResourceId": "Other"}], {}),
        "The template should contain at least one new resource to import.",
    ),
    "a-resource-the-stack-holds": (
        lambda z, s: (
            {"Other": OTHER, "Zone": KEPT_ZONE},
            [*to_import(z), {**to_import(secret_arn=s)[0], "LogicalResourceId": "Other"}],
            {},
        ),
        "Resources [Other] passed in ResourceToImport are already in a stack and cannot be imported.",
    ),
    "adds-another-resource": (
        lambda z, s: ({"Other": OTHER, "Zone": KEPT_ZONE, "Secret": KEPT_SECRET}, to_import(z), {}),
        "Resources [Secret] is missing from ResourceToImport list",
    ),
    "modifies-a-resource": (
        lambda z, s: (
            {"Other": {**OTHER, "Properties": {**OTHER["Properties"], "SecretString": "new"}}, "Zone": KEPT_ZONE},
            to_import(z),
            {},
        ),
        "You have modified resources [Other] in your template that are not being imported. Update, create or "
        "delete operations cannot be executed during import operations.",
    ),
    "removes-a-resource": (
        lambda z, s: ({"Zone": KEPT_ZONE}, to_import(z), {}),
        "You have modified resources [Other] in your template that are not being imported. Update, create or "
        "delete operations cannot be executed during import operations.",
    ),
    "changes-the-outputs": (
        lambda z, s: (
            {"Other": OTHER, "Zone": KEPT_ZONE},
            to_import(z),
            {"sections": {"Outputs": {"ZoneId": {"Value": {"Ref": "Zone"}}}}},
        ),
        "As part of the import operation, you cannot modify or add [Outputs]",
    ),
    "adds-tags": (
        lambda z, s: ({"Other": OTHER, "Zone": KEPT_ZONE}, to_import(z), {"Tags": [{"Key": "k", "Value": "v"}]}),
        "As part of the import operation, you cannot modify or add [Outputs, Tags]",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_an_import_that_does_more_than_add_the_listed_resources_is_refused(cfn, case):
    zone_id, secret_arn = retained(cfn)
    template = host(cfn)
    make, message = REFUSALS[case]
    resources, listed, extra = make(zone_id, secret_arn)
    if "sections" not in extra and case != "adds-tags":
        extra = {**extra, "sections": {"Outputs": template["Outputs"]}}
    before = cfn.list_change_sets(StackName="host")["Summaries"]
    with pytest.raises(cfn.exceptions.ClientError) as refused:
        import_change_set(cfn, "host", resources, listed, **extra)
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refused.value.response["Error"]["Message"] == message
    assert cfn.list_change_sets(StackName="host")["Summaries"] == before, "nothing was made"
    assert cfn.describe_stacks(StackName="host")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_a_refused_import_into_a_new_stack_leaves_no_stack(cfn):
    zone_id, _ = retained(cfn)
    with pytest.raises(cfn.exceptions.ClientError) as refused:
        import_change_set(
            cfn,
            "fresh",
            {"Zone": KEPT_ZONE},
            to_import(zone_id),
            sections={"Outputs": {"ZoneId": {"Value": {"Ref": "Zone"}}}},
        )
    assert refused.value.response["Error"]["Message"] == (
        "As part of the import operation, you cannot modify or add [Outputs]"
    )
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] == []


def test_an_import_of_what_does_not_exist_or_another_stack_holds_fails_the_change_set(cfn):
    zone_id, secret_arn = retained(cfn)
    missing = import_change_set(cfn, "fresh", {"Zone": KEPT_ZONE}, to_import("ZNOSUCHZONE"))
    assert (missing["Status"], missing["ExecutionStatus"], missing["Changes"]) == ("FAILED", "UNAVAILABLE", [])
    assert missing["StatusReason"] == (
        "Resource of type 'AWS::Route53::HostedZone' with identifier 'ZNOSUCHZONE' was not found."
    )
    assert cfn.describe_stacks(StackName="fresh")["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    adopted = import_change_set(cfn, "fresh", {"Zone": KEPT_ZONE}, to_import(zone_id))
    cfn.execute_change_set(ChangeSetName=adopted["ChangeSetId"])
    owner = cfn.describe_stacks(StackName="fresh")["Stacks"][0]["StackId"]
    again = import_change_set(cfn, "second", {"Zone": KEPT_ZONE}, to_import(zone_id))
    assert (again["Status"], again["StatusReason"]) == ("FAILED", f"{zone_id} already exists in stack {owner}")
    with pytest.raises(cfn.exceptions.InvalidChangeSetStatusException):
        cfn.execute_change_set(ChangeSetName=again["ChangeSetId"])


def test_an_import_whose_resource_vanished_rolls_back_and_adopts_nothing(cfn):
    import boto3

    zone_id, secret_arn = retained(cfn)
    change_set = import_change_set(
        cfn, "adopt", {"Zone": KEPT_ZONE, "Secret": KEPT_SECRET}, to_import(zone_id, secret_arn)
    )
    boto3.client("route53").delete_hosted_zone(Id=zone_id)  # between creation and execution
    cfn.execute_change_set(ChangeSetName=change_set["ChangeSetId"])
    assert cfn.describe_stacks(StackName="adopt")["Stacks"][0]["StackStatus"] == "IMPORT_ROLLBACK_COMPLETE"
    assert statuses(cfn, "adopt")[1:] == [
        ("adopt", "IMPORT_IN_PROGRESS"),
        ("Secret", "IMPORT_IN_PROGRESS"),
        ("Secret", "IMPORT_COMPLETE"),
        ("Zone", "IMPORT_IN_PROGRESS"),
        ("Zone", "IMPORT_FAILED"),
        ("adopt", "IMPORT_ROLLBACK_IN_PROGRESS"),
        ("Secret", "IMPORT_ROLLBACK_COMPLETE"),
        ("adopt", "IMPORT_ROLLBACK_COMPLETE"),
    ]
    events = cfn.describe_stack_events(StackName="adopt")["StackEvents"]
    reasons = {(e["LogicalResourceId"], e["ResourceStatus"]): e.get("ResourceStatusReason") for e in events}
    assert reasons[("Zone", "IMPORT_FAILED")] == (
        f"Resource of type 'AWS::Route53::HostedZone' with identifier '{zone_id}' was not found."
    )
    assert reasons[("adopt", "IMPORT_ROLLBACK_IN_PROGRESS")] == "The following resource(s) failed to import: [Zone]. "
    assert cfn.describe_stack_resources(StackName="adopt")["StackResources"] == []
    assert cfn.describe_change_set(ChangeSetName=change_set["ChangeSetId"])["ExecutionStatus"] == "EXECUTE_FAILED"
    # The secret stayed outside every stack: it can be imported again.
    again = import_change_set(cfn, "again", {"Secret": KEPT_SECRET}, to_import(secret_arn=secret_arn))
    assert again["Status"] == "CREATE_COMPLETE"


def drift(cfn, stack: str) -> dict[str, tuple[str, list]]:
    detection = cfn.detect_stack_drift(StackName=stack)["StackDriftDetectionId"]
    assert cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)["DetectionStatus"] == (
        "DETECTION_COMPLETE"
    )
    found = cfn.describe_stack_resource_drifts(StackName=stack)["StackResourceDrifts"]
    return {d["LogicalResourceId"]: (d["StackResourceDriftStatus"], d["PropertyDifferences"]) for d in found}


def test_an_import_into_an_existing_stack_then_an_update_then_a_deletion_that_retains_again(cfn):
    import boto3

    zone_id, _ = retained(cfn)
    template = host(cfn)
    # The template says another comment than the zone has: CloudFormation imports it anyway; drift tells.
    said = {**KEPT_ZONE, "Properties": {**KEPT_ZONE["Properties"], "HostedZoneConfig": {"Comment": "other"}}}
    change_set = import_change_set(
        cfn, "host", {"Other": OTHER, "Zone": said}, to_import(zone_id), sections={"Outputs": template["Outputs"]}
    )
    assert [c["ResourceChange"]["Action"] for c in change_set["Changes"]] == ["Import"]
    cfn.execute_change_set(ChangeSetName=change_set["ChangeSetId"])
    assert cfn.describe_stacks(StackName="host")["Stacks"][0]["StackStatus"] == "IMPORT_COMPLETE"
    drifted = drift(cfn, "host")
    assert drifted["Other"][0] == "IN_SYNC"
    assert drifted["Zone"] == (
        "MODIFIED",
        [
            {
                "PropertyPath": "/HostedZoneConfig/Comment",
                "ExpectedValue": '"other"',
                "ActualValue": '"kept"',
                "DifferenceType": "NOT_EQUAL",
            }
        ],
    )
    # An ordinary update then adds a record to the imported zone (the zone's JSON as imported: no change).
    updated = {"Resources": {"Other": OTHER, "Zone": said, "A": record("a.kept.test")}, "Outputs": template["Outputs"]}
    changes, stack = run_change_set(cfn, "host", json.dumps(updated))
    assert [(c["Action"], c["LogicalResourceId"]) for c in changes] == [("Add", "A")]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    route53 = boto3.client("route53")
    names = [r["Name"] for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]]
    assert "a.kept.test." in names
    held = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in cfn.describe_stack_resources(StackName="host")["StackResources"]
    }
    assert held["Zone"] == zone_id
    assert drift(cfn, "host")["Zone"][0] == "MODIFIED", "the comment the template says is still not the zone's"
    # Deleting the stack retains the zone again, without the stack's record.
    cfn.delete_stack(StackName="host")
    names = [r["Name"] for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]]
    assert "a.kept.test." not in names and route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"] == "kept.test."


def importer(policy_statements: list[dict]):
    """A CloudFormation client acting as a role holding only ``policy_statements`` (and IAM to change it)."""
    import boto3

    from tools.rehearsal.aws import client, credentials

    iam = boto3.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}
        ],
    }
    iam.create_role(RoleName="importer", AssumeRolePolicyDocument=json.dumps(trust))

    def allow(statements: list[dict]) -> None:
        document = {"Version": "2012-10-17", "Statement": statements}
        iam.put_role_policy(RoleName="importer", PolicyName="only", PolicyDocument=json.dumps(document))

    allow(policy_statements)
    return client("cloudformation", credentials("arn:aws:iam::123456789012:role/importer")), allow


STACKS = {"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}
ZONE_READ = {
    "Effect": "Allow",
    "Resource": "*",
    "Action": ["route53:GetHostedZone", "route53:ListTagsForResource", "route53:ListQueryLoggingConfigs"],
}


def test_an_import_reads_the_resource_with_the_callers_permissions(cfn):
    zone_id, _ = retained(cfn)
    as_importer, allow = importer([STACKS])
    refused = import_change_set(as_importer, "adopt", {"Zone": KEPT_ZONE}, to_import(zone_id))
    assert (refused["Status"], refused["Changes"]) == ("FAILED", [])
    assert refused["StatusReason"].startswith(
        'Resource handler returned message: "User: arn:aws:sts::123456789012:assumed-role/importer/'
    )
    assert (
        f"is not authorized to perform: route53:GetHostedZone on resource: arn:aws:route53:::hostedzone/{zone_id} "
        in refused["StatusReason"]
    )
    assert refused["StatusReason"].endswith("(HandlerErrorCode: AccessDenied)")
    # Allowed to read when the change set is made, refused when it is executed: the import rolls back.
    allow([STACKS, ZONE_READ])
    change_set = import_change_set(as_importer, "adopt", {"Zone": KEPT_ZONE}, to_import(zone_id))
    assert change_set["Status"] == "CREATE_COMPLETE"
    allow([STACKS])
    as_importer.execute_change_set(ChangeSetName=change_set["ChangeSetId"])
    assert cfn.describe_stacks(StackName="adopt")["Stacks"][0]["StackStatus"] == "IMPORT_ROLLBACK_COMPLETE"
    (failed,) = [
        e for e in cfn.describe_stack_events(StackName="adopt")["StackEvents"] if e["ResourceStatus"] == "IMPORT_FAILED"
    ]
    assert "route53:GetHostedZone" in failed["ResourceStatusReason"]
    assert cfn.describe_stack_resources(StackName="adopt")["StackResources"] == []


def test_a_policy_can_refuse_imports_by_the_types_they_import(cfn):
    zone_id, _ = retained(cfn)
    no_imports = {
        "Effect": "Deny",
        "Action": "cloudformation:*",
        "Resource": "*",
        "Condition": {"ForAnyValue:StringLike": {"cloudformation:ImportResourceTypes": ["*"]}},
    }
    as_importer, _ = importer([STACKS, ZONE_READ, no_imports])
    with pytest.raises(as_importer.exceptions.ClientError) as refused:
        import_change_set(as_importer, "adopt", {"Zone": KEPT_ZONE}, to_import(zone_id))
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "cloudformation:CreateChangeSet" in refused.value.response["Error"]["Message"]
    assert "with an explicit deny in an identity-based policy" in refused.value.response["Error"]["Message"]
    # The same role still makes ordinary change sets: the key is absent from them.
    made = as_importer.create_change_set(
        StackName="plain",
        ChangeSetName="c",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps({"Resources": {"Zone": ZONE}}),
    )
    assert as_importer.describe_change_set(ChangeSetName=made["Id"])["Status"] == "CREATE_COMPLETE"


def test_the_products_stack_adopts_what_its_destroy_retained_then_an_update_adds_the_rest(world, postmark):
    """The adoption deploy.py is to make (issue 31), played by hand with the operator's documented policy:
    an IMPORT change set of the zone and the webhook secret alone (no Outputs, no Tags), then the UPDATE of
    the whole template, whose custom resource delegates the zone from the parent again."""
    from cfnlint.decode.cfn_yaml import loads

    from instances.registry import load_registry
    from tests.conftest import STACK, TOKEN, ok
    from tests.e2e.test_destroy import delegated
    from tools.lib.deploy.parameters import stack_tags
    from tools.rehearsal.aws import client

    ok(world.deploy("--yes"))
    admin = client("cloudformation", world.admin)
    kept = {o["OutputKey"]: o["OutputValue"] for o in admin.describe_stacks(StackName=STACK)["Stacks"][0]["Outputs"]}
    ok(world.deploy("--destroy", "--yes"))
    assert not delegated(world)
    body = (world.checkout / "templates" / f"{STACK}.yaml").read_text(encoding="utf-8")
    template = json.loads(json.dumps(loads(body)))
    adopt = {"Resources": {name: template["Resources"][name] for name in ("MailHostedZone", "WebhookSecret")}}
    operator = client("cloudformation", world.env)
    made = operator.create_change_set(
        StackName=STACK,
        ChangeSetName="adopt",
        ChangeSetType="IMPORT",
        TemplateBody=json.dumps(adopt),
        ResourcesToImport=[
            {
                "ResourceType": "AWS::Route53::HostedZone",
                "LogicalResourceId": "MailHostedZone",
                "ResourceIdentifier": {"Id": kept["MailHostedZoneId"]},
            },
            {
                "ResourceType": "AWS::SecretsManager::Secret",
                "LogicalResourceId": "WebhookSecret",
                "ResourceIdentifier": {"Id": kept["WebhookSecretArn"]},
            },
        ],
    )
    assert operator.describe_change_set(ChangeSetName=made["Id"])["Status"] == "CREATE_COMPLETE"
    operator.execute_change_set(ChangeSetName=made["Id"])
    assert operator.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == "IMPORT_COMPLETE"
    config = load_registry().partition("dev")
    update = operator.create_change_set(
        StackName=STACK,
        ChangeSetName="complete",
        ChangeSetType="UPDATE",
        TemplateBody=body,
        Parameters=[{"ParameterKey": "PostmarkAccountToken", "ParameterValue": TOKEN}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
        Tags=[{"Key": k, "Value": v} for k, v in stack_tags(config).items()],
    )
    changes = operator.describe_change_set(ChangeSetName=update["Id"])["Changes"]
    listed = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]["Action"] for c in changes}
    assert "MailHostedZone" not in listed and "WebhookSecret" not in listed, "the adopted ones, unchanged"
    assert listed["NsDelegation"] == "Add" and set(listed.values()) == {"Add"}
    operator.execute_change_set(ChangeSetName=update["Id"])
    stack = operator.describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert delegated(world), "the custom resource's Create wrote the NS delegation into the parent again"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert (outputs["MailHostedZoneId"], outputs["WebhookSecretArn"]) == (
        kept["MailHostedZoneId"],
        kept["WebhookSecretArn"],
    )
    # deploy.py carries on with the adopted stack, and a destroy retains the two again.
    ok(world.deploy("--yes"))
    ok(world.deploy("--destroy", "--yes"))
    assert not delegated(world)
    route53 = client("route53", world.admin)
    assert route53.get_hosted_zone(Id=kept["MailHostedZoneId"])["HostedZone"]["Name"] == "dev.ardamails.com."


# -- patch 21: a round trip per request ----------------------------------------------------------------------

LATENCY = 0.08  # long enough to measure under load, short enough for the suite


def test_every_call_costs_the_latency_and_concurrent_calls_overlap(cfn):
    import threading
    import time

    import boto3

    from tools.rehearsal.moto_compat import CONTROLS

    cfn.describe_stacks()  # the client's connection and models are ready: what follows is the server's time
    CONTROLS.latency_seconds = LATENCY
    for _ in range(3):
        start = time.perf_counter()
        cfn.describe_stacks()
        assert time.perf_counter() - start >= LATENCY
    clients = [boto3.client("cloudformation") for _ in range(2)]  # one each: a client's pool is its own
    for client in clients:
        client.describe_stacks()
    served = len(CONTROLS.served)

    threads = [threading.Thread(target=client.describe_stacks) for client in clients]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    elapsed = time.perf_counter() - start
    assert LATENCY <= elapsed < 2 * LATENCY, "the two calls waited at the same time, not one after the other"
    together = CONTROLS.served[served:]
    assert [s.action for s in together] == ["DescribeStacks"] * 2
    assert {(s.service, s.caller) for s in together} == {("cloudformation", "Boto3")}
    assert all(s.answered - s.arrived >= LATENCY for s in together)
    CONTROLS.latency_seconds = 0.0
    start = time.perf_counter()
    cfn.describe_stacks()
    assert time.perf_counter() - start < LATENCY, "off again"
