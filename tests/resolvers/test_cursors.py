"""Sealed paging cursors: opaque, fresh each time, and refused when not this gateway's own."""

from __future__ import annotations

import base64

import pytest

from resolvers import CursorSeal, InvalidInput, new_cursor_key

NIK = "3503051709900003"


def _raw(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


def test_a_cursor_opens_to_its_key_and_shows_none_of_it() -> None:
    seal = CursorSeal.generate()
    cursor = seal.seal(NIK, "Person")
    assert seal.open(cursor, "Person") == NIK
    assert NIK not in cursor
    for part in (NIK.encode(), NIK[:6].encode(), NIK[-4:].encode()):
        assert part not in _raw(cursor)


def test_the_same_key_seals_to_a_different_cursor_every_time() -> None:
    seal = CursorSeal.generate()
    cursors = {seal.seal(NIK, "Person") for _ in range(50)}
    assert len(cursors) == 50
    assert {seal.open(c, "Person") for c in cursors} == {NIK}


def test_seals_with_the_same_key_text_share_cursors_and_others_refuse_them() -> None:
    key = new_cursor_key()
    cursor = CursorSeal.from_text(key).seal("20512345", "School")
    assert CursorSeal.from_text(key).open(cursor, "School") == "20512345"
    with pytest.raises(InvalidInput) as refused:
        CursorSeal.from_text(new_cursor_key()).open(cursor, "School")
    assert refused.value.extensions()["reason"] == "MALFORMED"
    assert refused.value.extensions()["argument"] == "after"


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "x",
        "not base64 at all!",
        "é",
        base64.urlsafe_b64encode(b"sd1:3503051709900003").decode(),  # the old, unsealed format
        base64.urlsafe_b64encode(b"\x01" + b"\x00" * 28).decode(),  # right version, too short
        "A" * 10_000,
    ],
)
def test_anything_else_is_refused_as_malformed(cursor: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        CursorSeal.generate().open(cursor, "Person")
    assert refused.value.extensions()["reason"] == "MALFORMED"


def test_every_changed_byte_of_a_cursor_is_noticed() -> None:
    seal = CursorSeal.generate()
    raw = bytearray(_raw(seal.seal(NIK, "Person")))
    for i in range(len(raw)):
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        with pytest.raises(InvalidInput):
            seal.open(base64.urlsafe_b64encode(bytes(tampered)).decode(), "Person")
    with pytest.raises(InvalidInput):
        seal.open(base64.urlsafe_b64encode(bytes(raw[:-1])).decode(), "Person")


def test_a_cursor_opens_only_for_the_kind_of_list_it_came_from() -> None:
    seal = CursorSeal.generate()
    cursor = seal.seal(NIK, "Person")
    assert seal.open(cursor, "Person") == NIK
    for scope in ("School", "Student", "Person ", ""):
        with pytest.raises(InvalidInput):
            seal.open(cursor, scope)


@pytest.mark.parametrize("text", ["", "short", base64.urlsafe_b64encode(b"k" * 16).decode(), "!!!!"])
def test_a_key_that_is_not_32_bytes_of_base64url_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        CursorSeal.from_text(text)
