"""The JSON log lines Autonomic writes, captured for tests that check what a line carries
(a decision's id on every line about it)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from agent.observability import JsonFormatter


@contextlib.contextmanager
def json_lines() -> Iterator[list[dict[str, Any]]]:
    """The JSON log lines of Autonomic's loggers written inside the block (at INFO),
    filled in when the block ends."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("autonomic")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())
