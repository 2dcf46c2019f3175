"""``absenceAlertRaised``: the detection of ``absenceAlerts``, run on one school's day as it is recorded.

A subscription keeps one ``AlertWatch``. For each ``AttendanceDay`` notice (a school's day was
recorded) the subscription hands the gateway a ``DayRecorded`` event; the gateway calls its
``admits`` with the event's own context (the subscriber's policy and a fresh deadline) before
executing it, and that is where the detection runs: ``alerts.alerts_at`` for that school and
that day only, the same two grouped statements at the education office as ``absenceAlerts``
and a third for the day factor's reference, the regency's pupils per day and status (``GROUP BY``,
never a pupil's row). The event then *becomes* the day's first new alert; the
day's other new alerts (another class of the same school) wait in ``AlertWatch.waiting``, and
the subscription yields them next, as plain ``AbsenceAlert`` events (their fields are read live
when each is executed, like any other event's).

This relies on what the gateway's transport does with ``admits``: it is called for an event
before the subscription is asked for the next one (``gateway.subscriptions.operations``).

Each alert goes to a subscriber once: the watch remembers the (school, class, day) of every
alert it raised, so a day recorded again (a corrected entry) raises only alerts not sent yet.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from datetime import date

from ..context import GraphContext
from .alerts import AbsenceAlert, AbsenceBaseline, alerts_at
from .detection import METHOD

__all__ = ["AlertWatch", "DayRecorded"]

#: What makes an alert the same alert: the school, the class, the day.
AlertKey = tuple[str, str | None, date]


class AlertWatch:
    """One subscription's alerts: those already raised (by key) and those of a day waiting their turn."""

    def __init__(self) -> None:
        self.raised: set[AlertKey] = set()
        self.waiting: deque[AbsenceAlert] = deque()

    def day(self, npsn: str, day: date) -> DayRecorded:
        """The event that looks at the school's day when the gateway admits it."""

        return DayRecorded.of(self, npsn, day)

    async def new_alerts(self, context: GraphContext, npsn: str, day: date) -> list[AbsenceAlert]:
        """The school's alerts of ``day`` not raised yet to this subscriber, read under its policy."""

        school = await context.loaders.one("School", "npsn").load(npsn)
        if school is None:  # not a school the subscriber's live read finds
            return []
        found = await alerts_at(context.loaders.sources, {npsn: school.get("regionCode")}, day, day, context.signals)
        fresh = [a for a in found if (a.school_npsn, a.rombel, a.date) not in self.raised]
        self.raised.update((a.school_npsn, a.rombel, a.date) for a in fresh)
        return fresh


class DayRecorded(AbsenceAlert):
    """A recorded school day, to be looked at; admitted, it is the day's first new alert.

    Until ``admits`` has run its fields are placeholders; the gateway drops the event when the
    day raises no new alert, so a placeholder is never sent."""

    watch: AlertWatch

    @classmethod
    def of(cls, watch: AlertWatch, npsn: str, day: date) -> DayRecorded:
        event = cls(
            date=day, rombel=None, count=0, baseline=AbsenceBaseline(mean=0.0, sd=0.0, days=0), threshold=0,
            day_factor=1.0, expected=0.0,
            method=METHOD, statuses=[], school_npsn=npsn, region_code=None,
        )
        event.watch = watch
        return event

    async def admits(self, context: GraphContext) -> bool:
        """Run the detection for the day; take on the first new alert, leave the others waiting."""

        alerts = await self.watch.new_alerts(context, self.school_npsn, self.date)
        if not alerts:
            return False
        first, *rest = alerts
        for f in dataclasses.fields(AbsenceAlert):
            setattr(self, f.name, getattr(first, f.name))
        self.watch.waiting.extend(rest)
        return True
