"""School days, school years and the grade a child of a given age attends."""

from __future__ import annotations

from datetime import date, timedelta

#: Days without lessons inside the first semester (2026 dates; approximate, national calendar).
HOLIDAYS: frozenset[date] = frozenset(
    {
        date(2026, 8, 17),  # Hari Kemerdekaan
        date(2026, 8, 25),  # Maulid Nabi Muhammad SAW (1448 H), approximate
        date(2025, 8, 17),
        date(2025, 9, 5),  # Maulid Nabi (1447 H), approximate
        date(2027, 8, 17),
    }
)

#: Months of the rainy season, when more pupils are off sick.
RAINY_MONTHS = frozenset({11, 12, 1, 2, 3})

#: First grade of each education level; a pupil's grade must lie in its level's range.
LEVEL_GRADES: dict[str, range] = {
    "SD": range(1, 7),
    "MI": range(1, 7),
    "SMP": range(7, 10),
    "MTs": range(7, 10),
    "SMA": range(10, 13),
    "SMK": range(10, 13),
}


def school_days(start: date, end: date) -> list[date]:
    """Monday-Friday from ``start`` to ``end`` inclusive, without holidays."""

    days: list[date] = []
    day = start
    while day <= end:
        if day.weekday() < 5 and day not in HOLIDAYS:
            days.append(day)
        day += timedelta(days=1)
    return days


def school_year(term_start: date) -> int:
    """The calendar year in which the school year containing ``term_start`` began (July)."""

    return term_start.year if term_start.month >= 7 else term_start.year - 1


def year_start(year: int) -> date:
    """First school day of the school year beginning in ``year``: the Monday on or after 13 July."""

    day = date(year, 7, 13)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def age_on(birth: date, day: date) -> int:
    """Completed years of age on ``day``."""

    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def nominal_grade(birth: date, year: int) -> int:
    """The grade a child born on ``birth`` attends in school year ``year`` if never held back.

    Children who are 6 on 1 July start grade 1, so grade = age on 1 July - 5.
    """

    return age_on(birth, date(year, 7, 1)) - 5


def level_of_grade(grade: int) -> str:
    """``"primary"`` (1-6), ``"lower"`` (7-9) or ``"upper"`` (10-12) secondary."""

    return "primary" if grade <= 6 else ("lower" if grade <= 9 else "upper")
