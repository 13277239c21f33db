"""The plan as a reviewer reads it: one record of the facts, as JSON and as Markdown.

``Plan`` is written step by step by a deploy (``tools.lib.deploy``) and rendered
here for ``--json``, ``--summary-file`` and the GitHub Actions job summary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from tools.lib.output import markdown_text
from tools.lib.plan.diff import Drift, IamWidening, ParameterChange, PropertyChange
from tools.lib.targets import describe


@dataclass
class Plan:
    """Everything a reviewer should know before a change set runs."""

    target: dict[str, str] = field(default_factory=dict)  # tools.lib.targets.target_of: the one target object
    parameters: list[ParameterChange] = field(default_factory=list)
    properties: list[PropertyChange] = field(default_factory=list)
    iam: list[IamWidening] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    drift_note: str = ""
    changes: list[dict] = field(default_factory=list)
    change_set: str = ""
    after_registration: list[str] = field(default_factory=list)  # a plan before Postmark registered the domain
    exports: dict[str, str] | None = None  # after a deploy that settled
    adoption: dict | None = None  # what a creation adopts of what an earlier stack retained (deploy/adoption.py)

    def to_dict(self) -> dict:
        """A JSON-ready view (``--json``)."""
        found = {
            "target": self.target,
            "change_set": self.change_set,
            "changes": self.changes,
            "parameters": [asdict(p) for p in self.parameters],
            "properties": [asdict(p) for p in self.properties],
            "iam_widening": [asdict(i) for i in self.iam],
            "drift": [asdict(d) for d in self.drift],
            "drift_note": self.drift_note,
        }
        if self.after_registration:
            found["after_registration"] = list(self.after_registration)
        if self.exports is not None:
            found["exports"] = dict(self.exports)
        if self.adoption:
            found["adoption"] = dict(self.adoption)
        return found


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table; every cell is inert text (values come from AWS and Postmark)."""
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)] + [
        "| " + " | ".join(markdown_text(c) for c in row) + " |" for row in rows
    ]


def _section(title: str, headers: list[str], rows: list[list[str]], empty: str) -> list[str]:
    """A Markdown section: its title, then a table of ``rows`` or the ``empty`` sentence."""
    return ["", f"### {title}", ""] + (_table(headers, rows) if rows else [empty])


def markdown(plan: Plan) -> str:
    """The plan as a Markdown summary (the same facts as --json)."""
    lines = [f"## Plan: {markdown_text(describe(plan.target)) if plan.target else '(no target)'}"]
    lines += _section(
        "Drift (live values that differ from the deployed template)",
        ["resource", "property", "expected", "actual"],
        [[d.resource, d.property, d.expected, d.actual] for d in plan.drift],
        "No drift.",
    )
    if plan.drift_note:
        lines += ["", markdown_text(plan.drift_note)]
    if plan.adoption:
        adoption = plan.adoption
        rows = []
        if "zone" in adoption:
            zone = adoption["zone"]
            kept = f"{zone['records']} record set(s); name servers kept: {', '.join(zone['name_servers'])}"
            rows.append(["MailHostedZone", "AWS::Route53::HostedZone", zone["id"], kept])
        if "webhook_secret" in adoption:
            rows.append(["WebhookSecret", "AWS::SecretsManager::Secret", adoption["webhook_secret"]["arn"], "kept"])
        lines += _section(
            "Adoption (an IMPORT change set first; an update then adds the rest)",
            ["logical ID", "type", "identifier", "what stays"],
            rows,
            "Nothing adopted.",
        )
        after = adoption.get("created_after") or []
        lines += ["", markdown_text(f"Then added by the update: {', '.join(after)}.")]
    lines += _section(
        "Changes",
        ["action", "logical ID", "type", "replacement"],
        [[c["action"], c["logical_id"], c["resource_type"], c["replacement"] or "-"] for c in plan.changes],
        "No resource changes.",
    )
    lines += _section(
        "Parameters",
        ["parameter", "deployed", "new"],
        [[p.name, p.old, p.new] for p in plan.parameters if p.changed],
        "No parameter changes.",
    )
    lines += _section(
        "Property changes",
        ["resource", "property", "deployed", "new"],
        [[p.logical_id, p.path, p.old, p.new] for p in plan.properties],
        "No property changes.",
    )
    lines += _section(
        "IAM changes that widen permissions",
        ["role", "document", "statement", "widening"],
        [[i.role, i.document, i.sid, i.widening] for i in plan.iam],
        "None.",
    )
    return "\n".join(lines) + "\n"
