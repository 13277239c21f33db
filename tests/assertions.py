"""CDK-style template assertions over ``Template.to_dict()``.

In the spirit of aws-cdk-lib's ``assertions.Template``: count resources, match
properties as a deep subset, find outputs by a logical-ID glob and a partial shape.
"""

from __future__ import annotations

import fnmatch
from typing import Any


def _matches(actual: Any, expected: Any) -> bool:
    """Deep subset match: dicts match on the expected keys, lists element-wise."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and _matches(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return actual == expected


class TemplateAssertions:
    """Assertions on one synthesized template dict."""

    def __init__(self, template: dict) -> None:
        self.template = template

    @property
    def resources(self) -> dict:
        return self.template.get("Resources", {})

    def find_resources(self, resource_type: str, props: dict | None = None) -> dict:
        """Resources of ``resource_type`` whose Properties match ``props``."""
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type and _matches(resource.get("Properties", {}), props or {})
        }

    def resource_count_is(self, resource_type: str, count: int) -> None:
        found = self.find_resources(resource_type)
        assert len(found) == count, f"expected {count} {resource_type}, found {len(found)}: {sorted(found)}"

    def has_resource_properties(self, resource_type: str, props: dict) -> None:
        found = self.find_resources(resource_type, props)
        assert found, f"no {resource_type} has properties {props!r}"

    def has_resource(self, resource_type: str, shape: dict) -> None:
        found = [r for r in self.resources.values() if r["Type"] == resource_type and _matches(r, shape)]
        assert found, f"no {resource_type} matches {shape!r}"

    def find_outputs(self, logical_id: str = "*", shape: dict | None = None) -> dict:
        """Outputs whose logical ID matches the glob and whose body matches ``shape``."""
        return {
            name: output
            for name, output in self.template.get("Outputs", {}).items()
            if fnmatch.fnmatchcase(name, logical_id) and _matches(output, shape or {})
        }

    def policy_statements(self) -> list[dict]:
        """Every statement of every inline and trust policy of every IAM role."""
        statements = []
        for role in self.find_resources("AWS::IAM::Role").values():
            props = role["Properties"]
            statements.extend(props["AssumeRolePolicyDocument"]["Statement"])
            for policy in props.get("Policies", []):
                statements.extend(policy["PolicyDocument"]["Statement"])
        return statements
