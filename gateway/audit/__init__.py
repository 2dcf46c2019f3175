"""The audit log: who saw whose data, when, for which purpose; append-only and hash-chained.

The request path builds ``AuditRecord.for_request(...)`` once a request is answered and
calls ``await audit_log.append(record)`` before the answer leaves; ``AuditUnavailable``
means the disclosure could not be recorded, and the answer must not be sent.
"""

from .chain import ChainProblem, ProblemKind, VerifyResult
from .log import AuditLog, AuditUnavailable
from .record import GENESIS, AuditEntry, AuditRecord, SourceUse, chain_hash
from .settings import AuditSettings

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditLog",
    "AuditRecord",
    "AuditSettings",
    "AuditUnavailable",
    "ChainProblem",
    "ProblemKind",
    "SourceUse",
    "VerifyResult",
    "chain_hash",
]
