"""Attack: the Smart Center analyst tells which resident died from ``residentChanges`` and ``residentCounts``.

The analyst reads residents masked: ``Person.status`` and ``Person.sex`` withheld, and a change's
``kind`` (born, died, moved away) withheld because it tells the status. But an event of
``residentChanges`` is a resident chosen by a change of their status; with the person shown masked
(initials, birth year, desa) and the desa's ``residentCounts`` (by sex and status) read before and
after, the count that rose says what the change was and the person's sex: a withheld status and sex,
pinned to a masked resident. The whole path as ``satudata serve`` runs it: the registry's own write,
the configured poller, the gateway's feed, the subscription over SSE on a real socket.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import tomllib
from pathlib import Path
from typing import Any

import httpx

from ...support.server import free_port, serve_in_thread
from ..test_change_events import config as capture_config

CHANGES = """subscription($region: RegionCode!) {
  residentChanges(region: $region) { at person { nik name birthYear region { code } } } }"""
COUNTS = """query($code: RegionCode!) { region(code: $code) { children { code residentCounts { sex status count } } } }"""


def test_the_analyst_cannot_tell_from_a_change_and_the_counts_which_resident_died(sqlite_backend: Any, tmp_path: Path) -> None:
    from demo.access_config import demo_clients
    from demo.changes import ensure_mutation_table
    from demo.gateway_config import render_config
    from gateway import GatewaySettings, create_app
    from gateway.server import server_config

    registry_file = tmp_path / "dispendukcapil.sqlite"
    shutil.copy(sqlite_backend.registry_url.removeprefix("sqlite+aiosqlite:///"), registry_file)
    registry = f"sqlite+aiosqlite:///{registry_file}"
    asyncio.run(ensure_mutation_table(registry))
    raw = tomllib.loads(render_config(registry_url=registry, education_url=sqlite_backend.education_url, access=True))
    raw["sources"]["siak"]["changes"] = capture_config(registry)["sources"]["siak"]["changes"]
    raw["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    analyst = next(c for c in demo_clients(None) if c.role == "smart_center_analyst")
    headers = {"X-API-Key": analyst.key, "X-Satudata-Purpose": analyst.purpose}
    settings = GatewaySettings.from_dict(raw, base_dir=tmp_path)
    app = create_app(settings)
    uvicorn_config = server_config(app, settings, host="127.0.0.1", port=free_port(), log_level="warning")
    with serve_in_thread(uvicorn_config, name="resident-changes-attack") as url:
        told, event, death = asyncio.run(_attack(url, registry, headers))
    with sqlite3.connect(registry_file) as db:
        (sex,) = db.execute("SELECT jenis_kelamin FROM penduduk WHERE nik = ?", (death.nik,)).fetchone()
    truth = ({"L": "MALE", "P": "FEMALE"}[sex], "DECEASED")
    pinned = event.get("person") is not None and told == [truth]
    print(f"event person {event.get('person')}; the counts told {told}; the registry: {truth}")
    assert not pinned, f"the analyst pinned a death to the masked resident {event['person']}: {told}, as the registry says"
    # The change still arrives (when, and in which kecamatan), without the resident it is about.
    assert event["at"] and event["person"] is None


async def _attack(url: str, registry: str, headers: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, Any], Any]:
    from demo.changes import RegistrySimulator

    simulator = RegistrySimulator(registry, seed=23)
    try:
        async with httpx.AsyncClient(timeout=20, headers=headers) as client:
            async def counts(kecamatan: str) -> dict[tuple[str, str, str], int]:
                answer = (await client.post(f"{url}/graphql", json={"query": COUNTS, "variables": {"code": kecamatan}})).json()
                assert "errors" not in answer, answer
                return {
                    (desa["code"], c["sex"], c["status"]): c["count"]
                    for desa in answer["data"]["region"]["children"] for c in desa["residentCounts"]
                }

            await asyncio.sleep(0.5)  # the poller's first round sets its position at the newest row
            first = await simulator.step("death")
            kecamatan = ".".join(first.region.split(".")[:3])
            await asyncio.sleep(0.5)  # that death is behind the poller before the analyst looks
            before = await counts(kecamatan)
            body = {"query": CHANGES, "variables": {"region": kecamatan}}
            async with client.stream("POST", f"{url}/graphql", json=body, headers={"Accept": "text/event-stream"}) as stream:
                assert stream.status_code == 200
                lines = stream.aiter_lines()
                await asyncio.sleep(0.3)
                for _ in range(400):
                    death = await simulator.step("death")
                    if death.region.startswith(kecamatan + "."):
                        break
                else:
                    raise AssertionError(f"no death in {kecamatan}")
                async with asyncio.timeout(10):
                    async for line in lines:
                        if line.startswith("data:"):
                            payload = json.loads(line.removeprefix("data:"))
                            event = payload["data"]["residentChanges"]
                            if event.get("person") is None:
                                codes = {e["extensions"]["code"] for e in payload.get("errors", ())}
                                assert codes == {"FORBIDDEN"}, payload
                            break
            after = await counts(kecamatan)
            told = [(sex, status) for (desa, sex, status), n in after.items() if n > before.get((desa, sex, status), 0)]
            return told, event, death
    finally:
        await simulator.aclose()
