"""The door before the hall (findings 9, 15, 19): the gateway as `satudata serve` runs it, on a
real uvicorn on 127.0.0.1, spoken to over raw sockets the way a slow, lying or hostile client does."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import GatewaySettings, create_app
from gateway.access.auth import key_sha256
from gateway.server import MAX_HEADER_FIELDS, server_config

from ..conftest import Backend, gateway_config
from ..support.server import free_port, serve_in_thread

OFFICER_KEY = "sdk_door-officer-0123456789abcdefghijklmnopqrstuvwxyz0"
DEADLINE_S = 1.0
#: How late after a deadline a close still counts as on time (a loaded 2-core CI machine).
SLACK_S = 1.5
AGENCIES = b'{"query": "{ agencies { code } }"}'


def door_config(backend: Backend, tmp_path: Path, **gateway: Any) -> dict[str, Any]:
    """The demo sources with a small policy of our own: one officer, anonymous public data."""

    config = gateway_config(backend)
    config["gateway"] = {
        **config.get("gateway", {}),
        "header_read_timeout_s": DEADLINE_S,
        "body_read_timeout_s": DEADLINE_S,
        **gateway,
    }
    config["policy"] = {
        "fields": {"Query.person": "personal", "Person.*": "personal"},
        "roles": {"officer": {"grant": ["personal"], "purposes": ["tugas"]}},
    }
    config["clients"] = [{"id": "officer", "role": "officer", "key_sha256": key_sha256(OFFICER_KEY)}]
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    return config


@contextmanager
def serving(config: dict[str, Any]) -> Iterator[tuple[str, int]]:
    """The gateway behind ``gateway.server.server_config``, as ``satudata serve`` starts it."""

    settings = GatewaySettings.from_dict(config)
    port = free_port()
    uvicorn_config = server_config(create_app(settings), settings, host="127.0.0.1", port=port, log_level="warning")
    with serve_in_thread(uvicorn_config, name="door-gateway", stop_timeout_s=20):
        yield ("127.0.0.1", port)


@pytest.fixture
def door(sqlite_backend: Backend, tmp_path: Path) -> Iterator[tuple[str, int]]:
    with serving(door_config(sqlite_backend, tmp_path)) as address:
        yield address


def read_until_closed(sock: socket.socket, within_s: float) -> tuple[bytes, float | None]:
    """Everything the server sends until it closes; ``None`` as the time if it did not close in time."""

    started = time.monotonic()
    received = b""
    sock.settimeout(0.1)
    while time.monotonic() - started < within_s:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return received, time.monotonic() - started
        if not chunk:
            return received, time.monotonic() - started
        received += chunk
    return received, None


def trickle_until_closed(socks: list[socket.socket], byte: bytes, *, within_s: float) -> list[tuple[bytes, float | None]]:
    """Send ``byte`` on each socket every 0.2 s (as slowloris does) until the server closes it."""

    started = time.monotonic()
    received = {s: b"" for s in socks}
    closed_at: dict[socket.socket, float] = {}
    for s in socks:
        s.setblocking(False)
    while len(closed_at) < len(socks) and time.monotonic() - started < within_s:
        readable, _, _ = select.select([s for s in socks if s not in closed_at], [], [], 0.2)
        for s in readable:
            try:
                chunk = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                chunk = b""
            if chunk:
                received[s] += chunk
            else:
                closed_at[s] = time.monotonic() - started
        for s in socks:
            if s not in closed_at and byte:
                try:
                    s.send(byte)
                except OSError:
                    closed_at[s] = time.monotonic() - started
                    received[s] += _pending(s)
    return [(received[s], closed_at.get(s)) for s in socks]


def _pending(sock: socket.socket) -> bytes:
    """What the kernel still holds for a socket whose peer has gone (a reset may follow the data)."""

    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            return data
        if not chunk:
            return data
        data += chunk


def read_response(sock: socket.socket) -> bytes:
    """One whole response (head and Content-Length body) from a kept-alive connection."""

    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split(b" ", 2)[1])


# --- finding 15: deadlines and a concurrency limit -------------------------------------


def test_finding_15_slow_and_silent_header_senders_are_cut_at_the_header_deadline(door: tuple[str, int]) -> None:
    slow = [socket.create_connection(door) for _ in range(20)]
    for s in slow:
        s.sendall(b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
    silent = [socket.create_connection(door) for _ in range(5)]
    try:
        outcomes = trickle_until_closed(slow, b"a", within_s=DEADLINE_S + SLACK_S + 3)
        outcomes += [read_until_closed(s, DEADLINE_S + SLACK_S) for s in silent]
    finally:
        for s in slow + silent:
            s.close()
    for received, closed_after in outcomes:
        assert closed_after is not None and closed_after <= DEADLINE_S + SLACK_S, closed_after
        assert status_of(received) == 408


def test_after_a_refusal_the_gateway_lingers_so_a_client_still_sending_gets_no_reset(door: tuple[str, int]) -> None:
    """A refused client may still be sending. The gateway half-closes (the client reads the 408 and
    then end of stream) and drops what still comes for a while; closing at once with input unread
    would answer it with a TCP reset, and a reset can discard a 408 the client has not read yet
    (what CI once saw: b'' where a 408 was owed, the reset racing a client's next write)."""

    with socket.create_connection(door) as sock:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
        received, closed_after = read_until_closed(sock, DEADLINE_S + SLACK_S)
        assert closed_after is not None and status_of(received) == 408
        sock.sendall(b"a" * 1024)  # a closed socket answers this with a reset ...
        time.sleep(0.3)
        sock.sendall(b"a" * 1024)  # ... which this write would raise (EPIPE or ECONNRESET)


def test_finding_15_a_slow_body_is_cut_at_the_body_deadline(door: tuple[str, int]) -> None:
    with socket.create_connection(door) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            b"Content-Length: 10000\r\n\r\n" + b'{"query": "'
        )
        ((received, closed_after),) = trickle_until_closed([sock], b" ", within_s=DEADLINE_S + SLACK_S + 3)
    assert closed_after is not None and closed_after <= DEADLINE_S + SLACK_S, closed_after
    assert status_of(received) == 408 and b"REQUEST_TIMEOUT" in received


@pytest.mark.parametrize(
    ("credential", "status"),
    [(b"X-API-Key: sdk_not-a-key-this-gateway-knows\r\n", 401), (b"Authorization: Basic Zm9vOmJhcg==\r\n", 401)],
    ids=["unknown-api-key", "wrong-scheme"],
)
def test_finding_15_an_unknown_caller_is_refused_before_its_megabyte_body_is_read(
    door: tuple[str, int], credential: bytes, status: int
) -> None:
    with socket.create_connection(door) as sock:
        sock.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n" + credential
            + b"Content-Length: 1000000\r\n\r\n" + b" " * 65536
        )
        # The other 934,464 bytes never come: an answer now means the body was not waited for.
        received, closed_after = read_until_closed(sock, DEADLINE_S * 0.8)
    assert closed_after is not None, "the gateway waited for the body"
    assert status_of(received) == status and b"UNAUTHENTICATED" in received
    assert b"connection: close" in received.lower()


def test_finding_15_rate_limited_callers_are_refused_before_their_body_is_read(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    config = door_config(sqlite_backend, tmp_path)
    config["ratelimit"] = {"roles": {"anonymous": {"requests_per_minute": 1, "burst": 1}}}
    with serving(config) as address:
        assert httpx.post(f"http://{address[0]}:{address[1]}/graphql", content=AGENCIES,
                          headers={"content-type": "application/json"}).status_code == 200
        with socket.create_connection(address) as sock:
            sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 1000000\r\n\r\n" + b" " * 1024)
            received, closed_after = read_until_closed(sock, DEADLINE_S * 0.8)
    assert closed_after is not None and status_of(received) == 429


def test_finding_15_connections_beyond_max_concurrency_are_answered_503(sqlite_backend: Backend, tmp_path: Path) -> None:
    config = door_config(sqlite_backend, tmp_path, max_concurrency=4, header_read_timeout_s=10)
    with serving(config) as address:
        holders = [socket.create_connection(address) for _ in range(4)]
        time.sleep(0.2)  # let the server accept them all
        try:
            with socket.create_connection(address) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
                received, _ = read_until_closed(sock, 3)
            assert status_of(received) == 503
        finally:
            for s in holders:
                s.close()
        time.sleep(0.3)
        assert httpx.get(f"http://{address[0]}:{address[1]}/healthz").status_code == 200


# --- finding 19: a strict parser -------------------------------------------------------


AMBIGUOUS_REQUESTS = {
    "transfer-encoding-with-content-length": (
        b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 35\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "two-content-lengths": (
        b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Length: 35\r\nContent-Length: 3\r\n\r\n" + AGENCIES
    ),
    "obs-fold": b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Folded: a\r\n b\r\n\r\n",
    "bare-lf": b"GET /healthz HTTP/1.1\nHost: gateway\n\n",
    "bare-lf-after-a-header": b"GET /healthz HTTP/1.1\r\nHost: gateway\nX-Other: b\r\n\r\n",
}


@pytest.mark.parametrize("raw", AMBIGUOUS_REQUESTS.values(), ids=AMBIGUOUS_REQUESTS.keys())
def test_finding_19_ambiguously_framed_requests_are_refused_and_closed(door: tuple[str, int], raw: bytes) -> None:
    with socket.create_connection(door) as sock:
        sock.sendall(raw)
        received, closed_after = read_until_closed(sock, 3)
    assert status_of(received) == 400
    assert closed_after is not None, "the connection stayed open for a smuggled request"


def test_finding_19_five_thousand_headers_are_refused_with_431(door: tuple[str, int]) -> None:
    assert MAX_HEADER_FIELDS < 5000
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
    with socket.create_connection(door) as sock:
        try:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n" + headers + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it had all been sent
        received, closed_after = read_until_closed(sock, 3)
    assert status_of(received) == 431 and closed_after is not None


def test_a_well_formed_keep_alive_client_is_served_twice_on_one_connection(door: tuple[str, int]) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
    with socket.create_connection(door) as sock:
        sock.sendall(request)
        first = read_response(sock)
        time.sleep(DEADLINE_S * 1.5)  # idle between requests: the keep-alive timeout's, not the header deadline's
        sock.sendall(request)
        second = read_response(sock)
    assert status_of(first) == 200 and status_of(second) == 200


# --- finding 9: proxies are explicit ---------------------------------------------------


def _spoofed_requests(address: tuple[str, int], count: int, *, same_address: bool = False) -> list[int]:
    statuses = []
    with httpx.Client(base_url=f"http://{address[0]}:{address[1]}") as client:
        for i in range(count):
            forwarded = "203.0.113.7" if same_address else f"203.0.113.{i + 1}"
            response = client.post("/graphql", content=AGENCIES,
                                   headers={"content-type": "application/json", "x-forwarded-for": forwarded})
            statuses.append(response.status_code)
    return statuses


def test_finding_9_a_spoofed_forwarded_for_from_loopback_meets_the_rate_limit(sqlite_backend: Backend, tmp_path: Path) -> None:
    config = door_config(sqlite_backend, tmp_path)
    config["ratelimit"] = {"roles": {"anonymous": {"requests_per_minute": 1, "burst": 3}}}
    with serving(config) as address:
        # No [gateway] trusted_proxies: 127.0.0.1 is a client like any other, whatever it claims.
        assert _spoofed_requests(address, 5) == [200, 200, 200, 429, 429]


def test_finding_9_forwarded_for_is_honoured_from_a_trusted_proxy(sqlite_backend: Backend, tmp_path: Path) -> None:
    config = door_config(sqlite_backend, tmp_path, trusted_proxies=["127.0.0.0/8"])
    config["ratelimit"] = {"roles": {"anonymous": {"requests_per_minute": 1, "burst": 3}}}
    with serving(config) as address:
        assert _spoofed_requests(address, 5) == [200] * 5  # five clients behind the proxy
        assert _spoofed_requests(address, 5, same_address=True)[-2:] == [429, 429]  # one client, its own budget


def test_finding_9_trusted_proxies_must_be_addresses(sqlite_backend: Backend, tmp_path: Path) -> None:
    from core import ConfigError

    with pytest.raises(ConfigError, match="trusted_proxies"):
        GatewaySettings.from_dict(door_config(sqlite_backend, tmp_path, trusted_proxies=["*"]))
