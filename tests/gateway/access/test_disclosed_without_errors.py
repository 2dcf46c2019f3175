"""An answer without errors discloses every value the access layer noted: the audit's shortcut.

``AccessContext.disclosed`` walks each note's path into the answer to leave out values an error
nulled after they were noted. With no error nothing was nulled, and ``AccessControl.record``
skips the walk (``nulled=False``). Here every answer of the demo roles' documents is recorded
both ways and the two records must be the same; an answer with errors takes the walk.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from demo.access_config import demo_clients
from demo.gateway_config import render_config
from gateway.access.enforcement import AccessContext

from ...conftest import Backend, open_gateway

DOCUMENTS = [
    '{ region(code: "35.03.08") { name residents(first: 5) { edges { node { nik name birthDate status '
    "family { kk members { nik name } } } } } } }",
    '{ persons(first: 5, filter: { region: "35.03.08" }) { edges { node { nik name student { nisn name } } } } }',
    '{ schools(first: 2) { edges { node { npsn name students { nisn name person { nik } } } } } }',
]


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, Any, Any]]:
    """(nulled, the shortcut's answer, the walk's answer) of every record made while the test runs."""

    seen: list[tuple[bool, Any, Any]] = []
    walk = AccessContext.disclosed

    def both(self: AccessContext, data: Any, *, nulled: bool = True) -> Any:
        answer = walk(self, data, nulled=nulled)
        seen.append((nulled, answer, walk(self, data, nulled=True)))
        return answer

    monkeypatch.setattr(AccessContext, "disclosed", both)
    return seen


async def test_an_answer_without_errors_discloses_what_the_walk_finds(
    sqlite_backend: Backend, tmp_path: Path, compared: list[tuple[bool, Any, Any]]
) -> None:
    config = tomllib.loads(render_config(
        registry_url=sqlite_backend.registry_url, education_url=sqlite_backend.education_url, access=True,
    ))
    config["audit"] = {"path": str(tmp_path / "audit.sqlite")}
    config.pop("ratelimit", None)
    answers = 0
    async for gateway in open_gateway(config):
        for client in demo_clients(None):
            headers = {"X-API-Key": client.key, "X-Satudata-Purpose": client.purpose}
            for document in DOCUMENTS:
                response = await gateway.client.post("/graphql", json={"query": document}, headers=headers)
                answers += 1
                assert response.status_code == 200, response.text
    fast = [(shortcut, walked) for nulled, shortcut, walked in compared if not nulled]
    walked_only = [nulled for nulled, _, _ in compared if nulled]
    # Both kinds of answer met: clean ones (the shortcut) and ones with errors (a refusal, a withheld value).
    assert fast and walked_only, (len(fast), len(walked_only), answers)
    assert all(shortcut == walked for shortcut, walked in fast)
    assert any(shortcut.subjects for shortcut, _ in fast), "some clean answer disclosed a person"
