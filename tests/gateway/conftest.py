"""Fixtures shared by the access-control test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .access_expectations import World, shared_world


@pytest.fixture(scope="session")
def world(dataset, sqlite_backend, dinkes_api, sepeda_keren_api, lapor_api,  # type: ignore[no-untyped-def]
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The demo sources behind two gateways (the demo policy, and none as the reference), with the
    subjects the matrices and the property test ask about; started once for the session."""

    with shared_world(dataset, sqlite_backend, dinkes_api, sepeda_keren_api, lapor_api,
                      tmp_path_factory.mktemp("world")) as w:
        yield w
