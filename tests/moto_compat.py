"""Test-only patches for known CloudFormation gaps of moto (pinned: moto[server]==5.2.5).

The end-to-end deploy test runs ``python deploy.py`` as a subprocess against a moto
server that lives in the pytest process, so patching moto's classes here changes
what that server does. The product code is never bent to suit moto; each patch
makes moto behave the way CloudFormation does, for one documented gap:

1. ``GetAtt <zone>.NameServers`` is not implemented for ``AWS::Route53::HostedZone``.
2. ``Custom::`` resources are run by invoking the Lambda in Docker, which this
   machine does not have. Here the resource runs the real delegation handler
   (``templates/ns_delegation_handler.py``, the same source the template inlines)
   in-process against the same moto server, and its result is recorded the way
   moto records a CloudFormation response.
3. ``AWS::SecretsManager::Secret`` has no CloudFormation model: the resource is
   skipped and ``Ref`` yields nothing useful. A minimal model creates the secret in
   moto's Secrets Manager (``SecretString`` or ``GenerateSecretString``).
4. Executing a change set does not compute the stack's outputs or register its
   exports: they are recomputed after execution.
5. Updating one ``AWS::Route53::RecordSet`` deletes every record of that name
   (e.g. the zone's own NS/SOA and the SPF TXT at the apex): it deletes by name and
   type here, as Route 53 does.
6. ``CreateChangeSet`` with an unchanged template and parameters raises
   ``ValidationError: No updates are to be performed.`` at once, where
   CloudFormation creates a FAILED change set ("The submitted information didn't
   contain changes."). The early raise is removed so moto's own FAILED-change-set
   path answers, as CloudFormation does.

Deliberately not patched: moto returns NoEcho parameter values in clear text from
``DescribeStacks``. Leaving that in makes the token-leak assertions stricter: if
deploy.py ever printed stack parameters, the token would show up and fail them.
"""

from __future__ import annotations

import json
from typing import Any

_applied = False


def apply() -> None:
    """Install every patch once (idempotent)."""
    global _applied
    if _applied:
        return
    _applied = True
    _zone_name_servers()
    _custom_resources()
    _secrets()
    _outputs_after_change_set()
    _record_set_update_by_type()
    _empty_change_set_is_failed_not_raised()


def _zone_name_servers() -> None:
    from moto.route53.models import FakeZone

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name == "NameServers":
            return list(self.delegation_set.name_servers)
        if attribute_name == "Id":
            return self.id
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    FakeZone.has_cfn_attr = classmethod(lambda cls, attr: attr in ("Id", "NameServers"))
    FakeZone.get_cfn_attribute = get_cfn_attribute


def _custom_resources() -> None:
    import boto3
    from moto.cloudformation import custom_model
    from moto.cloudformation.custom_model import CustomModel

    from templates import ns_delegation_handler

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        from moto.awslambda.utils import get_backend as get_lambda_backend
        from moto.cloudformation import cloudformation_backends

        properties = cloudformation_json["Properties"]
        get_lambda_backend(account_id, region_name).get_function(properties["ServiceToken"])  # must exist
        resource = CustomModel(region_name, "compat", kwargs["LogicalId"], resource_name)
        stack = cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"])
        stack.add_custom_resource(resource)
        event = {
            "RequestType": "Create",
            "ResponseURL": "http://127.0.0.1:9/unused",
            "StackId": kwargs["StackId"],
            "RequestId": "compat",
            "LogicalResourceId": kwargs["LogicalId"],
            "ResourceType": kwargs["ResourceType"],
            # CloudFormation hands custom resources their properties as strings.
            "ResourceProperties": json.loads(json.dumps(properties, default=str)),
        }
        physical_id, data = ns_delegation_handler.handle(event, boto3.Session(), remaining_seconds=60)
        resource.resource_name = physical_id
        resource.set_data(data)
        return resource

    CustomModel.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    custom_model.CustomModel = CustomModel


def _secrets() -> None:
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.secretsmanager.models import secretsmanager_backends

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
                password = json.loads(password)["RandomPassword"]
                document = json.loads(spec.get("SecretStringTemplate", "{}"))
                document[spec.get("GenerateStringKey", "password")] = password
                value = json.dumps(document)
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

    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
    assert parsing.get_model_map()["AWS::SecretsManager::Secret"] is CompatSecret


def _outputs_after_change_set() -> None:
    from moto.cloudformation.models import CloudFormationBackend

    original = CloudFormationBackend.execute_change_set

    def execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        for stack in self.stacks.values():
            if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
                stack._parse_template()
                stack.output_map = stack._create_output_map()
                for export in stack.exports:
                    self.exports[export.name] = export

    CloudFormationBackend.execute_change_set = execute_change_set


def _record_set_update_by_type() -> None:
    from moto.route53.models import RecordSet

    def update_from_cloudformation_json(
        cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
    ):
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    RecordSet.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)


def _empty_change_set_is_failed_not_raised() -> None:
    from moto.cloudformation.responses import CloudFormationResponse

    original_validate = CloudFormationResponse._validate_different_update
    original_create = CloudFormationResponse.create_change_set

    def validate_different_update(self, incoming_params, stack_body, old_stack):
        if getattr(self, "_compat_creating_change_set", False):
            return None
        return original_validate(self, incoming_params, stack_body, old_stack)

    def create_change_set(self):
        self._compat_creating_change_set = True
        try:
            return original_create(self)
        finally:
            self._compat_creating_change_set = False

    CloudFormationResponse._validate_different_update = validate_different_update
    CloudFormationResponse.create_change_set = create_change_set
