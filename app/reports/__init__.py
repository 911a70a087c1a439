"""Reports of `winpod check` (and `winpod audit`): one model (model.py), one mapping from
findings to records (records.py), formats written as a run goes (stream.py; SARIF's mapping in
as_sarif.py, shared with audit)."""

from __future__ import annotations

FORMATS = ("text", "json", "junit", "sarif")

__all__ = ["FORMATS"]
