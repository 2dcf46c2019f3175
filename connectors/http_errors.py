"""The HTTP transport's failures as ``SourceError``s: one mapping for every HTTP-based connector."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from .errors import SourceTimeout, SourceUnavailable
from .redaction import redact_numbers


@contextmanager
def mapped_http_errors(name: str, log: logging.Logger) -> Iterator[None]:
    """Translate httpx's errors on source ``name`` into ``SourceError``s (no URL in the message)."""

    try:
        yield
    except httpx.TimeoutException as exc:
        raise SourceTimeout(f"Source '{name}' did not answer in time.", source=name) from exc
    except (httpx.TransportError, OSError) as exc:
        log.warning("source %s unavailable: %s", name, redact_numbers(f"{type(exc).__name__}: {exc}", limit=300))
        raise SourceUnavailable(f"Source '{name}' is unavailable.", source=name) from exc
