"""The deploy's steps, numbered once: the code's docstrings, ``--dry-run`` and docs/deploy.md use these numbers.

``tests/unit/test_docs.py`` holds docs/deploy.md's numbered list to this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One step of the deploy sequence."""

    number: int
    name: str
    does: str


STEPS = (
    Step(1, "config", "load and validate the instance config"),
    Step(
        2,
        "account",
        "one endpoint set for STS, CloudFormation, Route 53 and Secrets Manager; sts get-caller-identity: "
        "the credentials must be the configured account's",
    ),
    Step(3, "committed", "git: the template and every file it is rendered from are committed as reviewed"),
    Step(4, "template", "the committed template is what the code renders, and fits CloudFormation's inline limit"),
    Step(5, "stack", "the stack's state can take a change set; a running stack's drift is checked"),
    Step(6, "token", "op read the Postmark token (::add-mask:: on GitHub Actions only)"),
    Step(7, "lint", "cfn-lint's verdict on the committed bytes (started at step 4, read here)"),
    Step(8, "postmark", "register the domain with Postmark (read-only for --plan)"),
    Step(9, "change-set", "create_change_set: the token as a NoEcho parameter, each DKIM key in its slot"),
    Step(10, "review", "wait for the change set and show it: changes, parameters, properties, IAM, drift"),
    Step(11, "execute", "confirm, execute, follow the stack to its end, protect it, print the exports"),
)


def step(name: str) -> Step:
    """The step called ``name``."""
    return next(s for s in STEPS if s.name == name)
