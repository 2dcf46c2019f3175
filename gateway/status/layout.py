"""Where each kecamatan's tile sits on the screen's schematic map (a grid, not a survey).

The tiles come from the regency's region list as the graph answers it (``region(code).children``);
only their places are set here. Trenggalek's 14 kecamatan keep their rough compass positions
(Bendungan north, the coast of Panggul, Munjungan and Watulimo south); a kecamatan not listed
(another regency, a new code) is placed on a row below, in code order, so the map never drops one.
"""

from __future__ import annotations

from collections.abc import Sequence

#: Kemendagri code -> (column, row) on a 5 x 4 grid.
TRENGGALEK: dict[str, tuple[int, int]] = {
    "35.03.14": (1, 0),  # Suruh
    "35.03.05": (2, 0),  # Tugu
    "35.03.09": (3, 0),  # Bendungan
    "35.03.03": (0, 1),  # Pule
    "35.03.06": (1, 1),  # Karangan
    "35.03.11": (2, 1),  # Trenggalek
    "35.03.12": (3, 1),  # Pogalan
    "35.03.13": (4, 1),  # Durenan
    "35.03.04": (0, 2),  # Dongko
    "35.03.07": (1, 2),  # Kampak
    "35.03.10": (2, 2),  # Gandusari
    "35.03.01": (0, 3),  # Panggul
    "35.03.02": (1, 3),  # Munjungan
    "35.03.08": (2, 3),  # Watulimo
}
COLUMNS = 5


def tiles(kecamatan: Sequence[tuple[str, str]]) -> list[dict[str, object]]:
    """``(code, name)`` pairs as tiles: ``{code, name, col, row}``, each on a cell of its own."""

    placed = [(code, name, TRENGGALEK[code]) for code, name in kecamatan if code in TRENGGALEK]
    rest = [(code, name) for code, name in kecamatan if code not in TRENGGALEK]
    first_free_row = max((cell[1] for _, _, cell in placed), default=-1) + 1
    out = [{"code": code, "name": name, "col": col, "row": row} for code, name, (col, row) in placed]
    for i, (code, name) in enumerate(rest):
        out.append({"code": code, "name": name, "col": i % COLUMNS, "row": first_free_row + i // COLUMNS})
    return sorted(out, key=lambda t: (t["row"], t["col"]))  # type: ignore[return-value]
