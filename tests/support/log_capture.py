"""A log handler on the root logger at DEBUG for the length of a test, every logger's level restored after."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TypeVar

H = TypeVar("H", bound=logging.Handler)


@contextlib.contextmanager
def on_the_root_logger(handler: H) -> Iterator[H]:
    """``handler`` hears the root logger at DEBUG; the root's and every named logger's level come back after."""

    root = logging.getLogger()
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
