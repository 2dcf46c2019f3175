"""Errors carry their code and HTTP status; only ``gateway.errors`` writes them as a client sees them."""

from __future__ import annotations

import ast
from pathlib import Path

import gateway.app  # noqa: F401  (imports every error class of the gateway)
from core import ConfigError, SatudataError
from gateway.access.auth import Unauthenticated
from gateway.access.ratelimit import RateCheck, RateLimited
from gateway.errors import RequestError, refusal

ROOT = Path(__file__).resolve().parents[2]


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_class_declares_an_http_error_status() -> None:
    wrong = {
        f"{cls.__module__}.{cls.__qualname__}": cls.status
        for cls in _subclasses(SatudataError) | {SatudataError}
        if cls.__module__.split(".")[0] in ("core", "connectors", "resolvers", "gateway")
        and not (isinstance(cls.status, int) and 400 <= cls.status <= 599)
    }
    assert not wrong, wrong
    assert len(_subclasses(SatudataError)) > 20  # the walk saw the layers' errors, not just core's


def test_a_refusal_takes_status_headers_and_extensions_from_the_error() -> None:
    body, status, headers = refusal(RateLimited(RateCheck(allowed=False, retry_after_s=2.2, remaining=0)))
    assert status == 429 and headers == {"retry-after": "3"}
    assert body == {"errors": [{"message": "Too many requests; try again in 3 s.", "extensions": {"code": "RATE_LIMITED", "retryAfter": 3}}]}
    body, status, headers = refusal(Unauthenticated("The API key is not known.", reason="UNKNOWN_API_KEY"))
    assert (status, headers) == (401, {"www-authenticate": "Bearer"})
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED", "reason": "UNKNOWN_API_KEY"}
    body, status, headers = refusal(RequestError(415, "POST JSON.", "UNSUPPORTED_MEDIA_TYPE"))
    assert (status, headers, body["errors"][0]["extensions"]) == (415, {}, {"code": "UNSUPPORTED_MEDIA_TYPE"})
    assert ConfigError.status == 500 and ConfigError("x").headers() == {}


def test_only_gateway_errors_builds_an_error_object() -> None:
    """A dict with both ``message`` and ``extensions`` is a GraphQL error on the wire: gateway/errors.py writes those."""

    offending = []
    for path in sorted((ROOT / "gateway").rglob("*.py")):
        if path == ROOT / "gateway" / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                if {"message", "extensions"} <= keys:
                    offending.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offending, offending
