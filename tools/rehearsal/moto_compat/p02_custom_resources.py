"""Patch 2: ``Custom::`` resources run the delegation handler in-process.

``Custom::`` resources are run by invoking the Lambda in Docker, which this
machine does not have, and moto never sends them Update or Delete. Here the
resource runs the real delegation handler (``templates/ns_delegation_handler.py``,
the same source the template inlines) in-process against the same moto server
for Create, Update (with ``OldResourceProperties``) and Delete (when the stack
or the resource goes), as CloudFormation's custom resource protocol does
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes.html).
A failed request fails the resource. Simplification: when an Update returns a
new physical ID, the old one's Delete runs at once instead of in the cleanup phase.
"""

from __future__ import annotations

import json

import boto3
import botocore.session
from moto.awslambda.utils import get_backend as get_lambda_backend
from moto.cloudformation import cloudformation_backends
from moto.cloudformation.custom_model import CustomModel

from templates import ns_delegation_handler
from tools.rehearsal import iam_world
from tools.rehearsal.moto_compat.controls import WORLD_AGENT


def run(event: dict) -> tuple[str, dict]:
    """The handler's answer to ``event`` (its physical ID and data), run with the function role's credentials."""
    # CloudFormation hands custom resources their properties as strings.
    for key in ("ResourceProperties", "OldResourceProperties"):
        if key in event:
            event[key] = json.loads(json.dumps(event[key], default=str))
    stack_id = event["StackId"]
    account, region = stack_id.split(":")[4], stack_id.split(":")[3]
    token = event["ResourceProperties"]["ServiceToken"]
    core = botocore.session.Session()
    core.user_agent_extra = WORLD_AGENT  # AWS calling AWS: no client's round trip (patch 20)
    session = boto3.Session(botocore_session=core, **iam_world.function_role_credentials(token, account, region))
    return ns_delegation_handler.handle(event, session, remaining_seconds=60)


def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    properties = cloudformation_json["Properties"]
    get_lambda_backend(account_id, region_name).get_function(properties["ServiceToken"])  # must exist
    resource = CustomModel(region_name, "compat", kwargs["LogicalId"], resource_name)
    stack = cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"])
    stack.add_custom_resource(resource)
    resource.compat_event = {
        "ResponseURL": "http://127.0.0.1:9/unused",
        "StackId": kwargs["StackId"],
        "RequestId": "compat",
        "LogicalResourceId": kwargs["LogicalId"],
        "ResourceType": kwargs["ResourceType"],
    }
    physical_id, data = run({**resource.compat_event, "RequestType": "Create", "ResourceProperties": properties})
    resource.resource_name = physical_id
    resource.compat_properties = properties
    resource.set_data(data)
    return resource


def update_from_cloudformation_json(
    cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name
):
    properties = cloudformation_json["Properties"]
    old_id = original_resource.resource_name
    physical_id, data = run(
        {
            **original_resource.compat_event,
            "RequestType": "Update",
            "PhysicalResourceId": old_id,
            "ResourceProperties": properties,
            "OldResourceProperties": original_resource.compat_properties,
        }
    )
    if physical_id != old_id:  # a replacement: CloudFormation deletes the old one in cleanup
        original_resource.delete(account_id, region_name)
    original_resource.resource_name = physical_id
    original_resource.compat_properties = properties
    original_resource.set_data(data)
    return original_resource


def delete(self, account_id, region_name) -> None:
    run(
        {
            **self.compat_event,
            "RequestType": "Delete",
            "PhysicalResourceId": self.resource_name,
            "ResourceProperties": self.compat_properties,
        }
    )


def install() -> None:
    CustomModel.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)
    CustomModel.update_from_cloudformation_json = classmethod(update_from_cloudformation_json)
    CustomModel.delete = delete
