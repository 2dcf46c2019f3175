"""Synthetic demo data for the Satu Data Trenggalek gateway: two OPD databases from one seed.

- Dispendukcapil (SIAK-like civil registry): ``wilayah``, ``keluarga``, ``penduduk``;
- Dinas Pendidikan (Dapodik-like): ``sekolah``, ``peserta_didik``, ``kehadiran``.

Region codes are Trenggalek's real Kemendagri codes; every person, school and number is
invented (INVENTED in the domain brief's sense), with realistic formats and a few planted
disagreements between the two databases, listed by :meth:`Dataset.ground_truth`.

    ds = build_dataset(scale=0.1, seed=3503)
    await load_dataset(ds, registry_url="sqlite+aiosqlite:///siak.sqlite", education_url=...)
    registry_url, education_url = ensure_sqlite_demo(Path(".data/demo"))
"""

from __future__ import annotations

from .dataset import Dataset, build_dataset
from .load import load_dataset
from .sqlite_demo import ensure_sqlite_demo

__all__ = ["Dataset", "build_dataset", "ensure_sqlite_demo", "load_dataset"]
