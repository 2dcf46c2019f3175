"""The Smart Center's signals (issue 12): early warnings read across OPDs' systems.

``detection`` holds the method (pure, no source); ``alerts`` the ``absenceAlerts`` field, which
asks the education office for grouped counts and the health office for its case reports.
"""

from __future__ import annotations

from .alerts import AbsenceAlert, AbsenceBaseline, DesaCount, absence_alerts
from .detection import METHOD, Parameters

__all__ = ["METHOD", "AbsenceAlert", "AbsenceBaseline", "DesaCount", "Parameters", "absence_alerts"]
