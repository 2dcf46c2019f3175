"""The audit log's one error: a disclosure that cannot be recorded (or checked) must not happen."""

from __future__ import annotations

from core import SatudataError


class AuditUnavailable(SatudataError):
    """The audit log (or its checkpoint store, when verifying) could not be written or read.
    A disclosure that cannot be recorded must not happen: the request path fails closed on this."""

    code = "AUDIT_UNAVAILABLE"
    status = 503
