"""cfn-lint in a child process, started as soon as the template bytes are known.

cfn-lint costs about 2 s of CPU when nothing is cached (0.8 s of it importing
sympy and networkx). In a thread it competes with the deploy's own work for the
GIL; in a child process it runs on the other core while the parent checks the
account, the committed work, the stack and the drift, and resolves the token. The
verdict is read before the first change (Postmark registration), so the order of
the guarantees is unchanged.

A pass is remembered (``lint_cache``) for the same bytes, cfn-lint version and
region: then no child is started at all. The child gets the template on stdin and
an environment without AWS or 1Password variables (it needs neither), runs
isolated (``python -I``), and is killed if the deploy ends before its verdict.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.lib import lint_cache
from tools.lib.errors import ArdaMailError

WORKER = Path(__file__).with_name("cfn_lint_worker.py")
DEADLINE_SECONDS = 300.0
# The linter needs no credentials of any kind: it gets these variables and nothing else (an allowlist:
# a denylist let GH_TOKEN, NPM_TOKEN and their kind through).
_CHILD_ENV_KEPT = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TMP", "TEMP")


class LintFailed(ArdaMailError):
    """cfn-lint itself failed (crashed, hung, answered nonsense): not a verdict on the template."""

    exit_code = 1


@dataclass(frozen=True)
class Verdict:
    """What cfn-lint said: errors stop a deploy, warnings are shown; cached when no child ran."""

    errors: list[str]
    warnings: list[str]
    cached: bool


class LintJob:
    """One template's lint: a cached pass, or a running child process."""

    def __init__(self, body: str, region: str) -> None:
        self.body = body
        self.region = region
        self._key = lint_cache.key(body, [region])
        self._cached = lint_cache.passed(self._key)
        self._child: subprocess.Popen | None = None
        if self._cached is None:
            try:
                self._child = subprocess.Popen(
                    [sys.executable, "-I", str(WORKER), region],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env={k: v for k, v in os.environ.items() if k in _CHILD_ENV_KEPT or k.startswith("LC_")},
                    text=True,
                    encoding="utf-8",
                )
            except OSError as exc:
                raise LintFailed(f"cannot start cfn-lint ({exc.strerror or exc}); nothing was changed") from None
            # The worker reads stdin before its imports: this write waits at most for its start.
            stdin, self._child.stdin = self._child.stdin, None  # written here, so communicate() leaves it alone
            try:
                stdin.write(body)
                stdin.close()
            except BrokenPipeError:
                pass  # it died at once; verdict() reports why

    def verdict(self, deadline_seconds: float = DEADLINE_SECONDS) -> Verdict:
        """Wait for the child (or use the cached pass); a pass is remembered, an error never."""
        if self._cached is not None:
            return Verdict([], list(self._cached), cached=True)
        try:
            stdout, stderr = self._child.communicate(timeout=deadline_seconds)
        except subprocess.TimeoutExpired:
            self.cancel()
            raise LintFailed(
                f"cfn-lint did not finish within {deadline_seconds:g}s; nothing was changed: rerun the deploy"
            ) from None
        try:
            matches = json.loads(stdout)["matches"]
            found = [(str(m["rule"]), str(m["text"])) for m in matches]
        except (ValueError, KeyError, TypeError):
            last = (stderr.strip().splitlines() or ["no output"])[-1]
            raise LintFailed(
                f"cfn-lint failed (exit status {self._child.returncode}: {last[:300]}); nothing was changed: "
                f"check the cfn-lint installation (pip install -e .) and rerun"
            ) from None
        errors = [text for rule, text in found if rule.startswith("E")]
        warnings = [text for rule, text in found if not rule.startswith("E")]
        if not errors:
            lint_cache.remember(self._key, warnings)
        return Verdict(errors, warnings, cached=False)

    def cancel(self) -> None:
        """Stop the child if it is still running (the deploy ended before its verdict)."""
        if self._child is not None and self._child.poll() is None:
            self._child.kill()
            self._child.communicate()


class Linter:
    """cfn-lint verdicts for one region, using the job started early when it linted the same bytes."""

    def __init__(self, region: str, started: LintJob | None = None) -> None:
        self.region = region
        self.started = started

    def verdict(self, body: str) -> Verdict:
        """The verdict on ``body``: the early job's if it linted these bytes, otherwise a new lint."""
        if self.started is not None and self.started.body == body:
            return self.started.verdict()
        self.cancel()
        return LintJob(body, self.region).verdict()

    def cancel(self) -> None:
        """Stop the early job if it is still running (the run ends, or it linted other bytes)."""
        if self.started is not None:
            self.started.cancel()
