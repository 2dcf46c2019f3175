"""Keeping keys out of logs and messages: a source's URL or answer may carry a NIK.

HTTP client libraries log every URL they fetch (httpx: ``HTTP Request: GET
…/v1/participants/3503016006020001`` at INFO), aiosqlite every statement with its parameters
(at DEBUG), and a source's error text may echo the key it was asked for. Whatever goes into a log line or an error message from a source passes
through ``redact_numbers``; ``quiet_client_loggers`` keeps the client libraries' own loggers
at WARNING and blanks long numbers in what they still log.
"""

from __future__ import annotations

import logging
import re

#: Runs of this many digits or more are blanked: NIK and KK (16), NISN (10), NPSN (8), phone numbers.
_LONG_NUMBER = re.compile(r"\d{8,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")

#: Loggers of the client libraries the connectors use (a logger's filters do not see its
#: children's records, so httpcore's are named one by one).
CLIENT_LOGGERS = ("httpx", "httpcore", "aiosqlite")
#: SQLAlchemy's engine logs statements, parameters and, at DEBUG, whole result rows: left at its
#: own level (``echo``), but blanked too.
_REDACTED_LOGGERS = (
    *CLIENT_LOGGERS, "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy", "sqlalchemy.engine.Engine",
)


def redact_numbers(text: str, *, limit: int | None = None, keep_lines: bool = False) -> str:
    """``text`` with every run of 8+ digits replaced by ``…`` and control characters by a space
    (newlines kept with ``keep_lines``, for a traceback), cut to ``limit`` characters if given."""

    if keep_lines:
        text = "\n".join(_CONTROL.sub(" ", line) for line in text.split("\n"))
    else:
        text = _CONTROL.sub(" ", text)
    text = _LONG_NUMBER.sub("…", text).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


class RedactNumbers(logging.Filter):
    """Blanks long numbers in every record of the logger it is attached to (the record is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_numbers(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def quiet_client_loggers() -> None:
    """Keep httpx, httpcore and aiosqlite at WARNING (unless an operator chose a level) and
    redact what they log.

    Idempotent; the connectors call it when they are built, and the gateway's logging set-up
    should call it right after configuring logging.
    """

    for name in CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:  # an explicit level is an operator's choice: keep it
            logger.setLevel(logging.WARNING)
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactNumbers) for f in logger.filters):
            logger.addFilter(RedactNumbers())
