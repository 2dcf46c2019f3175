"""``python -m demo.apis dinkes`` as the demo runs it: its own process, a real socket."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from demo import Dataset
from demo.registry import P_NIK

from .conftest import SCALE, SEED

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dinkes_serves_over_a_real_socket(ds: Dataset, tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "dinkes.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "demo.apis",
                "dinkes",
                "--port",
                str(port),
                "--scale",
                str(SCALE),
                "--seed",
                str(SEED),
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            with httpx.Client(base_url=url, timeout=5) as client:
                while True:
                    assert process.poll() is None, f"exited with {process.returncode}: {log_path.read_text()}"
                    try:
                        health = client.get("/health")
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline, f"not up after 60 s: {log_path.read_text()}"
                        time.sleep(0.2)
                assert health.status_code == 200 and health.json()["service"] == "dinkes"
                niks = [row[P_NIK] for row in ds.penduduk[:40]] + ["3503019999999999"]
                response = client.get("/api/v1/pasien", params={"nik": ",".join(niks)})
                assert response.status_code == 200
                body = response.json()
                returned = {p["nik"] for p in body["data"]}
                assert returned and returned <= set(niks[:40]) and body["meta"]["total"] == len(returned)
                too_many = client.get(
                    "/api/v1/pasien", params={"nik": ",".join(row[P_NIK] for row in ds.penduduk[:101])}
                )
                assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "TOO_MANY_NIKS"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert "service data in" in log_path.read_text()


_FINGERPRINT = """
import hashlib, orjson
from demo import build_dataset
from demo.apis import build_dinkes, build_lapor, build_sepeda_keren
ds = build_dataset(scale={scale}, seed={seed})
d, s, l = build_dinkes(ds), build_sepeda_keren(ds), build_lapor(ds)
patients = [d.patient(row[0]) for row in ds.penduduk[::50]]
blob = orjson.dumps([d.skdr, d.ground_truth(), patients, s.cohorts, s.participants, s.attendance, l.reports, l.ground_truth()],
                    option=orjson.OPT_NON_STR_KEYS)
print(hashlib.sha256(blob).hexdigest())
"""


def test_same_data_in_every_process() -> None:
    """Nothing depends on Python's per-process hash randomisation: two processes build identical data."""

    import os

    script = _FINGERPRINT.format(scale=SCALE, seed=SEED)
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        digests.add(done.stdout.strip())
    assert len(digests) == 1
