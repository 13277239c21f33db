"""The runbook rehearsal's own rules, with stand-in steps: it stops at the first step that does not do what it says.

The real runbook, every step in a fresh world, is tests/e2e/test_rehearse.py.
"""

from __future__ import annotations

import sys

from tools.rehearsal import runbook


class FakeWorld:
    """A world that answers env() and lets Postmark declare a revoked key safe."""

    def __init__(self) -> None:
        self.made_safe = []
        self.postmark = self

    def env(self, infrastructure):
        return {"REHEARSAL_RESOLVER": "127.0.0.1:53", "PATH": "/usr/bin:/bin"}

    def only_domain(self):
        return {"ID": 7}

    def make_revoked_key_safe(self, domain_id):
        self.made_safe.append(domain_id)


def step(name, code=0, says="ok"):
    return runbook.Step(name, [sys.executable, "-c", f"import sys; print({says!r}); sys.exit({code})"], says)


def test_the_runbook_stops_at_the_first_step_that_does_not_do_what_it_says(monkeypatch, dev_config):
    steps = [step("first"), "postmark: the revoked key becomes safe", step("second", code=3), step("never")]
    monkeypatch.setattr(runbook, "runbook_steps", lambda *args: steps)
    rows, failed = runbook.run_runbook(FakeWorld(), dev_config)
    assert [(r.step, r.exit, r.result) for r in rows] == [
        ("first", "0", "ok"),
        ("postmark: the revoked key becomes safe", "-", "ok"),
        ("second", "3", "FAILED"),
    ]
    assert failed is rows[-1] and failed.detail == "ok", "the step's last line is kept for the error"


def test_a_step_that_exits_0_without_saying_what_the_runbook_expects_fails(monkeypatch, dev_config):
    quiet = runbook.Step("quiet", [sys.executable, "-c", "print('something else')"], "CREATE_COMPLETE")
    monkeypatch.setattr(runbook, "runbook_steps", lambda *args: [quiet])
    _, failed = runbook.run_runbook(FakeWorld(), dev_config)
    assert failed.step == "quiet" and failed.exit == "0" and failed.result == "FAILED"


def test_the_runbook_is_the_operator_runbooks(dev_config):
    from tests.conftest import REPO

    runbook_doc = (REPO / "docs" / "operator-runbook.md").read_text()
    steps = [
        s
        for s in runbook.runbook_steps("Alpha002", "dev", "127.0.0.1:53", "Alpha002-dev-Email")
        if not isinstance(s, str)
    ]
    for s in steps:
        command = " ".join(a for a in s.argv[1:] if a not in ("--resolver", "127.0.0.1:53"))
        shown = command.replace("--wait 60", "").strip()
        assert shown.split(" --")[0] in runbook_doc, f"{s.name}: {shown} is not in docs/operator-runbook.md"
