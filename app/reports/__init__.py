"""Formatters for `winpod check`: one Report in, one string out."""

from __future__ import annotations

from collections.abc import Callable

from .model import Report

FORMATS = ("text", "json", "junit", "sarif")


def render(report: Report, fmt: str, *, verbose: bool = False, errors: bool = True) -> str:
    """`errors=False` leaves input errors out of the text format (the caller prints them on
    stderr); the structured formats always carry them."""
    if fmt == "text":
        from .as_text import render_text

        return render_text(report, verbose=verbose, errors=errors)
    renderers: dict[str, Callable[[Report, bool], str]] = {
        "json": _json,
        "junit": _junit,
        "sarif": _sarif,
    }
    return renderers[fmt](report, verbose)


# Each format imports its module only when used, so `winpod check` loads what it prints.
def _json(report: Report, verbose: bool) -> str:
    from .as_json import render_json

    return render_json(report)


def _junit(report: Report, verbose: bool) -> str:
    from .as_junit import render_junit

    return render_junit(report)


def _sarif(report: Report, verbose: bool) -> str:
    from .as_sarif import render_sarif

    return render_sarif(report)


__all__ = ["FORMATS", "Report", "render"]
