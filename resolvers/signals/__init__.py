"""The Smart Center's signals (issue 12): early warnings read across OPDs' systems.

``detection`` holds the method and its parameters (pure, no source; ``resolvers.context`` carries
the configured ``Parameters``); ``alerts`` the ``absenceAlerts`` field, which asks the education
office for grouped counts and the health office for its case reports.

Not here yet: the subscription ``absenceAlertRaised(region)`` (issue 12). It waits for the live
transport of issue 11 (change capture of attendance into the change feed); it would re-run
``alerts.absence_alerts`` for the region on each day's attendance notice and send the new alerts.
"""

from __future__ import annotations

from .detection import METHOD, STATUSES, Parameters

__all__ = ["METHOD", "STATUSES", "Parameters"]
