"""Test process only: botocore's requests to the session's moto server reach its WSGI app without HTTP.

The moto server of a test worker runs in the worker's own process, so a command run
in-process sent each AWS request through a socket to itself: urllib3 wrote it,
werkzeug's server read and parsed it again, and back. That round trip, not moto, was
about a tenth of the suite's CPU. Here, for the server's address only, botocore's
HTTP session hands the request to the server's WSGI application (the same one its
threads call, with every compatibility patch of ``tools/rehearsal/moto_compat``) as
an environ built by werkzeug's own test builder.

What a caller sees is what the server showed it:

- each request is served in a thread of its own, as the server's ``ThreadingMixIn``
  serves it: thread-locals of one request never meet another's, a held request
  (patch 11) holds that thread, and a command interrupted while it waits leaves the
  request to finish on the world's side, as AWS would;
- the client waits at most its read timeout and then gets botocore's
  ``ReadTimeoutError``, as a server that did not answer in time gives;
- the answer's status, headers and body are the app's, bytes for bytes.

Subprocesses (every contract test, the benchmarks, ``rehearse.py up``) still talk HTTP
to the same server: the product's HTTP stack is exercised there. ``ARDA_TESTS_OVER_HTTP=1
pytest`` runs the whole suite over HTTP, as it ran before this module.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import sys
import threading
import time
import traceback
from importlib.metadata import version
from urllib.parse import urlsplit

import botocore.awsrequest
import botocore.httpsession
from botocore.exceptions import ReadTimeoutError
from urllib3 import HTTPHeaderDict
from urllib3.util import Timeout
from werkzeug.exceptions import InternalServerError
from werkzeug.test import EnvironBuilder, run_wsgi_app

OVER_HTTP = "ARDA_TESTS_OVER_HTTP"  # "1": every request over HTTP, as before this module
_SLICE_SECONDS = 0.05
_APPS: dict[str, object] = {}  # "127.0.0.1:<port>" -> the WSGI application that server runs
_SERVER = f"Werkzeug/{version('werkzeug')} Python/{sys.version.split()[0]}"
_http_send = botocore.httpsession.URLLib3Session.send


class _Body:
    """An answer's body for ``AWSResponse`` (it reads ``raw.stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_):
        yield self._data

    def read(self, *_) -> bytes:
        data, self._data = self._data, b""
        return data


def serve_in_process(url: str, app) -> None:
    """Requests this process sends to ``url`` (``http://127.0.0.1:<port>``) go to ``app`` from now on."""
    _APPS[urlsplit(url).netloc] = app
    botocore.httpsession.URLLib3Session.send = _send


def forget(url: str) -> None:
    """Requests to ``url`` go over HTTP again (its server is stopping)."""
    _APPS.pop(urlsplit(url).netloc, None)


def _text(value) -> str:
    """A header's value as the server reads it off the wire (botocore keeps some as bytes)."""
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _server_headers(answered: list[float]) -> list[tuple[str, str]]:
    """What werkzeug's server adds to every answer (http.server's ``send_response``): ``Server`` and ``Date``."""
    return [("Server", _SERVER), ("Date", _http_date(int(answered[0] if answered else time.time())))]


@functools.lru_cache(maxsize=4)
def _http_date(second: int) -> str:
    return email.utils.formatdate(second, usegmt=True)


def _read_timeout(session, request) -> float | None:
    timeout = getattr(session, "_get_request_timeout", lambda _: None)(request) or session._timeout
    return timeout.read_timeout if isinstance(timeout, Timeout) else timeout


def _wait(done: threading.Event, timeout: float | None, url: str, clock=time.monotonic) -> None:
    """Wait for the answer as a client blocked on its socket waits: a signal is handled as soon as it arrives.

    One long ``Event.wait`` could miss a signal that reached the main thread just before it blocked (its handler
    then ran only when the wait ended, the read timeout later); short waits run any pending handler within one.
    """
    deadline = None if timeout is None else clock() + timeout
    while not done.wait(_SLICE_SECONDS):
        if deadline is not None and clock() >= deadline:
            raise ReadTimeoutError(endpoint_url=url, error="the in-process server did not answer in time")


def _send(self, request):
    url = urlsplit(request.url)
    app = _APPS.get(url.netloc)
    if app is None:
        return _http_send(self, request)
    body = request.body
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode("utf-8")
    environ = EnvironBuilder(
        path=url.path or "/",
        query_string=url.query,
        method=request.method,
        headers=[(name, _text(value)) for name, value in request.headers.items()],
        data=body or b"",
        base_url=f"{url.scheme}://{url.netloc}",
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    ).get_environ()
    answer: list = []
    answered: list[float] = []  # when the server's answer was ready: its Date header (AWS's clock)
    done = threading.Event()

    def serve() -> None:  # the server's thread for this request
        try:
            chunks, status, headers = run_wsgi_app(app, environ, buffered=True)
            answer.append((b"".join(chunks), status, headers))
            answered.append(time.time())
        except BaseException as exc:  # noqa: BLE001 - logged as werkzeug's server logs it; the client sees a 500
            logging.getLogger("werkzeug").error("Error on request:\n%s", traceback.format_exc())
            answer.append(exc)
        finally:
            done.set()

    threading.Thread(target=serve, name=f"in-process {request.method} {url.path}", daemon=True).start()
    _wait(done, _read_timeout(self, request), request.url)
    (result,) = answer
    if isinstance(result, BaseException):  # werkzeug's server answers its own 500 page
        chunks, status, headers = run_wsgi_app(InternalServerError(), environ, buffered=True)
        result = (b"".join(chunks), status, headers)
    data, status, headers = result[0], result[1], list(result[2].items())
    fields = HTTPHeaderDict()
    for name, value in headers:  # a header sent twice stays twice
        fields.add(name, value)
    for name, value in _server_headers(answered):
        if name not in fields:
            fields[name] = value
    return botocore.awsrequest.AWSResponse(request.url, int(status.split(" ", 1)[0]), fields, _Body(data))
