"""The audit tables, and the triggers that refuse to change them.

``audit_entry`` holds the chain, ``audit_subject`` indexes it by NIK (for a data subject's
Pasal 32 request), ``audit_head`` holds the last seq and hash (and the hash before it):
appends lock it, and
verification compares it with the last entry so a cut-off tail shows. The triggers are
defence in depth: whoever can drop them can also edit rows, and the chain is what tells.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text

metadata = MetaData()

entries = Table(
    "audit_entry",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("record", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

subjects = Table(
    "audit_subject",
    metadata,
    # NIK first: the index serves "who saw this person", seq follows for order.
    Column("nik", Text, primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
)

head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    # The hash of the entry before the head's: a head whose seq was moved back over one
    # cut-off entry still links to the entry now last, and verify says which seq is gone.
    # Added after the first release (``HEAD_PREV_HASH_DDL``); NULL until the next append.
    Column("prev_hash", String(64), nullable=True),
)

#: Brings a log created before ``audit_head.prev_hash`` existed up to date (at start).
HEAD_PREV_HASH_DDL = "ALTER TABLE audit_head ADD COLUMN prev_hash VARCHAR(64)"

POSTGRESQL_TRIGGERS = (
    """CREATE OR REPLACE FUNCTION satudata_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$body$""",
    """CREATE OR REPLACE FUNCTION satudata_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
  IF NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 THEN
    RAISE EXCEPTION 'the audit head only moves forward, one entry at a time'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END
$body$""",
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION satudata_audit_refuse()",
    "CREATE TRIGGER audit_subject_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_subject "
    "FOR EACH STATEMENT EXECUTE FUNCTION satudata_audit_refuse()",
    "CREATE TRIGGER audit_head_kept BEFORE DELETE OR TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION satudata_audit_refuse()",
    "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION satudata_audit_head_forward()",
)

SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {op} on {table} refused'); END"
    for table in ("audit_entry", "audit_subject")
    for op in ("UPDATE", "DELETE")
) + (
    "CREATE TRIGGER audit_head_kept BEFORE DELETE ON audit_head "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE on audit_head refused'); END",
    "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head WHEN NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 "
    "BEGIN SELECT RAISE(ABORT, 'the audit head only moves forward, one entry at a time'); END",
)
