"""The compiled walker (app/engine/fieldtrie.py) against a plain interpreted walk of the path
grammar, on the real catalog's tries and on random ones; and its generated source is there to
read: in tracebacks, through `walker_source` and through `winpod rules --walker-source`.

Hits are compared as multisets, not lists: the order between different payloads is not the
walker's contract (the engine sorts hits by rule, test and container) and the compiled walker
legitimately visits siblings in other orders (a small object's keys are scanned against a
table in the object's order, a large one's looked up in the trie's; a key filter that lists
names looks them up in the filter's order). What the findings do show, the order of one
payload's hits (volumes[0] before volumes[2]), is checked too, for paths without a key filter.
"""

from __future__ import annotations

import ast
import functools
import gc
import linecache
import re
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from winpod.cli import main
from winpod.engine.evaluate import _api_tests
from winpod.engine.fieldtrie import TrieNode, compile_walker, match_path, walker_source
from winpod.engine.kubeversion import LATEST_KNOWN, parse_version
from winpod.engine.paths import join, parse_path
from winpod.engine.rules import load_catalog

Test = Callable[[Any, str | None], bool]
# What a trie is built from: (path, payload, key filter of the last `*`, the guard's test).
Entry = tuple[str, Any, str | None, Test | None]
Hit = tuple[Any, Any, str | None, str]  # (payload, value, last wildcard key, rendered path)


def interpreted_walk(entries: list[Entry], obj: Any, base: str) -> list[Hit]:
    """The grammar, read literally: each path on its own, recursively, one step at a time."""
    hits: list[Hit] = []
    for path, payload, key_filter, test in entries:
        steps = parse_path(path)
        last_star = max((i for i, (kind, _) in enumerate(steps) if kind == "anykey"), default=-1)
        filters = [key_filter if i == last_star else None for i in range(len(steps))]
        for value, key, at in walk_steps(steps, filters, obj, base, None):
            if test is None or test(value, key):
                hits.append((payload, value, key, at))
    return hits


def walk_steps(
    steps: list[tuple[str, str | int | None]],
    filters: list[str | None],
    value: Any,
    at: str,
    key: str | None,
) -> list[tuple[Any, str | None, str]]:
    """Every (value, last wildcard key, path) that `steps` reach from `value` (found at `at`)."""
    if value is None:  # nulls count as absent
        return []
    if not steps:
        return [(value, key, at)]
    (kind, arg), rest, rest_filters = steps[0], steps[1:], filters[1:]
    if kind == "key" and isinstance(value, dict):
        return walk_steps(rest, rest_filters, value.get(arg), join(at, str(arg)), key)
    if kind == "each" and isinstance(value, list):
        found = []
        for index, item in enumerate(value):
            found += walk_steps(rest, rest_filters, item, f"{at}[{index}]", key)
        return found
    if kind == "index" and isinstance(value, list):
        assert isinstance(arg, int)
        if arg < len(value):
            return walk_steps(rest, rest_filters, value[arg], f"{at}[{arg}]", key)
        return []
    if kind == "anykey" and isinstance(value, dict):
        found = []
        for name, item in value.items():
            name = str(name)
            if filters[0] is None or re.search(filters[0], name):
                found += walk_steps(rest, rest_filters, item, join(at, name), name)
        return found
    return []  # a step that does not fit the value's type matches nothing


def compile_entries(entries: list[Entry]) -> Callable[[Any, str, Any], None]:
    root = TrieNode()
    for path, payload, key_filter, _ in entries:
        root.add(path, payload, key_filter)
    tests = {id(payload): test for _, payload, _, test in entries}
    return compile_walker(root, lambda payload: tests[id(payload)])


def compiled_walk(walker: Callable[[Any, str, Any], None], obj: Any, base: str) -> list[Hit]:
    hits: list[Hit] = []
    walker(obj, base, lambda payload, value, key, at: hits.append((payload, value, key, at)))
    return hits


def assert_same_hits(entries: list[Entry], walker: Any, obj: Any, base: str) -> None:
    number = {id(payload): i for i, (_, payload, _, _) in enumerate(entries)}

    def comparable(hits: list[Hit]) -> list[tuple[int, str, str, str | None, int]]:
        # The value by identity: the walker must hand over the object's own value.
        return [
            (number[id(p)], entries[number[id(p)]][0], at, key, id(v)) for p, v, key, at in hits
        ]

    expected = comparable(interpreted_walk(entries, obj, base))
    got = comparable(compiled_walk(walker, obj, base))
    missing = list((Counter(expected) - Counter(got)).elements())
    extra = list((Counter(got) - Counter(expected)).elements())
    assert (missing, extra) == ([], []), f"base {base!r}: missing {missing}, extra {extra}"
    by_payload: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for hit in got:
        by_payload[hit[0]].append(hit)
    for hit in expected:
        by_payload[hit[0]].append(hit)  # after all of `got`: the same list twice when in order
    for index, hits in by_payload.items():
        if entries[index][2] is None:
            half = len(hits) // 2
            assert hits[:half] == hits[half:], f"{entries[index][0]}: hits out of order"


# --- generated objects ---------------------------------------------------------------------

# No newline in generated keys: `$` also matches before a final newline, so ^(a|b)$ admits
# "a\n" as a regex but not as the names it lists (pinned by a test below).
KEY_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 2**40)
    | st.floats(allow_nan=False)
    | KEY_TEXT
    | st.sampled_from(["", "Memory", "windows", "ClusterFirstWithHostNet", "0644", "Always"])
)
JUNK_KEYS = KEY_TEXT | st.integers(0, 3) | st.sampled_from(["a", "b", "name", "spec", "secret"])
# Flat, not st.recursive: what the walker sees below a path's end does not matter to it, and
# each hypothesis draw costs.
VALUES = (
    st.none()
    | SCALARS
    | st.lists(SCALARS, max_size=2)
    | st.dictionaries(JUNK_KEYS, SCALARS, max_size=2)
)


def names_in(key_filter: str | None) -> list[str]:
    """Keys a filter is about, read off its text, and near misses: ^(secret|configMap)$ ->
    secret, configMap, secretx, xsecret, configMapx, xconfigMap."""
    if key_filter is None:
        return []
    text = re.sub(r"\\(.)", r"\1", key_filter.replace(".+", "x").replace(".*", ""))
    names = [name for name in re.split(r"[|()^$]", text) if name]
    return [variant for name in names for variant in (name, name + "x", "x" + name)]


@st.composite
def objects(draw: st.DrawFn, entries: list[Entry]) -> Any:
    """Pod-like objects: some of the paths the entries read, made real with random values of
    random types (wrong types and nulls on the way too), and random junk beside them."""

    def grow(existing: Any, steps: list[tuple[str, str | int | None]], wild: Any) -> Any:
        # One draw picks what happens here: hypothesis draws are what these tests spend on.
        roll = draw(st.integers(0, 19))
        if not steps or roll == 0:
            return draw(VALUES)  # the value at the path, or a wrong type or null on the way
        kind, arg = steps[0]
        if kind in ("key", "anykey"):
            node = existing if isinstance(existing, dict) else {}
            if roll < 4:
                node.update(draw(st.dictionaries(JUNK_KEYS, VALUES, max_size=2)))
            elif roll == 4:
                # Wide enough that a node with many leaf keys looks each up, not scans a table.
                node.update({f"pad{i}": i for i in range(12)})
            names = [arg] if kind == "key" else draw(st.lists(wild, min_size=1, max_size=2))
            for name in names:
                node[name] = grow(node.get(name), steps[1:], wild)
            return node
        items = existing if isinstance(existing, list) else []
        index = min(roll % 3, len(items)) if kind == "each" else int(arg or 0)
        while len(items) <= index:
            items.append(draw(VALUES) if roll < 6 else {})
        items[index] = grow(items[index], steps[1:], wild)
        return items

    if len(entries) > 12:  # the catalog's: a few of its paths at a time
        chosen = draw(st.lists(st.sampled_from(entries), max_size=10))
    else:  # a random trie's: each path, or not
        chosen = [entry for entry in entries if draw(st.booleans())]
    obj: Any = {}
    for path, _, key_filter, _ in chosen:
        # At a `*`, mostly the names the path's filter is about and near misses, so that
        # filters are put to work; else junk.
        about = names_in(key_filter)
        wild = st.sampled_from([*about, "x"]) | JUNK_KEYS if about else JUNK_KEYS
        obj = grow(obj, parse_path(path), wild)
    return obj


# --- (a) the catalog's tries, built as app/engine/evaluate.py `_layout` builds them ------------

VERSIONS = ("1.20", "1.24", "1.26", "1.30", "1.33", LATEST_KNOWN)


@dataclass(frozen=True)
class Trial:
    name: str  # "1.30 windows container"
    entries: list[Entry]
    walker: Any


@functools.cache
def catalog_trials() -> tuple[Trial, ...]:
    catalog = load_catalog()
    trials: list[Trial] = []
    for text in VERSIONS:
        version = parse_version(text)
        compiled = [r for r in catalog.compile_for(version) if r.action]
        for os_name in ("windows", "linux", "unknown"):
            pod: list[Entry] = []
            container: list[Entry] = []
            rules = [r for r in compiled if r.os in (os_name, "any")]
            for order, rule in enumerate(rules):
                for test_order, test in enumerate(rule.tests):
                    entry = (test.path, (order, test_order, rule, test), test.key_filter, test.test)
                    (container if test.container_scope else pod).append(entry)
            for api in _api_tests(version, os_name, {}):
                entry = (api.field.path, api, api.field.key_filter, api.test)
                (container if api.field.container else pod).append(entry)
            for part, entries in (("pod", pod), ("container", container)):
                trials.append(Trial(f"{text} {os_name} {part}", entries, compile_entries(entries)))
    return tuple(trials)


def test_the_catalog_tries_cover_every_version_os_and_scope() -> None:
    trials = catalog_trials()
    assert len(trials) == len(VERSIONS) * 3 * 2
    assert all(trial.entries for trial in trials if "windows" in trial.name)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_catalog_walkers_hit_what_an_interpreted_walk_of_their_paths_hits(
    data: st.DataObject,
) -> None:
    trial = data.draw(st.sampled_from(catalog_trials()), label="trial")
    obj = data.draw(objects(trial.entries), label="object")
    base = data.draw(st.sampled_from(["", "spec.initContainers[1]"]), label="base")
    assert_same_hits(trial.entries, trial.walker, obj, base)


# --- (b) random tries ----------------------------------------------------------------------

PLAIN = ["a", "b", "c", "d", "x-y", "$v"]
QUOTED = ['["a.b"]', '["k/o"]', '["it\'s {x}"]', '["1"]']
FILTERS = [
    None,
    "^(a|b)$",
    "^(b|a|b)$",  # a name listed twice
    "^a|b$",  # no group: "^a" or "b$", not the names a and b
    "^c$",
    "^a",
    "b",
    r"\.",
]
TESTS: list[Test | None] = [
    None,
    None,
    lambda value, key: isinstance(value, int),
    lambda value, key: key is not None and key != "b",
    lambda value, key: bool(value),
]


def _step(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


@st.composite
def paths(draw: st.DrawFn) -> str:
    text = ""
    for position in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["name", "name", "star", "quoted"]))
        if kind == "quoted":
            text += draw(st.sampled_from(["", "."]) if position else st.just("")) + draw(
                st.sampled_from(QUOTED)
            )
            continue
        segment = "*" if kind == "star" else draw(st.sampled_from(PLAIN))
        if kind == "name":
            segment += draw(st.sampled_from(["", "", "[*]", "[0]", "[2]"]))
        text += ("." if position else "") + segment
    return text


@st.composite
def random_entries(draw: st.DrawFn) -> list[Entry]:
    chosen = draw(st.lists(paths(), min_size=1, max_size=8))
    if draw(st.booleans()):
        # Siblings enough for a leaf table under one prefix (or at the top).
        prefix = draw(st.sampled_from(["", *chosen]))
        chosen += [_step(prefix, f"f{i}") for i in range(draw(st.integers(4, 6)))]
    entries: list[Entry] = []
    for i, path in enumerate(chosen):
        # A filter only where there is a `*` for it to prune (the rule loader refuses others).
        starred = any(kind == "anykey" for kind, _ in parse_path(path))
        key_filter = draw(st.sampled_from(FILTERS)) if starred else None
        entries.append((path, SimpleNamespace(index=i), key_filter, draw(st.sampled_from(TESTS))))
    return entries


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_random_trie_hits_what_an_interpreted_walk_of_its_paths_hits(
    data: st.DataObject,
) -> None:
    entries = data.draw(random_entries(), label="entries")
    walker = compile_entries(entries)
    for _ in range(3):
        obj = data.draw(objects(entries), label="object")
        base = data.draw(st.sampled_from(["", "spec.containers[0]"]), label="base")
        assert_same_hits(entries, walker, obj, base)


CATALOG_FILTERS = sorted(
    {f for trial in catalog_trials() for _, _, f, _ in trial.entries if f is not None}
)


@pytest.mark.parametrize("key_filter", [f for f in FILTERS if f] + CATALOG_FILTERS)
def test_a_key_filter_admits_the_keys_its_regular_expression_finds(key_filter: str) -> None:
    # The random tests meet a filter and a key it is about only now and then; here one object
    # holds every key each filter is about, near misses around them, and junk.
    keys: list[Any] = [*names_in(key_filter), "", "x", "a b", "a\u2028", 1, "Secret", "secret."]
    obj = {"m": {key: {"v": i} for i, key in enumerate(keys)}}
    entries: list[Entry] = [
        ("m.*", SimpleNamespace(), key_filter, None),
        ("m.*.v", SimpleNamespace(), key_filter, None),
        ("m.*", SimpleNamespace(), None, None),
    ]
    walker = compile_entries(entries)
    assert_same_hits(entries, walker, obj, "")
    assert_same_hits(entries, walker, obj, "spec")


def test_a_key_filter_without_a_group_is_a_regex_not_a_list_of_names() -> None:
    obj = {"m": {"apple": 1, "bob": 2, "a": 3, "b": 4, "x": 5}}
    assert sorted(str(key) for _, _, key in match_path("m.*", obj, "^a|b$")) == [
        "a",
        "apple",
        "b",
        "bob",
    ]


def test_a_name_listed_twice_in_a_key_filter_is_matched_once() -> None:
    assert match_path("m.*", {"m": {"a": 1}}, "^(a|a)$") == [("m.a", 1, "a")]


def test_a_key_filter_listing_names_matches_those_names_exactly() -> None:
    # As a regex ^(a|b)$ would also admit "a\n" ($ matches before a final newline); the names
    # it lists are looked up, and "a\n" is not one of them.
    assert match_path("m.*", {"m": {"a\n": 1, "a": 2}}, "^(a|b)$") == [("m.a", 2, "a")]


# --- the generated source ------------------------------------------------------------------


def rule(rule_id: str) -> SimpleNamespace:
    return SimpleNamespace(id=rule_id)  # what the walker reads of a CompiledRule: its id


def test_a_traceback_through_a_walker_shows_the_generated_line_that_raised() -> None:
    def broken(value: Any, key: str | None) -> bool:
        raise RuntimeError("a predicate failed")

    root = TrieNode()
    root.add("spec.hostPID", (0, 0, rule("windows-host-pid"), None))
    walker = compile_walker(root, lambda payload: broken)
    try:
        walker({"spec": {"hostPID": True}}, "", lambda *hit: None)
    except RuntimeError:
        text = traceback.format_exc()
    else:
        pytest.fail("the predicate's error did not reach the caller")
    line = next(line for line in walker_source(walker).splitlines() if "if T_" in line)
    assert f'File "{walker.__code__.co_filename}", line ' in text
    assert line.strip() in text
    assert "v_hostPID_" in line and "T_windows_host_pid_" in line


def test_the_source_names_each_key_and_the_rule_each_emit_serves() -> None:
    root = TrieNode()
    root.add("spec.securityContext.runAsUser", (3, 1, rule("windows-run-as-user"), None))
    root.add("spec.volumes[*].*.defaultMode", (4, 0, rule("windows-file-mode"), None), "^(secret)$")
    walker = compile_walker(root, label="pod fields")
    source = walker_source(walker)
    assert walker.__code__.co_filename.startswith("<winpod walker ")
    assert walker.__code__.co_filename.endswith(": pod fields>")
    assert "v_securityContext_" in source and "K_runAsUser_" in source
    assert "# spec.securityContext.runAsUser -> windows-run-as-user (test 1)" in source
    assert "# spec.volumes[*]: rule windows-file-mode" in source
    assert "# spec.volumes[*].secret.defaultMode -> windows-file-mode (test 0)" in source
    assert "".join(linecache.getlines(walker.__code__.co_filename)) == source


def test_keys_and_rule_ids_reach_the_source_only_inside_comments_and_names() -> None:
    evil = "x\nimport os\r\nos.system('boom')\u2028\x1c\x00#"
    root = TrieNode()
    root.add(f'metadata.annotations["{evil}"]', (0, 0, rule(evil), None))
    root.add("spec.*", (1, 0, rule(evil), None), evil)
    walker = compile_walker(root, label=evil)
    source = walker_source(walker)
    tree = ast.parse(source)
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    assert all(line.isprintable() for line in source.splitlines())
    assert len(source.splitlines()) == source.count("\n")  # no line breaks but ours
    found: list[tuple[str, Any]] = []
    walker({"metadata": {"annotations": {evil: 1}}}, "", lambda p, v, k, at: found.append((at, v)))
    assert found == [(f'metadata.annotations["{evil}"]', 1)]


def test_a_dropped_walker_takes_its_lines_out_of_linecache() -> None:
    root = TrieNode()
    root.add("spec.hostPID", None)
    walker = compile_walker(root)
    filename = walker.__code__.co_filename
    assert filename in linecache.cache
    del walker
    gc.collect()
    assert filename not in linecache.cache


def test_walker_source_refuses_a_function_it_did_not_generate() -> None:
    with pytest.raises(TypeError, match="not a walker"):
        walker_source(lambda value, base, emit: None)


def test_rules_walker_source_prints_the_engines_walkers_for_a_version_and_os(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["rules", "--walker-source", "--kubernetes-version", "1.30", "--os", "linux"]) == 0
    out = capsys.readouterr().out
    headers = [line for line in out.splitlines() if line.startswith("# --- ")]
    assert headers == [
        "# --- Kubernetes 1.30, pods judged linux: the pod walker ---",
        "# --- Kubernetes 1.30, pods judged linux: the container walker"
        " (called once per container, with its path) ---",
    ]
    for chunk in re.split(r"^# --- .*$", out, flags=re.M)[1:]:
        compile(chunk, "<dump>", "exec")  # each dump is the whole function
    assert "spec.securityContext.windowsOptions -> linux-windows-options" in out


def test_rules_os_without_walker_source_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["rules", "--os", "linux"]) == 2
    assert "--os applies only with --walker-source" in capsys.readouterr().err
