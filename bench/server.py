"""The gateway under test, run as a subprocess (``satudata serve``) on a free local port."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def serve_command(config: Path, host: str, port: int, root: Path = REPO_ROOT) -> list[str]:
    """``python -m gateway.cli serve``, to be run in ``root``, so that the code measured is that checkout's.

    Not the venv's ``satudata`` script: an editable install imports the checkout it was installed
    from, so a bench run from another worktree (a quiet copy, or a commit to compare) would measure
    whatever that checkout holds at the moment each server starts.
    """

    args = ["serve", "--config", str(config.resolve()), "--host", host, "--port", str(port)]
    return [sys.executable, "-m", "gateway.cli", *args]


def memory_kb(pid: int) -> dict[str, int]:
    """``VmRSS`` (resident now) and ``VmHWM`` (peak resident) of ``pid`` in kB, from /proc/<pid>/status."""

    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


class GatewayProcess:
    """Start with ``async with``; the subprocess is stopped (SIGTERM, then SIGKILL) on exit, errors included."""

    def __init__(
        self, config: Path, log_path: Path, *, host: str = "127.0.0.1", port: int | None = None, root: Path = REPO_ROOT
    ) -> None:
        self.config = config
        self.root = root
        self.log_path = log_path
        self.host = host
        self.port = port or free_port(host)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port``."""

        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The gateway's process id (the Python interpreter running uvicorn)."""

        assert self.proc is not None
        return self.proc.pid

    async def __aenter__(self) -> GatewayProcess:
        self.start()
        try:
            await self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Launch the subprocess, its output going to ``log_path``."""

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            self.proc = subprocess.Popen(
                serve_command(self.config, self.host, self.port, self.root),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            log.close()

    async def wait_healthy(self, timeout: float = 90.0) -> None:
        """Poll ``/healthz`` until it answers 200; fail early if the process exits."""

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log_tail()}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise TimeoutError(f"gateway not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def memory_kb(self) -> dict[str, int]:
        """Resident memory of the gateway now (``VmRSS``) and at its peak (``VmHWM``), in kB."""

        return memory_kb(self.pid)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; returns the exit code."""

        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the gateway's output."""

        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
