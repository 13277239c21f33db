"""Patch 1: a template zone's ``NameServers``.

``GetAtt <zone>.NameServers`` is not implemented for ``AWS::Route53::HostedZone``.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.route53.models import FakeZone

ATTRIBUTES = ("Id", "NameServers")


def has_cfn_attr(cls, attr: str) -> bool:
    return attr in ATTRIBUTES


def get_cfn_attribute(self, attribute_name: str) -> Any:
    if attribute_name == "NameServers":
        return list(self.delegation_set.name_servers)
    if attribute_name == "Id":
        return self.id
    raise UnformattedGetAttTemplateException()


def install() -> None:
    FakeZone.has_cfn_attr = classmethod(has_cfn_attr)
    FakeZone.get_cfn_attribute = get_cfn_attribute
