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
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PYTHON, STACK, assert_token_nowhere, captured, committed_clone, script_call, use_env
from tools import rehearse, rotate_dkim, verify_partition_mail

pytestmark = pytest.mark.moto


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, committed_checkout):
    return committed_clone(tmp_path_factory.mktemp("rehearse") / "checkout", committed_checkout)


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
        [
            *(PYTHON, "tools/rehearse.py", "up", "--env-file", str(env_file), "--json"),
            *("--apply-seconds", "2", "--latency-ms", "20"),
        ],
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
        assert document["latency_ms"] == 20.0  # each AWS and Postmark request waits 20 ms, as a round trip does
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

        # From the same shell: rotate_dkim prints the verify to run next with the world's --resolver, and
        # safe-to-remove reaches the world's Postmark (the whole of rotation step 4 by hand, in this process:
        # test_rotation_step_4_by_hand_...).
        def by_hand(line: str, code: int = 0) -> subprocess.CompletedProcess:
            done = subprocess.run(
                ["bash", "-c", f". {env_file} && {line}"],
                cwd=checkout,
                env={**clean_env(tmp_path), "PATH": f"{os.path.dirname(PYTHON)}{os.pathsep}{os.environ['PATH']}"},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == code, f"{line}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            outputs.extend([done.stdout, done.stderr])
            return done

        outputs = [shell.stdout, shell.stderr]
        resolver = next(v for k, v in _exports(exported) if k == "REHEARSAL_RESOLVER")
        _, verify = printed_next(by_hand("python tools/rotate_dkim.py Alpha002 dev"))
        assert verify == f"python tools/verify_partition_mail.py Alpha002 dev --resolver {resolver} --wait 960"
        early = by_hand("python tools/rehearse.py safe-to-remove Alpha002 dev", code=1)
        assert "dev.ardamails.com has no revoked DKIM key" in early.stderr.splitlines()[-1]
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
        assert_token_nowhere(err, *outputs, token=token)


def printed_next(result) -> list[str]:
    """The commands a tool printed after its "next" line."""
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("next"))
    return [line.strip() for line in lines[start + 1 :] if line.startswith("  ")]


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


@pytest.fixture
def runbook(aws_env, committed_checkout, warm_lint, monkeypatch, run_cli, clock):
    """``python tools/rehearse.py runbook Alpha002 dev``, in this process: its world's servers start here, and
    each step the runbook runs as a child process is that command's main() with the step's argv and environment,
    deploying from a committed checkout, on the fake clock (the subprocess contract of rehearse.py, with its own
    world, signals and stdout bytes: test_up_then_the_runbook_from_a_shell_then_ctrl_c)."""
    from tools.rehearsal import runbook as book

    def child(argv, *, cwd, env, timeout):
        assert argv[0] == sys.executable and cwd == book.REPO, argv
        use_env(monkeypatch, env)
        call = script_call(argv[1:], checkout=committed_checkout, clock=clock.clock())
        return subprocess.CompletedProcess(argv, *captured(call))

    monkeypatch.setattr(book, "run_child", child)
    before = dict(os.environ)  # the world sets this process's AWS_* for its own calls, as in rehearse.py's process
    try:
        yield lambda: run_cli(rehearse.main, ["runbook", "Alpha002", "dev"])
    finally:
        os.environ.clear()
        os.environ.update(before)


def test_the_runbook_passes_every_step(runbook):
    result = runbook()
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
        (["up", "--latency-ms", "-1"], "rehearse: error: --latency-ms must be 0 to 2000 milliseconds, got: -1"),
        (["up", "--latency-ms", "2001"], "rehearse: error: --latency-ms must be 0 to 2000 milliseconds, got: 2001"),
        (["up", "--latency-ms", "inf"], "rehearse: error: --latency-ms must be 0 to 2000 milliseconds, got: inf"),
        (
            ["safe-to-remove", "Alpha002", "dev"],
            "rehearse: error: Alpha002-dev-Email: safe-to-remove acts on a running rehearsal world: source the env "
            "file that 'python tools/rehearse.py up --env-file FILE' wrote (REHEARSAL_RESOLVER, AWS_ENDPOINT_URL "
            "and POSTMARK_API_URL on 127.0.0.1), then run it again",
        ),
        (["safe-to-remove", "Alpha002"], "usage: rehearse.py safe-to-remove"),
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


# -- rotation step 4, by hand: safe-to-remove in a running world ----------------------------------------------------


@pytest.fixture
def running_world(world, monkeypatch):
    """The world's accounts with its DNS server (Route 53's zones, live) and its env: what ``up`` gives a shell."""
    from tools.rehearsal.dns import Route53DnsServer
    from tools.rehearsal.postmark import dns_lookup
    from tools.rehearsal.world import free_port

    for _ in range(5):  # the UDP twin of a free TCP port can be taken: try another
        try:
            server = Route53DnsServer(free_port())
            server.start()
            break
        except OSError:
            continue
    world.postmark.lookup = dns_lookup("127.0.0.1", server.port)  # Postmark verifies through the world's DNS
    world.env["REHEARSAL_RESOLVER"] = f"127.0.0.1:{server.port}"
    yield world
    server.stop()


def run_as_printed(world, line: str):
    """A command line a tool printed, run as printed (in this process, through the frame)."""
    argv = shlex.split(line.strip())
    mains = {"tools/verify_partition_mail.py": verify_partition_mail.main}
    if argv[:2] == ["python", "deploy.py"]:
        return world.deploy(*argv[4:], "--yes")  # the operator answers y at the change set; here there is no terminal
    assert argv[0] == "python" and argv[1] in mains, line
    return world.run(mains[argv[1]], *argv[2:], clock=world.clock.clock())


@pytest.mark.slow
@pytest.mark.vcheck("V-PART-021", "V-PART-022")
def test_rotation_step_4_by_hand_rotate_deploy_verify_safe_to_remove_verify_deploy_verify(running_world):
    # Old code: nothing in a running world could make Postmark report SafeToRemoveRevokedKeyFromDNS, and
    # rotate_dkim's verify, run as printed, went to the system resolver and failed 7 checks.
    world = running_world
    resolver = world.env["REHEARSAL_RESOLVER"]
    assert world.deploy("--yes").returncode == 0
    first = world.run(verify_partition_mail.main, "Alpha002", "dev", "--resolver", resolver, clock=world.clock.clock())
    assert first.returncode == 0, first.stdout + first.stderr  # Postmark verified the domain's first key

    rotated = world.run(rotate_dkim.main, "Alpha002", "dev", clock=world.clock.clock())
    deploy_line, verify_line = printed_next(rotated)
    assert verify_line == f"python tools/verify_partition_mail.py Alpha002 dev --resolver {resolver} --wait 960"
    assert run_as_printed(world, deploy_line).returncode == 0
    verified = run_as_printed(world, verify_line)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    old = world.postmark.only_domain()["DKIMRevokedHost"].lower()
    assert f"DKIM (revoked) TXT at {old}" in verified.stdout, "the old key is revoked, still published"

    marked = world.run(rehearse.main, "safe-to-remove", "Alpha002", "dev")
    assert marked.returncode == 0, marked.stderr
    assert marked.stdout.splitlines()[0] == (
        f"{STACK}: the revoked DKIM key {old} is now reported safe to remove by the world's Postmark"
    )
    check, deploy, final = printed_next(marked)
    assert (check, deploy) == (f"python tools/verify_partition_mail.py Alpha002 dev --resolver {resolver} --wait 0",
                               "python deploy.py Alpha002 dev")  # fmt: skip

    told = run_as_printed(world, check)
    assert told.returncode == 1
    (row,) = [line for line in told.stdout.splitlines() if line.startswith("V-PART-022")]
    assert "  FAIL  " in row and "safe to remove: run python deploy.py Alpha002 dev" in row
    assert told.stderr.splitlines()[-1] == (
        f"verify: error: {STACK}: 1 check(s) failed: V-PART-022 DKIM (revoked, safe to remove) gone from {old}; "
        f"run python deploy.py Alpha002 dev, then {final}"
    )

    assert run_as_printed(world, deploy).returncode == 0
    zone = world.postmark.only_domain()["Name"]
    assert old not in {name for name, _ in _records(world, zone)}, "the deploy removed the revoked key's record"
    passed = run_as_printed(world, final)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert any(line.startswith("V-PART-022") and "  PASS  " in line for line in passed.stdout.splitlines())

    again = world.run(rehearse.main, "safe-to-remove", "Alpha002", "dev", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["outcome"] == "already-safe"
    assert_token_nowhere(marked.stdout, marked.stderr, again.stdout, again.stderr)


def test_latency_is_in_the_help(run_cli):
    result = run_cli(rehearse.main, ["up", "--help"])
    assert result.returncode == 0
    assert "--latency-ms N" in result.stdout and "round trip" in result.stdout


def test_the_worlds_postmark_answers_each_request_after_the_latency_and_concurrent_ones_together():
    import threading

    import requests
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request

    from tools.rehearsal.moto_compat import CONTROLS
    from tools.rehearsal.postmark import PostmarkStandIn
    from tools.rehearsal.world import World

    latency = 0.08
    world = World()  # not started: its Postmark is served here as start() serves it
    world.postmark = PostmarkStandIn()
    server = make_server("127.0.0.1", 0, Request.application(world.postmark.handle), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/domains?count=1&offset=0"
    headers = {"X-Postmark-Account-Token": "t"}
    try:
        world.set_latency(latency)
        assert CONTROLS.latency_seconds == latency, "and the emulator's requests (moto patch 20)"
        for _ in range(3):
            start = time.perf_counter()
            requests.get(url, headers=headers, timeout=5).raise_for_status()
            assert time.perf_counter() - start >= latency
        threads = [threading.Thread(target=requests.get, args=(url,), kwargs={"headers": headers}) for _ in "ab"]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert latency <= time.perf_counter() - start < 2 * latency, "not one after the other"
        calls = world.postmark.calls("GET", "/domains")
        assert len(calls) == 5 and all(c.answered - c.arrived >= latency for c in calls)
    finally:
        world.set_latency(0.0)
        server.shutdown()
        server.server_close()
        world.scratch.cleanup()


def test_safe_to_remove_is_in_the_help(run_cli):
    result = run_cli(rehearse.main, ["--help"])
    assert result.returncode == 0
    assert "safe-to-remove" in result.stdout and "SafeToRemoveRevokedKeyFromDNS" in result.stdout


def _records(world, zone_name: str) -> list[tuple[str, str]]:
    from tools.rehearsal.aws import client

    route53 = client("route53", world.admin)
    zones = route53.list_hosted_zones_by_name(DNSName=zone_name)["HostedZones"]
    zone_id = next(z["Id"] for z in zones if z["Name"].rstrip(".") == zone_name)
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [(r["Name"].lower().rstrip("."), r["Type"]) for r in records]


def test_safe_to_remove_before_any_rotation_says_what_comes_first(running_world):
    world = running_world
    assert world.deploy("--yes").returncode == 0
    result = world.run(rehearse.main, "safe-to-remove", "Alpha002", "dev")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"rehearse: error: {STACK}: dev.ardamails.com has no revoked DKIM key: Postmark revokes the old key once it "
        "has verified a rotation's new one: run python tools/rotate_dkim.py Alpha002 dev, then python deploy.py "
        f"Alpha002 dev, then python tools/verify_partition_mail.py Alpha002 dev --resolver "
        f"{world.env['REHEARSAL_RESOLVER']} --wait 960"
    )
