"""The audit log: who saw whose data, when, for which purpose; append-only and hash-chained.

The request path builds ``AuditRecord.for_request(...)`` once a request is answered and
calls ``await audit_log.append(record)`` before the answer leaves; ``AuditUnavailable``
means the disclosure could not be recorded, and the answer must not be sent.

With ``[audit] checkpoint``, the chain's head is anchored outside the log
(``gateway.access.audit.checkpoint``), so ``verify`` also catches a tail cut off the log.
"""

from .chain import ChainProblem, ProblemKind, VerifyResult
from .checkpoint import Checkpoint, Checkpointer, CheckpointStore
from .errors import AuditUnavailable
from .log import AuditLog
from .record import FORMAT_VERSION, GENESIS, OUTCOMES, AuditEntry, AuditRecord, SourceUse, chain_hash
from .settings import AuditSettings

__all__ = [
    "FORMAT_VERSION",
    "GENESIS",
    "OUTCOMES",
    "AuditEntry",
    "AuditLog",
    "AuditRecord",
    "AuditSettings",
    "AuditUnavailable",
    "ChainProblem",
    "CheckpointStore",
    "Checkpoint",
    "Checkpointer",
    "ProblemKind",
    "SourceUse",
    "VerifyResult",
    "chain_hash",
]
