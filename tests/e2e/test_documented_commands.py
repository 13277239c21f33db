"""Every command the README and docs/*.md show, run as a user would where this machine can run it.

A doc's commands are the lines of its ```sh blocks (a trailing backslash joins
lines, ``  # ...`` is a comment) and the ``$`` lines of its ```console blocks; the
``python <script>.py`` spans of its prose count too. Every one of them is:

- accepted by this checkout: its script exists, its arguments parse with that
  script's own parser, and every infrastructure, partition and gate it names is
  active or required here, or the text around it names the instance file that makes
  it so (``stage.toml``: the stage examples of rollout.md);
- and run as written (the code blocks): a block that begins by sourcing the
  rehearsal env file runs in a fresh world that the docs' own ``rehearse.py up``
  command line starts, its commands in order in this process (each command's main(),
  as a rollout runs its steps) with the environment the env file gives; LOCAL_BLOCKS
  run in bash in a committed copy of this checkout; RUN_HERE commands run there on
  their own, and so do the README's ``generate.py`` commands;
- or, where it needs what no test here has (a real account, the real 1Password, the
  network), it is in ELSEWHERE with the test that runs the same command in the
  rehearsal world, or with why nothing can.

A new command in a doc that is none of these fails here: put it in a block that
runs, or in ELSEWHERE with its reason. ``/tmp/rehearsal.env`` stands for each
test's own env file, and ``<p>`` (the operator's AWS profile) for a profile name.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from instances.registry import PARTITION_IDS, load_registry
from tests.conftest import (
    PYTHON,
    REPO,
    SCRIPT_MODULES,
    STANDIN_BIN,
    captured,
    committed_clone,
    free_port,
    script_call,
    use_env,
)
from tools.lib import frame
from tools.rehearsal.repo import git

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
HERE = "tests/e2e/test_documented_commands.py"
ENV_FILE = "/tmp/rehearsal.env"  # the docs' env file: each test uses its own instead
SOURCE_ENV = f". {ENV_FILE}"
RUNBOOK = "tests/e2e/test_rehearse.py::test_the_runbook_passes_every_step"
FULL_ROLLOUT = (
    "tests/e2e/test_rollout.py::test_a_full_rollout_deploys_and_verifies_both_in_order_and_writes_the_evidence"
)

# The scripts run in the frame, by the module that holds their COMMAND and parser.
FRAME_SCRIPTS = {
    "generate.py": "generate",
    "deploy.py": "deploy",
    "tools/register_partition_mail_signature.py": "tools.register_partition_mail_signature",
    "tools/rotate_dkim.py": "tools.rotate_dkim",
    "tools/verify_partition_mail.py": "tools.verify_partition_mail",
    "tools/rollout.py": "tools.rollout",
    "tools/rehearse.py": "tools.rehearse",
}

# Blocks run as written in a fresh committed copy, by their first command; and the edit its comment asks the
# operator to make after that command (file, old, new), if any.
LOCAL_BLOCKS = {
    "cp instances/Alpha002/dev.toml instances/Alpha002/stage.toml": (
        "instances/Alpha002/stage.toml",
        'mail_domain = "dev.ardamails.com"',
        'mail_domain = "stage.ardamails.com"',
    ),
}

# Commands run on their own, as written, in a committed copy.
RUN_HERE = {
    "python deploy.py Alpha002 dev --dry-run",
}

# The rest: the test that runs the same command (or None), and why it is not run here as written.
ELSEWHERE = {
    f"python tools/rehearse.py up --env-file {ENV_FILE}": (
        "tests/e2e/test_rehearse.py::test_up_then_the_runbook_from_a_shell_then_ctrl_c",
        "runs it as a process that Ctrl-C stops; here its command line starts the world of every rehearsal block "
        "(parsed by rehearse.py's parser, the world started as up starts it)",
    ),
    "python tools/rehearse.py runbook Alpha002 dev": (RUNBOOK, "runs this command's main(), in this process"),
    "python tools/bench_generate.py --runs 20": (
        f"{HERE}::test_generate_benchmark_runs_and_reports",
        "a benchmark: with --runs 2, under pytest -m bench",
    ),
    "python tools/bench_deploy.py --runs 5": (
        f"{HERE}::test_deploy_benchmark_runs_and_reports",
        "a benchmark: with --runs 1 --apply-seconds 0 --latency-ms 0 20, under pytest -m bench",
    ),
    "python deploy.py Alpha002 dev --plan": (
        "tests/e2e/test_plan.py::test_a_dmarc_policy_change_shows_the_old_and_the_new_value",
        "deploy.md's illustration needs a deployed stack and a changed DMARC policy: that test makes both",
    ),
    "op whoami": (None, "the real 1Password CLI, signed in (the stand-in op answers only op read)"),
    "aws sts get-caller-identity --profile <p>": (None, "the operator's real AWS profile"),
    "python deploy.py Alpha002 dev --preflight --profile <p>": (RUNBOOK, "a real account: rehearsed without --profile"),
    "python deploy.py Alpha002 dev --plan --profile <p>": (RUNBOOK, "a real account: rehearsed without --profile"),
    "python deploy.py Alpha002 dev --profile <p>": (RUNBOOK, "a real account, answering y: rehearsed with --yes"),
    "python tools/verify_partition_mail.py Alpha002 dev --wait 960 --profile <p>": (
        RUNBOOK,
        "a real account and the real DNS: rehearsed with the world's --resolver and --wait 60",
    ),
    "aws cloudformation set-stack-policy --stack-name Alpha002-dev-Email --stack-policy-body "
    """'{"Statement":[{"Effect":"Allow","Action":"Update:*","Principal":"*","Resource":"*"}]}'""": (
        "tests/e2e/test_destroy.py::test_every_deploy_leaves_termination_protection_and_the_stack_policy",
        "a real account: the world stores stack policies but never enforces them; that test holds deploy.py "
        "to restoring the protective one",
    ),
    "python deploy.py Alpha002 dev": (RUNBOOK, "a real account, answering y: rehearsed with --yes"),
    "python tools/rehearsal/postmark.py --port 8025 &": (
        f"{HERE}::test_the_postmark_standin_and_op_on_their_own",
        "the same two commands on a free port, waiting for the server in between",
    ),
    'PATH="$PWD/tools/rehearsal/bin:$PATH" POSTMARK_API_URL=http://127.0.0.1:8025 '
    "python tools/register_partition_mail_signature.py Alpha002 dev": (
        f"{HERE}::test_the_postmark_standin_and_op_on_their_own",
        "the same two commands on a free port, waiting for the server in between",
    ),
    "python tools/rollout.py --through dev": (
        f"{HERE}::test_a_rehearsal_block_runs_as_written_in_a_fresh_world",
        "a real account and the real DNS: rollout.md's rehearsal block walks the same cascade with --resolver",
    ),
    "python tools/rollout.py --yes": (FULL_ROLLOUT, "a real account: that test runs --yes in the world"),
    "python tools/rollout.py --through stage": (
        FULL_ROLLOUT,
        "a real account with stage active: that test walks dev, then stage, in a clone where stage is active",
    ),
    "python tools/rollout.py --from stage --yes": (
        "tests/e2e/test_rollout.py::test_the_resume_command_run_exactly_as_printed_finishes_the_rollout",
        "a real account with stage active: that test runs the printed resume command, --from stage ... --yes",
    ),
    'python tools/rollout.py --record-gate postmark-compliance-reply --by ops@arda.cards --note "reply PM-42"': (
        FULL_ROLLOUT,
        "stage.toml must require the gate: that test records exactly this gate, by and note, in such a clone",
    ),
}

SUBSTITUTE = {"<p>": "p", "$REHEARSAL_RESOLVER": "127.0.0.1:5353"}  # for parsing only


# -- what the docs show -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A ```sh or ```console block: where it is, the paragraph before it, and its commands."""

    doc: str
    line: int
    lead: str
    body: str
    commands: tuple[str, ...]

    @property
    def context(self) -> str:
        return self.lead + "\n" + self.body

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass(frozen=True)
class Shown:
    """One command a doc shows, and the text around it (its block and the paragraph before, or its paragraph)."""

    doc: str
    command: str
    context: str
    block: Block | None


def name(doc: Path) -> str:
    return str(doc.relative_to(REPO))


def blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S):
            lang, body = match.groups()
            if lang not in ("sh", "console"):
                continue
            before = text[: match.start()].rstrip().rsplit("\n\n", 1)[-1]
            commands = []
            for line in re.sub(r"\\\n\s*", "", body).splitlines():
                if lang == "console":
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                command = re.split(r"\s+# ", line)[0].strip()
                if command and not command.startswith("#"):
                    commands.append(command)
            found.append(Block(name(doc), text[: match.start()].count("\n") + 1, before, body, tuple(commands)))
    return found


def inline_commands() -> list[Shown]:
    """``python <script>.py ...`` spans in prose and tables, each with its paragraph (synopses left out)."""
    shown = []
    for doc in DOCS:
        text = re.sub(r"^```.*?^```$", "", doc.read_text(encoding="utf-8"), flags=re.M | re.S)
        for paragraph in text.split("\n\n"):
            for span in re.findall(r"`(python [\w/]+\.py[^`]*)`", paragraph):
                if not re.search(r"<(?!p>)|\[|\||\.\.\.|…", span):
                    shown.append(Shown(name(doc), span, paragraph, None))
    return shown


def documented() -> list[Shown]:
    return [Shown(b.doc, c, b.context, b) for b in blocks() for c in b.commands] + inline_commands()


def rehearsal_blocks() -> list[Block]:
    return [b for b in blocks() if b.commands and b.commands[0] == SOURCE_ENV]


def local_blocks() -> list[Block]:
    return [b for b in blocks() if b.commands and b.commands[0] in LOCAL_BLOCKS]


# -- every command is run or accounted for ---------------------------------------------------------


def test_every_documented_command_is_run_here_or_accounted_for():
    running = {c for b in rehearsal_blocks() + local_blocks() for c in b.commands}
    shown = {s.command for s in documented() if s.block is not None}
    unaccounted = sorted(shown - running - RUN_HERE - ELSEWHERE.keys())
    assert unaccounted == [], "run these here, or say in ELSEWHERE which test runs them or why none can"
    stale = sorted((RUN_HERE | ELSEWHERE.keys()) - shown)
    assert stale == [], "no doc shows these any more"
    for test, _why in ELSEWHERE.values():
        if test is not None:
            path, function = test.split("::")
            assert f"def {function}(" in (REPO / path).read_text(encoding="utf-8"), f"{test} does not exist"


def test_the_docs_show_the_world_starting_and_blocks_running_in_it():
    assert rehearsal_blocks(), "no rehearsal block found: did the env file's name change?"
    assert any(f"python tools/rehearse.py up --env-file {ENV_FILE}" in b.commands for b in blocks())
    assert SOURCE_ENV in {c for b in blocks() if b.doc == "README.md" for c in b.commands}, "the first rehearsal"


# -- every command is accepted by this checkout -----------------------------------------------------


def script_argv(command: str) -> list[str] | None:
    """``python <script> args`` without leading VAR=value words and a trailing ``&``; None for other programs."""
    for old, new in SUBSTITUTE.items():
        command = command.replace(old, new)
    words = shlex.split(command.rstrip(" &"))
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words.pop(0)
    return words[1:] if words[:1] == ["python"] and words[1].endswith(".py") else None


def parse(argv: list[str]):
    """The script's own parser and argument checks, run on ``argv``; the arguments."""
    module = importlib.import_module(FRAME_SCRIPTS[argv[0]])
    parser = module.COMMAND.parser()
    getattr(module, "add_arguments", frame.add_target)(parser)
    args = parser.parse_args(argv[1:])
    if hasattr(module, "check"):
        module.check(args)
    return args


def required_gates(registry) -> set[str]:
    return {gate for config in registry.partitions.values() for gate in config.requires_gates}


def documented_gates(doc: str) -> set[str]:
    """Gates a doc's own ```toml example requires (``requires_gates = [...]``)."""
    text = (REPO / doc).read_text(encoding="utf-8")
    return {g for m in re.findall(r"requires_gates = \[([^\]]*)\]", text) for g in re.findall(r'"([^"]+)"', m)}


def problems_with_names(args, shown: Shown) -> list[str]:
    """What the command names that this checkout does not have, and that the text around it does not explain."""
    registry = load_registry()
    problems = []
    infrastructure = getattr(args, "infrastructure", None)
    if infrastructure is not None and infrastructure not in registry.infrastructures:
        problems.append(f"unknown infrastructure {infrastructure!r}")
    named = [*(getattr(args, "partitions", None) or []), getattr(args, "through", None), getattr(args, "start", None)]
    named.append(getattr(args, "partition", None))
    for partition in filter(None, named):
        config = registry.partitions.get(partition)
        if config is None:
            if partition not in PARTITION_IDS or f"{partition}.toml" not in shown.context:
                problems.append(
                    f"partition {partition!r} is not active here, and the text does not say what makes it so"
                )
        elif infrastructure is not None and config.infrastructure.name != infrastructure:
            problems.append(f"partition {partition!r} is active in {config.infrastructure.name}, not {infrastructure}")
    gate = getattr(args, "record_gate", None)
    if gate and gate not in required_gates(registry) | documented_gates(shown.doc):
        problems.append(f"gate {gate!r} is required by no instance file here, nor by the doc's example")
    return problems


@pytest.mark.parametrize("shown", documented(), ids=lambda s: f"{s.doc}: {s.command}"[:120])
def test_every_documented_command_is_accepted_by_this_checkout(shown, tmp_path):
    argv = script_argv(shown.command.replace(ENV_FILE, str(tmp_path / "rehearsal.env")))
    if argv is None:
        return  # not one of ours: op, aws, cp, git, the shell
    assert (REPO / argv[0]).is_file(), f"no such script: {argv[0]}"
    if argv[0] not in FRAME_SCRIPTS:
        return  # the benchmarks and the Postmark stand-in: their own argparse, run by the tests in ELSEWHERE
    assert problems_with_names(parse(argv), shown) == []


def test_an_example_naming_an_inactive_partition_is_refused_unless_its_text_says_what_activates_it():
    # Issue 29: the README's "rollout.py --through stage" failed in a checkout where stage was not active.
    args = parse(["tools/rollout.py", "--through", "stage"])
    bare = Shown("docs/rollout.md", "python tools/rollout.py --through stage", "the cascade:", None)
    assert problems_with_names(args, bare) == [
        "partition 'stage' is not active here, and the text does not say what makes it so"
    ]
    explained = Shown(bare.doc, bare.command, "once instances/Alpha002/stage.toml is committed:", None)
    assert problems_with_names(args, explained) == []


# -- run as written -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, committed_checkout) -> Path:
    return committed_clone(tmp_path_factory.mktemp("documented") / "checkout", committed_checkout)


def shell_env(home: Path) -> dict[str, str]:
    """An operator's shell: nothing of AWS, 1Password, Postmark or CI; this interpreter's ``python`` first."""
    skipped = ("AWS_", "OP_", "GITHUB_", "POSTMARK_", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skipped)}
    return dict(env, HOME=str(home), PATH=f"{os.path.dirname(PYTHON)}{os.pathsep}{env['PATH']}")


def run_block(block: Block, cwd: Path, env: dict[str, str], env_file: Path | None = None):
    script = "set -e\n" + block.body
    if env_file is not None:
        script = script.replace(ENV_FILE, str(env_file))
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def rehearsal(aws_env, checkout, warm_lint, tmp_path):
    """A fresh world as the docs' own ``rehearse.py up --env-file FILE`` starts it, with this test's env file.

    In this process: the command line is parsed by rehearse.py's own parser, then what ``up`` does before it waits
    for a signal (the world's servers, its switches, the env file once every server answers); ``up`` itself, as a
    process stopped by Ctrl-C, is tests/e2e/test_rehearse.py's subprocess contract test.
    """
    from tools import rehearse
    from tools.rehearsal.moto_compat import CONTROLS
    from tools.rehearsal.world import World

    env_file = tmp_path / "rehearsal.env"
    argv = shlex.split(f"python tools/rehearse.py up --env-file {ENV_FILE}".replace(ENV_FILE, str(env_file)))
    args = parse(argv[1:])
    assert args.command == "up"
    before = dict(os.environ)  # the world points this process's own AWS calls at itself, as in up's process
    world = World()
    try:
        infra = world.infrastructure(args.infrastructure)
        CONTROLS.slow_execution = args.apply_seconds
        world.start()
        assert world.answers()
        env_file.write_text(rehearse.export_lines(world.env(infra.name)), encoding="utf-8")
        yield env_file
    finally:
        world.stop()
        os.environ.clear()
        os.environ.update(before)


def sourced(env: dict[str, str], env_file: Path) -> dict[str, str]:
    """``env`` after ``. env_file`` (the export and unset lines rehearse.py writes)."""
    env = dict(env)
    for line in env_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("unset "):
            env.pop(line.split()[1], None)
        elif line.startswith("export "):
            name, value = line[len("export ") :].split("=", 1)
            env[name] = shlex.split(value)[0] if value else ""
    return env


def expanded(command: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` replaced as the shell does (a name the environment lacks is an error here)."""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: env[m.group(1) or m.group(2)], command)


def run_block_in_process(block: Block, checkout: Path, env: dict[str, str], env_file: Path, monkeypatch, clock):
    """The block's commands in order, stopping at the first that fails (``set -e``); what each printed.

    ``. FILE`` changes the environment of the commands after it; ``python <script>`` of a command that acts on
    the world runs its main() in this process with that environment, deploying from ``checkout`` on the fake clock
    (``script_call``, as a rollout runs its steps); any other command runs in bash, as written.
    """
    results = []
    for command in block.commands:
        command = command.replace(ENV_FILE, str(env_file))
        if command == f". {env_file}":
            env = sourced(env, env_file)
            continue
        argv = script_argv(expanded(command, env))
        if argv is not None and argv[0] in SCRIPT_MODULES:
            use_env(monkeypatch, dict(env, ROLLOUT_EVIDENCE_ROOT=str(checkout / "rollout-evidence")))
            code, out, err = captured(script_call(argv, checkout=checkout, clock=clock.clock()))
        else:
            done = subprocess.run(["bash", "-c", command], cwd=checkout, env=env, capture_output=True, text=True)
            code, out, err = done.returncode, done.stdout, done.stderr
        results.append((command, code, out, err))
        assert code == 0, f"{block}: {command}\n{out[-3000:]}{err[-3000:]}"
    return results


@pytest.mark.moto
@pytest.mark.parametrize("block", rehearsal_blocks(), ids=str)
def test_a_rehearsal_block_runs_as_written_in_a_fresh_world(block, rehearsal, checkout, tmp_path, monkeypatch, clock):
    results = run_block_in_process(block, checkout, shell_env(tmp_path / "home"), rehearsal, monkeypatch, clock)
    assert [command for command, *_ in results] == [c.replace(ENV_FILE, str(rehearsal)) for c in block.commands[1:]]
    assert all("Traceback" not in err for *_, err in results)


@pytest.mark.parametrize("block", local_blocks(), ids=str)
def test_a_local_block_runs_as_written_in_a_committed_copy(block, tmp_path, committed_checkout):
    copy = committed_clone(tmp_path / "copy", committed_checkout)
    env = shell_env(tmp_path / "home")
    first = block.commands[0]
    for command in block.commands:
        result = subprocess.run(["bash", "-c", command], cwd=copy, env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{block}: {command}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        if command == first and LOCAL_BLOCKS[first]:  # the edit the comment asks the operator to make by hand
            path, old, new = LOCAL_BLOCKS[first]
            text = (copy / path).read_text(encoding="utf-8")
            assert old in text, f"{path} no longer holds {old!r}: the comment's edit changed"
            (copy / path).write_text(text.replace(old, new), encoding="utf-8")
    staged = git(copy, "diff", "--cached", "--name-only").split()
    assert staged == ["instances/Alpha002/stage.toml", "templates/Alpha002-stage-Email.yaml"], staged


def readme_generate_commands() -> list[str]:
    return sorted({s.command for s in inline_commands() if s.doc == "README.md" and "generate.py" in s.command})


@pytest.mark.parametrize("command", sorted(RUN_HERE) + readme_generate_commands())
def test_a_command_that_needs_nothing_runs_as_written(command, checkout, tmp_path):
    assert command in {s.command for s in documented()}, f"no doc shows {command!r} any more"
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=checkout,
        env=shell_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert git(checkout, "status", "--porcelain") == "", "the committed templates are what the code renders"


# -- the benchmarks and the Postmark stand-in, with fewer runs and a free port ------------------------


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
        [PYTHON, "tools/bench_deploy.py", "--runs", "1", "--apply-seconds", "0", "--latency-ms", "0", "20", "--calls"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tables = re.split(r"^at (\d+) ms per AWS and Postmark call:$", result.stdout, flags=re.M)
    assert tables[1::2] == ["0", "20"], result.stdout
    for table in tables[2::2]:
        for scenario in ("first create", "create after --plan", "no-change", "one-record update"):
            # deploy.py, aws-cli (median, fastest-slowest), ratio; then each side's AWS, Postmark calls, most at once.
            row = (
                rf"^  {re.escape(scenario)} +( +[\d.]+ s \([\d.]+-[\d.]+\)){{2}} +[\d.]+ +(\d+ / \d+ +){{2}}\d+ / \d+$"
            )
            assert re.search(row, table, re.M), table
        assert "terminal events noticed at most" in table
    # --calls: each side's calls in order, per scenario and latency, from the world's log.
    assert re.search(r"^deploy\.py, no-change, at 20 ms: \d+ AWS, \d+ Postmark call", result.stdout, re.M)
    assert re.search(r"^  wave +1 +\+ +0 ms +\d+ ms  [a-z0-9]+ [A-Za-z]+$", result.stdout, re.M)


def test_the_postmark_standin_and_op_on_their_own(tmp_path):
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
