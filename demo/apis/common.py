"""What the three demo OPD APIs share: JSON responses, JSON errors, query parsing, pagination, OpenAPI bits.

Every error any of the services returns is ``{"error": {"code", "message"[, "details"]}}`` with a
4xx/5xx status: bad parameters (400), unknown records or routes (404), wrong methods (405),
and a bare 500 without a stack trace if something breaks.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

JSON = dict[str, Any]


class ORJSONResponse(Response):
    """A JSON response serialised by orjson (dates and datetimes as ISO 8601 strings)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class ApiError(Exception):
    """An error the client caused (or a missing record), turned into a JSON error response."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def error_response(status: int, code: str, message: str, details: Any = None) -> ORJSONResponse:
    """``{"error": {"code", "message"}}`` (plus ``details`` when given) with ``status``."""

    body: JSON = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return ORJSONResponse({"error": body}, status_code=status)


def bad_request(message: str, *, code: str = "INVALID_PARAMETER", parameter: str | None = None) -> ApiError:
    """A 400 ``ApiError``; ``parameter`` names the offending query parameter."""

    return ApiError(400, code, message, {"parameter": parameter} if parameter else None)


def not_found(message: str) -> ApiError:
    """A 404 ``ApiError``."""

    return ApiError(404, "NOT_FOUND", message)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, "NOT_FOUND", f"No endpoint at {request.url.path}; see /openapi.json.")
    if exc.status_code == 405:
        response = error_response(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.url.path}.")
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    return error_response(exc.status_code, "HTTP_ERROR", str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    return error_response(500, "INTERNAL_ERROR", "The service failed to answer this request.")


def create_service_app(
    *, service: str, routes: Sequence[BaseRoute], openapi: JSON, counts: Mapping[str, int], as_of: date
) -> Starlette:
    """A Starlette app with ``routes`` plus ``GET /health`` and ``GET /openapi.json``, errors as JSON."""

    openapi_body = orjson.dumps(openapi)
    health = {"status": "ok", "service": service, "as_of": as_of.isoformat(), "records": dict(counts)}

    async def health_endpoint(request: Request) -> Response:
        return ORJSONResponse(health)

    async def openapi_endpoint(request: Request) -> Response:
        return Response(openapi_body, media_type="application/json")

    all_routes = [
        *routes,
        Route("/health", health_endpoint, methods=["GET"]),
        Route("/openapi.json", openapi_endpoint, methods=["GET"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Any]] = {
        ApiError: _api_error,
        HTTPException: _http_error,
        Exception: _server_error,
    }
    return Starlette(routes=all_routes, exception_handlers=handlers)


# -- query parameters ---------------------------------------------------------------------


class Query:
    """Typed access to a request's query parameters; every bad value raises a 400 ``ApiError``."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params

    def text(self, name: str) -> str | None:
        """The stripped value, or ``None`` when absent or empty."""

        value = self.params.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def integer(
        self, name: str, default: int | None = None, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An integer within ``[minimum, maximum]``, or ``default`` when absent."""

        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise bad_request(f"{name} must be an integer, not {raw!r}.", parameter=name) from None
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            raise bad_request(f"{name} must be {bounds}, not {value}.", parameter=name)
        return value

    def matching(self, name: str, pattern: re.Pattern[str], hint: str) -> str | None:
        """The value if it fully matches ``pattern``; ``hint`` describes the expected format."""

        raw = self.text(name)
        if raw is not None and not pattern.fullmatch(raw):
            raise bad_request(f"{name} must be {hint}, not {raw!r}.", parameter=name)
        return raw

    def choice(self, name: str, choices: Sequence[str], *, upper: bool = True) -> str | None:
        """One of ``choices`` (compared in upper case unless ``upper=False``)."""

        raw = self.text(name)
        if raw is None:
            return None
        value = raw.upper() if upper else raw
        if value not in choices:
            raise bad_request(f"{name} must be one of {', '.join(choices)}; not {raw!r}.", parameter=name)
        return value

    def csv(self, name: str) -> list[str]:
        """Comma-separated values, also from repeated parameters (``?x=a,b&x=c``), in order, de-duplicated."""

        values: list[str] = []
        for raw in self.params.getlist(name):
            values.extend(v.strip() for v in raw.split(",") if v.strip())
        return list(dict.fromkeys(values))

    def moment(self, name: str, *, end_of_day: bool = False) -> datetime | None:
        """An ISO date or datetime; a date means its start (or its end with ``end_of_day``)."""

        raw = self.text(name)
        if raw is None:
            return None
        # A "+07:00" typed unescaped into a URL arrives as " 07:00".
        candidate = re.sub(r" (\d{2}:?\d{2})$", r"+\1", raw)
        try:
            if len(candidate) == 10:
                day = date.fromisoformat(candidate)
                return (
                    datetime(day.year, day.month, day.day, 23, 59, 59, 999999)
                    if end_of_day
                    else datetime(day.year, day.month, day.day)
                )
            return datetime.fromisoformat(candidate)
        except ValueError:
            raise bad_request(
                f"{name} must be an ISO date (2026-11-01) or datetime (2026-11-01T08:00:00+07:00), not {raw!r}.",
                parameter=name,
            ) from None


# -- pagination ---------------------------------------------------------------------------


def page_envelope(items: Sequence[Any], page: int, per_page: int) -> JSON:
    """Page-number pagination: ``{"data": [...], "meta": {page, per_page, total, total_pages}}``."""

    total = len(items)
    start = (page - 1) * per_page
    return {
        "data": list(items[start : start + per_page]),
        "meta": {"page": page, "per_page": per_page, "total": total, "total_pages": math.ceil(total / per_page)},
    }


def offset_envelope(request: Request, items: Sequence[Any], offset: int, limit: int) -> JSON:
    """Offset pagination, Django-REST style: ``{"count", "next", "previous", "results"}`` with absolute URLs."""

    total = len(items)
    next_url = (
        str(request.url.include_query_params(offset=offset + limit, limit=limit)) if offset + limit < total else None
    )
    previous_url = None
    if offset > 0:
        previous_url = str(request.url.include_query_params(offset=max(0, offset - limit), limit=limit))
    return {"count": total, "next": next_url, "previous": previous_url, "results": list(items[offset : offset + limit])}


def encode_cursor(position: int) -> str:
    """An opaque cursor for the item at ``position``."""

    return base64.urlsafe_b64encode(f"v1:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The position an opaque cursor stands for (0 without a cursor); a 400 for a cursor not made here."""

    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, position = text.split(":")
        if version != "v1" or not position.isdigit():
            raise ValueError(text)
        return int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad_request(
            "cursor is not a cursor this API handed out.", code="INVALID_CURSOR", parameter="cursor"
        ) from None


def cursor_envelope(items: Sequence[Any], cursor: str | None, limit: int) -> JSON:
    """Cursor pagination: ``{"items": [...], "nextCursor": "..." | null}``."""

    start = decode_cursor(cursor)
    end = start + limit
    return {"items": list(items[start:end]), "nextCursor": encode_cursor(end) if end < len(items) else None}


# -- OpenAPI ------------------------------------------------------------------------------


def parameter(name: str, where: str, schema: JSON, description: str, *, required: bool = False, **extra: Any) -> JSON:
    """One OpenAPI parameter object."""

    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema,
        **extra,
    }


ERROR_SCHEMA: JSON = {
    "type": "object",
    "description": "Every error this API returns.",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Machine-readable code, e.g. `INVALID_PARAMETER`, `NOT_FOUND`.",
                },
                "message": {"type": "string", "description": "Human-readable explanation."},
                "details": {"type": "object", "description": "Extra context, e.g. the offending `parameter`."},
            },
        }
    },
}

HEALTH_SCHEMA: JSON = {
    "type": "object",
    "required": ["status", "service", "as_of", "records"],
    "additionalProperties": False,
    "properties": {
        "status": {"type": "string", "enum": ["ok"]},
        "service": {"type": "string"},
        "as_of": {"type": "string", "format": "date", "description": "The data's reference date."},
        "records": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "Record counts held.",
        },
    },
}

_STATUS_TEXT = {400: "Invalid parameter.", 404: "Not found.", 405: "Method not allowed.", 500: "Internal error."}


def json_response(description: str, schema: JSON) -> JSON:
    """An OpenAPI response object with a JSON body."""

    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_responses(*statuses: int) -> JSON:
    """OpenAPI responses for the given error statuses, all with the shared error body."""

    return {str(s): json_response(_STATUS_TEXT[s], {"$ref": "#/components/schemas/Error"}) for s in statuses}


def openapi_document(*, title: str, description: str, version: str, paths: JSON, schemas: JSON, server: str) -> JSON:
    """A complete OpenAPI 3.1 document: ``paths`` plus ``/health``, ``/openapi.json`` and the shared schemas."""

    all_paths = dict(paths)
    all_paths["/health"] = {
        "get": {
            "operationId": "health",
            "summary": "Liveness and record counts.",
            "responses": {"200": json_response("The service is up.", {"$ref": "#/components/schemas/Health"})},
        }
    }
    all_paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This OpenAPI 3.1 description.",
            "responses": {"200": json_response("The OpenAPI document.", {"type": "object"})},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": server, "description": "Default local port of this demo service."}],
        "paths": all_paths,
        "components": {"schemas": {**schemas, "Error": ERROR_SCHEMA, "Health": HEALTH_SCHEMA}},
    }


def nullable(schema: JSON) -> JSON:
    """``schema`` that also allows ``null`` (OpenAPI 3.1 / JSON Schema type lists)."""

    kind = schema.get("type")
    if isinstance(kind, str):
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}
