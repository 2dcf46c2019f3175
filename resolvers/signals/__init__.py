"""The Smart Center's signals (issue 12): early warnings read across OPDs' systems.

``detection`` holds the method and its parameters (pure, no source; ``resolvers.context`` carries
the configured ``Parameters``); ``alerts`` the ``absenceAlerts`` field, which asks the education
office for grouped counts and the health office for its case reports; ``live`` what the
subscription ``absenceAlertRaised(region)`` (``resolvers.subscription``) runs on each school day
recorded (an ``AttendanceDay`` notice of issue 11's change capture): the same detection, for that
school and day, each alert sent to a subscriber once.
"""

from __future__ import annotations

from .detection import METHOD, STATUSES, Parameters

__all__ = ["METHOD", "STATUSES", "Parameters"]
