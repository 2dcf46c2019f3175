"""Request keys picked by direct SQL on the sources, with a fixed RNG.

Every request of a run gets its own key where the data allows it (sampling without
replacement, then cycling), so no repeated request is flattered by a warm row cache.
Queries here read the OPD tables directly, not through the gateway.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from demo.regions import kecamatan_of

from .databases import BenchDatabases

T = TypeVar("T")

#: Size of the pages the paged queries ask for; keys leave at least this many items after the cursor.
SCHOOL_PAGE = 50
PERSON_PAGE = 20


@dataclass
class KeyPools:
    """Candidate keys for each query, in a stable order (sampling happens in :func:`draw`)."""

    #: NIKs of residents whose family card lists at least 3 members.
    family_niks: list[str]
    #: NPSNs of schools with at least one pupil.
    npsns_with_pupils: list[str]
    #: All NPSNs, in NPSN order (the order of ``schools``).
    npsns: list[str]
    #: Kecamatan code (dotted) -> NIKs of its living residents, in NIK order.
    alive_by_kecamatan: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        """Pool sizes, for the report."""

        return {
            "family_niks": len(self.family_niks),
            "npsns_with_pupils": len(self.npsns_with_pupils),
            "npsns": len(self.npsns),
            "kecamatan": len(self.alive_by_kecamatan),
            "alive_residents": sum(len(v) for v in self.alive_by_kecamatan.values()),
        }


async def key_pools(dbs: BenchDatabases) -> KeyPools:
    """Read the candidate keys from the registry (PostgreSQL) and education (MariaDB) databases."""

    registry = create_async_engine(dbs.registry_url)
    education = create_async_engine(dbs.education_url)
    try:
        async with registry.connect() as conn:
            family_niks = list(
                (
                    await conn.execute(
                        text(
                            "SELECT p.nik FROM penduduk p JOIN "
                            "(SELECT no_kk FROM penduduk GROUP BY no_kk HAVING COUNT(*) >= 3) k ON k.no_kk = p.no_kk "
                            "ORDER BY p.nik"
                        )
                    )
                ).scalars()
            )
            alive = (
                await conn.execute(
                    text("SELECT nik, kode_wilayah FROM penduduk WHERE status_penduduk = 'HIDUP' ORDER BY nik")
                )
            ).all()
        async with education.connect() as conn:
            npsns = list((await conn.execute(text("SELECT npsn FROM sekolah ORDER BY npsn"))).scalars())
            with_pupils = list(
                (
                    await conn.execute(
                        text(
                            "SELECT s.npsn FROM sekolah s WHERE EXISTS "
                            "(SELECT 1 FROM peserta_didik pd WHERE pd.npsn = s.npsn) ORDER BY s.npsn"
                        )
                    )
                ).scalars()
            )
    finally:
        await registry.dispose()
        await education.dispose()
    by_kec: dict[str, list[str]] = defaultdict(list)
    for nik, code in alive:
        by_kec[kecamatan_of(code)].append(nik.strip())
    return KeyPools(
        family_niks=[n.strip() for n in family_niks],
        npsns_with_pupils=[n.strip() for n in with_pupils],
        npsns=[n.strip() for n in npsns],
        alive_by_kecamatan=dict(sorted(by_kec.items())),
    )


def draw(rng: random.Random, population: Sequence[T], k: int) -> list[T]:
    """``k`` items: a random permutation of ``population``, repeated (each pass reshuffled) if ``k`` exceeds it."""

    if not population:
        raise ValueError("no candidate keys: is the database loaded?")
    out: list[T] = []
    while len(out) < k:
        out.extend(rng.sample(list(population), min(len(population), k - len(out))))
    return out
