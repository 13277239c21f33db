"""Shared fixtures: instance trees, templates, the local world (moto, Postmark, DNS, op), and how to run a CLI.

Two ways to run a command, one result type (``Completed``):

- ``run_cli`` calls a CLI's ``main(argv)`` in this process, through the same frame
  a user gets (argument parsing, redaction, journal, exit codes), with the world's
  environment in ``os.environ`` and a ``FakeClock`` where the command waits:
  the fast default for behaviour tests;
- ``deploy(env, ...)`` (and ``start``/``run`` in ``tests/e2e/test_cli_contract.py``) run
  the real script as a subprocess: where real argv, exit codes, signals and stdout
  bytes are the point (tests/e2e/test_cli_contract.py keeps one such run per command).

A command that runs others (a rollout's steps, the runbook's, a doc's shell block)
runs them the same way: ``script_call`` turns ``python <script> <args>`` into that
script's ``main()`` with a child's seams, and ``InProcess`` is the rollout's runner
doing so, each step captured as a child's output would be.
"""

from __future__ import annotations

import gc
import importlib
import io
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from instances.registry import load_registry
from templates.partition_email import PartitionEmail
from templates.render import props_for, read_handler_source
from tests import wsgi_transport
from tests.assertions import TemplateAssertions
from tests.clock import FakeClock
from tools.lib.children import Ended
from tools.lib.clock import Clock
from tools.lib.rollout.cascade import ProcessRunner, Settings

REPO = Path(__file__).resolve().parent.parent
FIXTURE_INSTANCES = Path(__file__).resolve().parent / "fixtures" / "instances"
PYTHON = sys.executable
TOKEN = "pm-acct-7f3c9e1a-standin-SECRET-5b2d"
STACK = "Alpha002-dev-Email"
STANDIN_BIN = REPO / "tools" / "rehearsal" / "bin"


# -- scheduling: the long end-to-end tests first, so two workers finish together ------------------


# Property tests (Hypothesis): a bounded, repeatable run in the default suite; a larger budget on demand:
#     pytest tests/unit/test_yaml_emitter.py --hypothesis-profile thorough
_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("suite", max_examples=400, deadline=None, derandomize=True, suppress_health_check=_SLOW_DATA)
settings.register_profile("thorough", max_examples=10_000, deadline=None, suppress_health_check=_SLOW_DATA)
settings.load_profile("suite")


def _share_botocore_loaders() -> None:
    """Every botocore session in this process reads its service models through one loader per data path.

    deploy.py does this for its own sessions (tools/lib/aws_session.py); the world's sessions (the delegation
    handler that the emulator runs for each custom resource request, the tests' own clients) would each parse
    endpoints.json and the service models again: about a fifth of a deploy's CPU in the emulator.
    """
    import botocore.loaders
    import botocore.session

    loaders: dict = {}
    create = botocore.loaders.create_loader

    def shared(search_path_string=None):
        if search_path_string not in loaders:
            loaders[search_path_string] = create(search_path_string)
        return loaders[search_path_string]

    botocore.session.create_loader = shared


def _share_botocore_client_methods() -> None:
    """Every botocore client of a service API version gets the same operation methods (a new client class still).

    botocore builds a method for each of the service's operations whenever it makes a client (each a closure over
    the operation's name, its docstring the operation's documentation), and the commands make their clients
    anew in every run, the purge one per region: the biggest single cost of a run in this process. What a
    client does is unchanged; only the building is done once per service and API version.
    """
    import botocore.client

    methods: dict = {}
    create = botocore.client.ClientCreator._create_methods

    def shared(self, service_model):
        key = (service_model.service_name, service_model.api_version)
        if key not in methods:
            methods[key] = create(self, service_model)
        return dict(methods[key])

    botocore.client.ClientCreator._create_methods = shared


def _share_botocore_service_models() -> None:
    """Every botocore client of a service model (the same parsed JSON) gets the same ``ServiceModel``.

    A new client built a new ``ServiceModel`` over the shared loader's JSON, and with it every
    ``OperationModel`` and shape it used again, and scanned every operation for endpoint discovery: a tenth
    of making a client, and its first calls of each operation. The model is read-only; one object per
    parsed document serves every client (each still its own class, methods and handlers).
    """
    import botocore.client
    from botocore.model import ServiceModel

    models: dict[tuple[str, int], tuple[dict, ServiceModel]] = {}

    def load_service_model(self, service_name, api_version=None):
        document = self._loader.load_service_model(service_name, "service-2", api_version=api_version)
        key = (service_name, id(document))
        if key not in models:  # the document is kept with its model: its id is not reused while cached
            models[key] = (document, ServiceModel(document, service_name=service_name))
        return models[key][1]

    botocore.client.ClientCreator._load_service_model = load_service_model


def _share_botocore_event_work() -> None:
    """botocore's event system does the same work once per process instead of once per session and client.

    Every session registers its ~130 built-in handlers, every client copies its session's handler tree and
    registers its own: each registration spelled the event's name through the aliases again (a cache per
    session) and asked ``inspect`` whether the handler takes ``**kwargs``, and the tree was copied through
    ``copy.copy`` four times per node. Here the aliases' answers are shared by every session with botocore's
    aliases, the ``**kwargs`` answer is kept per plain function's code, and a node's three handler lists are
    copied as lists. Same handlers, same order, same trees: only the bookkeeping is done once.
    """
    import copy
    import types

    import botocore.hooks as hooks

    aliased: dict[str, str] = {}
    aliaser_init = hooks.EventAliaser.__init__

    def init(self, event_emitter, event_aliases=None):
        aliaser_init(self, event_emitter, event_aliases)
        if self._event_aliases == hooks.EVENT_ALIASES:
            self._alias_name_cache = aliased

    accepts = hooks.accepts_kwargs
    takes_kwargs: dict = {}

    def accepts_kwargs(func):
        function = func.__func__ if isinstance(func, types.MethodType) else func
        if type(function) is not types.FunctionType or hasattr(function, "__signature__"):
            return accepts(func)  # a partial, a callable object, a declared signature: ask inspect
        code = function.__code__
        if code not in takes_kwargs:
            takes_kwargs[code] = accepts(func)
        return takes_kwargs[code]

    node_list = hooks.NodeList

    def copied(handlers):
        return handlers.copy() if type(handlers) is list else copy.copy(handlers)

    def recursive_copy(self, node):  # botocore's _PrefixTrie._recursive_copy, without copy.copy's dispatch
        result = {}
        for key, value in node.items():
            if isinstance(value, node_list):
                result[key] = node_list(copied(value.first), copied(value.middle), copied(value.last))
            elif isinstance(value, dict):
                result[key] = recursive_copy(self, value)
            else:
                result[key] = value
        return result

    hooks.EventAliaser.__init__ = init
    hooks.accepts_kwargs = accepts_kwargs
    hooks._PrefixTrie._recursive_copy = recursive_copy


def _speed_up_botocore() -> None:
    """The four speed-ups above, kept only while botocore still works with them.

    They lean on botocore's internals, and an install without constraints.txt may bring a
    botocore whose internals differ (boto3 is not pinned for operators): then none of them
    is kept, with a warning, and the suite is slower, never wrong.
    """
    import warnings

    import botocore.client
    import botocore.hooks
    import botocore.session
    from botocore.stub import Stubber

    patched = [
        (botocore.session, "create_loader"),
        (botocore.client.ClientCreator, "_create_methods"),
        (botocore.client.ClientCreator, "_load_service_model"),
        (botocore.hooks.EventAliaser, "__init__"),
        (botocore.hooks, "accepts_kwargs"),
        (botocore.hooks._PrefixTrie, "_recursive_copy"),
    ]
    try:
        originals = [(owner, name, getattr(owner, name)) for owner, name in patched]
        for speed_up in (_share_botocore_loaders, _share_botocore_client_methods, _share_botocore_event_work,
                         _share_botocore_service_models):  # fmt: skip
            speed_up()
        for _ in range(2):  # a second session and client go through every shared piece
            sts = botocore.session.get_session().create_client(
                "sts", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
            )
            with Stubber(sts) as stub:
                arn = "arn:aws:iam::111122223333:user/probe"
                stub.add_response("get_caller_identity", {"Account": "111122223333", "Arn": arn, "UserId": "u"}, {})
                assert sts.get_caller_identity()["Arn"] == arn
    except Exception as exc:  # noqa: BLE001 - any failure: botocore as it comes, slower
        for owner, name, original in locals().get("originals", []):
            setattr(owner, name, original)
        warnings.warn(f"botocore's internals changed; the suite runs without its speed-ups ({exc!r})", stacklevel=1)


_speed_up_botocore()
# The servers of the world run in this process (moto, the Postmark stand-in): werkzeug logs each request they
# answer at INFO, and a command running here logs at INFO through its frame, so each request's line reached the
# command's stderr, as it never does in the command's own process. The rehearsal world quiets them too.
logging.getLogger("werkzeug").setLevel(logging.WARNING)


def pytest_xdist_auto_num_workers(config) -> int | None:
    """``-n auto`` (setup.cfg): one worker per core this process may run on, and one more (xdist's own answer
    for ``-n logical`` and under its documented ``PYTEST_XDIST_AUTO_NUM_WORKERS``, which caps it on a shared
    machine).

    A worker often waits with its core idle: on a command it started as a subprocess (the contract tests, the
    rollout's children, git, the op stand-in, cfn-lint), on a signal or a grace period that takes real time.
    Measured on two cores: 68-69 s with two workers, 60-62 s with three, 62 s with four.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or getattr(config.option, "numprocesses", "") == "logical":
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return cores + 1


def pytest_collection_modifyitems(items) -> None:
    """Tests marked ``slow`` first, then the rest of tests/e2e, then tests/unit (the quick filler)."""
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, "tests/unit/" in item.nodeid))


# -- the garbage collector: a test process keeps a big heap that never dies ------------------------

# Each worker holds some 600,000 objects for its whole life (botocore's service models, moto's and cfn-lint's
# modules, the world's state), and every command run in it makes and drops thousands more (clients, sessions,
# moto's backends after each reset). With Python's default thresholds a full collection walked that whole heap
# every few hundred thousand allocations: about a fifth of an end-to-end module's CPU. Once the heap has grown
# (after a worker's first tests), a collection and ``gc.freeze()`` take what is there out of every later full
# collection, and a larger young generation makes those rarer. Cyclic garbage is still collected: only what is
# alive at a freeze stays for good (a few tests' worth of objects, a handful of times per worker).
gc.set_threshold(3000, 10, 20)
_FREEZE_BEFORE_TESTS = frozenset({1, 3, 10, 40, 160})
_tests_started = 0


def pytest_runtest_setup(item) -> None:
    global _tests_started
    if _tests_started in _FREEZE_BEFORE_TESTS:
        gc.collect()
        gc.freeze()
    _tests_started += 1


# -- one cfn-lint cache for the whole session (every worker shares it) ---------------------------


@pytest.fixture(scope="session", autouse=True)
def lint_cache_dir(tmp_path_factory) -> Path:
    """XDG_CACHE_HOME for the session: one lint pass of the committed template serves every deploy."""
    folder = tmp_path_factory.getbasetemp().parent / "xdg-cache"
    folder.mkdir(exist_ok=True)
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


# -- templates and instance trees ------------------------------------------------------------------


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


# -- running commands -------------------------------------------------------------------------------


@dataclass
class Completed:
    """How a command ended: the same three facts a subprocess gives."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def clock() -> FakeClock:
    """The clock in-process commands wait on: it only moves when they sleep."""
    return FakeClock()


@pytest.fixture
def run_cli(capsys):
    """``run_cli(main, argv, **seams)``: a CLI's main() in this process, its exit code and output."""

    def run(main, argv: list[str], **seams) -> Completed:
        capsys.readouterr()
        code = main(list(argv), **seams)
        out, err = capsys.readouterr()
        return Completed(code, out, err)

    return run


@pytest.fixture
def run_in(monkeypatch, run_cli, clock):
    """``run_in(env, main, *argv)``: a CLI's main() with ``env`` as its whole environment, on the fake clock."""

    def run(env: dict[str, str], main, *argv: str) -> Completed:
        use_env(monkeypatch, env)
        return run_cli(main, list(argv), clock=clock.clock())

    return run


def ok(result):
    """A finished command that exited 0 (its output's tails in the failure message otherwise)."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_env(monkeypatch, env: dict[str, str]) -> None:
    """Make ``os.environ`` exactly ``env`` for this test (in-process commands read it as a subprocess would)."""
    for name in list(os.environ):
        if name not in env:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


# -- a script's main() in this process, as a child process runs the script --------------------------------

# The commands that act on a world, by the module that holds their main().
SCRIPT_MODULES = {
    "deploy.py": "deploy",
    "tools/register_partition_mail_signature.py": "tools.register_partition_mail_signature",
    "tools/rotate_dkim.py": "tools.rotate_dkim",
    "tools/verify_partition_mail.py": "tools.verify_partition_mail",
    "tools/rollout.py": "tools.rollout",
}


def captured(main: Callable[[], int]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``main()``, as a child's; only its own frame's log handler sees its records.

    As in a child process, the secrets ``main()`` learns (and the ``::add-mask::`` lines it printed) stay its own:
    the caller's redaction is as it was before (``tools.lib.logger``'s state is per process).
    """
    from tools.lib import logger

    out, err = io.StringIO(), io.StringIO()
    streams, root = (sys.stdout, sys.stderr), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    secrets, masked, announcing = set(logger.REDACTOR._secrets), set(logger._masked), logger._announcing
    root.handlers.clear()
    sys.stdout, sys.stderr = out, err
    try:
        code = main()
    finally:
        sys.stdout, sys.stderr = streams
        root.handlers[:] = handlers
        root.setLevel(level)
        logger.REDACTOR.reset()
        logger.REDACTOR._secrets.update(secrets)
        logger._masked.clear()
        logger._masked.update(masked)
        logger._announcing = announcing
    return code, out.getvalue(), err.getvalue()


def script_call(argv: list[str], *, checkout: Path, clock: Clock) -> Callable[[], int]:
    """``python <script> <args>`` (the script's path in ``checkout``) as its ``main()`` call in this process.

    With the seams a child process of ``checkout`` has: deploy.py deploys from ``checkout``, a rollout's steps
    run the same way (``InProcess``), every wait is on ``clock``. Only the commands of ``SCRIPT_MODULES``: the
    others read this working tree (generate.py) or start servers (rehearse.py).
    """
    script, *args = argv
    module = importlib.import_module(SCRIPT_MODULES[script])
    if script == "deploy.py":
        from tools.lib.deploy.context import Checkout

        return lambda: module.main(args, checkout=Checkout(checkout), clock=clock)
    if script == "tools/rollout.py":
        return lambda: module.main(args, checkout=checkout, runner=InProcess(checkout, clock), clock=clock)
    return lambda: module.main(args, clock=clock)


class InProcess(ProcessRunner):
    """The rollout's runner with each step in this process: the command's ``main()`` with the step's argv, through
    its own frame, its stdout and stderr captured as a child's would be (as ``run_cli`` does); the account guard and
    the exports as the rollout does them for real. ``after[step]`` runs once that step has ended: another operator
    acting between two steps."""

    def __init__(self, clone: Path, clock: Clock, after: dict[str, Callable[[], None]] | None = None) -> None:
        super().__init__(Settings(), env={}, cwd=clone)
        self.clone, self.clock, self.after = clone, clock, dict(after or {})

    def run(self, argv: list[str], label: str) -> Ended:
        assert argv[0] in ("deploy.py", "tools/verify_partition_mail.py"), argv
        ended = Ended(argv, *captured(script_call(argv, checkout=self.clone, clock=self.clock)))
        step = label.split(": ", 1)[1]
        if step in self.after:
            self.after.pop(step)()
        return ended


class SignalAtHold:
    """``with SignalAtHold(action, signum):`` around an in-process command: once the request for ``action`` that
    ``CONTROLS.hold`` holds has arrived, ``signum`` is sent to this process's main thread, where the command waits
    for that request's answer. As a signal reaching a command's own process at that step: the frame's handler
    raises where the command is (KeyboardInterrupt, Terminated), its journal is unwound, it returns 130 or 143.
    ``sent`` says whether it was sent (not: the command never made that request).
    """

    def __init__(self, action: str, signum: int, timeout: float = 60.0) -> None:
        from tools.rehearsal.moto_compat import CONTROLS

        self.sent = threading.Event()
        self._done = threading.Event()
        main = threading.main_thread().ident
        assert threading.get_ident() == main, "signals reach the main thread only"

        def watch() -> None:
            deadline = time.monotonic() + timeout
            while not self._done.is_set() and time.monotonic() < deadline:
                # Arrived means held: the command waits for the answer until the test releases it, after it ended.
                if CONTROLS.wait_for(action, timeout=0.05):
                    signal.pthread_kill(main, signum)
                    self.sent.set()
                    return

        self._thread = threading.Thread(target=watch, daemon=True)

    def __enter__(self) -> SignalAtHold:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def generate_in(checkout: Path, *partitions: str) -> None:
    """``python generate.py <partitions>`` in ``checkout`` (its instance files, its templates folder), in this
    process: for a change of configuration only (the code that renders is this working tree's)."""
    import generate

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generate, "load_registry", lambda: load_registry(checkout / "instances"))
        code, _, err = captured(lambda: generate.main([*partitions, "--out", str(checkout / "templates")]))
    assert code == 0, err


# -- the token ----------------------------------------------------------------------------------------


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


# -- the local world: moto, Postmark, DNS, op ------------------------------------------------------


@pytest.fixture(scope="session")
def moto_endpoint():
    """A moto server on 127.0.0.1 for the whole session (one per xdist worker): ``http://127.0.0.1:<port>``."""
    from moto.server import ThreadedMotoServer

    from tools.rehearsal import moto_compat

    moto_compat.apply()
    _remember_in_moto()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    if os.environ.get(wsgi_transport.OVER_HTTP) != "1":  # this process's requests skip the socket (see there)
        wsgi_transport.serve_in_process(url, server._server.app)
    yield url
    wsgi_transport.forget(url)
    server.stop()


def _remember_in_moto() -> None:
    """moto, in this test process, keeps what it recomputes on every request from the same input.

    Nothing it answers changes: a template's parse is made once per template text (each caller gets its own
    copy), the list of moto's service folders, read from disk for each request, once, and so is each response
    class's list of methods. Every deploy submits
    the same committed template: its pure-Python YAML parse was a fifth of a deploy's CPU in the emulator.
    """
    import copy
    import functools

    from moto import backends, settings
    from moto.cloudformation.models import ChangeSet, Stack
    from moto.core import responses

    parse = Stack.parse_template
    parsed: dict[str, object] = {}

    def parse_template(template: str):
        if template not in parsed:
            parsed[template] = parse(template)
        return copy.deepcopy(parsed[template])

    def change_set_parse_template(self) -> None:  # moto's ChangeSet._parse_template, with Stack.parse_template
        self.template_dict = Stack.parse_template(self.template)

    Stack.parse_template = staticmethod(parse_template)
    ChangeSet._parse_template = change_set_parse_template
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = functools.cache(lambda: modules)
    # EC2's backend, made anew in each account after every reset (the purge lists the enabled regions), loaded
    # moto's catalogue of public AMIs each time: a twentieth of a purge test's CPU, for images nothing here uses.
    settings.ec2_load_default_amis = lambda: False
    # Every request asked inspect for its response class's methods again (to find the action's): once per class.
    # The patches are installed before the server starts, so a class's methods are what they will stay.
    names = responses.method_names_from_class
    responses.method_names_from_class = functools.cache(lambda cls: frozenset(names(cls)))


@pytest.fixture
def aws_env(monkeypatch, moto_endpoint):
    """Point boto3 at the moto server with throw-away credentials; reset moto's state and the world's switches."""
    from tools.rehearsal import moto_compat
    from tools.rehearsal.aws import reset

    reset(moto_endpoint, timeout=10)
    moto_compat.CONTROLS.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    yield moto_endpoint
    moto_compat.CONTROLS.reset()


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
    """Environment of a CLI run: stand-in op first on PATH, Postmark on 127.0.0.1, nothing of CI or AWS."""
    # Bytecode is written as on an operator's machine: every child would compile the project from source otherwise.
    skipped = ("AWS_", "OP_", "GITHUB_", "POSTMARK_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skipped)}
    env.update(
        PATH=f"{STANDIN_BIN}{os.pathsep}{env.get('PATH', '')}",
        POSTMARK_API_URL=postmark.url,
        OP_STANDIN_SECRET=TOKEN,
        OP_STANDIN_ARGV_LOG=str(tmp_path / "op-argv.log"),
        HOME=str(tmp_path / "home"),
    )
    return env


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


@pytest.fixture(scope="session")
def committed_checkout(tmp_path_factory) -> Path:
    """The working tree, committed in a throw-away repository (deploy.py deploys only committed work).

    Its modules are compiled once here: every command the tests start from it as a subprocess would otherwise
    compile them from source again (an environment with PYTHONDONTWRITEBYTECODE writes no bytecode), about
    50 ms of each child's start. The bytecode sits in ``__pycache__``, which git ignores.
    """
    import compileall

    from tools.rehearsal.repo import committed_copy

    checkout = committed_copy(tmp_path_factory.mktemp("checkout"))
    for package in ("tools", "templates", "instances"):
        compileall.compile_dir(checkout / package, quiet=1, rx=re.compile(r"node_modules"))
    for script in checkout.glob("*.py"):
        compileall.compile_file(script, quiet=1)
    return checkout


def committed_clone(dest: Path, source: Path) -> Path:
    """``dest``: a checkout of the committed copy ``source`` (``committed_checkout``) that a test may change.

    The same one commit of the working tree; its working files and index its own, its objects read from
    ``source`` (``git clone --shared``): a third of the files a fresh committed copy writes, and of what
    pytest deletes again when it rotates its temporary folders.
    """
    git = ["git", "-c", "advice.detachedHead=false", "clone", "-q", "--shared", "--template=", "--no-tags"]
    subprocess.run([*git, str(source), str(dest)], check=True, capture_output=True, timeout=60)
    return dest


@pytest.fixture(scope="session")
def warm_lint(lint_cache_dir, committed_checkout) -> None:
    """cfn-lint's pass of the committed template, once per session (one worker lints, the others wait for it)."""
    import fcntl

    from tools.lib.cfn_lint import LintJob

    body = (committed_checkout / "templates" / f"{STACK}.yaml").read_text(encoding="utf-8")
    with open(lint_cache_dir / "warm.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        verdict = LintJob(body, "us-east-1").verdict()
    assert not verdict.errors, verdict.errors


@dataclass
class World:
    """The rehearsal world's accounts on the session's moto server, Postmark and op; how to run commands in it."""

    env: dict[str, str]  # the operator's environment (subprocesses get it as is; in-process runs put it in os.environ)
    root: dict[str, str]  # PlatformRoot's administrator ("someone" editing the parent zone)
    admin: dict[str, str]  # Alpha002's administrator: what tests look and meddle with (the operator is in env)
    parent_zone_id: str
    checkout: Path  # the committed copy of this working tree that commands deploy from
    postmark: object  # the PostmarkStandIn
    _run_cli: object
    clock: FakeClock
    _monkeypatch: object
    _dns: list = None  # the DNS servers this test started (``resolver``), stopped after it

    def __getitem__(self, key: str):  # the older dict-style access: world["env"]
        return getattr(self, key)

    def resolver(self) -> str:
        """``127.0.0.1:<port>`` of a DNS server answering from the world's zones (one per test, started now)."""
        from tools.rehearsal.dns import Route53DnsServer

        if not self._dns:
            server = Route53DnsServer(free_port())
            server.start()
            self._dns.append(server)
        return f"127.0.0.1:{self._dns[0].port}"

    def purge(self, *args: str, env: dict[str, str] | None = None) -> Completed:
        """``deploy.py Alpha002 dev --destroy --purge-retained <args>``, asking the world's DNS about the delegation."""
        return self.deploy("--destroy", "--purge-retained", "--resolver", self.resolver(), *args, env=env)

    def deploy(self, *args: str, checkout: Path | None = None, env: dict[str, str] | None = None) -> Completed:
        """``deploy.py Alpha002 dev <args>`` in this process, from a committed checkout, on the fake clock."""
        import deploy
        from tools.lib.deploy.context import Checkout

        use_env(self._monkeypatch, env or self.env)
        return self._run_cli(
            deploy.main,
            ["Alpha002", "dev", *args],
            checkout=Checkout(checkout or self.checkout),
            clock=self.clock.clock(),
        )

    def run(self, main, *args: str, env: dict[str, str] | None = None, **seams) -> Completed:
        """Any other CLI's main() in this process, with the world's environment."""
        use_env(self._monkeypatch, env or self.env)
        return self._run_cli(main, list(args), **seams)


@pytest.fixture
def world(aws_env, cli_env, postmark, committed_checkout, warm_lint, run_cli, clock, monkeypatch) -> World:
    """The rehearsal world's accounts (tools/rehearsal/world.py), and an environment holding Alpha002's credentials."""
    from tools.rehearsal.aws import ALPHA002_DEPLOYER_ROLE, PLATFORM_ROOT_ROLE, credentials, staff
    from tools.rehearsal.world import populate

    parent_zone_id = populate(load_registry(), empty=True)["ardamails.com"]  # aws_env has just reset the emulator
    root = staff(PLATFORM_ROOT_ROLE.split(":")[4])  # PlatformRoot's administrator: "someone" editing the parent zone
    admin = staff(ALPHA002_DEPLOYER_ROLE.split(":")[4])
    cli_env.update(
        AWS_ENDPOINT_URL=aws_env,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        **credentials(ALPHA002_DEPLOYER_ROLE),  # the operator: exactly the documented policy
    )
    servers: list = []
    yield World(
        cli_env, root, admin, parent_zone_id, committed_checkout, postmark, run_cli, clock, monkeypatch, servers
    )
    for server in servers:
        server.stop()


def deploy(env, *args, checkout: Path, timeout: float = 180):
    """``python deploy.py Alpha002 dev <args>`` as a subprocess, without a terminal, from a committed checkout."""
    return subprocess.run(
        [PYTHON, str(checkout / "deploy.py"), "Alpha002", "dev", *args],
        env=env,
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
