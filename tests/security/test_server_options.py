"""``pvm serve`` as deployed (F20): header and body timeouts cut slow clients off, and client
IPs come from X-Forwarded-For only with ``--proxy-headers`` and only from the trusted proxy.
Server behaviour, not database behaviour: these run once, on SQLite."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import build_parser
from app.config import Settings
from app.main import create_app
from tests.conftest import Factory
from tests.server import Server, free_port

URL = "/api/v1/surveys/telecom/responses"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite database with branches BR01..BR12 and the survey "telecom"."""
    url = f"sqlite:///{tmp_path / 'pvm.db'}"
    settings = Settings(database_url=url, environment="test", _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    try:
        factory = Factory(app, client=None)  # type: ignore[arg-type]
        factory.branches()
        factory.survey("telecom")
        yield url
    finally:
        app.state.engine.dispose()


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``sock`` (recv gives b"" or fails), None if not."""
    started = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(1024):
            pass
    except TimeoutError:
        return None
    except OSError:
        pass
    return time.monotonic() - started


def test_slow_headers_and_bodies_are_cut_off(sqlite_url: str) -> None:
    env = {"PVM_HEADER_TIMEOUT_S": "1", "PVM_BODY_TIMEOUT_S": "2"}
    server = Server(sqlite_url, port=free_port(), workers=1, **env).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port)) as slow_headers:
            slow_headers.sendall(b"GET /api/v1/branches HTTP/1.1\r\nHost: x\r\n")  # never ends
            assert (_closed_within(slow_headers, 10) or 99) < 5
        with socket.create_connection(("127.0.0.1", server.port)) as idle:
            assert (_closed_within(idle, 10) or 99) < 5  # connected, sent nothing
        with socket.create_connection(("127.0.0.1", server.port)) as slow_body:
            slow_body.sendall(
                f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 100000\r\n\r\n{".encode()
            )
            assert (_closed_within(slow_body, 15) or 99) < 8
        # an ordinary client is served, also on a kept-alive connection
        with httpx.Client(base_url=server.base, timeout=10) as http:
            for _ in range(2):
                assert http.get("/s/telecom", params={"branch": "BR01"}).status_code == 200
                time.sleep(1.5)  # longer than the header timeout, shorter than keep-alive
    finally:
        server.stop()


def _submit(base: str, forwarded: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    body = {"branch": "BR01", "answers": {}}  # 422: counted by the limiter all the same
    return httpx.post(base + URL, json=body, headers=headers, timeout=10).status_code


@pytest.mark.parametrize("proxy", [False, True])
def test_forwarded_for_is_trusted_only_with_proxy_headers(sqlite_url: str, proxy: bool) -> None:
    env = {"PVM_SUBMIT_PER_IP": "2", "PVM_PROXY_HEADERS": "true" if proxy else "false"}
    server = Server(sqlite_url, port=free_port(), workers=1, **env).start()
    try:
        codes = [_submit(server.base, f"203.0.113.{i}") for i in range(4)]
    finally:
        server.stop()
    if proxy:  # each customer behind the proxy has a budget of its own
        assert codes == [422] * 4, codes
    else:  # a client cannot escape its limit by claiming other addresses
        assert codes == [422, 422, 429, 429], codes


def test_serve_flags() -> None:
    args = build_parser().parse_args(
        ["serve", "--proxy-headers", "--forwarded-allow-ips", "10.0.0.1,10.0.0.2"]
    )
    assert args.proxy_headers is True and args.forwarded_allow_ips == "10.0.0.1,10.0.0.2"
    args = build_parser().parse_args(["serve", "--no-proxy-headers", "--header-timeout", "3"])
    assert args.proxy_headers is False and args.header_timeout == 3.0
    assert build_parser().parse_args(["serve"]).proxy_headers is None  # the setting decides


def _dockerfile_env() -> dict[str, str]:
    text = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    block = text.split("\nENV ", 1)[1].split("\n\n", 1)[0]
    pairs = [p.strip() for p in block.replace("\\\n", " ").split() if "=" in p]
    return dict(p.split("=", 1) for p in pairs)


def test_the_image_runs_with_production_settings(monkeypatch) -> None:
    """The Dockerfile cannot be built here (no container engine); its settings can be read."""
    env = _dockerfile_env()
    assert env["PVM_ENVIRONMENT"] == "production" and env["PVM_PROXY_HEADERS"] == "false"
    for name, value in env.items():
        if name.startswith("PVM_"):
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("PVM_SECRET_KEY", raising=False)
    with pytest.raises(ValueError, match="PVM_SECRET_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("PVM_SECRET_KEY", "k" * 48)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.environment == "production" and settings.host == "0.0.0.0"
    assert settings.database_url == "sqlite:////app/var/pvm.db"
    assert settings.header_timeout_s == 10 and settings.rate_limit_enabled
