"""Every command as a user runs it: a subprocess with real argv, real exit codes, real signals and stdout bytes.

The world's moto server and Postmark stand-in live in this process, so a test can
hold one request (``moto_compat.CONTROLS.hold``, ``PostmarkStandIn.hold``) and signal the
command at exactly that step; the command's last line must then say what it left,
and the world must hold nothing else.

The subprocess contract, per command: deploy.py (a signal while its change set waits,
SIGINT and SIGTERM; a deploy racing another; --json under GITHUB_ACTIONS), generate.py
(as the README says, through a pipe), register, rotate and verify (Ctrl-C while
Postmark acts), rollout.py (Ctrl-C reaching its running step; test_rollout.py has the
other). The rest runs each command's main() in this process: ``--json`` in every mode,
and a signal at every other change-making step, sent to this process's main thread
while the command waits for the held answer (``SignalAtHold``), where the frame's
handlers raise as they do in a command's own process.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PYTHON, STACK, TOKEN, SignalAtHold, assert_token_nowhere, ok
from tools.rehearsal.aws import client, credentials
from tools.rehearsal.moto_compat import CONTROLS

pytestmark = pytest.mark.moto

SCRIPTS = {
    "deploy": "deploy.py",
    "generate": "generate.py",
    "register": "tools/register_partition_mail_signature.py",
    "rotate": "tools/rotate_dkim.py",
    "verify": "tools/verify_partition_mail.py",
    "rollout": "tools/rollout.py",
    "rehearse": "tools/rehearse.py",
}
TARGET = ["Alpha002", "dev"]
# The one target object of every --json document that acts on a partition (tools/lib/targets.py).
TARGET_OBJECT = {
    "infrastructure": "Alpha002",
    "partition": "dev",
    "stack": STACK,
    "account": "111122223333",
    "region": "us-east-1",
}


def command(world, name: str, *args: str) -> list[str]:
    return [PYTHON, str(world.checkout / SCRIPTS[name]), *args]


def run(world, name: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command to its end, no terminal, from the committed checkout."""
    return subprocess.run(
        command(world, name, *args),
        cwd=world.checkout,
        env=env or world.env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


def start(world, name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        command(world, name, *args),
        cwd=world.checkout,
        env=env or world.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def held(action: str, process: subprocess.Popen, seconds: float = 60.0) -> bool:
    """Whether the command's request for ``action`` arrived and is held (False as soon as the command ended)."""
    for _ in range(int(seconds / 0.1)):
        if CONTROLS.wait_for(action, timeout=0.1):
            return True
        if process.poll() is not None:
            return False
    return False


def stop(process: subprocess.Popen, signum: int) -> tuple[int, str, str]:
    """Signal the command, let it finish its cleanup; its exit code, stdout and stderr."""
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def interrupted(world, signum: int, action: str, *args: str, never: str = ""):
    """``deploy.py Alpha002 dev <args>`` in this process, ``signum`` reaching it while the request for ``action``
    that ``CONTROLS`` holds waits for its answer (``SignalAtHold``); then the request is released."""
    with SignalAtHold(action, signum) as signalled:
        result = world.deploy(*args)
    CONTROLS.release()
    assert signalled.sent.is_set(), never or f"the deploy never asked for {action}"
    return result.returncode, result.stdout, result.stderr


def document(result) -> dict:
    """stdout is exactly one JSON document (json.loads refuses anything before or after it)."""
    return json.loads(result.stdout)


def change_sets(world) -> list[dict]:
    cfn = client("cloudformation", world.admin)
    stacks = [s for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"]
    return [c for s in stacks for c in cfn.list_change_sets(StackName=s["StackId"])["Summaries"]]


def stack_states(world) -> list[str]:
    cfn = client("cloudformation", world.admin)
    return [s["StackStatus"] for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"]


SIGNALS = [(signal.SIGINT, 130, "interrupted (Ctrl-C)"), (signal.SIGTERM, 143, "terminated (SIGTERM)")]


# -- --json: one document on stdout, in every mode of every command ----------------------------------


@pytest.mark.vcheck("V-CLI-003")
def test_every_command_and_mode_prints_exactly_one_json_document(world, dns_zone, tmp_path):
    """Each command's main() in this process (its stdout as the frame writes it), and a deploy under GITHUB_ACTIONS
    as a subprocess: real stdout bytes, with the children it starts (op, git) and the mask line on stderr."""
    import deploy
    import generate
    from tools import register_partition_mail_signature, rollout, rotate_dkim, verify_partition_mail

    env = dict(world.env, ROLLOUT_EVIDENCE_ROOT=str(tmp_path / "evidence"))
    results = {}
    clock = world.clock.clock()
    mains = {  # each main() and the seams its process would have
        "deploy": (deploy.main, {}),
        "generate": (generate.main, {}),
        "register": (register_partition_mail_signature.main, {"clock": clock}),
        "rotate": (rotate_dkim.main, {"clock": clock}),
        "verify": (verify_partition_mail.main, {"clock": clock}),
        "rollout": (rollout.main, {"checkout": world.checkout, "clock": clock}),
    }

    def json_of(name, *args, code=0, environment=None, as_process=False):
        argv = (*args, "--json")
        if as_process:
            result = run(world, name, *argv, env=environment or env)
        elif name == "deploy" and list(args[:2]) == TARGET:
            result = world.deploy(*argv[2:], env=environment or env)
        else:
            main, seams = mains[name]
            result = world.run(main, *argv, env=environment or env, **seams)
        assert result.returncode == code, result.stderr[-2000:]
        results[" ".join((name, *args))] = result
        return document(result)

    assert json_of("generate", "--check")["files"][0]["state"] == "up to date"
    dry_run = json_of("deploy", *TARGET, "--dry-run")
    assert [s["name"] for s in dry_run["steps"]][:2] == ["config", "account"] and dry_run["target"] == TARGET_OBJECT
    preflight = json_of("deploy", *TARGET, "--preflight")
    assert preflight["outcome"] == "passed" and preflight["target"] == TARGET_OBJECT
    plan = json_of("deploy", *TARGET, "--plan")
    assert plan["outcome"] == "planned" and {"changes", "parameters", "properties"} <= set(plan)
    assert plan["target"] == TARGET_OBJECT
    left = json_of("deploy", *TARGET, code=4)
    assert left["outcome"] == "not-done" and left["journal"][-1]["state"] == "kept" and left["target"] == TARGET_OBJECT
    kept = next(entry["what"] for entry in left["journal"] if entry["state"] == "kept").removeprefix("change set ")
    client("cloudformation", world.admin).delete_change_set(ChangeSetName=kept)  # the reviewer discards it
    actions = dict(env, GITHUB_ACTIONS="true")  # the mask line goes to stderr: stdout stays one document
    deployed = json_of("deploy", *TARGET, "--yes", environment=actions, as_process=True)
    assert deployed["outcome"] == "deployed" and len(deployed["exports"]) == 6
    assert f"::add-mask::{TOKEN}" in results["deploy Alpha002 dev --yes"].stderr
    unchanged = json_of("deploy", *TARGET, "--yes")  # the same keys a rollout reads from --plan to skip a deploy
    assert unchanged["outcome"] == "no-changes" and unchanged["changes"] == [] and unchanged["drift"] == []
    assert json_of("register", *TARGET)["outcome"] == "already-registered"
    assert json_of("rotate", *TARGET)["pending_key"]["state"] == "pending"
    resolver = f"127.0.0.1:{dns_zone.port}"
    failed = json_of("verify", *TARGET, "--resolver", resolver, "--no-postmark", code=1)
    assert failed["outcome"] == "failed" and {c["status"] for c in failed["checks"]} == {"FAIL"}
    assert failed["target"] == TARGET_OBJECT
    unrequired = json_of("rollout", "--record-gate", "postmark-compliance-reply", "--by", "ops", code=2)
    assert unrequired["outcome"] == "usage-error"  # no instance file here requires it; recorded: test_rollout.py
    destroyed = json_of("deploy", *TARGET, "--destroy", "--yes")
    assert (
        destroyed["outcome"] == "destroyed" and destroyed["retained"]["zones"] and destroyed["target"] == TARGET_OBJECT
    )
    usage = json_of("deploy", "--no-such-flag", code=2)  # every command's usage errors: tests/unit/test_frame.py
    assert usage["outcome"] == "usage-error" and usage["error"]
    assert_token_nowhere(*(r.stdout + r.stderr.replace(f"::add-mask::{TOKEN}", "") for r in results.values()))


# -- signals at each step that changes something ----------------------------------------------------------


@pytest.mark.parametrize(("signum", "code", "how"), SIGNALS)
def test_a_signal_while_the_change_set_waits_deletes_it(world, signum, code, how):
    CONTROLS.hold("DescribeChangeSet")
    process = start(world, "deploy", *TARGET, "--yes")
    assert held("DescribeChangeSet", process), "the deploy never asked for its change set"
    returncode, _, err = stop(process, signum)
    CONTROLS.release()
    assert returncode == code, err
    assert err.splitlines()[-1] == (
        f"deploy: {how}; {STACK}: registered dev.ardamails.com with Postmark (rerunning is safe); "
        "the change set was deleted, nothing executed"
    )
    assert "Traceback" not in err
    assert change_sets(world) == [] and stack_states(world) == [], "nothing left but what the line says"


def test_a_deploy_racing_another_refuses_and_a_plan_leaves_its_change_set_alone(world):
    ok(world.deploy("--yes"))
    domain = world.postmark.only_domain()  # something to change: Postmark verifies the key, then rotates
    world.postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    world.postmark.verify_dkim(domain["ID"])
    world.postmark.rotate_dkim(domain["ID"])
    CONTROLS.hold("DescribeChangeSet")  # the first deploy's change set exists; it waits for it
    first = start(world, "deploy", *TARGET, "--yes")
    assert held("DescribeChangeSet", first), "the first deploy never made its change set"
    try:
        second = world.deploy("--yes")
        plan = world.deploy("--plan")
    finally:
        CONTROLS.release()
    out, err = first.communicate(timeout=120)
    assert second.returncode == 3 and "another deploy is in flight: its change set arda-mail-" in second.stderr
    assert plan.returncode == 0, plan.stderr
    assert "another run's change set arda-mail-" in plan.stderr and "this plan leaves it alone" in plan.stderr
    assert first.returncode == 0, err[-2000:]
    assert f"{STACK}: UPDATE_COMPLETE" in out, "the first deploy executed its own reviewed change set"


@pytest.mark.parametrize(("signum", "code", "how"), SIGNALS)
def test_a_signal_after_execute_says_the_stack_carries_on(world, signum, code, how):
    ok(world.deploy("--yes"))
    domain = world.postmark.only_domain()  # Postmark verifies the first key, then starts a rotation: one new record
    world.postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    world.postmark.verify_dkim(domain["ID"])
    world.postmark.rotate_dkim(domain["ID"])
    CONTROLS.slow_execution = math.inf  # the aws_env fixture resets it
    CONTROLS.hold("DescribeStackEvents", after="ExecuteChangeSet")  # the first poll after the execute
    returncode, _, err = interrupted(
        world, signum, "DescribeStackEvents", "--yes", never="the deploy never followed the stack"
    )
    assert returncode == code, err
    stack_id = client("cloudformation", world.admin).describe_stacks(StackName=STACK)["Stacks"][0]["StackId"]
    assert err.splitlines()[-1].startswith(f"deploy: {how}; {STACK}: change set arn:aws:cloudformation:")
    assert err.splitlines()[-1].endswith(
        f"executed; CloudFormation carries on: watch it with: aws cloudformation describe-stack-events "
        f"--stack-name {stack_id} --region us-east-1"
    )
    assert stack_states(world) == ["UPDATE_IN_PROGRESS"], "the update was not touched"


@pytest.mark.parametrize(("signum", "code", "how"), SIGNALS)
def test_a_signal_after_protection_was_lifted_turns_it_back_on(world, signum, code, how):
    ok(world.deploy("--yes"))
    CONTROLS.hold("DescribeStackEvents")  # right before DeleteStack, after the protection came off
    returncode, out, err = interrupted(
        world, signum, "DescribeStackEvents", "--destroy", "--yes", never="the destroy never got to the deletion"
    )
    assert returncode == code, err
    assert "termination protection turned off" in err
    assert err.splitlines()[-1] == f"deploy: {how}; {STACK}: termination protection was turned back on"
    stack = client("cloudformation", world.admin).describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE" and stack["EnableTerminationProtection"] is True


@pytest.mark.parametrize(
    ("name", "args", "hold", "said"),
    [
        ("register", TARGET, ("POST", "/domains"), "registered dev.ardamails.com with Postmark (rerunning is safe)"),
        ("rotate", TARGET, ("POST", r"/domains/\d+/rotatedkim"), "a DKIM rotation of dev.ardamails.com is pending"),
        ("verify", [*TARGET, "--wait", "60"], ("GET", "/domains"), "nothing was changed"),
    ],
)
def test_ctrl_c_in_the_postmark_commands_ends_with_what_postmark_shows(world, name, args, hold, said):
    """Stopped while Postmark acts on a POST: the command asks Postmark what happened, and says that."""
    if name == "rotate":
        world.postmark.add_domain("dev.ardamails.com", "pm-bounces.dev.ardamails.com", active=True)
    if name == "verify":
        ok(world.deploy("--yes"))
    arrived, released = world.postmark.hold(*hold)
    process = start(world, name, *args)
    assert arrived.wait(60), f"{name} never called Postmark"
    process.send_signal(signal.SIGINT)  # while Postmark holds the request: then it acts, the answer is lost
    released.set()
    _, err = process.communicate(timeout=120)
    returncode = process.returncode
    assert returncode == 130, err
    (line,) = err.strip().splitlines()[-1:]
    assert line.startswith(f"{name}: interrupted (Ctrl-C); {STACK}: ") and said in line
    assert "Traceback" not in err


def test_ctrl_c_in_a_rollout_reaches_the_running_step_once_and_it_cleans_up(world, tmp_path):
    env = dict(world.env, ROLLOUT_EVIDENCE_ROOT=str(tmp_path / "evidence"))
    CONTROLS.hold("DescribeChangeSet")  # the plan step's change set
    process = start(world, "rollout", "--through", "dev", "--yes", env=env)
    assert held("DescribeChangeSet", process), "the rollout's plan never asked for its change set"
    returncode, _, err = stop(process, signal.SIGINT)
    CONTROLS.release()
    assert returncode == 130, err
    # The step's own last line, verbatim (old code: "rollout: interrupted (Ctrl-C); dev: nothing was changed").
    line = err.splitlines()[-1]
    assert line.startswith(
        "rollout: interrupted (Ctrl-C); dev: the plan step of Alpha002-dev-Email was stopped and said: "
        f'"deploy: interrupted (Ctrl-C); {STACK}: the change set was deleted, nothing executed"; evidence in '
        f"{tmp_path / 'evidence'}"
    )
    assert line.endswith("; resume with: python tools/rollout.py --from dev --through dev --yes")
    assert change_sets(world) == [] and stack_states(world) == [], "the plan's child deleted its change set"


# -- the rest of the contract ----------------------------------------------------------------------------------


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_refused_deploy_leaves_no_linter_running(world, tmp_path):
    # The lint starts before the account check (to run on the other core) with a cold cache:
    # refused at once, the deploy must take its child with it (in this process: a child of this process).
    from tools.lib.cfn_lint import WORKER

    cold = dict(world.env, XDG_CACHE_HOME=str(tmp_path / "cold-cache"))
    cold.update(credentials("arn:aws:iam::999988887777:role/Elsewhere"))
    result = world.deploy("--yes", env=cold)
    assert result.returncode == 3, result.stderr
    assert f"{STACK}: refusing to deploy: the AWS credentials are for account 999988887777" in result.stderr
    assert _workers_running(WORKER, parent=os.getpid()) == []
    assert not (tmp_path / "cold-cache" / "arda-partition-mail").exists(), "no verdict was waited for"


def _workers_running(worker: Path, parent: int) -> list[int]:
    """PIDs of ``parent``'s children whose command line runs the cfn-lint worker."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                status = (entry / "status").read_text()
            except OSError:
                continue
            ppid = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), None)
            if str(worker).encode() in argv and ppid == parent:
                found.append(int(entry.name))
    return found


@pytest.mark.vcheck("V-CLI-001")
def test_generate_dev_as_the_readme_says_and_its_output_survives_a_pipe(committed_checkout, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}

    def generate(*args):
        command = [PYTHON, "generate.py", *args]
        return subprocess.run(command, cwd=committed_checkout, env=env, capture_output=True, text=True, timeout=60)

    assert generate("dev").stdout == "unchanged: templates/Alpha002-dev-Email.yaml\n"
    wrote = generate("--out", str(tmp_path))
    shared = ("PlatformRoot-ArdaMailsNsDelegation.yaml", "permissions.md")  # what every partition shares
    expected = "".join(f"wrote: {tmp_path / name}\n" for name in ("Alpha002-dev-Email.yaml", *shared))
    assert (wrote.returncode, wrote.stdout) == (0, expected)
    (tmp_path / "Alpha002-dev-Email.yaml").write_text("stale\n")
    stale = generate("--check", "--diff", "--out", str(tmp_path))
    assert stale.returncode == 1
    last = (committed_checkout / "templates" / "Alpha002-dev-Email.yaml").read_text().splitlines()[-1]
    assert stale.stderr.startswith("stale: ") and stale.stderr.endswith(
        f"+{last}\ngenerate: error: --check found a stale or missing file (each is named)\n"
    ), "the whole diff arrived, then the one error line"


# -- a signal after the service acted and before its answer was read, at every change-making call ---------------


def _deployed(world):
    ok(world.deploy("--yes"))


def _rotated(world):
    ok(world.deploy("--yes"))
    domain = world.postmark.only_domain()
    world.postmark.published[(domain["DKIMPendingHost"], "TXT")] = [domain["DKIMPendingTextValue"]]
    world.postmark.verify_dkim(domain["ID"])
    world.postmark.rotate_dkim(domain["ID"])


def _destroyed(world):
    ok(world.deploy("--yes"))
    ok(world.deploy("--destroy", "--yes"))


def _destroyed_with_tenants(world):
    """A retained zone that still holds a tenant's records (the runtime wrote them; the stack never knew)."""
    from tools.rehearsal.aws import change_record

    ok(world.deploy("--yes"))
    stack = _stack(world)
    zone = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["MailHostedZoneId"]
    route53 = client("route53", world.admin)
    for tenant in ("acme", "globex"):
        change_record(route53, zone, "CREATE", f"pm-bounces.{tenant}.dev.ardamails.com.", "CNAME", ["pm.mtasv.net"])
    ok(world.deploy("--destroy", "--yes"))


def _nothing(world):
    return None


def _stack(world) -> dict:
    cfn = client("cloudformation", world.admin)
    (stack,) = [s for s in cfn.describe_stacks()["Stacks"] if s["StackStatus"] != "DELETE_COMPLETE"] or [{}]
    return stack


def _policy(world) -> str | None:
    return client("cloudformation", world.admin).get_stack_policy(StackName=STACK).get("StackPolicyBody")


def _after_create(world, line, document):
    assert line.endswith("no change set was made (or it is gone), nothing executed") or line.endswith(
        "the change set was deleted, nothing executed"
    ), line
    assert change_sets(world) == [] and stack_states(world) == [], "nothing left but what the line says"
    assert document["executed"] is False and document["outcome"] in ("interrupted", "terminated")


def _after_execute(world, line, document):
    assert "executed; CloudFormation carries on: watch it with: aws cloudformation describe-stack-events" in line
    assert stack_states(world) in (["UPDATE_IN_PROGRESS"], ["UPDATE_COMPLETE"]), "the execution goes on"
    assert document["executed"] is True and document["change_set"].startswith("arn:aws:cloudformation:")


def _after_policy(world, line, document):
    # A first creation sets the stack policy (which it knows is missing) beside reading the settled stack, then
    # turns termination protection on: stopped after the first, the line names the second.
    assert line.endswith(
        "the stack is CREATE_COMPLETE and termination protection is off: run python deploy.py Alpha002 dev now "
        "(it applies them)"
    ), line
    assert not _stack(world)["EnableTerminationProtection"] and _policy(world)
    again = ok(world.deploy("--yes"))  # the one command the line names
    assert "termination protection turned on" in again.stderr and _stack(world)["EnableTerminationProtection"]


def _after_protection_on(world, line, document):
    assert "executed: CREATE_COMPLETE" in line and "protections" not in line and "policy" not in line, line
    assert _stack(world)["EnableTerminationProtection"] is True and _policy(world)


def _after_lift(world, line, document):
    assert line.endswith("termination protection was turned back on"), line
    assert _stack(world)["StackStatus"] == "CREATE_COMPLETE" and _stack(world)["EnableTerminationProtection"]


def _after_delete(world, line, document):
    assert "the stack Alpha002-dev-Email was deleted" in line or "the deletion of Alpha002-dev-Email goes on" in line
    assert "turned back on" not in line and stack_states(world) in ([], ["DELETE_IN_PROGRESS"]), line


def _after_batch(world, line, document):
    assert "still holds" in line and "finish with: python deploy.py Alpha002 dev --destroy --purge-retained" in line
    done = ok(world.purge("--yes"))  # the command it names finishes it
    assert "deleted the hosted zone" in done.stdout


def _after_secret(world, line, document):
    assert "scheduled the webhook secret's deletion (arn:aws:secretsmanager:" in line, line
    secrets = client("secretsmanager", world.admin).list_secrets(IncludePlannedDeletion=True)["SecretList"]
    webhook = [s for s in secrets if s["Name"].endswith("/WebhookCredential")]
    assert webhook and all(s.get("DeletedDate") for s in webhook)


RESOLVER = "<the world's DNS>"
PURGE = ("--destroy", "--purge-retained", "--resolver", RESOLVER, "--yes")
CHANGE_MAKING_CALLS = [
    ("first creation", _nothing, ["--yes"], "CreateChangeSet", None, _after_create),
    ("execution", _rotated, ["--yes"], "ExecuteChangeSet", None, _after_execute),
    ("stack policy", _nothing, ["--yes"], "SetStackPolicy", None, _after_policy),
    ("protection on", _nothing, ["--yes"], "UpdateTerminationProtection", None, _after_protection_on),
    ("protection lifted", _deployed, ["--destroy", "--yes"], "UpdateTerminationProtection", None, _after_lift),
    ("stack deleted", _deployed, ["--destroy", "--yes"], "DeleteStack", None, _after_delete),
    ("purged records", _destroyed_with_tenants, [*PURGE], "ChangeResourceRecordSets", None, _after_batch),
    ("purged secret", _destroyed, [*PURGE], "DeleteSecret", None, _after_secret),
]  # fmt: skip


@pytest.mark.parametrize(("case", "setup", "args", "action", "after", "then"), CHANGE_MAKING_CALLS)
def test_a_signal_after_aws_acted_and_before_its_answer_was_read_ends_with_what_aws_shows(
    world, case, setup, args, action, after, then
):
    signum, code, how = SIGNALS[len(case) % 2]
    setup(world)
    CONTROLS.hold(action, after=after, when="after")
    args = [world.resolver() if a == RESOLVER else a for a in args]
    returncode, out, err = interrupted(world, signum, action, *args, "--json")
    assert returncode == code, err[-3000:]
    line = err.splitlines()[-1]
    assert line.startswith(f"deploy: {how}; {STACK}: "), line
    assert "Traceback" not in err and "could not be deleted" not in line and "may have" not in line, line
    said = json.loads(out)  # the one JSON document, also of a stopped run, with the same journal as the line
    journal = "; ".join(e["said"] for e in said["journal"] if e["said"])
    assert said["exit_code"] == code and line.split(f"{STACK}: ", 1)[1] == journal
    then(world, line, said)
