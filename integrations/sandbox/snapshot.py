"""Helpers for the sandboxes' saved state (``Sandboxes(persist=True)``): JSON in, JSON out."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def jsonable(value: Any) -> Any:
    """``value`` (from :func:`dataclasses.asdict`) with datetimes as ISO 8601 and tuples as lists."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def parse_time(text: Any) -> datetime:
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return at
