"""Patch 21: (tests, rehearsals, benchmarks) each AWS request costs a round trip.

moto answers on 127.0.0.1 in about a millisecond; every AWS API call costs a network
round trip (tens of milliseconds from an operator's laptop or a CI runner to a
region), so a deploy's sequential calls are what its operator waits for, and a local
benchmark that leaves them out measures something else. ``CONTROLS.latency_seconds``
(default 0) makes every client's request wait that long before the server acts on
it, each in its own server thread: requests sent at the same time wait at the same
time, as on AWS. The world's own requests (the custom resource's handler, which
runs inside AWS; ``controls.WORLD_AGENT``) and the emulator's ``/moto-api/`` are not
delayed. Every AWS request answered is logged in ``CONTROLS.served`` (action, service,
caller, arrival, answer), so a benchmark can count each client's calls and see how many
were in flight at once.
"""

from __future__ import annotations

import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication

from tools.rehearsal.moto_compat.controls import CONTROLS, Served, caller_of
from tools.rehearsal.moto_compat.patching import wrap
from tools.rehearsal.moto_compat.protocol import action_of, service_of

MOTO_API = "/moto-api"  # the emulator's own controls (reset, data): no AWS request


def call(original, self, environ, start_response):
    if environ.get("PATH_INFO", "").startswith(MOTO_API):
        return original(self, environ, start_response)
    arrived = time.monotonic()
    caller = caller_of(environ.get("HTTP_USER_AGENT", ""))
    delay = CONTROLS.latency_for(caller)
    if delay:
        time.sleep(delay)  # this request's thread only: the server is threaded
    action, service = action_of(environ), service_of(environ.get("HTTP_AUTHORIZATION", ""))
    answer = original(self, environ, start_response)
    CONTROLS.served.append(Served(action, service, caller, arrived, time.monotonic()))
    return answer


def install() -> None:
    wrap(DomainDispatcherApplication, "__call__", call)
