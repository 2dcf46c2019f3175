"""How two agencies' values of one fact are compared: the rules, stated once.

- **Name** (``NAME``): the same after normalising case (upper), spacing (runs of spaces and
  spaces at either end) and *gelar*: religious and academic titles written before the name
  (``H.``, ``HJ.``, ``KH.``, ``DR.``, ``DRS.``, ``DRA.``, ``IR.``, ``PROF.``, with or without the
  dot) and every degree written after a comma (``, S.PD.``). Nothing else is forgiven:
  ``MOH.`` for ``MUHAMMAD``, ``RIZKI`` for ``RIZKY`` or a dropped letter is a discrepancy, since
  clerks copy a name from the KTP or the family card and the registry's spelling is the legal one.
- **Birth date** (``BIRTH_DATE``) and **sex** (``SEX``): exactly equal. A day and month swapped
  is a discrepancy.
- **Alive** (``ALIVE``): the registry records a death (``DECEASED``) while the other agency's
  record is active (a pupil still enrolled). A resident who moved away is not a death.
- **NIK** (``NIK``): the other agency holds a NIK the registry does not know, or none at all.

A value missing on either side is not compared (nothing disagrees with an empty field), except
the NIK, whose absence is itself the finding.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

#: Titles written before a name that the registry's KTP name may or may not carry.
TITLES = frozenset({"H", "HJ", "KH", "DR", "DRS", "DRA", "IR", "PROF"})

_SPACES = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """``name`` as the comparison sees it: upper case, single spaces, no gelar."""

    text = _SPACES.sub(" ", name.split(",", 1)[0].upper()).strip()
    words = text.split(" ")
    while len(words) > 1 and words[0].rstrip(".") in TITLES:
        words = words[1:]
    return " ".join(words)


def names_differ(one: Any, other: Any) -> bool:
    """Whether two names disagree under the rules above (a missing name disagrees with nothing)."""

    if not isinstance(one, str) or not isinstance(other, str) or not one.strip() or not other.strip():
        return False
    return normalise_name(one) != normalise_name(other)


def values_differ(one: Any, other: Any) -> bool:
    """Exact comparison for dates and codes; a missing value disagrees with nothing."""

    if one is None or other is None:
        return False
    if isinstance(one, date) and isinstance(other, str):
        other = date.fromisoformat(other)
    if isinstance(other, date) and isinstance(one, str):
        one = date.fromisoformat(one)
    return bool(one != other)
