"""The commands the tools print for the operator to run next: runnable as printed, in a rehearsal world too."""

from __future__ import annotations

import pytest

from tools.lib.next_commands import NextCommands, rehearsal_resolver

WORLD = {"REHEARSAL_RESOLVER": "127.0.0.1:5353", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (WORLD, "127.0.0.1:5353"),  # what rehearse.py up's env file holds
        ({**WORLD, "AWS_ENDPOINT_URL": "http://localhost:5000"}, "127.0.0.1:5353"),
        ({**WORLD, "REHEARSAL_RESOLVER": "[::1]:5353"}, None),  # not IP:PORT as --resolver takes it
        ({**WORLD, "REHEARSAL_RESOLVER": "::1:5353"}, None),
        ({**WORLD, "REHEARSAL_RESOLVER": "localhost:5353"}, None),  # --resolver takes an IP
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, None),  # an emulator, but no world DNS
        ({"REHEARSAL_RESOLVER": "127.0.0.1:5353"}, None),  # a stale variable in a shell that points at AWS
        ({**WORLD, "AWS_ENDPOINT_URL": "https://cloudformation.us-east-1.amazonaws.com"}, None),
        ({**WORLD, "REHEARSAL_RESOLVER": "10.0.0.2:53"}, None),  # not the world's: it lives on 127.0.0.1
        ({**WORLD, "REHEARSAL_RESOLVER": "127.0.0.1:0"}, None),
        ({**WORLD, "REHEARSAL_RESOLVER": "127.0.0.1"}, None),
        ({**WORLD, "REHEARSAL_RESOLVER": ""}, None),
        ({**WORLD, "AWS_ENDPOINT_URL": "http://[::1"}, None),  # unparsable
    ],
)
def test_a_rehearsal_world_is_its_resolver_and_its_emulator_on_this_machine(environ, expected):
    assert rehearsal_resolver(environ) == expected


def test_commands_carry_the_runs_options_and_stay_within_verifys_bounds():
    plain = NextCommands.for_run("Alpha002", "dev", environ={})
    assert plain.deploy() == "python deploy.py Alpha002 dev"
    assert plain.verify() == "python tools/verify_partition_mail.py Alpha002 dev --wait 960"
    assert plain.verify(86460) == "python tools/verify_partition_mail.py Alpha002 dev --wait 3600"
    world = NextCommands.for_run("Alpha002", "dev", profile="ops team", region="us-east-1", environ=WORLD)
    assert world.deploy() == "python deploy.py Alpha002 dev --profile 'ops team' --region us-east-1"
    assert world.verify(0) == (
        "python tools/verify_partition_mail.py Alpha002 dev --profile 'ops team' --region us-east-1 "
        "--resolver 127.0.0.1:5353 --wait 0"
    )
    own = NextCommands.for_run("Alpha002", "dev", resolver="127.0.0.1:53", no_postmark=True, environ=WORLD)
    assert own.verify() == (
        "python tools/verify_partition_mail.py Alpha002 dev --resolver 127.0.0.1:53 --no-postmark --wait 960"
    ), "the run's own --resolver wins over the world's"
