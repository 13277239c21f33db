"""generate.py run as a user runs it: a subprocess, real argv, real exit codes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import PYTHON, REPO

COMMITTED = REPO / "templates" / "Alpha002-dev-Email.yaml"


def run(*args, cwd=REPO):
    return subprocess.run(
        [PYTHON, str(REPO / "generate.py"), *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.vcheck("V-CLI-001")
def test_generate_dev_into_a_folder_reproduces_the_committed_file(tmp_path):
    result = run("dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    written = tmp_path / "Alpha002-dev-Email.yaml"
    assert f"wrote: {written}" in result.stdout
    assert written.read_bytes() == COMMITTED.read_bytes()
    again = run("dev", "--out", str(tmp_path))
    assert again.returncode == 0 and "unchanged:" in again.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Alpha002-dev-Email.yaml"]


def test_generate_with_no_partition_renders_every_active_one(tmp_path):
    result = run("--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["Alpha002-dev-Email.yaml"]


def test_check_passes_on_the_committed_tree():
    result = run("--check")
    assert result.returncode == 0, result.stderr
    assert "up to date: templates/Alpha002-dev-Email.yaml" in result.stdout


@pytest.mark.vcheck("V-IAC-004")
def test_check_names_a_stale_file_and_writes_nothing(tmp_path):
    stale = tmp_path / "Alpha002-dev-Email.yaml"
    shutil.copy(COMMITTED, stale)
    stale.write_text(stale.read_text().replace("TTL: '3600'", "TTL: '60'", 1))
    before = stale.read_bytes()
    result = run("--check", "--diff", "--out", str(tmp_path))
    assert result.returncode == 1
    assert f"stale: {stale} differs from what the code renders; run: python generate.py dev" in result.stderr
    assert "-      TTL: '60'" in result.stderr and "+      TTL: '3600'" in result.stderr
    assert stale.read_bytes() == before


@pytest.mark.vcheck("V-IAC-004")
def test_check_names_a_missing_file(tmp_path):
    result = run("--check", "dev", "--out", str(tmp_path))
    assert result.returncode == 1
    assert "missing:" in result.stderr and "Alpha002-dev-Email.yaml" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["qa"], "generate.py: error: unknown partition 'qa': expected one of dev, stage, demo, prod"),
        (["stage"], "generate.py: error: partition 'stage' is not active in any infrastructure (active: dev)"),
        (["dev", "--out", "/nonexistent/dir"], "generate.py: error: --out must be an existing folder"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
@pytest.mark.vcheck("V-CLI-001")
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_bad_partition_among_good_ones_writes_nothing(tmp_path):
    result = run("dev", "qa", "--out", str(tmp_path))
    assert result.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_render_path_imports_no_aws_sdk_or_linter():
    probe = (
        "import runpy, sys; sys.argv = ['generate.py', '--check']\n"
        "try:\n    runpy.run_path('generate.py', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('boto3', 'botocore', 'cfnlint', 'requests') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([PYTHON, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr


def test_written_templates_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    result = run("dev", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE((tmp_path / "Alpha002-dev-Email.yaml").stat().st_mode)
    assert mode == 0o666 & ~umask, oct(mode)
