"""The servers of ``python -m bench.floor``: each a subprocess on a free port, its whole process tree's memory.

``bench.server.GatewayProcess`` runs one ``satudata serve``; the floor also runs the bare endpoint and
gateways with ``--workers``, whose memory is spread over a supervisor and its workers. So here a
server is any command, and its resident memory is the sum over the process and its descendants.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .server import REPO_ROOT, free_port, serve_command


@dataclass
class Server:
    """One server under load: a label, how to start it, and what its requests carry."""

    label: str
    #: ``"bare"`` (``bench.floor_bare``) or ``"gateway"``.
    kind: str
    root: Path = REPO_ROOT
    config: Path | None = None
    workers: int = 1
    #: Headers every request sends (the access layer's API key and purpose).
    headers: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "bare":
            return [
                sys.executable, "-m", "uvicorn", "bench.floor_bare:app", "--host", "127.0.0.1", "--port", str(self.port),
                "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
            ]
        assert self.config is not None
        extra = ["--workers", str(self.workers)] if self.workers > 1 else []
        return [*serve_command(self.config, "127.0.0.1", self.port, self.root), *extra]

    def start(self, log_path: Path) -> None:
        log = log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                self.command(), cwd=self.root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            )
        finally:
            log.close()
        self.log_path = log_path

    async def wait_healthy(self, timeout: float = 120.0) -> None:
        """Poll ``/healthz`` until it answers 200; fail early, with the log's tail, if the process exits."""

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.label} exited with {self.proc.returncode}:\n{self._log_tail()}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.label} not healthy after {timeout:.0f} s:\n{self._log_tail()}")

    def rss_kb(self) -> tuple[int, int]:
        """``VmRSS`` summed over the process and its descendants (kB), and how many processes that is."""

        assert self.proc is not None
        pids = process_tree(self.proc.pid)
        return sum(vm_rss_kb(pid) for pid in pids), len(pids)

    async def settle(self, *, busy_share: float = 0.05, interval: float = 0.5, timeout: float = 120.0) -> None:
        """Wait until the server has finished what it was doing: its process tree used less than
        ``busy_share`` of a CPU over ``interval``. A load generator that stops drops its requests in
        flight, but the server still answers them; the next measurement must not pay for them."""

        assert self.proc is not None
        deadline = time.monotonic() + timeout
        before = cpu_seconds(process_tree(self.proc.pid))
        while time.monotonic() < deadline:
            await asyncio.sleep(interval)
            now = cpu_seconds(process_tree(self.proc.pid))
            if now - before < busy_share * interval:
                return
            before = now
        raise TimeoutError(f"{self.label} still busy {timeout:.0f} s after the load stopped")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a supervisor passes it to its workers), then SIGKILL after ``timeout`` s."""

        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AttributeError):
            return "(no log)"


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from ``/proc/<pid>/task/*/children``."""

    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time used so far by ``pids`` (those still there), from /proc/<pid>/stat."""

    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return ticks / os.sysconf("SC_CLK_TCK")


def vm_rss_kb(pid: int) -> int:
    """``VmRSS`` of ``pid`` in kB (0 if it has gone)."""

    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
