"""Read a SQLite audit log's records directly, as an auditor with ``sqlite3`` would."""

from __future__ import annotations

from pathlib import Path

from gateway.access.audit.record import AuditRecord

from ..support.sqlite import sqlite_file


def audit_records(path: str | Path) -> list[AuditRecord]:
    """Every record of the log at ``path``, oldest first."""

    with sqlite_file(path) as conn:
        return [AuditRecord.from_json(text) for (text,) in conn.execute("SELECT record FROM audit_entry ORDER BY seq")]
