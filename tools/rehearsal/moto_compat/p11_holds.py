"""Patch 11: (tests) holding one request.

Holding a request, for tests only: ``CONTROLS.hold(action)`` makes the server wait, on the
first request for that API action (``DescribeChangeSet``, ``DeleteStack``, ...),
until the test calls ``CONTROLS.release()``; ``CONTROLS.wait_for(action)`` returns once such a
request arrived. A test can so stop a deploy with a signal at exactly one step,
with the AWS side in a known state. ``hold(action, when="after")`` holds it once the
server acted, its answer not yet sent. ``CONTROLS.seen`` lists every action received.
"""

from __future__ import annotations

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from tools.rehearsal.moto_compat.controls import CONTROLS
from tools.rehearsal.moto_compat.patching import wrap
from tools.rehearsal.moto_compat.protocol import action_of


def call(original, self, environ, start_response):
    held = CONTROLS.arrive(action_of(environ))
    if held is None:
        return original(self, environ, start_response)
    if held.when == "before":
        held.wait()
        return original(self, environ, start_response)
    answered = []  # held after the server acted: its answer waits with it
    body = list(original(self, environ, lambda *reply: answered.append(reply)))
    held.wait()
    start_response(*answered[0])
    return body


def install() -> None:
    wrap(DomainDispatcherApplication, "__call__", call)
