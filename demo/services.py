"""Start the demo OPD API services as separate processes, as the real ones would be.

``satudata demo`` runs the gateway in its own process and each API-only OPD (Dinas
Kesehatan, Sepeda Keren, LAPOR) as a process of its own on its own port, so stopping one
really takes that OPD away.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from . import progress

#: Each API's port is the gateway's port plus this offset (8000 -> 8101, 8102, 8103, 8104).
PORT_OFFSETS: Mapping[str, int] = {"dinkes": 101, "sepeda-keren": 102, "lapor": 103, "jkn": 104}


def api_ports(gateway_port: int) -> dict[str, int]:
    return {name: gateway_port + offset for name, offset in PORT_OFFSETS.items()}


@contextmanager
def running_apis(
    ports: Mapping[str, int], *, scale: float, seed: int, log_dir: Path, host: str = "127.0.0.1", timeout_s: float = 120
) -> Iterator[dict[str, str]]:
    """Start every API in ``ports``, wait until each answers ``/health``, stop them all on exit.

    Yields ``{name: base_url}``.
    """

    processes: dict[str, subprocess.Popen[bytes]] = {}
    urls = {name: f"http://{host}:{port}" for name, port in ports.items()}
    try:
        for name, port in ports.items():
            log = (log_dir / f"api-{name}.log").open("wb")
            processes[name] = subprocess.Popen(
                [sys.executable, "-m", "demo.apis", name, "--host", host, "--port", str(port), "--scale", str(scale), "--seed", str(seed)],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + timeout_s
        # Each API generates its data as it starts: at scale 1.0 that takes a while.
        with progress.Progress(f"starting the demo OPD APIs ({', '.join(urls)})"):
            for name, url in urls.items():
                progress.step("waiting for", name)
                while not _healthy(url):
                    if processes[name].poll() is not None:
                        raise RuntimeError(f"demo API {name} exited; see {log_dir / f'api-{name}.log'}")
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"demo API {name} did not start within {timeout_s:.0f} s")
                    time.sleep(0.2)
        yield urls
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _die_with_parent() -> None:
    """Runs in the child: ask Linux to SIGTERM it when the gateway process dies.

    uvicorn re-raises the SIGTERM it caught once it has shut down, so the gateway process can
    end without running our clean-up; without this the API processes would be orphaned.
    """

    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the finally block below is the only clean-up


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
