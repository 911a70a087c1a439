"""Small text helpers every layer uses for messages: one way to name a JSON type, to shorten
a long value, and to turn a pydantic validation error into one line of "path: problem"."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def type_name(value: Any) -> str:
    """How a message names a JSON value's type: 'a string', 'an integer', 'an object'..."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    return {
        str: "a string",
        float: "a number",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def shorten(text: str, limit: int, ellipsis: str = "...") -> str:
    """`text` cut to at most `limit` characters, the cut marked."""
    return text if len(text) <= limit else text[: max(limit - len(ellipsis), 0)] + ellipsis


def describe_validation(exc: ValidationError, most: int | None = None) -> str:
    """'path.to.key: problem; ...' for each error (the first `most` of them)."""
    errors = exc.errors(include_url=False)
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
        for err in errors[:most]
    ]
    if most is not None and len(errors) > most:
        parts.append(f"and {len(errors) - most} more")
    return "; ".join(parts)
