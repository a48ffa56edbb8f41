"""The service's log lines exactly as Lambda would ship them (the powertools logger's JSON)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from invoice_export.platform.observability import logger


class LogLines:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def parsed(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]


@contextmanager
def captured_log_lines() -> Iterator[LogLines]:
    """Collect every line the logger writes while the block runs, with its own formatter.

    The logger's handler writes to the stdout object it found at import time, which pytest's
    per-test capture (capfd, capsys) does not see; this adds a second handler instead.
    """
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    level = logger.log_level
    logger.setLevel("INFO")  # the template's level; an earlier test in this worker may have changed it
    try:
        yield LogLines(stream)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
