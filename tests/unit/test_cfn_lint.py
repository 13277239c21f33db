"""cfn-lint in a child process (tools/lib/cfn_lint.py): its protocol, its failures, its end.

The real linter runs in test_deployer.py's lint tests (errors stop, warnings show,
passes are cached); here stand-in workers play a linter that leaks nothing, crashes,
hangs, or outlives a refused deploy.
"""

from __future__ import annotations

import io
import json
import os
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import STACK
from tools.lib import cfn_lint, lint_cache
from tools.lib.deploy.guards import lint
from tools.lib.errors import Refused
from tools.lib.output import Sink

BODY = "AWSTemplateFormatVersion: '2010-09-09'\nResources: {}\n"


def _worker(tmp_path: Path, monkeypatch, source: str) -> None:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(source))
    monkeypatch.setattr(cfn_lint, "WORKER", script)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_the_worker_protocol_round_trips_what_it_was_given(tmp_path, monkeypatch):
    # The stand-in echoes the body and its region as warnings, plus one error: what the parent
    # wrote on stdin arrives whole, and rule IDs decide what is an error.
    _worker(
        tmp_path,
        monkeypatch,
        """
        import json, sys
        body = sys.stdin.read()
        json.dump({"matches": [{"rule": "W1", "text": body}, {"rule": "I1", "text": sys.argv[1]},
                               {"rule": "E1", "text": "broken"}]}, sys.stdout)
        """,
    )
    verdict = cfn_lint.LintJob(BODY * 2000, "eu-west-1").verdict()  # 100 KB: more than a pipe holds
    assert verdict.warnings == [BODY * 2000, "eu-west-1"]
    assert verdict.errors == ["broken"] and not verdict.cached
    assert not (tmp_path / "cache").exists(), "a verdict with errors is never remembered"


def test_the_linter_sees_no_cloud_1password_or_postmark_variables(tmp_path, monkeypatch):
    _worker(
        tmp_path,
        monkeypatch,
        """
        import json, os, sys
        sys.stdin.read()
        json.dump({"matches": [{"rule": "I0", "text": name} for name in sorted(os.environ)]}, sys.stdout)
        """,
    )
    leaky = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "OP_SERVICE_ACCOUNT_TOKEN", "POSTMARK_API_URL")
    for name in (*leaky, "GH_TOKEN", "NPM_TOKEN", "CI_JOB_TOKEN", "SOME_SECRET"):
        monkeypatch.setenv(name, "secret-value")
    monkeypatch.setenv("LANG", "C.UTF-8")
    seen = cfn_lint.LintJob(BODY, "us-east-1").verdict().warnings
    assert "LANG" in seen and "PATH" in seen
    assert [n for n in seen if n not in ("PATH", "HOME", "LANG", "TMPDIR", "TZ") and not n.startswith("LC_")] == []


def test_a_crashed_linter_is_one_clear_line_and_not_a_verdict(tmp_path, monkeypatch):
    _worker(tmp_path, monkeypatch, "import sys\nsys.stdin.read()\nraise ImportError('No module named sympy')\n")
    with pytest.raises(cfn_lint.LintFailed) as info:
        cfn_lint.LintJob(BODY, "us-east-1").verdict()
    message = str(info.value)
    assert message.startswith("cfn-lint failed (exit status 1: ImportError: No module named sympy)")
    assert "nothing was changed" in message and "\n" not in message
    assert info.value.exit_code == 1
    assert not (tmp_path / "cache").exists()


def test_a_hung_linter_is_killed_at_its_deadline(tmp_path, monkeypatch):
    _worker(tmp_path, monkeypatch, "import sys, time\nsys.stdin.read()\ntime.sleep(600)\n")
    job = cfn_lint.LintJob(BODY, "us-east-1")
    with pytest.raises(cfn_lint.LintFailed, match=r"cfn-lint did not finish within 0.2s; nothing was changed"):
        job.verdict(deadline_seconds=0.2)
    assert job._child.returncode is not None, "the child must not outlive its deadline"


def test_a_cached_pass_starts_no_child(tmp_path, monkeypatch):
    _worker(tmp_path, monkeypatch, "import sys\nsys.stdin.read()\nprint('{\"matches\": []}')\n")
    assert cfn_lint.LintJob(BODY, "us-east-1").verdict() == cfn_lint.Verdict([], [], cached=False)

    def no_child(*_, **__):
        raise AssertionError("a remembered pass started cfn-lint again")

    monkeypatch.setattr(cfn_lint.subprocess, "Popen", no_child)
    job = cfn_lint.LintJob(BODY, "us-east-1")
    assert job.verdict() == cfn_lint.Verdict([], [], cached=True)
    job.cancel()  # nothing to stop


def test_the_real_linter_stops_errors_shows_warnings_and_remembers_only_passes(tmp_path, monkeypatch):
    """cfn-lint itself, in its child: a verdict per rule ID; a pass cached for the same bytes only."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    template = Path(__file__).resolve().parents[2] / "templates" / f"{STACK}.yaml"
    body = template.read_text()
    broken = body.replace("Type: AWS::Route53::HostedZone", "Type: AWS::Route53::HostedZon", 1)
    unused = body.replace("Parameters:\n", "Parameters:\n  Unused:\n    Type: String\n", 1)
    said = io.StringIO()
    ctx = SimpleNamespace(
        target=SimpleNamespace(stack=STACK),
        services=SimpleNamespace(lint=cfn_lint.Linter("us-east-1").verdict),
        out=Sink(json_mode=False, human=io.StringIO(), progress_stream=said),
    )
    with pytest.raises(Refused, match=r"cfn-lint found \d+ error\(s\): .*AWS::Route53::HostedZon"):
        lint(ctx, broken)
    assert not (tmp_path / "arda-partition-mail").exists(), "an error is never remembered"
    lint(ctx, unused)
    assert any("W2001" in line and "Unused" in line for line in said.getvalue().splitlines())
    (cached,) = [p for p in (tmp_path / "arda-partition-mail" / "cfn-lint").iterdir() if p.name != ".key"]
    assert cached.name == lint_cache.key(unused, ["us-east-1"])

    def no_second_lint(*_, **__):
        raise AssertionError("the same bytes were linted twice")

    monkeypatch.setattr(cfn_lint.subprocess, "Popen", no_second_lint)
    said.seek(0)
    said.truncate()
    lint(ctx, unused)
    assert "W2001" in said.getvalue(), "cached warnings are shown again"
    assert "(these exact bytes passed before: cached)" in said.getvalue()
    # One byte, another region or another cfn-lint: a new key, linted again.
    assert lint_cache.key(unused + " ", ["us-east-1"]) != cached.name
    assert lint_cache.key(unused, ["eu-west-1"]) != cached.name
    monkeypatch.setattr(lint_cache, "version", lambda name: "0.0.0")
    assert lint_cache.key(unused, ["us-east-1"]) != cached.name


def test_an_early_job_is_used_for_the_same_bytes_and_stopped_for_others(tmp_path, monkeypatch):
    _worker(tmp_path, monkeypatch, "import sys, time\nsys.stdin.read()\ntime.sleep(600)\n")
    started = cfn_lint.LintJob(BODY, "us-east-1")
    _worker(tmp_path, monkeypatch, "import sys\nsys.stdin.read()\nprint('{\"matches\": []}')\n")
    linter = cfn_lint.Linter("us-east-1", started)
    assert linter.verdict(BODY + "\n") == cfn_lint.Verdict([], [], cached=False)
    assert started._child.returncode is not None, "the early job on other bytes was stopped"


def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "arda-partition-mail" / "cfn-lint"


def test_a_forged_cache_entry_is_not_a_pass(tmp_path, monkeypatch):
    folder = _cache(tmp_path, monkeypatch)
    lint_cache.remember(lint_cache.key("real", ["us-east-1"]), [])
    forged = lint_cache.key(BODY, ["us-east-1"])  # a template that never passed
    (folder / forged).write_text(json.dumps({"warnings": []}))
    assert lint_cache.passed(forged) is None, "an entry without this user's MAC passed"
    (folder / forged).write_text(json.dumps({"warnings": [], "mac": "0" * 64}))
    assert lint_cache.passed(forged) is None
    assert lint_cache.passed(lint_cache.key("real", ["us-east-1"])) == [], "a real pass still counts"


def test_an_entry_nested_past_the_parser_is_no_pass(tmp_path, monkeypatch):
    folder = _cache(tmp_path, monkeypatch)
    lint_cache.remember(lint_cache.key("real", ["us-east-1"]), [])
    nested = lint_cache.key(BODY, ["us-east-1"])
    (folder / nested).write_text("[" * 100_000)  # within the size limit, deeper than json can go
    assert lint_cache.passed(nested) is None


def test_a_cache_others_can_write_or_odd_entries_are_never_trusted(tmp_path, monkeypatch):
    folder = _cache(tmp_path, monkeypatch)
    good = lint_cache.key("real", ["us-east-1"])
    lint_cache.remember(good, ["W1 a warning"])
    folder.chmod(0o777)
    assert lint_cache.passed(good) is None, "a folder anyone may write holds nothing to trust"
    lint_cache.remember(good, ["W1 a warning"])  # ours: closed again, and a new key signs anew
    assert folder.stat().st_mode & 0o777 == 0o700 and lint_cache.passed(good) == ["W1 a warning"]
    fifo = lint_cache.key("fifo", ["us-east-1"])
    os.mkfifo(folder / fifo)
    endless = lint_cache.key("endless", ["us-east-1"])
    (folder / endless).symlink_to("/dev/zero")
    assert lint_cache.passed(fifo) is None and lint_cache.passed(endless) is None, "read without hanging"


def test_cached_warnings_reach_the_terminal_without_escape_sequences():
    from tools.lib.output import printable

    assert printable("W2001 \x1b[2J\x1b]0;owned\x07 Unused") == "W2001 \\x1b[2J\\x1b]0;owned\\x07 Unused"
