"""Shared fixtures: the fixture instance trees and rendered templates."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from instances.registry import load_registry
from templates.partition_email import PartitionEmail
from templates.render import props_for, read_handler_source
from tests.assertions import TemplateAssertions
from tools.rehearsal.aws import ALPHA002_DEPLOYER_ROLE, credentials

REPO = Path(__file__).resolve().parent.parent
FIXTURE_INSTANCES = Path(__file__).resolve().parent / "fixtures" / "instances"
PYTHON = sys.executable


@pytest.fixture(scope="session")
def handler_source() -> str:
    return read_handler_source()


@pytest.fixture(scope="session")
def fixture_registry():
    """Alpha002/dev and Beta001/prod: two partitions in two infrastructures."""
    return load_registry(FIXTURE_INSTANCES)


@pytest.fixture(scope="session")
def dev_config(fixture_registry):
    return fixture_registry.partition("dev")


@pytest.fixture(scope="session")
def prod_config(fixture_registry):
    return fixture_registry.partition("prod")


def build(config, handler_source) -> TemplateAssertions:
    return TemplateAssertions(PartitionEmail(props_for(config, handler_source)).template.to_dict())


@pytest.fixture(scope="session")
def dev_template(dev_config, handler_source) -> TemplateAssertions:
    return build(dev_config, handler_source)


@pytest.fixture(scope="session")
def prod_template(prod_config, handler_source) -> TemplateAssertions:
    return build(prod_config, handler_source)


@pytest.fixture
def instance_tree(tmp_path) -> Path:
    """A writable copy of the fixture instance tree for bad-config tests."""
    root = tmp_path / "instances"
    shutil.copytree(FIXTURE_INSTANCES, root)
    return root


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on 127.0.0.1 for the whole session: ``http://127.0.0.1:<port>``."""
    from moto.server import ThreadedMotoServer

    from tools.rehearsal import moto_compat

    moto_compat.apply()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, moto_endpoint):
    """Point boto3 at the moto server with throw-away credentials; reset moto's state."""
    import requests

    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return moto_endpoint


# -- Postmark and 1Password stand-ins ----------------------------------------------

TOKEN = "pm-acct-7f3c9e1a-standin-SECRET-5b2d"
STANDIN_BIN = REPO / "tools" / "rehearsal" / "bin"


@pytest.fixture
def postmark(httpserver):
    """The stateful Postmark stand-in behind pytest-httpserver; ``.url`` is its base URL."""
    import re

    from tools.rehearsal.postmark import PostmarkStandIn

    standin = PostmarkStandIn(token=TOKEN)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(standin.handle)
    standin.url = httpserver.url_for("").rstrip("/")
    return standin


@pytest.fixture
def cli_env(tmp_path, postmark):
    """Environment of a CLI run: stand-in op first on PATH, Postmark on 127.0.0.1."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OP_", "GITHUB_", "POSTMARK_"))}
    env.update(
        PATH=f"{STANDIN_BIN}{os.pathsep}{env.get('PATH', '')}",
        POSTMARK_API_URL=postmark.url,
        OP_STANDIN_SECRET=TOKEN,
        OP_STANDIN_ARGV_LOG=str(tmp_path / "op-argv.log"),
        HOME=str(tmp_path / "home"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def token_forms(token: str = TOKEN) -> set[str]:
    """The token and every encoded form a leak could take (repr, JSON, URL, workflow escapes)."""
    from tools.lib.logger import encoded_forms

    return encoded_forms(token)


def assert_token_nowhere(*texts: str, folders=(), token: str = TOKEN, fragment: int = 0):
    """The token, in any encoded form, is in none of the texts, nor in any file under the folders.

    ``fragment`` > 0 also refuses any piece of the token that long (a cut-off leak).
    """
    forms = token_forms(token)
    if fragment:
        forms |= {token[i : i + fragment] for i in range(len(token) - fragment + 1)}
    for text in texts:
        for form in forms:
            assert form not in text, f"token form {form!r} leaked"
    for folder in folders:
        for path in Path(folder).rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                for form in forms:
                    assert form.encode() not in data, f"token form {form!r} written to {path}"


@pytest.fixture
def dns_zone():
    """The DNS stand-in on a free 127.0.0.1 port (UDP and TCP); ``.port`` is where."""
    from tests.standins.dns import ZoneStandIn

    zone = ZoneStandIn()
    for _ in range(5):  # the UDP port may be taken for TCP by someone else: try another
        try:
            zone.start(free_port())
            break
        except OSError:
            continue
    yield zone
    zone.stop()


# -- the deploy world: moto accounts, the parent zone, the CLI ------------------------

STACK = "Alpha002-dev-Email"


@pytest.fixture
def world(aws_env, cli_env, postmark, committed_checkout):
    """The rehearsal world's accounts (tools/rehearsal/world.py), and an environment holding Alpha002's credentials."""
    from tools.rehearsal.aws import PLATFORM_ROOT_ROLE, client
    from tools.rehearsal.world import populate

    populate(load_registry())
    root = credentials(PLATFORM_ROOT_ROLE)
    (parent,) = client("route53", root).list_hosted_zones_by_name(DNSName="ardamails.com", MaxItems="1")["HostedZones"]
    parent_zone_id = parent["Id"].split("/")[-1]
    deployer = credentials(ALPHA002_DEPLOYER_ROLE)
    cli_env.update(
        AWS_ENDPOINT_URL=aws_env,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        **deployer,
    )
    return {
        "env": cli_env,
        "root": root,
        "deployer": deployer,
        "parent_zone_id": parent_zone_id,
    }


_CHECKOUT: list[Path] = []


@pytest.fixture(scope="session")
def committed_checkout(tmp_path_factory) -> Path:
    """The working tree, committed in a throw-away repository (deploy.py deploys only committed work)."""
    from tools.rehearsal.repo import committed_copy

    path = committed_copy(tmp_path_factory.mktemp("checkout"))
    _CHECKOUT[:] = [path]
    return path


def deploy(env, *args, checkout: Path | None = None):
    """``python deploy.py Alpha002 dev <args>`` as a subprocess, without a terminal, from a committed checkout."""
    root = checkout or _CHECKOUT[0]
    return subprocess.run(
        [PYTHON, str(root / "deploy.py"), "Alpha002", "dev", *args],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def ok(result):
    """A finished subprocess that exited 0 (its output's tails in the failure message otherwise)."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result
