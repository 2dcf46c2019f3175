"""``ensure_sqlite_demo``: the demo's two SQLite files, generated once and reused.

A small manifest records the scale, seed and generator version the files were made with;
when it is missing or differs, everything is regenerated into a temporary folder and then
renamed into place, so an interrupted run never leaves half a database behind.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from . import progress
from .dataset import GENERATOR_VERSION, Dataset, build_dataset
from .load import create_private_file, load_dataset

REGISTRY_FILE = "dispendukcapil.sqlite"
EDUCATION_FILE = "dinas-pendidikan.sqlite"
GROUND_TRUTH_FILE = "ground-truth.json"
MANIFEST_FILE = "demo-manifest.json"

T = TypeVar("T")


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy async URL of a SQLite file."""

    return f"sqlite+aiosqlite:///{path}"


def ensure_sqlite_demo(data_dir: Path, scale: float = 0.1, seed: int = 3503) -> tuple[str, str]:
    """``(registry_url, education_url)`` of the demo databases in ``data_dir``, generating them if needed.

    Generates ``dispendukcapil.sqlite``, ``dinas-pendidikan.sqlite`` and ``ground-truth.json``
    only when they are missing or were made with another scale, seed or generator version.
    """

    data_dir = Path(data_dir).resolve()
    urls = (sqlite_url(data_dir / REGISTRY_FILE), sqlite_url(data_dir / EDUCATION_FILE))
    if _manifest(data_dir) == _wanted(scale, seed) and all(
        (data_dir / f).is_file() for f in (REGISTRY_FILE, EDUCATION_FILE, GROUND_TRUTH_FILE)
    ):
        return urls
    with progress.Progress(f"generating the demo data in {data_dir} (scale {scale:g}, seed {seed})"):
        generate_sqlite_demo(data_dir, build_dataset(scale=scale, seed=seed))
    return urls


def generate_sqlite_demo(data_dir: Path, ds: Dataset) -> None:
    """Write ``ds`` as the demo's SQLite files, ground truth and manifest in ``data_dir`` (replacing them)."""

    data_dir = Path(data_dir).resolve()
    if not data_dir.exists():
        # It holds (synthetic) personal data: its owner's only, like a real OPD's. An existing
        # folder is left as it is (it may be shared, say /tmp); the files below are 0600 anyway.
        data_dir.mkdir(parents=True, mode=0o700)
        os.chmod(data_dir, 0o700)  # mkdir's mode passes through the umask
    # Invalidate first: should we die between the renames below, the next call regenerates.
    (data_dir / MANIFEST_FILE).unlink(missing_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".demo-", dir=data_dir))
    try:
        run_sync(load_dataset(
            ds,
            registry_url=sqlite_url(staging / REGISTRY_FILE),
            education_url=sqlite_url(staging / EDUCATION_FILE),
        ))
        progress.step("files", "writing the ground truth")
        write_ground_truth(staging / GROUND_TRUTH_FILE, ds)
        for name in (REGISTRY_FILE, EDUCATION_FILE, GROUND_TRUTH_FILE):
            os.replace(staging / name, data_dir / name)
        (staging / MANIFEST_FILE).write_text(json.dumps(_wanted(ds.scale, ds.seed), indent=2) + "\n", encoding="utf-8")
        os.replace(staging / MANIFEST_FILE, data_dir / MANIFEST_FILE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_ground_truth(path: Path, ds: Dataset) -> None:
    """``ds.ground_truth()`` as indented JSON (0600: it lists the demo's persons)."""

    create_private_file(path)
    path.write_text(json.dumps(ds.ground_truth(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even if this thread already runs an event loop."""

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _wanted(scale: float, seed: int) -> dict[str, Any]:
    defaults = inspect.signature(build_dataset).parameters
    return {
        "generator_version": GENERATOR_VERSION,
        "scale": scale,
        "seed": seed,
        "as_of": defaults["as_of"].default.isoformat(),
        "term_start": defaults["term_start"].default.isoformat(),
    }


def _manifest(data_dir: Path) -> dict[str, Any] | None:
    try:
        loaded = json.loads((data_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None
