"""tools/rehearse.py as a user runs it: ``up`` in one process, the runbook from a shell in another.

Each test runs from a committed copy of the working tree (deploy.py deploys only
committed work) and talks only to the servers the tool starts on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import PYTHON, assert_token_nowhere
from tools.rehearsal.repo import committed_copy

pytestmark = pytest.mark.moto


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    return committed_copy(tmp_path_factory.mktemp("rehearse"))


def clean_env(tmp_path) -> dict[str, str]:
    skipped = ("AWS_", "OP_", "GITHUB_", "POSTMARK_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skipped)}
    env.update(HOME=str(tmp_path / "home"))
    return env


def wait_for(path, process, seconds=90):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the env file never appeared"
        time.sleep(0.2)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_up_then_the_runbook_from_a_shell_then_ctrl_c(checkout, tmp_path):
    env_file = tmp_path / "rehearsal.env"
    up = subprocess.Popen(
        [PYTHON, "tools/rehearse.py", "up", "--env-file", str(env_file), "--json", "--apply-seconds", "2"],
        cwd=checkout,
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        for line in up.stdout:  # the one document is written once every server answers
            lines.append(line)
            if line == "}\n":
                break
        document = json.loads("".join(lines))
        assert document["outcome"] == "up" and document["env_file"] == str(env_file)
        assert document["apply_seconds"] == 2.0  # a slow stack: each executed change set takes 2 s
        exported = env_file.read_text()
        for name in ("AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "POSTMARK_API_URL", "PATH"):
            assert f"export {name}=" in exported
            assert document["env"][name] in exported
        assert "export REHEARSAL_RESOLVER=127.0.0.1:" in exported
        script = (
            f". {env_file} && python deploy.py Alpha002 dev --yes && "
            'python tools/verify_partition_mail.py Alpha002 dev --resolver "$REHEARSAL_RESOLVER" --wait 60'
        )
        shell = subprocess.run(
            ["bash", "-c", script],
            cwd=checkout,
            env={**clean_env(tmp_path), "PATH": f"{os.path.dirname(PYTHON)}{os.pathsep}{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert shell.returncode == 0, shell.stdout[-3000:] + shell.stderr[-3000:]
        noticed = re.search(r"CREATE_COMPLETE noticed ([0-9.]+)s after", shell.stderr)
        assert "CREATE_IN_PROGRESS" in shell.stdout + shell.stderr, "the stack was seen in progress"
        assert noticed is not None, shell.stderr[-2000:]
        rows = [line for line in shell.stdout.splitlines() if line.startswith("V-")]
        # A new domain: NS, SPF, DMARC, the pending DKIM key, Return-Path, report authorisation, Postmark x2.
        assert len(rows) == 8 and all("  PASS  " in row for row in rows), "\n".join(rows)
        assert "Alpha002-dev-Email: CREATE_COMPLETE" in shell.stdout
        ports = [int(value.rsplit(":", 1)[1].split("/")[0]) for value in _urls(exported)]
        secrets_path = next(v for k, v in _exports(exported) if k == "OP_STANDIN_SECRETS")
        tokens = list(json.loads(Path(secrets_path).read_text()).values())
    finally:
        up.send_signal(signal.SIGINT)
        rest, err = up.communicate(timeout=60)
    # Ctrl-C ends it as it ends every command: 130, after the journal stopped the world, in one line.
    assert up.returncode == 130, err
    assert (
        err.splitlines()[-1] == f"rehearse: interrupted (Ctrl-C); the rehearsal world was stopped; {env_file} removed"
    )
    assert rest == "" and "Traceback" not in err, "stdout held the one document and nothing else"
    assert not env_file.exists(), "a stale env file would point at servers that are gone"
    assert [port for port in ports if listening(port)] == [], "a server outlived Ctrl-C"
    assert not os.path.exists(secrets_path), "the world's scratch files outlived it"
    # The world's fake tokens are secrets like the real ones: never on the screen.
    for token in tokens:
        assert_token_nowhere(err, shell.stdout, shell.stderr, token=token)


def _exports(exported: str) -> list[tuple[str, str]]:
    pairs = []
    for line in exported.splitlines():
        if line.startswith("export "):
            name, value = line[len("export ") :].split("=", 1)
            pairs.append((name, shlex.split(value)[0] if value else ""))
    return pairs


def _urls(exported: str) -> list[str]:
    names = ("AWS_ENDPOINT_URL", "POSTMARK_API_URL", "REHEARSAL_RESOLVER")
    return [value for name, value in _exports(exported) if name in names]


def runbook(checkout, tmp_path):
    """``python tools/rehearse.py runbook Alpha002 dev`` from ``checkout``, as an operator runs it."""
    return subprocess.run(
        [PYTHON, "tools/rehearse.py", "runbook", "Alpha002", "dev"],
        cwd=checkout,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_the_runbook_passes_every_step(checkout, tmp_path):
    result = runbook(checkout, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    table = result.stdout.splitlines()
    assert table[0].split() == ["STEP", "EXIT", "SECONDS", "RESULT"]
    steps = [line for line in table[1:] if line.rstrip().endswith(("ok", "FAILED"))]
    assert len(steps) == 14 and all(line.rstrip().endswith("ok") for line in steps), result.stdout
    assert "take down (--destroy)" in steps[-1]
    assert table[-1] == "Alpha002-dev-Email: every runbook step did what the runbook says"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["runbook", "Alpha002", "prod"],
            "rehearse: error: partition 'prod' is not active in infrastructure 'Alpha002'",
        ),
        (["up", "--infrastructure", "Gamma003"], "rehearse: error: --infrastructure must be one of Alpha002"),
        (["up", "--apply-seconds", "-1"], "rehearse: error: --apply-seconds must be 0 to 3600 seconds, got: -1"),
        (["up", "--apply-seconds", "nan"], "rehearse: error: --apply-seconds must be 0 to 3600 seconds, got: nan"),
        ([], "usage: rehearse.py"),
    ],
)
def test_usage_errors_are_one_line(run_cli, args, message):
    from tools import rehearse

    result = run_cli(rehearse.main, args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_an_env_file_is_a_new_file_checked_before_any_server_starts(run_cli, tmp_path):
    # Old code: an existing file was replaced, and deleted when the world stopped.
    from tools import rehearse

    existing = tmp_path / "mine.env"
    existing.write_text("export MINE=1\n")
    result = run_cli(rehearse.main, ["up", "--env-file", str(existing)])
    assert result.returncode == 2
    assert f"--env-file must not exist yet (it is removed when the world stops), got: '{existing}'" in result.stderr
    assert existing.read_text() == "export MINE=1\n"
    nowhere = tmp_path / "missing" / "w.env"
    result = run_cli(rehearse.main, ["up", "--env-file", str(nowhere)])
    assert result.returncode == 2 and f"its folder {nowhere.parent} does not exist" in result.stderr
    assert "rehearsal world" not in result.stdout + result.stderr, "no server was started"
