"""Three demo OPD HTTP APIs over the registry's residents: the OPDs that will not open their database.

Each is its own Starlette app, with its own style, as separate systems would be:

- ``dinkes``: Dinas Kesehatan PPKB. Health facilities, SKDR weekly case reports and a batch
  SATUSEHAT-like patient lookup; snake_case Indonesian keys, page-number pagination.
- ``sepeda-keren``: Dinas Sosial P3A's Sepeda Keren programme. Cohorts, sessions, attendance and
  one-by-one participant lookups; camelCase keys, cursor pagination.
- ``lapor``: citizen complaints (SP4N-LAPOR!-like). Offset pagination, Django-REST style.
- ``jkn``: not an OPD but a neighbouring portal: the province's health-insurance membership
  portal, a GraphQL federation subgraph that extends ``Person`` by NIK.

Data is generated in memory, deterministically, from a :class:`demo.Dataset` and a seed, so NIKs,
desa codes and ages agree with the civil registry; the school outbreaks of the education dataset
show up as SKDR spikes and complaints (:func:`dinkes_ground_truth`, :func:`lapor_ground_truth`).
Every app serves ``GET /health`` and ``GET /openapi.json`` (OpenAPI 3.1).

    ds = demo.build_dataset(scale=0.1, seed=3503)
    app = create_dinkes_app(ds)            # or: python -m demo.apis dinkes --port 8101
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette

from demo.dataset import Dataset

from .dinkes import build_dinkes, create_dinkes_app, dinkes_ground_truth
from .jkn import create_jkn_app
from .lapor import build_lapor, create_lapor_app, lapor_ground_truth
from .sepeda_keren import build_sepeda_keren, create_sepeda_keren_app

#: The services, by the name ``python -m demo.apis`` takes.
API_NAMES: tuple[str, ...] = ("dinkes", "sepeda-keren", "lapor")

#: Neighbouring portals with GraphQL APIs (no OpenAPI), runnable the same way.
PORTAL_NAMES: tuple[str, ...] = ("jkn",)
SERVICE_NAMES: tuple[str, ...] = API_NAMES + PORTAL_NAMES

#: Default port of each service.
DEFAULT_PORTS: dict[str, int] = {"dinkes": 8101, "sepeda-keren": 8102, "lapor": 8103, "jkn": 8104}

APP_FACTORIES: dict[str, Callable[[Dataset, int | None], Starlette]] = {
    "dinkes": create_dinkes_app,
    "sepeda-keren": create_sepeda_keren_app,
    "lapor": create_lapor_app,
    "jkn": create_jkn_app,
}


def create_app(name: str, ds: Dataset, seed: int | None = None) -> Starlette:
    """The app of the service called ``name`` (one of :data:`SERVICE_NAMES`)."""

    try:
        factory = APP_FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown API {name!r}; choose from {', '.join(SERVICE_NAMES)}") from None
    return factory(ds, seed)


__all__ = [
    "API_NAMES",
    "APP_FACTORIES",
    "DEFAULT_PORTS",
    "PORTAL_NAMES",
    "SERVICE_NAMES",
    "build_dinkes",
    "build_lapor",
    "build_sepeda_keren",
    "create_app",
    "create_dinkes_app",
    "create_jkn_app",
    "create_lapor_app",
    "create_sepeda_keren_app",
    "dinkes_ground_truth",
    "lapor_ground_truth",
]
