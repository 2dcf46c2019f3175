"""The gateway configs of ``python -m bench.floor``: the demo's, adjusted so that every answer holds data.

``demo.gateway_config.render_config`` gives the demo config with or without the access layer. The
floor changes it only where the demo's settings would turn a benchmark's requests into refusals or
would not run with several workers:

- **access on**: a bench role, ``bench_reader``, that reads persons and pupils in full (the registry
  officer's grant plus ``children``, which query C's ``School.students`` needs; no demo role has both)
  and its client (``BENCH_API_KEY``, purpose ``BENCH_PURPOSE``); the lookup budget raised to
  ``LOOKUP_BUDGET`` (``[policy.lookups] default_budget`` and the role's ``lookup_budget``), since a
  benchmark repeats its keys faster than any officer; no ``[ratelimit]``; the audit log durable, in
  PostgreSQL (``[audit] url``), with the demo's subject key and a checkpoint file per server;
- **workers > 1**: ``[gateway] cursor_key``, and the lookup counts in Redis (``[policy.lookups]
  redis_url``) when there is a policy — what ``gateway.workers.check_shared_state`` requires.

The text is edited by whole tables (the demo's TOML has no writer here), then parsed back and checked,
so a change of the demo's shape fails here, loudly, rather than measuring something else.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from demo.access_config import DemoClient
from demo.gateway_config import render_config

BENCH_ROLE = "bench_reader"
BENCH_API_KEY = "sd_bench_floor_reader_Yx3vQ9kT2mLp8sWn4RzA"
BENCH_PURPOSE = "administrasi-kependudukan"
#: Distinct persons a caller may look up per window: far more than a run sends.
LOOKUP_BUDGET = 1_000_000_000

ACCESS_HEADERS = {"X-API-Key": BENCH_API_KEY, "X-Satudata-Purpose": BENCH_PURPOSE}


def gateway_config(
    *,
    registry_url: str,
    education_url: str,
    access: bool,
    workers: int,
    cursor_key: str,
    audit_url: str,
    redis_url: str,
    checkpoint: Path,
) -> str:
    """The config text of one floor gateway (see the module docstring for what differs from the demo's)."""

    text = render_config(
        registry_url=registry_url, education_url=education_url, access=access, cursor_key=cursor_key if workers > 1 else None
    )
    if access:
        demo = tomllib.loads(text)
        text = drop_tables(text, {"audit", "ratelimit", "policy.lookups"})
        lookups = {"window_s": demo["policy"]["lookups"]["window_s"], "default_budget": LOOKUP_BUDGET}
        if workers > 1:
            lookups["redis_url"] = redis_url
        audit = {
            "url": audit_url,
            "subject_key": demo["audit"]["subject_key"],
            "checkpoint": f"file:{checkpoint}",
            "checkpoint_key": demo["audit"]["checkpoint_key"],
        }
        officer = demo["policy"]["roles"]["registry_officer"]
        role = {
            "description": "python -m bench.floor: persons and pupils in full.",
            "grant": sorted({*officer["grant"], "children"}),
            "purposes": [BENCH_PURPOSE],
            "lookup_budget": LOOKUP_BUDGET,
            # The bench reads each answer's source trace (round trips, rows), which only operators get.
            "may": ["operations"],
        }
        client = DemoClient("bench-floor", BENCH_ROLE, BENCH_API_KEY, "python -m bench.floor", BENCH_PURPOSE, {})
        text += "\n# python -m bench.floor (bench/floor_configs.py)\n"
        text += table("policy.lookups", lookups) + table("audit", audit) + table(f"policy.roles.{BENCH_ROLE}", role)
        text += client.toml()
    check(text, access=access, workers=workers)
    return text


def drop_tables(text: str, names: set[str]) -> str:
    """``text`` without the tables headed ``[name]`` for each of ``names`` (header to the next header)."""

    out: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith("["):
            dropping = stripped.strip("[]").strip() in names and not stripped.startswith("[[")
        if not dropping:
            out.append(line)
    return "".join(out)


def table(name: str, values: dict[str, object]) -> str:
    """A TOML table of strings, numbers and lists of strings (JSON's literals are TOML's for these)."""

    return f"\n[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def check(text: str, *, access: bool, workers: int) -> None:
    """Raise ``RuntimeError`` unless ``text`` parses and says what the floor relies on."""

    config = tomllib.loads(text)
    problems: list[str] = []
    if access:
        policy = config.get("policy", {})
        if policy.get("lookups", {}).get("default_budget") != LOOKUP_BUDGET:
            problems.append("[policy.lookups] default_budget not raised")
        if policy.get("roles", {}).get(BENCH_ROLE, {}).get("lookup_budget") != LOOKUP_BUDGET:
            problems.append(f"role {BENCH_ROLE} has no raised lookup_budget")
        if "ratelimit" in config:
            problems.append("[ratelimit] still present")
        if not str(config.get("audit", {}).get("url", "")).startswith("postgresql+asyncpg://"):
            problems.append("[audit] is not on PostgreSQL")
        if workers > 1 and not policy.get("lookups", {}).get("redis_url"):
            problems.append("[policy.lookups] has no redis_url")
    elif "policy" in config:
        problems.append("a [policy] without the access layer")
    if workers > 1 and not config.get("gateway", {}).get("cursor_key"):
        problems.append("[gateway] cursor_key missing")
    if problems:
        raise RuntimeError("the floor's gateway config is not what it measures: " + "; ".join(problems))
