"""The JSON format: the Report model as is (see app/reports/model.py for the schema)."""

from __future__ import annotations

from .model import Report


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"
