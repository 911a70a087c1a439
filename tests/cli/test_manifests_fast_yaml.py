"""The fast YAML construction in app.manifests gives what PyYAML's own would, node for node."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from winpod.manifests import read_inputs

CASES = {
    "plain": "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: {x: 'y'}}\nspec: {containers: [{name: c, image: i}]}\n",
    "scalars": "kind: Pod\nmetadata: {name: a}\nx: {y: yes, n: No, i: 0x1f, o: 0o17, f: 1.5e3, z: ~, q: '1', e: .inf}\n",
    "merge key": "kind: Pod\nmetadata: {name: a}\nbase: &b {a: 1}\nx: {<<: *b, c: 2}\n",
    "timestamp": "kind: Pod\nmetadata: {name: a, creationTimestamp: 2001-12-14}\n",
    "shared alias": "kind: Pod\nmetadata: {name: a}\nx: &s {b: 1}\ny: *s\n",
    "binary and set": "kind: Pod\nmetadata: {name: a}\nb: !!binary aGk=\ns: !!set {a, b}\n",
    "several documents": "kind: Pod\nmetadata: {name: a}\n---\n---\nkind: Pod\nmetadata: {name: b}\n",
}


@pytest.mark.parametrize("text", CASES.values(), ids=CASES.keys())
def test_manifests_read_fast_are_the_objects_pyyaml_builds(tmp_path: Path, text: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    inputs = read_inputs([str(path)])
    expected = [d for d in yaml.load_all(text, Loader=yaml.CSafeLoader) if d is not None]
    assert repr([m.obj for m in inputs.manifests]) == repr(expected)
    assert not inputs.errors


def test_an_alias_stays_one_object_as_pyyaml_makes_it(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(CASES["shared alias"])
    obj = read_inputs([str(path)]).manifests[0].obj
    assert obj["x"] is obj["y"]


def test_a_recursive_alias_is_refused_since_it_expands_forever(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("kind: Pod\nmetadata: {name: a}\nx: &r [1, *r]\n")
    inputs = read_inputs([str(path)])
    assert inputs.manifests == []
    assert [e.message for e in inputs.errors] == [
        "not a manifest: a YAML alias contains itself (it expands forever)"
    ]
