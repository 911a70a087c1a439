"""policies/README.md maps every reference row to rules; keep it and the catalog in step."""

from __future__ import annotations

import re
from pathlib import Path

from winpod.engine.rules import load_catalog

README = Path(__file__).resolve().parents[2] / "policies" / "README.md"


def test_the_reference_table_names_every_rule_and_only_real_rules() -> None:
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## The reference, row by row") :]
    named = set(re.findall(r"`((?:windows|linux|exemption|placement)-[a-z0-9-]+)`", table))
    catalog = set(load_catalog().rules)
    assert named - catalog == set(), "the table names rules that do not exist"
    assert catalog - named == set(), "rules missing from the table"
