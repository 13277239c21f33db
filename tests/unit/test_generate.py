"""generate.py's main() in this process, through the CLI frame: argv in, exit code and output out.

The same command as a subprocess (real argv, piped output) is in tests/e2e/test_cli_contract.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

import generate
from tests.conftest import PYTHON, REPO

COMMITTED = REPO / "templates" / "Alpha002-dev-Email.yaml"


@pytest.fixture
def run(run_cli, monkeypatch):
    monkeypatch.chdir(REPO)

    def run(*args):
        return run_cli(generate.main, list(args))

    return run


@pytest.mark.vcheck("V-CLI-001")
def test_generate_dev_into_a_folder_reproduces_the_committed_file(run, tmp_path):
    result = run("dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = tmp_path / "Alpha002-dev-Email.yaml"
    assert f"wrote: {written}" in result.stdout
    assert written.read_bytes() == COMMITTED.read_bytes()
    again = run("dev", "--out", str(tmp_path))
    assert again.returncode == 0 and "unchanged:" in again.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Alpha002-dev-Email.yaml"]


def test_generate_with_no_partition_renders_every_active_one(run, tmp_path):
    result = run("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    # With every partition come the files they share: PlatformRoot's role template and the permissions
    # document (into --out, never into the repository's docs/, when --out is elsewhere).
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "Alpha002-dev-Email.yaml",
        "PlatformRoot-ArdaMailsNsDelegation.yaml",
        "permissions.md",
    ]
    assert (tmp_path / "permissions.md").read_bytes() == (REPO / "docs" / "permissions.md").read_bytes()
    only_dev = run("dev", "--check", "--out", str(tmp_path))
    assert only_dev.returncode == 0 and "permissions.md" not in only_dev.stdout


def test_check_passes_on_the_committed_tree(run):
    result = run("--check")
    assert result.returncode == 0, result.stderr
    assert "up to date: templates/Alpha002-dev-Email.yaml" in result.stdout


@pytest.mark.vcheck("V-IAC-004")
def test_check_names_a_stale_file_and_writes_nothing(run, tmp_path):
    stale = tmp_path / "Alpha002-dev-Email.yaml"
    shutil.copy(COMMITTED, stale)
    stale.write_text(stale.read_text().replace("TTL: '3600'", "TTL: '60'", 1))
    before = stale.read_bytes()
    result = run("--check", "--diff", "--out", str(tmp_path))
    assert result.returncode == 1
    assert f"stale: {stale} differs from what the code renders; run: python generate.py dev" in result.stderr
    assert "-      TTL: '60'" in result.stderr and "+      TTL: '3600'" in result.stderr
    assert stale.read_bytes() == before
    # Old code: the diff, exit 1, and no error line (the frame now says it for any failing exit code returned).
    assert result.stderr.splitlines()[-1] == "generate: error: --check found a stale or missing file (each is named)"


@pytest.mark.vcheck("V-IAC-004")
def test_check_names_a_missing_file(run, tmp_path):
    result = run("--check", "dev", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "missing:" in result.stderr and "Alpha002-dev-Email.yaml" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["qa"], "generate: error: unknown partition 'qa': expected one of dev, stage, demo, prod"),
        (["stage"], "generate: error: partition 'stage' is not active in any infrastructure (active: dev)"),
        (["dev", "--out", "/nonexistent/dir"], "generate: error: --out must be an existing folder"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--diff"], "generate: error: --diff goes with --check"),
    ],
)
@pytest.mark.vcheck("V-CLI-001")
def test_bad_arguments_exit_2_with_one_line(run, tmp_path, args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_bad_partition_among_good_ones_writes_nothing(run, tmp_path):
    result = run("dev", "qa", "--out", str(tmp_path))
    assert result.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_render_path_imports_no_aws_sdk_or_linter():
    probe = (
        "import runpy, sys\n"
        "assert runpy.run_path('generate.py')['main'](['--check']) == 0\n"
        "heavy = sorted(m for m in ('boto3', 'botocore', 'cfnlint', 'requests') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([PYTHON, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_written_templates_get_the_usual_file_mode(run, tmp_path):
    import os
    import stat

    result = run("dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE((tmp_path / "Alpha002-dev-Email.yaml").stat().st_mode)
    assert mode == 0o666 & ~umask, oct(mode)
    assert [p.name for p in tmp_path.iterdir()] == ["Alpha002-dev-Email.yaml"], "no temporary file is left"


def test_a_leftover_temporary_file_or_symlink_is_replaced_never_followed(run, tmp_path):
    # A crashed run with this process ID left its temporary file, or someone planted a
    # symlink there: the write must neither fail nor write through the link.
    import os

    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    target = tmp_path / "Alpha002-dev-Email.yaml"
    temp = tmp_path / f".Alpha002-dev-Email.yaml.{os.getpid()}.tmp"
    temp.symlink_to(victim)
    assert run("dev", "--out", str(tmp_path)).returncode == 0
    assert target.read_bytes() == COMMITTED.read_bytes() and victim.read_text() == "untouched"
    assert not temp.exists() and not temp.is_symlink()
    target.write_text("stale\n")
    temp.write_text("half a template from a crash")
    assert run("dev", "--out", str(tmp_path)).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Alpha002-dev-Email.yaml", "victim.txt"]


def test_json_is_one_document_with_each_file(run, tmp_path):
    result = run("--json", "--out", str(tmp_path))
    document = json.loads(result.stdout)
    assert document["outcome"] == "generated" and document["exit_code"] == 0
    assert document["files"] == [
        {"path": str(tmp_path / COMMITTED.name), "partition": "dev", "state": "wrote"},
        {"path": str(tmp_path / "PlatformRoot-ArdaMailsNsDelegation.yaml"), "partition": None, "state": "wrote"},
        {"path": str(tmp_path / "permissions.md"), "partition": None, "state": "wrote"},
    ]
    (tmp_path / COMMITTED.name).write_text("stale\n")
    stale = run("--json", "--check", "--out", str(tmp_path))
    document = json.loads(stale.stdout)
    assert stale.returncode == 1 and document["outcome"] == "stale", "a returned failure keeps its own outcome"
    assert document["error"] == "--check found a stale or missing file (each is named)"
    assert "stale:" in stale.stderr
