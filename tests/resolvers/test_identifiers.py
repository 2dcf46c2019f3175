from __future__ import annotations

import pytest

from resolvers.errors import InvalidInput
from resolvers.identifiers import (
    home_region_codes,
    validate_kk,
    validate_nik,
    validate_nisn,
    validate_npsn,
    validate_region_code,
)


@pytest.mark.parametrize(
    "nik",
    [
        "3503125708909901",  # woman born 17 Aug 1990 (17 + 40 = 57), Pogalan
        "3503080503129902",  # man born 5 Mar 2012, Watulimo
        "3578012902000001",  # 29 February: a possible birthday
        "3503117112990001",  # woman born 31 Dec (31 + 40 = 71)
    ],
)
def test_valid_nik_is_accepted(nik: str) -> None:
    assert validate_nik(nik) == nik


@pytest.mark.parametrize(
    ("nik", "reason", "says"),
    [
        ("350312570890990", "LENGTH", "16 digits"),
        ("35031257089099011", "LENGTH", "has 17"),
        ("35031257089099O1", "NOT_DIGITS", "only digits"),
        ("9903125708909901", "UNKNOWN_REGION", "not a Kemendagri province"),
        ("3503123208909901", "IMPOSSIBLE_DATE", "impossible birth date"),  # day 32
        ("3503127208909901", "IMPOSSIBLE_DATE", "impossible birth date"),  # day 72 (woman, 32)
        ("3503120013909901", "IMPOSSIBLE_DATE", "impossible birth date"),  # day 00, month 13
        ("3503123104909901", "IMPOSSIBLE_DATE", "impossible birth date"),  # 31 April
        ("3503125708900000", "MALFORMED", "serial 0000"),
    ],
)
def test_malformed_nik_says_what_is_wrong(nik: str, reason: str, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_nik(nik)
    assert caught.value.extensions()["reason"] == reason
    assert caught.value.extensions()["code"] == "BAD_USER_INPUT"
    assert says in caught.value.message


def test_kk_needs_sixteen_digits_and_a_province() -> None:
    assert validate_kk("3503122010159901") == "3503122010159901"
    for bad in ("350312201015990", "0003122010159901", "35031220101599x1"):
        with pytest.raises(InvalidInput):
            validate_kk(bad)


def test_npsn_is_opaque_eight_characters() -> None:
    assert validate_npsn("20514001") == "20514001"
    assert validate_npsn("P9984383") == "P9984383"  # non-formal units carry a letter
    for bad in ("2051400", "205140011", "2051400X", "PP984383"):
        with pytest.raises(InvalidInput):
            validate_npsn(bad)


def test_nisn_keeps_leading_zeros() -> None:
    assert validate_nisn("0129990001") == "0129990001"
    with pytest.raises(InvalidInput):
        validate_nisn("129990001")


def test_region_codes_at_every_level() -> None:
    for code in ("35", "35.03", "35.03.08", "35.03.08.2011", "35.03.11.1007"):
        assert validate_region_code(code) == code
    assert len([c for c in home_region_codes() if c.count(".") == 3]) == 157
    assert len([c for c in home_region_codes() if c.count(".") == 2]) == 14


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("3503", "MALFORMED"),
        ("35.3.08", "MALFORMED"),
        ("35.03.08.201", "MALFORMED"),
        ("99.03", "UNKNOWN_REGION"),
        ("35.03.15", "UNKNOWN_REGION"),  # Trenggalek has 14 kecamatan
        ("35.03.11.2002", "UNKNOWN_REGION"),  # a gap in the real code list
        ("35.78", "UNKNOWN_REGION"),  # Surabaya: real, but outside what this gateway knows (issue 13: one rule)
        ("35.04", "UNKNOWN_REGION"),
        ("33", "UNKNOWN_REGION"),
    ],
)
def test_bad_region_code_is_refused(code: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_region_code(code)
    assert caught.value.extensions()["reason"] == reason
