"""``RestChangePoller``: an OPD API's new records, asked for conditionally.

Each poll GETs the list (``path`` with ``params``) with what the last answer allowed:
``If-None-Match`` (its ``ETag``), ``If-Modified-Since`` (its ``Last-Modified``), and, with
``since_param``, the watermark itself as a parameter, so the API sends only what is newer. A
``304 Not Modified`` costs the API nothing. From a ``200`` it keeps the records whose
``(change field, key)`` comes after the watermark, in that order. The position holds the
validators and the watermark; no record is kept.

``key`` may name several fields (``["kode_faskes", "kode_penyakit"]``): a record without an id
of its own is known by their values joined with ``:``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx

from .feed import Change
from .settings import CaptureSettings


def _path(record: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(record, dict):
            return None
        record = record.get(part)
    return record


def _sortable(value: Any) -> Any:
    # Numbers compare as numbers; anything else (ISO times, dates) as its text.
    return (0, value, "") if isinstance(value, int | float) and not isinstance(value, bool) else (1, 0, str(value))


class RestChangePoller:
    """``poll(position) -> (changes, position)`` over one API list; ``aclose`` when done."""

    def __init__(self, settings: CaptureSettings, *, client: httpx.AsyncClient | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(
            base_url=settings.url, timeout=10.0, headers=headers or {}
        )
        self.keys = [k for k in settings.key.split(",") if k]
        #: Status of the last answer (``304`` when nothing changed), for metrics and tests.
        self.last_status: int | None = None

    async def poll(self, position: str | None) -> tuple[list[Change], str | None]:
        s = self.settings
        state: dict[str, Any] = json.loads(position) if position else {}
        headers = {}
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
        params = dict(s.params)
        if s.since_param and state.get("at") is not None:
            params[s.since_param] = str(state["at"])
        response = await self._client.get(s.table, params=params, headers=headers)
        self.last_status = response.status_code
        if response.status_code == 304:
            return [], position
        response.raise_for_status()
        payload = response.json()
        records = _path(payload, s.records) if s.records else payload
        if not isinstance(records, list):
            raise ValueError(f"the answer of {s.table} holds no list at {s.records!r}")
        ordered = sorted(
            ((_path(r, s.change or ""), self._key(r), r) for r in records if _path(r, s.change or "") is not None),
            key=lambda t: (_sortable(t[0]), t[1]),
        )
        after = {"etag": response.headers.get("etag"), "last_modified": response.headers.get("last-modified")}
        if position is None:  # the first poll: from now on
            last = ordered[-1] if ordered else None
            after |= {"at": None if last is None else last[0], "key": None if last is None else last[1]}
            return [], json.dumps(after)
        mark = (_sortable(state.get("at")), state.get("key") or "") if state.get("at") is not None else None
        fresh = [t for t in ordered if mark is None or (_sortable(t[0]), t[1]) > mark]
        if fresh:
            after |= {"at": fresh[-1][0], "key": fresh[-1][1]}
        else:
            after |= {"at": state.get("at"), "key": state.get("key")}
        now = datetime.now(timezone.utc)
        changes = [
            Change(
                entity=s.entity, key=key, kind=s.default_kind, region=s.to_region(_path(record, s.region)),
                at=_time(change, s, now), source=s.source, id=f"{s.source}/{change}/{key}/{s.default_kind}",
            )
            for change, key, record in fresh
        ]
        return changes, json.dumps(after)

    def _key(self, record: Any) -> str:
        return ":".join(str(_path(record, k)) for k in self.keys)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _time(value: Any, settings: CaptureSettings, fallback: datetime) -> datetime:
    # A change field that is a time says when; a counter (an epidemiological week) does not.
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return fallback
        return at if at.tzinfo is not None else at.replace(tzinfo=settings.timezone)
    return fallback
