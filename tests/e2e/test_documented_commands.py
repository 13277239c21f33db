"""The README's remaining commands, run as a user would: benchmarks and the stand-in rehearsal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest
import requests

from tests.conftest import PYTHON, REPO, STANDIN_BIN, free_port


@pytest.mark.bench
def test_generate_benchmark_runs_and_reports():
    result = subprocess.run(
        [PYTHON, "tools/bench_generate.py", "--runs", "2"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "generate.py  wall median" in result.stdout and "peak RSS median" in result.stdout
    # Beside cdk synth where tools/bench/cdk_anchor is installed (npm), or saying how to install it.
    assert "ratio        time" in result.stdout or "npm install --prefix tools/bench/cdk_anchor" in result.stdout
    assert "in-process render: median" in result.stdout
    assert "64 partition(s) in one process:" in result.stdout


@pytest.mark.moto
@pytest.mark.bench
def test_deploy_benchmark_runs_and_reports():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OP_", "POSTMARK_"))}
    result = subprocess.run(
        [PYTHON, "tools/bench_deploy.py", "--runs", "1", "--apply-seconds", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for scenario in ("first create", "create after --plan", "no-change", "one-record update"):
        assert re.search(rf"^  {re.escape(scenario)} +[\d.]+ s \([\d.]+ s\), \d+ AWS calls$", result.stdout, re.M)
        assert re.search(rf"^{re.escape(scenario)} +[\d.]+ s +[\d.]+ s +[\d.]+$", result.stdout, re.M), "the ratio row"
    assert "terminal events noticed at most" in result.stdout


def test_readme_rehearsal_with_the_standalone_postmark_standin(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [PYTHON, "tools/rehearsal/postmark.py", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/senders", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OP_", "GITHUB_"))}
        env.update(PATH=f"{STANDIN_BIN}{os.pathsep}{env['PATH']}", POSTMARK_API_URL=f"http://127.0.0.1:{port}")
        result = subprocess.run(
            [PYTHON, "tools/register_partition_mail_signature.py", "Alpha002", "dev", "--json"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["created"] is True
    finally:
        server.terminate()
        server.wait(timeout=10)
