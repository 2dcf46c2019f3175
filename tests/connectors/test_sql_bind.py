"""``bind``'s path for a lone key lookup gives what its general path gives (shape, values, sizes)."""

from __future__ import annotations

import pytest

from connectors.base import Filter, SourceQuery
from connectors.mapping import parse_entity_mapping
from connectors.sql_statements import _bind, bind

MAPPING = parse_entity_mapping(
    "siak",
    "Person",
    {
        "table": "penduduk",
        "key": "nik",
        "fields": {"nik": "nik", "name": "nama", "sex": {"column": "jk", "values": {"L": "MALE", "P": "FEMALE"}}},
    },
    location_key="table",
)

QUERIES = [
    SourceQuery("Person", where=(Filter("nik", "in", ("3503010101010001",)),)),
    SourceQuery("Person", where=(Filter("sex", "in", ("MALE",)),)),
    SourceQuery("Person", where=(Filter("sex", "in", ("UNKNOWN",)),)),  # no row can match: None
    SourceQuery("Person", where=(Filter("nik", "in", ("1", "2")),)),
    SourceQuery("Person", where=(Filter("nik", "in", ("1",)),), limit=5),
    SourceQuery("Person", where=(Filter("nik", "in", ("1",)),), order_by=("name",)),
    SourceQuery("Person", where=(Filter("nik", "in", ("1",)), Filter("name", "eq", "A"))),
]


@pytest.mark.parametrize("arrays", [True, False])
@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_bind_equals_its_general_path(query: SourceQuery, arrays: bool) -> None:
    assert bind(query, MAPPING, arrays=arrays) == _bind(query, MAPPING, arrays=arrays)


def test_a_lone_key_is_a_plain_parameter_with_arrays() -> None:
    bound = bind(QUERIES[1], MAPPING, arrays=True)
    assert bound is not None
    assert bound.params == {"w0": "L"} and bound.sizes == (1,)
