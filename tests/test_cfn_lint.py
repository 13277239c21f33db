"""cfn-lint in a child process (tools/lib/cfn_lint.py): its protocol, its failures, its end.

The real linter runs in test_deployer.py's lint tests (errors stop, warnings show,
passes are cached); here stand-in workers play a linter that leaks nothing, crashes,
hangs, or outlives a refused deploy.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import STACK, deploy
from tools.lib import cfn_lint
from tools.rehearsal.aws import credentials

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
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "OP_SERVICE_ACCOUNT_TOKEN", "POSTMARK_API_URL"):
        monkeypatch.setenv(name, "secret-value")
    monkeypatch.setenv("LANG", "C.UTF-8")
    seen = cfn_lint.LintJob(BODY, "us-east-1").verdict().warnings
    assert "LANG" in seen
    assert [n for n in seen if n.startswith(("AWS_", "OP_", "POSTMARK_"))] == []


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
    with pytest.raises(cfn_lint.LintFailed, match=r"cfn-lint did not finish within 0.5s; nothing was changed"):
        job.verdict(deadline_seconds=0.5)
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


def _workers_running(worker: Path) -> list[int]:
    """PIDs whose command line runs this checkout's cfn-lint worker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(worker).encode() in argv:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_refused_deploy_leaves_no_linter_running(world, postmark, committed_checkout):
    # The lint starts before the account check (to run on the other core) with a cold cache
    # (HOME is a fresh folder): refused at once, the deploy must take its child with it.
    env = world["env"]
    env.update(credentials("arn:aws:iam::999988887777:role/Elsewhere"))
    result = deploy(env, "--yes")
    assert result.returncode == 3, result.stderr
    assert f"refusing to deploy {STACK}: the AWS credentials are for account 999988887777" in result.stderr
    assert _workers_running(committed_checkout / "tools" / "lib" / "cfn_lint_worker.py") == []
    assert not (Path(env["HOME"]) / ".cache" / "arda-partition-mail" / "cfn-lint").exists()


def test_the_worker_lints_for_real_and_prints_only_json(tmp_path):
    import subprocess

    template = Path(__file__).resolve().parent.parent / "templates" / f"{STACK}.yaml"
    body = template.read_text().replace("Parameters:\n", "Parameters:\n  Unused:\n    Type: String\n", 1)
    result = subprocess.run(
        [sys.executable, "-I", str(cfn_lint.WORKER), "us-east-1"],
        input=body,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert result.returncode == 0, result.stderr
    (match,) = json.loads(result.stdout)["matches"]
    assert match["rule"] == "W2001" and "Unused" in match["text"]
