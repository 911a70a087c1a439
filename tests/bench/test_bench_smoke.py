"""The benchmark's CI smoke run: a few seconds of every part, so it cannot rot unnoticed.

No thresholds: figures on a shared CI machine say nothing. What must hold is that each part
runs, produces numbers and writes its section of the report.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from bench.reviews import SHAPES, hey_set, small_set, wrk_set

REPO = Path(__file__).resolve().parents[2]
TOOLS_MISSING = [tool for tool in ("wrk", "hey") if shutil.which(tool) is None]


def run_bench(
    tmp_path: Path, parts: str, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    out, data = tmp_path / "results.md", tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "run.py"),
            "--quick",
            "--parts",
            parts,
            "--out",
            str(out),
            "--json",
            str(data),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(data.read_text()), out.read_text()


def test_the_review_bodies_are_the_sizes_and_share_of_denials_the_issue_asks_for() -> None:
    reviews = wrk_set()
    assert [r.shape for r in reviews[:5]] == list(SHAPES)
    assert sum(r.expect_denied for r in reviews) / len(reviews) == pytest.approx(0.2)
    sizes = {shape: [len(r.body) for r in reviews if r.shape == shape] for shape in SHAPES}
    assert all(4_500 < n < 7_000 for n in sizes["pod-5k"])
    assert all(14_000 < n < 17_000 for n in sizes["pod-15k"])
    assert all(65_000 < n < 75_000 for n in sizes["pod-70k"])
    update = orjson.loads(next(r.body for r in reviews if r.shape == "pod-update"))["request"]
    assert update["operation"] == "UPDATE" and update["oldObject"]["kind"] == "Pod"
    assert sum(r.expect_denied for r in hey_set()) == 1


def test_the_small_review_is_one_ordinary_pod_of_about_3_3_kb() -> None:
    [small] = small_set()
    assert 3_200 < len(small.body) < 3_500 and not small.expect_denied
    request = orjson.loads(small.body)["request"]
    assert (request["operation"], request["kind"]["kind"]) == ("CREATE", "Pod")
    assert "managedFields" not in request["object"]["metadata"]


def test_the_quick_run_measures_the_engine_and_winpod_check_against_the_parse_floor(
    tmp_path: Path,
) -> None:
    results, report = run_bench(tmp_path, "engine,check")
    assert results["engine"]["pods_per_second"] > 0
    check = results["check"]
    assert check["check_cpu_s"] > 0 and check["floor_cpu_s"] > 0
    assert math.isfinite(check["ratio_cpu"])
    assert check["heavy_imports"] == []  # `winpod check` must not load the web stack
    assert "## Engine, in process" in report
    assert "## `winpod check` against the parse floor" in report
    assert "objects/s, one core" in report


@pytest.mark.skipif(
    bool(TOOLS_MISSING),
    reason=f"{' and '.join(TOOLS_MISSING)} not installed "
    "(Debian: apt-get install -y wrk hey); the in-process parts run without them",
)
def test_the_quick_run_drives_winpod_and_the_echo_app_with_wrk_and_hey(tmp_path: Path) -> None:
    results, report = run_bench(tmp_path, "webhook")
    webhook = results["webhook"]
    assert webhook["winpod"]["preflight"]["/validate"]["denied"] == 4
    for server, paths in (("echo", ["/validate"]), ("winpod", ["/validate", "/mutate"])):
        figures = webhook[server]
        assert figures["rss_peak_kib"] >= figures["rss_warm_kib"] > 0
        for path in paths:
            assert figures["wrk"][path]["rps"] > 0
            assert figures["wrk"][path]["cpu_ms_per_1000"] >= 0
            for rate in figures["hey"][path].values():
                assert rate["requests"] > 0 and rate["p99_ms"] >= rate["p50_ms"] > 0
    assert "ratio to echo" in report and "p99 / echo p99" in report
    assert "VmHWM" in report


def test_without_the_load_tools_the_webhook_part_is_skipped_and_says_why(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    results, report = run_bench(tmp_path, "webhook", env)
    assert "wrk and hey not installed" in results["webhook"]["skipped"]
    assert "Skipped: wrk and hey not installed (Debian: apt-get install -y wrk hey)." in report
