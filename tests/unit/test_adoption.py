"""The adoption's pieces that need no world: the import's template, its ResourcesToImport, what the update adds."""

from __future__ import annotations

import json

from instances.registry import DEFAULT_ROOT, load_registry
from templates.render import template_path
from tools.lib.deploy.adoption import Adoption, created_after, import_template, only_adopted
from tools.lib.plan.template import parse_template

CONFIG = load_registry(DEFAULT_ROOT).lookup("Alpha002", "dev")
BODY = template_path(CONFIG).read_text()
SECRET = "arn:aws:secretsmanager:us-east-1:111122223333:secret:Alpha002-dev-Email/WebhookCredential-AbCdEf"
BOTH = Adoption("Z0123456789", ("ns-1.example.", "ns-2.example."), 57, SECRET)


def test_the_import_template_holds_exactly_the_adopted_resources_as_committed():
    committed = parse_template(BODY, "committed")
    imported = json.loads(import_template(BODY, BOTH, "Alpha002-dev-Email"))
    assert set(imported) == {"AWSTemplateFormatVersion", "Description", "Resources"}, "no outputs, parameters, rules"
    assert imported["Resources"] == {k: committed["Resources"][k] for k in ("MailHostedZone", "WebhookSecret")}
    for resource in imported["Resources"].values():
        assert resource["DeletionPolicy"] == "Retain", "an import requires a DeletionPolicy"
    only_zone = json.loads(import_template(BODY, Adoption(zone_id="Z0123456789"), "Alpha002-dev-Email"))
    assert set(only_zone["Resources"]) == {"MailHostedZone"}
    assert import_template(BODY, BOTH, "x") == import_template(BODY, BOTH, "x"), "the same bytes every time"


def test_resources_to_import_name_each_by_its_schemas_primary_identifier():
    assert BOTH.resources_to_import() == [
        {
            "ResourceType": "AWS::Route53::HostedZone",
            "LogicalResourceId": "MailHostedZone",
            "ResourceIdentifier": {"Id": "Z0123456789"},
        },
        {
            "ResourceType": "AWS::SecretsManager::Secret",
            "LogicalResourceId": "WebhookSecret",
            "ResourceIdentifier": {"Id": SECRET},
        },
    ]
    assert (
        not Adoption() and Adoption(secret_arn=SECRET).resources_to_import()[0]["LogicalResourceId"] == "WebhookSecret"
    )
    assert BOTH.to_dict()["zone"] == {
        "id": "Z0123456789",
        "name_servers": ["ns-1.example.", "ns-2.example."],
        "records": 57,
    }


def test_the_update_adds_what_the_parameters_bring_and_not_what_was_adopted():
    one_key = {
        "DkimSlot1Selector": "2026pm",
        "DkimSlot1Value": "k=rsa;p=x",
        "DkimSlot2Selector": "",
        "DkimSlot3Selector": "",
    }
    added = created_after(BODY, BOTH, one_key, "Alpha002-dev-Email")
    assert "DkimSlot1Record" in added and "DkimSlot2Record" not in added, "an empty slot has no record"
    assert "MailHostedZone" not in added and "WebhookSecret" not in added and "NsDelegation" in added


def test_a_stack_holding_only_adopted_resources_is_a_creation_to_the_iam_gate():
    committed = parse_template(BODY, "committed")
    assert only_adopted(json.loads(import_template(BODY, BOTH, "x")))
    assert not only_adopted(committed) and not only_adopted({}) and not only_adopted({"Resources": {}})
