"""Projection (``resolvers.projection``) where the access layer reads more than the query selects.

``tests/gateway/test_compiled_differential.py`` runs every document of the suite projected and
over whole records and compares the answers; here, a role whose row scope reads a person's field
that the query does not select gets that field read too.
"""

from __future__ import annotations

from typing import Any

import pytest

from .access_expectations import WATULIMO, World, variant

#: Panggul, a kecamatan outside the health officer's working area.
OTHER_KECAMATAN = "35.03.01"


def test_a_row_scope_on_a_field_not_selected_still_reads_it(world: World, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The health officer's residents, scoped field by field instead of row by row: a name is shown
    within Watulimo only. The scope reads ``regionCode``, which the query never selects."""

    def by_field(config: dict[str, Any]) -> None:
        scope = config["policy"]["roles"]["health_officer"]["row_scope"]
        scope["Person"] = {"field": "regionCode", "within": "region", "fields": ["name"]}
        for subject_scoped in ("Patient", "HealthInsurance"):  # these need a pushed Person scope
            scope.pop(subject_scoped)

    text = "query($region: RegionCode!) { persons(first: 40, filter: {region: $region}) { nodes { nik name } } }"
    truth: dict[str, tuple[str, str]] = {}
    for region in (WATULIMO, OTHER_KECAMATAN):
        page = world.reference.ask("anonymous", text.replace("nik name", "nik name region { code }"), {"region": region})
        truth.update((p["nik"], (p["name"], p["region"]["code"])) for p in page.data["persons"]["nodes"])

    with variant(world, by_field, tmp_path_factory.mktemp("by-field")) as scoped:
        shown: dict[str, str | None] = {}
        for region in (WATULIMO, OTHER_KECAMATAN):
            page = scoped.guarded.ask("health_officer", text, {"region": region})
            shown.update((p["nik"], p["name"]) for p in page.data["persons"]["nodes"])
    inside = {nik for nik, (_, code) in truth.items() if code.startswith(WATULIMO + ".")}
    assert inside and len(inside) < len(truth), "the sample must hold residents inside and outside Watulimo"
    assert shown == {nik: name if nik in inside else None for nik, (name, _) in truth.items()}
