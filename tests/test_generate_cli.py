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
        "import runpy, sys\n"
        "assert runpy.run_path('generate.py')['main'](['--check']) == 0\n"
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
    assert [p.name for p in tmp_path.iterdir()] == ["Alpha002-dev-Email.yaml"], "no temporary file is left"


def test_a_leftover_temporary_file_or_symlink_is_replaced_never_followed(tmp_path):
    # A crashed run with this process ID left its temporary file, or someone planted a
    # symlink there: the write must neither fail nor write through the link.
    import os
    import runpy

    write = runpy.run_path(str(REPO / "generate.py"))["_write_atomically"]
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    target = tmp_path / "Alpha002-dev-Email.yaml"
    temp = tmp_path / f".Alpha002-dev-Email.yaml.{os.getpid()}.tmp"
    temp.symlink_to(victim)
    write(target, "Resources: {}\n")
    assert target.read_text() == "Resources: {}\n" and victim.read_text() == "untouched"
    assert not temp.exists() and not temp.is_symlink()
    temp.write_text("half a template from a crash")
    write(target, "Resources: {}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Alpha002-dev-Email.yaml", "victim.txt"]


def test_output_survives_a_pipe_and_the_exit_code_is_kept(tmp_path):
    # generate.py leaves with os._exit (no interpreter teardown): what it printed into
    # block-buffered pipes must still arrive, and the exit code must be the real one.
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}

    def piped(*args):
        command = [PYTHON, str(REPO / "generate.py"), *args]
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)

    wrote = piped("--out", str(tmp_path))
    assert (wrote.returncode, wrote.stdout) == (0, f"wrote: {tmp_path / COMMITTED.name}\n")
    (tmp_path / COMMITTED.name).write_text("stale\n")
    stale = piped("--check", "--diff", "--out", str(tmp_path))
    assert stale.returncode == 1
    last = COMMITTED.read_text().splitlines()[-1]
    assert stale.stderr.startswith("stale: ") and stale.stderr.endswith(f"+{last}\n"), "the whole diff arrived"
