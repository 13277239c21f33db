"""The PartitionEmail stack class, asserted on parts of template.to_dict()."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from cfnlint.api import lint

from templates import partition_email as pe
from templates.dkim import SELECTOR_PATTERN, TXT_RECORD_PATTERN
from templates.errors import PropsError
from templates.partition_email import EXPORTED_OUTPUTS, PartitionEmail, validate_props
from templates.render import props_for, render
from tests.conftest import build


@pytest.mark.parametrize(
    ("partition", "stack_name"),
    [("dev", "Alpha002-dev-Email"), ("prod", "Beta001-prod-Email")],
)
@pytest.mark.vcheck("V-PART-001")
def test_stack_name(fixture_registry, handler_source, partition, stack_name):
    config = fixture_registry.partition(partition)
    assert config.stack_name == stack_name
    assert props_for(config, handler_source).stack_name == stack_name


@pytest.mark.parametrize(("fixture", "prefix"), [("dev_template", "Alpha002-dev"), ("prod_template", "Beta001-prod")])
@pytest.mark.vcheck("V-PART-016")
def test_six_exports_by_name(request, fixture, prefix):
    template = request.getfixturevalue(fixture)
    for name in EXPORTED_OUTPUTS:
        found = template.find_outputs(name, {"Export": {"Name": f"{prefix}-API-{name}"}})
        assert list(found) == [name]
    exported = template.find_outputs("*", {"Export": {}})
    assert sorted(exported) == sorted(EXPORTED_OUTPUTS)


def test_export_values(dev_template):
    outputs = dev_template.find_outputs()
    assert outputs["MailDomainName"]["Value"] == "dev.ardamails.com"
    assert outputs["ReturnPathDomain"]["Value"] == "pm-bounces.dev.ardamails.com"
    assert outputs["MailHostedZoneId"]["Value"] == {"Ref": "MailHostedZone"}
    assert outputs["DnsRecordsRoleArn"]["Value"] == {"Fn::GetAtt": ["DnsRecordsRole", "Arn"]}
    assert outputs["PostmarkAccountTokenSecretArn"]["Value"] == {"Ref": "PostmarkAccountTokenSecret"}
    assert outputs["WebhookSecretArn"]["Value"] == {"Ref": "WebhookSecret"}


@pytest.mark.vcheck("V-PART-016")
def test_witness_output_is_not_exported(dev_template):
    marker = dev_template.find_outputs("CfnIoMarker")["CfnIoMarker"]
    assert marker["Value"] == pe.INTERFACE_VERSION == "partition-email/v2"
    assert "Export" not in marker


@pytest.mark.vcheck("V-PART-012")
def test_token_is_noecho_and_reaches_only_its_secret(dev_template):
    template = dev_template.template
    assert template["Parameters"]["PostmarkAccountToken"]["NoEcho"] is True
    users = [
        logical_id
        for logical_id, resource in template["Resources"].items()
        if '{"Ref": "PostmarkAccountToken"}' in json.dumps(resource)
    ]
    assert users == ["PostmarkAccountTokenSecret"]
    assert 'PostmarkAccountToken"' not in json.dumps(template["Outputs"]).replace("PostmarkAccountTokenSecret", "")
    dev_template.has_resource_properties(
        "AWS::SecretsManager::Secret", {"SecretString": {"Ref": "PostmarkAccountToken"}}
    )


@pytest.mark.vcheck("V-PART-002", "V-PART-004", "V-PART-005", "V-PART-008")
def test_zone_and_mail_records(dev_template):
    dev_template.resource_count_is("AWS::Route53::HostedZone", 1)
    dev_template.has_resource_properties("AWS::Route53::HostedZone", {"Name": "dev.ardamails.com"})
    zone = {"HostedZoneId": {"Ref": "MailHostedZone"}, "TTL": "3600"}
    dev_template.has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            **zone,
            "Name": "dev.ardamails.com",
            "Type": "TXT",
            "ResourceRecords": ['"v=spf1 include:spf.mtasv.net ~all"'],
        },
    )
    dev_template.has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            **zone,
            "Name": "_dmarc.dev.ardamails.com",
            "Type": "TXT",
            "ResourceRecords": ['"v=DMARC1; p=none; rua=mailto:dmarc-reports@arda.cards"'],
        },
    )
    dev_template.has_resource_properties(
        "AWS::Route53::RecordSet",
        {**zone, "Name": "pm-bounces.dev.ardamails.com", "Type": "CNAME", "ResourceRecords": ["pm.mtasv.net"]},
    )
    # SPF, DMARC, Return-Path and three DKIM slots.
    dev_template.resource_count_is("AWS::Route53::RecordSet", 6)


@pytest.mark.vcheck("V-PART-005")
def test_prod_uses_its_own_dmarc_policy_and_ttl(prod_template):
    prod_template.has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            "Name": "_dmarc.prod.ardamails.com",
            "TTL": "300",
            "ResourceRecords": ['"v=DMARC1; p=quarantine; rua=mailto:dmarc-reports@arda.cards"'],
        },
    )


@pytest.mark.parametrize(
    ("record", "selector", "value", "condition"),
    [(f"DkimSlot{n}Record", f"DkimSlot{n}Selector", f"DkimSlot{n}Value", f"HasDkimSlot{n}") for n in (1, 2, 3)],
)
@pytest.mark.vcheck("V-PART-006", "V-PART-007", "V-PART-021")
def test_each_dkim_slot_is_published_when_set(dev_template, record, selector, value, condition):
    resource = dev_template.resources[record]
    assert resource["Condition"] == condition
    assert dev_template.template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": selector}, ""]}]}
    # The template builds the host itself: a parameter can only choose the label.
    assert resource["Properties"]["Name"] == {"Fn::Join": [".", [{"Ref": selector}, "_domainkey", "dev.ardamails.com"]]}
    assert resource["Properties"]["ResourceRecords"] == [{"Ref": value}]
    params = dev_template.template["Parameters"]
    assert params[selector]["AllowedPattern"] == SELECTOR_PATTERN
    assert params[value]["AllowedPattern"] == TXT_RECORD_PATTERN
    assert params[selector]["Default"] == params[value]["Default"] == ""


def test_there_are_exactly_three_dkim_slots_and_no_role_named_records(dev_template):
    # Postmark shows at most an active, a pending and a revoked key at once.
    dkim = sorted(n for n in dev_template.resources if n.startswith("Dkim"))
    assert dkim == ["DkimSlot1Record", "DkimSlot2Record", "DkimSlot3Record"]


@pytest.mark.vcheck("V-PART-007")
def test_rules_keep_dkim_pairs_whole_and_selectors_distinct(dev_template):
    rules = dev_template.template["Rules"]
    assert set(rules) == {
        "HasDkimSlot1Complete",
        "HasDkimSlot2Complete",
        "HasDkimSlot3Complete",
        "DkimSlots1And2Differ",
        "DkimSlots1And3Differ",
        "DkimSlots2And3Differ",
    }
    assertion = json.dumps(rules["HasDkimSlot2Complete"])
    assert '"Ref": "DkimSlot2Selector"' in assertion and '"Ref": "DkimSlot2Value"' in assertion
    differ = json.dumps(rules["DkimSlots1And3Differ"])
    assert '"Ref": "DkimSlot1Selector"' in differ and '"Ref": "DkimSlot3Selector"' in differ


@pytest.mark.vcheck("V-PART-003")
def test_ns_delegation_custom_resource(dev_template):
    dev_template.has_resource_properties(
        "Custom::NsDelegation",
        {
            "ServiceToken": {"Fn::GetAtt": ["NsDelegationFunction", "Arn"]},
            "AssumeRoleArn": "arn:aws:iam::444455556666:role/ArdaMailsNsDelegation",
            "ParentZoneName": "ardamails.com",
            "RecordName": "dev.ardamails.com",
            "NameServers": {"Fn::GetAtt": ["MailHostedZone", "NameServers"]},
            "TTL": "172800",
        },
    )


def test_handler_source_is_inlined_verbatim(dev_template, handler_source):
    function = dev_template.resources["NsDelegationFunction"]["Properties"]
    assert function["Code"]["ZipFile"] == handler_source
    assert function["Handler"] == "index.handler"
    assert function["Runtime"].startswith("python3.")
    # The function must outlive the handler's AssumeRole retries and still answer.
    from templates import ns_delegation_handler as h

    assert function["Timeout"] > h.ASSUME_ROLE_RETRY_SECONDS + h.RESPONSE_RESERVE_SECONDS


@pytest.mark.vcheck("V-PART-002", "V-PART-013")
def test_deletion_policies_are_deliberate(dev_template):
    policies = {
        logical_id: (r.get("DeletionPolicy"), r.get("UpdateReplacePolicy"))
        for logical_id, r in dev_template.resources.items()
        if "DeletionPolicy" in r or "UpdateReplacePolicy" in r
    }
    assert policies == {
        "MailHostedZone": ("Retain", "Retain"),
        "PostmarkAccountTokenSecret": ("Delete", "Delete"),
        "WebhookSecret": ("Retain", "Retain"),
    }


@pytest.mark.vcheck("V-PART-013")
def test_webhook_secret_is_generated(dev_template):
    dev_template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": {"GenerateStringKey": "password", "ExcludePunctuation": True}},
    )


@pytest.mark.vcheck("V-IAC-007")
def test_every_statement_has_a_sid_and_no_wildcard_action(dev_template):
    statements = dev_template.policy_statements()
    assert len(statements) == 8
    sids = [s.get("Sid") for s in statements]
    assert all(sids) and len(set(sids)) == len(sids)
    for statement in statements:
        for action in statement["Action"]:
            assert "*" not in action, statement


def _policy(template, role):
    return template.resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


@pytest.mark.vcheck("V-PART-015")
def test_delegation_role_may_only_assume_the_platform_root_role(dev_template):
    trust = dev_template.resources["NsDelegationFunctionRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    statements = {s["Sid"]: s for s in _policy(dev_template, "NsDelegationFunctionRole")}
    assert statements["AssumePlatformRootDelegationRole"]["Action"] == ["sts:AssumeRole"]
    assert statements["AssumePlatformRootDelegationRole"]["Resource"] == [
        "arn:aws:iam::444455556666:role/ArdaMailsNsDelegation"
    ]
    assert statements["WriteOwnLogs"]["Resource"] == [{"Fn::GetAtt": ["NsDelegationLogGroup", "Arn"]}]
    # Its own stack's status only: to tell a rollback from an update (templates/ns_delegation_handler.py).
    assert statements["ReadOwnStackStatus"]["Action"] == ["cloudformation:DescribeStacks"]
    assert statements["ReadOwnStackStatus"]["Resource"] == [{"Ref": "AWS::StackId"}]
    assert not any(a.startswith("route53:") for s in statements.values() for a in s["Action"])


@pytest.mark.vcheck("V-PART-014")
def test_dns_records_role_is_least_privilege(dev_template):
    trust = dev_template.resources["DnsRecordsRole"]["Properties"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    statements = {s["Sid"]: s for s in _policy(dev_template, "DnsRecordsRole")}
    zone_arn = {
        "Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":route53:::hostedzone/", {"Ref": "MailHostedZone"}]]
    }
    change = statements["ChangeTenantMailRecords"]
    assert change["Action"] == ["route53:ChangeResourceRecordSets"]
    assert change["Resource"] == [zone_arn]
    assert change["Condition"]["ForAllValues:StringEquals"] == {
        "route53:ChangeResourceRecordSetsRecordTypes": ["TXT", "CNAME"]
    }
    assert change["Condition"]["ForAllValues:StringLike"] == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["*.dev.ardamails.com"]
    }
    assert change["Condition"]["ForAllValues:StringNotLike"] == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
            "_dmarc.dev.ardamails.com",
            "pm-bounces.dev.ardamails.com",
            "_domainkey.dev.ardamails.com",
            "*._domainkey.dev.ardamails.com",
            "*\\052*",
        ]
    }
    assert statements["ReadPartitionZone"]["Resource"] == [zone_arn]


# (action, record name as a caller writes it, type) -> may the tenant DNS-records role do it?
TENANT_TABLE = [
    ("CREATE", "pm._domainkey.acme.dev.ardamails.com", "TXT", True),  # a tenant's DKIM key
    ("UPSERT", "acme.dev.ardamails.com.", "TXT", True),  # trailing dot: the same name
    ("DELETE", "pm-bounces.acme.dev.ardamails.com", "CNAME", True),  # a tenant's Return-Path
    ("UPSERT", "ACME.Dev.ArdaMails.com", "TXT", True),  # case does not matter
    ("UPSERT", "dev.ardamails.com", "TXT", False),  # the apex SPF
    ("UPSERT", "_dmarc.dev.ardamails.com", "TXT", False),
    ("DELETE", "pm-bounces.dev.ardamails.com", "CNAME", False),  # the partition's Return-Path
    ("DELETE", "2026000001pm._domainkey.dev.ardamails.com", "TXT", False),  # old policy: allowed
    ("DELETE", "20150316104110.pm._domainkey.dev.ardamails.com", "TXT", False),  # a dotted selector too
    ("CREATE", "20150316104110.pm._domainkey.acme.dev.ardamails.com", "TXT", True),  # a tenant's dotted one
    ("UPSERT", "_domainkey.dev.ardamails.com", "TXT", False),
    ("CREATE", "*.dev.ardamails.com", "TXT", False),  # a wildcard (old policy: allowed)
    ("CREATE", "*._domainkey.dev.ardamails.com", "TXT", False),
    ("CREATE", "*.acme.dev.ardamails.com", "CNAME", False),
    ("UPSERT", "acme.dev.ardamails.com", "NS", False),  # not a tenant record type
    ("UPSERT", "acme.dev.ardamails.com", "A", False),
    ("UPSERT", "acme.otherdomain.com", "TXT", False),
    ("UPSERT", "evil-dev.ardamails.com", "TXT", False),  # a sibling, not a sub-name
]


@pytest.mark.vcheck("V-PART-014")
@pytest.mark.parametrize(
    ("action", "name", "kind", "allowed"), TENANT_TABLE, ids=[f"{r[0]} {r[1]} {r[2]}" for r in TENANT_TABLE]
)
def test_the_tenant_role_reaches_tenant_records_only(dev_template, action, name, kind, allowed):
    from tools.rehearsal.iam_conditions import change_context, condition_holds

    (change,) = [s for s in _policy(dev_template, "DnsRecordsRole") if s["Sid"] == "ChangeTenantMailRecords"]
    assert condition_holds(change["Condition"], change_context([(action, name, kind)])) is allowed
    if allowed:  # one forbidden change in a batch denies the whole batch
        batch = [(action, name, kind), ("DELETE", "_dmarc.dev.ardamails.com", "TXT")]
        assert not condition_holds(change["Condition"], change_context(batch))


@pytest.mark.vcheck("V-PART-014", "V-PART-015")
def test_get_change_is_granted_only_on_change_ids(dev_template):
    """route53:GetChange appears once, on arn:<partition>:route53:::change/* only."""
    grants = [s for s in dev_template.policy_statements() if "route53:GetChange" in s["Action"]]
    assert len(grants) == 1
    assert grants[0]["Action"] == ["route53:GetChange"]
    assert grants[0]["Resource"] == [{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":route53:::change/*"]]}]
    # And the delegation function, which holds the upstream credentials, gets none.
    assert all(
        not a.startswith("route53:") for s in _policy(dev_template, "NsDelegationFunctionRole") for a in s["Action"]
    )


def test_resources_are_tagged(dev_template):
    tags = dev_template.resources["MailHostedZone"]["Properties"]["HostedZoneTags"]
    assert {"Key": "arda:partition", "Value": "dev"} in tags
    assert {"Key": "Owner", "Value": "platform-devops"} in tags


@pytest.mark.parametrize("partition", ["dev", "prod"])
@pytest.mark.vcheck("V-IAC-005")
def test_cfn_lint_reports_nothing(fixture_registry, handler_source, partition):
    config = fixture_registry.partition(partition)
    matches = lint(render(config, handler_source), regions=[config.infrastructure.region])
    assert [str(m) for m in matches] == []


@pytest.mark.vcheck("V-IAC-003")
def test_build_is_deterministic(dev_config, handler_source):
    assert render(dev_config, handler_source) == render(dev_config, handler_source)
    assert build(dev_config, handler_source).template == build(dev_config, handler_source).template


BAD_PROPS = [
    ("infrastructure", "alpha-002", "PartitionEmailProps.infrastructure must be a name of letters and digits"),
    ("partition", "qa", "PartitionEmailProps.partition must be one of dev, stage, demo, prod, got: 'qa'"),
    ("account_id", "1234", "PartitionEmailProps.account_id must be a 12-digit AWS account ID in quotes, got: '1234'"),
    ("mail_domain", "dev.example.com", "PartitionEmailProps.mail_domain must be '<partition>.<parent_zone_name>'"),
    ("parent_zone_name", "Arda Mails", "PartitionEmailProps.parent_zone_name must be a lowercase domain name"),
    (
        "delegation_role_arn",
        "arn:aws:iam::444455556666:user/x",
        "PartitionEmailProps.delegation_role_arn must be an IAM role ARN",
    ),
    ("dns_records_principal", "*", "PartitionEmailProps.dns_records_principal must be an IAM principal ARN"),
    ("dmarc_policy", "None", "PartitionEmailProps.dmarc_policy must be one of none, quarantine, reject, got: 'None'"),
    ("dmarc_report_address", "reports", "PartitionEmailProps.dmarc_report_address must be a lowercase e-mail address"),
    ("record_ttl", 0, "PartitionEmailProps.record_ttl must be a whole number of seconds from 60 to 172800, got: 0"),
    ("ns_ttl", True, "PartitionEmailProps.ns_ttl must be a whole number of seconds from 60 to 172800, got: True"),
    ("delegation_handler_source", "print(1)", "PartitionEmailProps.delegation_handler_source must be Python source"),
    ("tags", (("aws:x", "y"),), "PartitionEmailProps.tags must use tag names"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_PROPS, ids=[b[0] for b in BAD_PROPS])
def test_bad_props_are_refused_before_anything_is_built(dev_config, handler_source, field, value, message):
    props = dataclasses.replace(props_for(dev_config, handler_source), **{field: value})
    with pytest.raises(PropsError) as info:
        validate_props(props)
    assert message in str(info.value)
    with pytest.raises(PropsError):
        PartitionEmail(props)


def test_cfn_parameter_patterns_mean_what_python_means():
    """The AllowedPatterns are plain regexes that Python and CloudFormation read alike."""
    assert re.fullmatch(SELECTOR_PATTERN, "20240101120000pm")
    assert re.fullmatch(SELECTOR_PATTERN, "")
    assert not re.fullmatch(SELECTOR_PATTERN, "x._domainkey.evil.com")
    assert not re.fullmatch(SELECTOR_PATTERN, "-x")
