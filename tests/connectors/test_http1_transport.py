"""``Http1Transport`` against a scripted HTTP/1.1 server on a real 127.0.0.1 socket.

The server answers each request head with whatever bytes a test scripts (so framing, closes,
silences and garbage are exact) and counts the TCP connections it accepted.
"""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from connectors.http1 import Http1Transport

#: (request head, connection number from 1, request number on that connection from 1) -> answer.
Script = Callable[[bytes, int, int], Awaitable["Answer"]]


class Answer:
    """Bytes to send, then optionally close (``close``) or go silent."""

    def __init__(self, data: bytes = b"", *, close: bool = False) -> None:
        self.data = data
        self.close = close


def ok(body: bytes = b"{}", *headers: bytes) -> Answer:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % len(body)
    return Answer(head + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


class ScriptedServer:
    """An HTTP/1.1 server that reads request heads and answers as ``script`` says."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.sleep(0.01)  # let each connection's handler see its close and end

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.connections += 1
        number = self.connections
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            for nth in range(1, 10_000):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append(head)
                answer = await self.script(head, number, nth)
                writer.write(answer.data)
                await writer.drain()
                if answer.close:
                    return
        finally:
            self.open -= 1
            self._writers.discard(writer)
            writer.close()


async def echo_path(head: bytes, conn: int, nth: int) -> Answer:
    path = head.split(b" ")[1]
    return ok(b'{"path": "%s", "conn": %d}' % (path, conn))


@asynccontextmanager
async def client(server: ScriptedServer, **kwargs: object) -> AsyncIterator[tuple[httpx.AsyncClient, Http1Transport]]:
    transport = Http1Transport(**kwargs)  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=2.0) as c:
        yield c, transport


async def test_connections_are_kept_alive_and_reused() -> None:
    async with ScriptedServer(echo_path) as server, client(server, max_connections=4) as (c, transport):
        for i in range(20):
            assert (await c.get(f"/one/{i}")).json()["path"] == f"/one/{i}"
        assert server.connections == 1
        answers = await asyncio.gather(*(c.get(f"/many/{i}") for i in range(60)))
        assert [a.json()["path"] for a in answers] == [f"/many/{i}" for i in range(60)]
        assert server.connections <= 4 and server.most_open <= 4
        assert transport.connections_opened == server.connections
        assert transport.idle_connections == server.connections  # all kept for the next calls


async def test_chunked_and_gzip_bodies_are_decoded() -> None:
    packed = gzip.compress(b'{"rows": [1, 2, 3]}')

    async def chunked_gzip(head: bytes, conn: int, nth: int) -> Answer:
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (packed[:7], packed[7:]))
        return Answer(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-encoding: gzip\r\n\r\n" + chunks + b"0\r\n\r\n")

    async with ScriptedServer(chunked_gzip) as server, client(server) as (c, _):
        for _ in range(3):
            assert (await c.get("/")).json() == {"rows": [1, 2, 3]}
        assert server.connections == 1


async def test_a_body_ended_by_closing_is_read_whole_and_its_connection_not_reused() -> None:
    async def http10(head: bytes, conn: int, nth: int) -> Answer:
        return Answer(b'HTTP/1.0 200 OK\r\ncontent-type: application/json\r\n\r\n{"conn": %d}' % conn, close=True)

    async with ScriptedServer(http10) as server, client(server) as (c, transport):
        assert [(await c.get("/")).json()["conn"] for _ in range(3)] == [1, 2, 3]
        assert transport.idle_connections == 0


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_connection_the_server_closed_while_idle_is_not_reused(method: str) -> None:
    async def answer_then_hang_up(head: bytes, conn: int, nth: int) -> Answer:
        # Says nothing about closing, then closes: the client sees the FIN while the connection idles.
        return Answer(ok(b'{"conn": %d}' % conn).data, close=True)

    async with ScriptedServer(answer_then_hang_up) as server, client(server) as (c, _):
        assert (await c.request(method, "/")).json() == {"conn": 1}
        await asyncio.sleep(0.05)
        assert (await c.request(method, "/")).json() == {"conn": 2}


@pytest.mark.parametrize(("method", "retried"), [("GET", True), ("POST", False)])
async def test_a_reused_connection_closed_in_the_race_is_retried_for_idempotent_methods(method: str, retried: bool) -> None:
    """The server's close and the client's next request cross: no byte of an answer, one retry
    if asking again cannot do anything twice."""

    async def close_second_request(head: bytes, conn: int, nth: int) -> Answer:
        return Answer(close=True) if nth == 2 else ok(b'{"conn": %d}' % conn)

    async with ScriptedServer(close_second_request) as server, client(server) as (c, _):
        assert (await c.request(method, "/")).json() == {"conn": 1}
        if retried:
            assert (await c.request(method, "/")).json() == {"conn": 2}
            assert server.connections == 2
        else:
            with pytest.raises(httpx.RemoteProtocolError, match="without sending an answer"):
                await c.request(method, "/")


async def test_an_answer_cut_short_is_a_protocol_error() -> None:
    async def cut(head: bytes, conn: int, nth: int) -> Answer:
        return Answer(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"partial", close=True)

    async with ScriptedServer(cut) as server, client(server) as (c, transport):
        with pytest.raises(httpx.RemoteProtocolError, match="before its answer was complete"):
            await c.get("/")
        assert transport.idle_connections == 0


async def test_garbage_is_a_protocol_error() -> None:
    async def garbage(head: bytes, conn: int, nth: int) -> Answer:
        return Answer(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")

    async with ScriptedServer(garbage) as server, client(server) as (c, _):
        with pytest.raises(httpx.RemoteProtocolError, match="Malformed"):
            await c.get("/")


async def test_silence_is_a_read_timeout_and_costs_the_connection() -> None:
    async def silent_first(head: bytes, conn: int, nth: int) -> Answer:
        if conn == 1:
            await asyncio.sleep(5)
        return ok(b'{"conn": %d}' % conn)

    async with ScriptedServer(silent_first) as server, client(server) as (c, _):
        with pytest.raises(httpx.ReadTimeout):
            await c.get("/", timeout=httpx.Timeout(2.0, read=0.1))
        assert (await c.get("/")).json() == {"conn": 2}


async def test_an_interim_answer_is_skipped() -> None:
    async def early_hints(head: bytes, conn: int, nth: int) -> Answer:
        return Answer(b"HTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n" + ok(b'{"final": true}').data)

    async with ScriptedServer(early_hints) as server, client(server) as (c, _):
        response = await c.get("/")
        assert response.status_code == 200 and response.json() == {"final": True}
        assert (await c.get("/")).json() == {"final": True}
        assert server.connections == 1


async def test_a_cancelled_request_never_leaves_its_answer_for_the_next_one() -> None:
    async def slow_first(head: bytes, conn: int, nth: int) -> Answer:
        if b"/slow" in head:
            await asyncio.sleep(0.3)
        return ok(b'{"path": "%s"}' % head.split(b" ")[1])

    async with ScriptedServer(slow_first) as server, client(server, max_connections=1) as (c, transport):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await c.get("/slow")
        assert transport.idle_connections == 0
        assert (await c.get("/next")).json() == {"path": "/next"}
        await asyncio.sleep(0.3)  # the late answer arrives on the closed connection, read by nobody
        assert (await c.get("/after")).json() == {"path": "/after"}
        assert server.connections == 2


async def test_callers_beyond_the_pool_wait_then_time_out() -> None:
    release = asyncio.Event()

    async def held(head: bytes, conn: int, nth: int) -> Answer:
        if b"/held" in head:
            await release.wait()
        return ok()

    async with ScriptedServer(held) as server, client(server, max_connections=1) as (c, _):
        first = asyncio.ensure_future(c.get("/held"))
        await asyncio.sleep(0.05)
        with pytest.raises(httpx.PoolTimeout):
            await c.get("/other", timeout=httpx.Timeout(2.0, pool=0.05))
        waiting = asyncio.ensure_future(c.get("/other"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        release.set()
        assert (await first).status_code == 200 and (await waiting).status_code == 200
        assert server.connections == 1


async def test_a_header_that_would_split_the_request_is_refused() -> None:
    async with ScriptedServer(echo_path) as server, client(server) as (c, _):
        with pytest.raises(httpx.LocalProtocolError):
            await c.get("/", headers={"x-key": "a\r\nx-injected: 1"})
        assert server.requests == []


async def test_methods_and_schemes_it_does_not_speak_are_refused() -> None:
    transport = Http1Transport()
    with pytest.raises(httpx.UnsupportedProtocol):
        await transport.handle_async_request(httpx.Request("GET", "ftp://127.0.0.1/x"))
    with pytest.raises(httpx.LocalProtocolError):
        await transport.handle_async_request(httpx.Request("HEAD", "http://127.0.0.1/x"))


async def test_nobody_listening_is_a_connect_error() -> None:
    transport = Http1Transport()
    with pytest.raises(httpx.ConnectError):
        await transport.handle_async_request(httpx.Request("GET", "http://127.0.0.1:9/x"))


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


async def test_https_is_verified_and_kept_alive(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with ScriptedServer(echo_path, tls=server_tls) as server:
        async with client(server) as (c, _):
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await c.get("/")  # not signed by anyone the default context trusts
        trusting = ssl.create_default_context(cafile=str(cert))
        async with client(server, ssl_context=trusting) as (c, _):
            assert [(await c.get(f"/{i}")).json()["path"] for i in range(3)] == ["/0", "/1", "/2"]
        assert server.connections == 1  # the refused handshake never got that far; then one, kept alive
