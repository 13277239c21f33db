"""Where a command acts, as one object: the ``target`` of every ``--json`` document and of the rollout evidence.

A reader (CI, the rollout, a reviewer's script) finds the same five keys in the same
place whichever command wrote the document: ``infrastructure``, ``partition``,
``stack``, ``account`` and ``region``, all from the instance config.
"""

from __future__ import annotations

from instances.registry import PartitionConfig

TARGET_KEYS = ("infrastructure", "partition", "stack", "account", "region")


def target_of(config: PartitionConfig) -> dict[str, str]:
    """The ``target`` object of ``config``'s partition."""
    infra = config.infrastructure
    return {
        "infrastructure": infra.name,
        "partition": config.partition.value,
        "stack": config.stack_name,
        "account": infra.account_id,
        "region": infra.region,
    }


def describe(target: dict[str, str]) -> str:
    """The target as the first line of a deploy says it (``target: account ..., region ..., stack ...``)."""
    return f"target: account {target['account']}, region {target['region']}, stack {target['stack']}"
