"""Patch 19: a change set that does not exist is answered ``ChangeSetNotFound``.

moto answers ``DeleteChangeSet`` of a change set it does not hold with an HTML 500 (an
``UnboundLocalError`` in its ``delete_change_set``) and ``DescribeChangeSet`` with
``ValidationError: Stack with id <name> does not exist``. CloudFormation's API model
(botocore's ``cloudformation`` service model) names ``ChangeSetNotFoundException`` (code
``ChangeSetNotFound``, HTTP 404: "The specified change set name or ID doesn't exist") for
``DescribeChangeSet`` and ``ExecuteChangeSet``; ``DeleteChangeSet`` documents no answer for
it, and the world gives the same one. deploy.py never relies on the delete's answer: an undo
whose delete fails asks ``DescribeChangeSet`` whether the change set is still there.
"""

from __future__ import annotations

from moto.cloudformation.exceptions import CloudFormationError
from moto.cloudformation.models import CloudFormationBackend

from tools.rehearsal.moto_compat.patching import wrap


class ChangeSetNotFound(CloudFormationError):
    """CloudFormation's ChangeSetNotFoundException."""

    code = "ChangeSetNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"ChangeSet [{name}] does not exist")


def _held(backend, name: str) -> bool:
    return name in backend.change_sets or any(cs.change_set_name == name for cs in backend.change_sets.values())


def delete_change_set(original, self, change_set_name: str, *args, **kwargs):
    if not _held(self, change_set_name):
        raise ChangeSetNotFound(change_set_name)
    return original(self, change_set_name, *args, **kwargs)


def describe_change_set(original, self, change_set_name: str, *args, **kwargs):
    if not _held(self, change_set_name):
        raise ChangeSetNotFound(change_set_name)
    return original(self, change_set_name, *args, **kwargs)


def install() -> None:
    wrap(CloudFormationBackend, "delete_change_set", delete_change_set)
    wrap(CloudFormationBackend, "describe_change_set", describe_change_set)
