"""The suite's in-process transport to its moto server (tests/wsgi_transport.py): what a client sees is what the
server showed it. A small WSGI app stands in for moto: nothing here needs moto."""

from __future__ import annotations

import logging
import signal
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ReadTimeoutError
from botocore.parsers import ResponseParserError

from tests import wsgi_transport

URL = "http://127.0.0.1:1"  # nothing listens there: an answer can only come through the transport
IDENTITY = (
    b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>'
    b"<Arn>arn:aws:iam::111122223333:user/probe</Arn><UserId>AIDA</UserId><Account>111122223333</Account>"
    b"</GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>"
    b"</GetCallerIdentityResponse>"
)


class App:
    """Answers GetCallerIdentity; records each request's environ and the thread that served it."""

    def __init__(self, hold: threading.Event | None = None, fail: bool = False) -> None:
        self.hold, self.fail = hold, fail
        self.environs: list[dict] = []
        self.threads: list[str] = []
        self.served = threading.Event()

    def __call__(self, environ, start_response):
        self.environs.append(environ)
        self.threads.append(threading.current_thread().name)
        if self.hold is not None:
            self.hold.wait(10)
        if self.fail:
            raise RuntimeError("a bug in the world")
        self.served.set()
        start_response("200 OK", [("Content-Type", "text/xml"), ("X-Twice", "a"), ("X-Twice", "b")])
        return [IDENTITY[:40], IDENTITY[40:]]


@pytest.fixture
def app_at():
    def serve(app):
        wsgi_transport.serve_in_process(URL, app)
        return app

    yield serve
    wsgi_transport.forget(URL)


def sts(**config):
    return boto3.client(
        "sts",
        endpoint_url=URL,
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
    )


def test_the_request_and_the_answer_cross_as_on_the_wire(app_at):
    app = app_at(App())
    answer = sts().get_caller_identity()
    assert answer["Account"] == "111122223333"
    (environ,) = app.environs
    assert environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/"
    assert environ["HTTP_HOST"] == "127.0.0.1:1" and environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["CONTENT_TYPE"].startswith("application/x-www-form-urlencoded")  # botocore keeps it as bytes
    assert environ["HTTP_AUTHORIZATION"].startswith("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/")
    assert b"Action=GetCallerIdentity" in environ["wsgi.input"].read()
    headers = answer["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-twice"] == "a, b", "a header sent twice stays twice"
    assert headers["date"].endswith(" GMT") and headers["server"].startswith("Werkzeug/"), "AWS's clock is there"
    assert app.threads[0].startswith("in-process POST"), "served in a thread of its own, as the server's"


def test_other_addresses_still_go_over_http(app_at):
    app_at(App())
    elsewhere = boto3.client(
        "sts", endpoint_url="http://127.0.0.1:9", region_name="us-east-1", aws_access_key_id="k",
        aws_secret_access_key="s", config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )  # fmt: skip
    with pytest.raises(Exception) as raised:
        elsewhere.get_caller_identity()
    assert "Could not connect" in str(raised.value)


def test_a_bug_in_the_world_is_werkzeugs_500_page_and_a_logged_traceback(app_at, caplog):
    app_at(App(fail=True))
    with caplog.at_level(logging.ERROR, logger="werkzeug"), pytest.raises(ResponseParserError) as raised:
        sts().get_caller_identity()
    assert "<title>500 Internal Server Error</title>" in str(raised.value)
    assert "Error on request" in caplog.text and "a bug in the world" in caplog.text


def test_no_answer_within_the_read_timeout_is_botocores_read_timeout():
    done = threading.Event()
    now = iter([0.0, 0.01, 5.0])  # the deadline passes on the second look
    with pytest.raises(ReadTimeoutError):
        wsgi_transport._wait(done, 1.0, URL, clock=lambda: next(now))


class Stopped(Exception):
    pass


def test_a_signal_while_the_answer_is_awaited_stops_the_caller_and_the_server_carries_on(app_at):
    """As a command blocked on its socket: the handler runs at once (a single long wait could miss it until the
    read timeout), and the request is served to its end on the world's side."""
    hold = threading.Event()
    app = app_at(App(hold=hold))

    def stop(*_):
        raise Stopped

    previous = signal.signal(signal.SIGUSR1, stop)
    main = threading.get_ident()
    arrived = threading.Thread(
        target=lambda: (_wait_until(lambda: app.environs), signal.pthread_kill(main, signal.SIGUSR1)), daemon=True
    )
    try:
        arrived.start()
        with pytest.raises(Stopped):
            sts(read_timeout=30).get_caller_identity()
    finally:
        signal.signal(signal.SIGUSR1, previous)
        hold.set()
    assert app.served.wait(10), "the world finished the request the caller left"


def _wait_until(condition) -> None:
    while not condition():
        threading.Event().wait(0.005)
