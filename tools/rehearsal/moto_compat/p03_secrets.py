"""Patch 3: ``AWS::SecretsManager::Secret`` from a template.

``AWS::SecretsManager::Secret`` has no CloudFormation model: the resource is
skipped and ``Ref`` yields nothing useful. A minimal model creates the secret in
moto's Secrets Manager (``SecretString`` or ``GenerateSecretString``).
"""

from __future__ import annotations

import json

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel
from moto.secretsmanager.models import secretsmanager_backends


def generated(spec: dict, password: str) -> str:
    """The secret a ``GenerateSecretString`` makes: its template with the password under its key."""
    document = json.loads(spec.get("SecretStringTemplate", "{}"))
    document[spec.get("GenerateStringKey", "password")] = password
    return json.dumps(document)


class CompatSecret(CloudFormationModel):
    """AWS::SecretsManager::Secret, enough for Ref (the ARN) and deletion."""

    def __init__(self, arn: str, name: str) -> None:
        self.arn = arn
        self.name = name

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kw):
        props = cloudformation_json.get("Properties", {})
        backend = secretsmanager_backends[account_id][region_name]
        if "SecretString" in props:
            value = props["SecretString"]
        else:
            spec = props.get("GenerateSecretString", {})
            password = backend.get_random_password(
                password_length=int(spec.get("PasswordLength", 32)),
                exclude_characters=spec.get("ExcludeCharacters", ""),
                exclude_numbers=False,
                exclude_punctuation=bool(spec.get("ExcludePunctuation", False)),
                exclude_uppercase=False,
                exclude_lowercase=False,
                include_space=False,
                require_each_included_type=True,
            )
            value = generated(spec, json.loads(password)["RandomPassword"])
        secret = backend.create_secret(
            name=resource_name,
            secret_string=value,
            secret_binary=None,
            description=props.get("Description"),
            tags=props.get("Tags", []),
            kms_key_id=None,
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        return cls(json.loads(secret)["ARN"], resource_name)

    @classmethod
    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        return None

    def delete(self, account_id, region_name):
        secretsmanager_backends[account_id][region_name].delete_secret(
            secret_id=self.arn, recovery_window_in_days=None, force_delete_without_recovery=True
        )


def install() -> None:
    # moto finds models among CloudFormationModel's subclasses, once: look again.
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    assert parsing.get_model_map()["AWS::SecretsManager::Secret"] is CompatSecret
