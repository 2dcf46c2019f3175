"""A field's specialised converter (``FieldMapping.converter``) answers exactly what ``to_vocabulary`` answers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.mapping import FieldMapping

CODES = {"1": "LAKI_LAKI", "2": "PEREMPUAN", "L": "LAKI_LAKI", "P": "PEREMPUAN", "9": None}

raw_values = st.recursive(
    st.none() | st.integers(-3, 12) | st.sampled_from(["1", "2", "L", "P", "9", "x", ""]) | st.booleans(),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


@given(raw_values)
def test_a_code_list_converter_equals_to_vocabulary(raw: Any) -> None:
    field = FieldMapping("sex", "jenis_kelamin", values=CODES)
    assert field.converter()(raw) == field.to_vocabulary(raw)


@pytest.mark.parametrize(
    "field",
    [
        FieldMapping("n", "n"),
        FieldMapping("n", "n", type=int),
        FieldMapping("n", "n", values={"1": "A"}, type=str),
    ],
)
def test_other_fields_keep_to_vocabulary(field: FieldMapping) -> None:
    assert field.converter() == field.to_vocabulary
