"""Real manifests written by others (shared/corpus beside the repo): read without a traceback.

The corpus is test data outside the repo; CI runs a fresh clone with shared/ beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import CORPUS, Run, run_process

pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"no corpus at {CORPUS} (shared/ is not beside the repo)"
)

FILES = sorted(p for p in CORPUS.iterdir() if p.is_file()) if CORPUS.is_dir() else []
MANIFESTS = [p for p in FILES if p.suffix in (".yaml", ".yml", ".json")]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_corpus_file_is_read_without_a_crash(winpod: Run, path: Path) -> None:
    result = winpod("check", "--format", "json", path)
    assert result.code in (0, 1, 2)
    assert "internal error" not in result.err
    report = json.loads(result.out)
    if path in MANIFESTS:
        assert report["objects"] or report["errors"], "no objects and no error"


def test_the_whole_corpus_through_the_entry_point_has_no_traceback() -> None:
    result = run_process("check", "--format", "json", str(CORPUS))
    assert "Traceback" not in result.err
    assert result.code in (0, 1, 2), result.err
    report = json.loads(result.out)
    seen = {Path(o["file"]).name for o in report["objects"]}
    seen |= {Path(e["file"]).name for e in report["errors"]}
    assert seen == {p.name for p in MANIFESTS}
    assert len(MANIFESTS) == 40


def test_every_corpus_file_renders_in_every_format(winpod: Run) -> None:
    for fmt in ("text", "junit", "sarif"):
        result = winpod("check", "--format", fmt, CORPUS)
        assert result.code in (0, 1, 2) and result.out


def test_linux_pinned_corpus_objects_get_no_windows_findings(winpod: Run) -> None:
    report = json.loads(winpod("check", "--format", "json", CORPUS).out)
    linux = [o for o in report["objects"] if o["checked"] and o["os"] == "linux"]
    assert linux
    assert [o["name"] for o in linux if o["findings"]] == []


def test_the_sig_windows_hostprocess_daemonsets_are_not_denied(winpod: Run) -> None:
    # Published by SIG Windows and run on real clusters: denying one is a false denial.
    paths = sorted(CORPUS.glob("sig-windows-tools__hostprocess_*"))
    assert paths
    report = json.loads(winpod("check", "--format", "json", *paths).out)
    daemonsets = [o for o in report["objects"] if o["kind"] == "DaemonSet"]
    assert len(daemonsets) == len(paths)
    assert all(o["os"] == "windows" for o in daemonsets)
    assert [o["name"] for o in daemonsets if o["denied"]] == []
