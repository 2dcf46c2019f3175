"""A new OPD source joins the graph by configuration alone: no code changes."""

from __future__ import annotations

import csv
from pathlib import Path

from .conftest import Backend, gateway_config, open_gateway
from .support.sqlite import sqlite_file

WILAYAH_CSV = Path(__file__).resolve().parent.parent / "resolvers" / "reference" / "trenggalek-wilayah.csv"


def build_kemendagri_reference(path: Path) -> None:
    """A region reference database of another shape: undotted codes, numeric levels, its own names."""

    levels = {"provinsi": 1, "kabupaten": 2, "kecamatan": 3, "desa": 4, "kelurahan": 5}
    with sqlite_file(path) as conn, WILAYAH_CSV.open(encoding="utf-8") as f:
        conn.execute(
            "CREATE TABLE ref_wilayah (kd_wil VARCHAR(10) PRIMARY KEY, nm_wil VARCHAR(100), lvl INTEGER, kd_induk VARCHAR(10))"
        )
        conn.executemany(
            "INSERT INTO ref_wilayah VALUES (?, ?, ?, ?)",
            [
                (r["code"].replace(".", ""), r["name"].upper(), levels[r["level"]], r["parent_code"].replace(".", "") or None)
                for r in csv.DictReader(f)
            ],
        )


async def test_onboarding_a_region_reference_source_by_config(sqlite_backend: Backend, tmp_path: Path) -> None:
    build_kemendagri_reference(tmp_path / "kemendagri.sqlite")
    config = gateway_config(sqlite_backend)
    del config["sources"]["siak"]["entities"]["Region"]
    config["agencies"].append({"code": "BAPPEDA", "name": "Badan Perencanaan Pembangunan Daerah"})
    config["sources"]["kemendagri"] = {
        "kind": "sql",
        "agency": "BAPPEDA",
        "system": "Kode wilayah Kemendagri",
        "url": f"sqlite+aiosqlite:///{tmp_path / 'kemendagri.sqlite'}",
        "entities": {
            "Region": {
                "table": "ref_wilayah",
                "key": "code",
                "fields": {
                    "code": {"column": "kd_wil", "transform": "region_code_digits"},
                    "name": "nm_wil",
                    "level": {"column": "lvl", "values": {"1": "PROVINCE", "2": "REGENCY", "3": "DISTRICT", "4": "VILLAGE", "5": "URBAN_VILLAGE"}},
                    "parentCode": {"column": "kd_induk", "transform": "region_code_digits"},
                },
            }
        },
    }
    async for gateway in open_gateway(config):
        answer = await gateway.query(
            """{ region(code: "35.03.08") { code name level parent { code name } children { code } }
                 persons(first: 1, filter: {region: "35.03.08"}) { edges { node { region { code name level } } } }
                 agencies { code sources { name entities } } }""",
            trace=True,
        )
        assert "errors" not in answer, answer
        region = answer["data"]["region"]
        assert region["name"] == "WATULIMO" and region["level"] == "DISTRICT"
        assert region["parent"] == {"code": "35.03", "name": "KABUPATEN TRENGGALEK"}
        assert len(region["children"]) == 12 and region["children"][10] == {"code": "35.03.08.2011"}
        person_region = answer["data"]["persons"]["edges"][0]["node"]["region"]
        assert person_region["code"].startswith("35.03.08.") and person_region["name"].isupper()
        assert {"code": "BAPPEDA", "sources": [{"name": "kemendagri", "entities": ["Region"]}]} in answer["data"]["agencies"]
        # region; its parent; its children; the person's region (batched with the parent when they meet in one tick)
        assert answer["extensions"]["sources"]["kemendagri"]["calls"] in (3, 4)
