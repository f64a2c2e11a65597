"""Waiting for audit events in integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.logs.reader import log_events


def wait_for_events(live: Path, predicate: Callable[[dict[str, Any]], bool], minimum: int = 1,
                    timeout: float = 10.0) -> list[dict[str, Any]]:
    """Events matching ``predicate``, polling until ``minimum`` are there or the timeout.

    The apiserver writes ResponseComplete after the handler returns, so a client can see
    its response before the event is on disk.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in log_events(live) if predicate(e)]
        if len(found) >= minimum or time.monotonic() > deadline:
            return found
        time.sleep(0.1)
