"""Exit codes: 0 nothing denied, 1 something denied (or warned under --fail-on warn), 2 usage
or input error; an input error wins over a denial."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import (
    MEMORY_EMPTYDIR_POD,
    PRIVILEGED_POD,
    WINDOWS_POD,
    Run,
    write,
)


def test_a_denied_pod_exits_1(winpod: Run, tmp_path: Path) -> None:
    assert winpod("check", write(tmp_path, "p.yaml", PRIVILEGED_POD.format(name="p"))).code == 1


def test_a_warned_pod_exits_0_by_default(winpod: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", MEMORY_EMPTYDIR_POD.format(name="m"))
    result = winpod("check", path)
    assert result.code == 0
    assert "windows-emptydir-memory" in result.out


def test_a_warned_pod_exits_1_with_fail_on_warn(winpod: Run, tmp_path: Path) -> None:
    path = write(tmp_path, "m.yaml", MEMORY_EMPTYDIR_POD.format(name="m"))
    result = winpod("check", "--fail-on", "warn", "--format", "json", path)
    assert result.code == 1
    [finding] = json.loads(result.out)["findings"]
    assert finding["blocks"] is True


def test_a_parse_error_wins_over_a_denial(winpod: Run, tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", PRIVILEGED_POD.format(name="p"))
    write(tmp_path, "q.yaml", "kind: [\n")
    assert winpod("check", tmp_path).code == 2


def test_an_exempted_denial_does_not_fail(winpod: Run, tmp_path: Path) -> None:
    text = PRIVILEGED_POD.format(name="p").replace(
        "  namespace: apps\n",
        "  namespace: apps\n  annotations:\n"
        "    winpod.io/exempt: windows-privileged\n"
        "    winpod.io/exempt-reason: vendor agent, ticket OPS-12\n",
    )
    result = winpod("check", "--format", "json", write(tmp_path, "p.yaml", text))
    assert result.code == 0
    report = json.loads(result.out)
    exempted = [f for f in report["findings"] if f["rule"] == "windows-privileged"]
    assert exempted[0]["exempted"] is True
    assert exempted[0]["exemptionReason"] == "vendor agent, ticket OPS-12"
    assert report["summary"]["exempted"] >= 1


def test_a_config_override_turns_a_denial_into_a_warning(winpod: Run, tmp_path: Path) -> None:
    config = write(tmp_path, "winpod.yaml", "rules:\n  windows-privileged: warn\n")
    pod = write(tmp_path, "p.yaml", PRIVILEGED_POD.format(name="p"))
    assert winpod("check", "--config", config, pod).code == 0


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [
        ("rulez: {}\n", "rulez"),
        ("rules:\n  windows-privileged: maybe\n", "windows-privileged"),
        ("rules:\n  no-such-rule: warn\n", "no-such-rule"),
        ("kubernetesVersion: banana\n", "banana"),
    ],
)
def test_a_bad_config_exits_2_with_its_message(
    winpod: Run, tmp_path: Path, config_text: str, expected: str
) -> None:
    config = write(tmp_path, "winpod.yaml", config_text)
    pod = write(tmp_path, "p.yaml", WINDOWS_POD.format(name="p"))
    result = winpod("check", "--config", config, pod)
    assert result.code == 2
    assert expected in result.err and "Traceback" not in result.err


def test_a_bad_policies_directory_exits_2_naming_the_rule_file(winpod: Run, tmp_path: Path) -> None:
    write(tmp_path, "rules/bad-rule.yaml", "id: bad-rule\ntitle: x\nsurprise: 1\n")
    pod = write(tmp_path, "p.yaml", WINDOWS_POD.format(name="p"))
    result = winpod("check", "--policies", tmp_path / "rules", pod)
    assert result.code == 2
    assert "bad-rule.yaml" in result.err


def test_policies_replace_the_shipped_catalog(winpod: Run, tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "policies" / "windows-emptydir-memory.yaml"
    write(tmp_path, "rules/windows-emptydir-memory.yaml", shipped.read_text())
    pod = write(tmp_path, "p.yaml", PRIVILEGED_POD.format(name="p"))
    result = winpod("check", "--policies", tmp_path / "rules", "--format", "json", pod)
    assert result.code == 0  # windows-privileged is not in this catalog
    assert json.loads(result.out)["findings"] == []


def test_a_bad_kubernetes_version_exits_2(winpod: Run, tmp_path: Path) -> None:
    pod = write(tmp_path, "p.yaml", WINDOWS_POD.format(name="p"))
    result = winpod("check", "--kubernetes-version", "one.thirty", pod)
    assert result.code == 2
    assert "one.thirty" in result.err


def test_the_kubernetes_version_reaches_the_engine(winpod: Run, tmp_path: Path) -> None:
    pod = write(tmp_path, "p.yaml", WINDOWS_POD.format(name="p"))
    result = winpod("check", "--kubernetes-version", "v1.30.2", "--format", "json", pod)
    assert json.loads(result.out)["kubernetesVersion"] == "1.30"


def test_an_unknown_format_is_a_usage_error(winpod: Run, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        winpod("check", "--format", "xml", tmp_path)
    assert exc.value.code == 2


def test_no_path_is_a_usage_error(winpod: Run) -> None:
    with pytest.raises(SystemExit) as exc:
        winpod("check")
    assert exc.value.code == 2
