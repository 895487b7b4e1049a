"""Fixtures of the invitation tests: a real SMTP server process (aiosmtpd, its Mailbox handler
writing a Maildir) and a local SMS webhook receiver (an http.server thread)."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpServer:
    url: str
    maildir: Path

    def messages(self) -> list[EmailMessage]:
        box = mailbox.Maildir(self.maildir, create=False)
        return [
            email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
            for key in sorted(box.keys())
        ]


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    port = free_port()
    maildir = tmp_path / "maildir"
    mailbox.Maildir(maildir, create=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}"]
        + ["-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"aiosmtpd did not start: {proc.stderr}") from None
                time.sleep(0.05)
        yield SmtpServer(url=f"smtp://127.0.0.1:{port}", maildir=maildir)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class SmsReceiver:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    # phone number -> statuses to answer in turn (then 200)
    script: dict[str, list[int]] = field(default_factory=dict)


@pytest.fixture
def sms_receiver() -> Iterator[SmsReceiver]:
    receiver = SmsReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            planned = receiver.script.get(body.get("to"), [])
            status = planned.pop(0) if planned else 200
            if status == 200:
                receiver.received.append(body)
                receiver.headers.append(dict(self.headers))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "refused"}')

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(database_url: str, smtp_server: SmtpServer, sms_receiver: SmsReceiver) -> Settings:
    return Settings(
        database_url=database_url,
        environment="test",
        secret_key="test-secret-" + "x" * 40,
        bootstrap_admin_key=None,
        broker_url=None,
        smtp_url=smtp_server.url,
        smtp_from="survey@pvm.example",
        sms_webhook_url=sms_receiver.url,
        sms_webhook_auth_header="Authorization: Bearer sms-secret",
        sms_webhook_body='{"to": "{to}", "message": {"text": "{text}", "lang": "{lang}"}}',
        invitation_rate_per_s=200,
        invitation_backoff_s=0,
        invitation_max_attempts=3,
        public_url="http://survey.example",
        _env_file=None,  # type: ignore[call-arg]
    )
