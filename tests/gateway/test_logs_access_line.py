"""The access line written straight to the JSON handler (gateway.logs' fast path) is the line
``logging`` and ``JsonFormatter`` write for the same request."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from gateway.logs import REQUEST_NOTE, _Handler, _json_access_handler, access_log, configure_logging, request_id_var, write_access_line


@pytest.fixture
def stderr_json() -> Iterator[io.StringIO]:
    """``configure_logging`` in JSON at info, onto a StringIO standing for standard error; undone after."""

    root = logging.getLogger()
    saved_handlers, saved_level, saved_stderr = list(root.handlers), root.level, sys.stderr
    buffer = io.StringIO()
    sys.stderr = buffer
    try:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        configure_logging("info", "json")
        yield buffer
    finally:
        sys.stderr = saved_stderr
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)


@contextlib.contextmanager
def _alone() -> Iterator[None]:
    """Without pytest's capturing handlers, which it adds to the root logger around each test's call."""

    root = logging.getLogger()
    others = [h for h in root.handlers if not isinstance(h, _Handler)]
    for handler in others:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in others:
            root.addHandler(handler)


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


@pytest.mark.parametrize(("level", "path"), [(logging.INFO, "/graphql"), (logging.INFO, "/x/3503010101010001")])
def test_the_direct_line_is_the_logging_line(stderr_json: io.StringIO, level: int, path: str) -> None:
    scope = {"method": "POST", "path": path, REQUEST_NOTE: ("Lookup", "officer")}
    token = request_id_var.set("rid-7")
    try:
        with _alone():
            assert _json_access_handler(level) is not None
            write_access_line(level, scope, 200, 1.234)
            keep_all = logging.Filter()  # any filter on the way: the record goes through logging
            access_log.addFilter(keep_all)
            try:
                assert _json_access_handler(level) is None
                write_access_line(level, scope, 200, 1.234)
            finally:
                access_log.removeFilter(keep_all)
    finally:
        request_id_var.reset(token)
    direct, through_logging = _lines(stderr_json)
    assert direct.pop("time") and through_logging.pop("time")
    assert list(direct.items()) == list(through_logging.items())
    assert direct["request_id"] == "rid-7" and direct["role"] == "officer"


def test_a_capturing_handler_sees_the_access_line(stderr_json: io.StringIO, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="access"):
        write_access_line(logging.INFO, {"method": "GET", "path": "/graphql"}, 200, 0.5)
    assert [r.getMessage() for r in caplog.records if r.name == "access"] == ["GET /graphql 200 - role=- 0.5 ms"]
