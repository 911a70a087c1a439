"""Each rule of the catalog, at one Kubernetes version, as CEL parts: where it fires, the text
of each hit, and the hit's action before the config's overrides.

Field tests (`check:`) are translated from the rule data itself, path by path. Rules with a
check function (`function: name@since`) have a CEL twin here, registered under the same
name@since: the CEL equivalent of that shipped Python function. A function with no twin, or a
construct the translation does not know, raises NotExportable with the reason, and the rule
is listed as left to the webhook; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..engine.kubeversion import KubeVersion
from ..engine.rules import CheckSpec, CompiledRule, RuleSpec, select_version
from ..engine.settings import Action
from .cel import Leaf, Path, concat, get, has, lit, render, steps_of, value_text, when
from .pod import (
    BUILD_TAG,
    Settings,
    tolerates,
    tolerates_everything,
)

V = "variables"


class NotExportable(Exception):
    """This rule (or setting) has no CEL equivalent here; the message says why."""


@dataclass(frozen=True)
class Part:
    """One way a rule fires. `exists` (CEL bool) says whether it does; `hits` (CEL
    list(string)) gives a text per place; `action` is the hit's own action; `scope_paths` are
    the field paths its hits are at ((container scope, rule-grammar path)), for the apiserver
    facts (which paths it rejects or drops). `trigger`, where given, is a shorter CEL bool
    true wherever `exists` is (and maybe elsewhere): what the policies' conditions test to
    let a pod through to the exact checks."""

    exists: str
    hits: str
    action: str
    scope_paths: tuple[tuple[bool, str], ...]
    trigger: str | None = None

    @property
    def fires(self) -> str:
        return self.exists if self.trigger is None else self.trigger


@dataclass
class RuleText:
    message: str
    fix: str
    action: str  # the version's
    variants: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # (action, message, fix)

    def variant(self, name: str | None) -> tuple[str, str, str]:
        if name is None:
            return self.action, self.message, self.fix
        return self.variants[name]


def text_of(rule: CompiledRule) -> RuleText:
    assert rule.action is not None
    return RuleText(
        rule.message,
        rule.fix,
        rule.action.value,
        {
            name: ((action or rule.action).value, message, fix)
            for name, (action, message, fix) in rule.hits.items()
        },
    )


def line(path: str, message: str, fix: str, values: dict[str, str]) -> str:
    """One hit as CEL text: "path: message; fix" (the rule id is added once per rule)."""
    return f"{path} + ': ' + {render(message, values)} + '; ' + {render(fix, values)}"


# --- field tests ------------------------------------------------------------------------------


def _leaves(spec: CheckSpec) -> list[CheckSpec]:
    if spec.any is not None:
        return [leaf for child in spec.any for leaf in _leaves(child)]
    return [spec]


def _same(value: str, expected: Any) -> str:
    """engine rules._same: booleans never equal numbers."""
    if isinstance(expected, bool):
        return f"(type({value}) == bool && {value} == {lit(expected)})"
    if isinstance(expected, int | float):
        return f"((type({value}) == int || type({value}) == uint || type({value}) == double) && {value} == {lit(expected)})"
    if isinstance(expected, str):
        return f"(type({value}) == string && {value} == {lit(expected)})"
    raise NotExportable(f"a comparison with {type(expected).__name__} {expected!r}")


def _predicate(spec: CheckSpec) -> Callable[[str, str], str]:
    given = {"in" if k == "in_" else k for k in spec.model_fields_set}
    if "present" in given:
        return lambda v, k: "true"
    if "equals" in given:
        expected = spec.equals
        return lambda v, k: _same(v, expected)
    if "notEquals" in given:
        unexpected = spec.notEquals
        return lambda v, k: f"!{_same(v, unexpected)}"
    if "in" in given:
        options = list(spec.in_ or [])
        return lambda v, k: (
            "(" + " || ".join(_same(v, o) for o in options) + ")" if options else "false"
        )
    if "notIn" in given:
        excluded = list(spec.notIn or [])
        return lambda v, k: (
            "!(" + " || ".join(_same(v, o) for o in excluded) + ")" if excluded else "true"
        )
    if "matches" in given:
        pattern = str(spec.matches)
        return lambda v, k: f"(type({v}) == string && {v}.matches({lit(pattern)}))"
    if "nonEmpty" in given:
        return lambda v, k: (
            f"((type({v}) == list || type({v}) == map || type({v}) == string) ? size({v}) > 0 : true)"
        )
    raise NotExportable(f"a check with operators {sorted(given)}")


def field_parts(rule: CompiledRule, spec: RuleSpec, version: KubeVersion) -> list[Part]:
    entry = select_version(spec, version)
    assert entry is not None and entry.check is not None
    texts = text_of(rule)
    parts = []
    for leaf_spec in _leaves(entry.check):
        container = leaf_spec.container is not None
        path = str(leaf_spec.container if container else leaf_spec.path)
        leaf = Leaf(steps_of(path), leaf_spec.keyMatches, _predicate(leaf_spec))
        message = leaf_spec.message or texts.message
        action = leaf_spec.action or texts.action

        def render_hit(value: str, key: str, at: Path, message: str = message) -> str:
            values = {"value": value_text(value), "key": key}
            return line(at.cel(), message, texts.fix, values)

        if container:
            exists = f"{V}.cs.exists(r, {leaf.exists('r.c')})"
            hits = (
                f"{V}.cs.filter(r, {leaf.exists('r.c')}).map(r,"
                f" {leaf.hits('r.c', Path.of('r.p'), render_hit, False)}.join(' | '))"
            )
        else:
            exists = leaf.exists(f"{V}.pod")
            hits = leaf.hits(f"{V}.pod", Path.of(f"{V}.prefix"), render_hit, True)
        parts.append(Part(exists, hits, action, ((container, path),)))
    return parts


# --- check functions --------------------------------------------------------------------------

FunctionCEL = Callable[[RuleText, Settings], list[Part]]
FUNCTIONS: dict[str, FunctionCEL] = {}


def twin(key: str) -> Callable[[FunctionCEL], FunctionCEL]:
    """Register the CEL twin of the check function `key` (name@since)."""

    def register(fn: FunctionCEL) -> FunctionCEL:
        FUNCTIONS[key] = fn
        return fn

    return register


def _part(
    texts: RuleText,
    variant: str | None,
    items: str,
    test: str,
    path: str,
    values: dict[str, str] | None,
    scope_paths: tuple[tuple[bool, str], ...],
    var: str = "r",
) -> Part:
    """A part over `items` (a CEL list; `var` each item): fires for items passing `test`, a
    hit at `path` (CEL string, from the item) each."""
    action, message, fix = texts.variant(variant)
    text = line(path, message, fix, values or {})
    if items == "":
        return Part(test, when(test, f"[{text}]"), action, scope_paths)
    return Part(
        f"{items}.exists({var}, {test})",
        f"{items}.filter({var}, {test}).map({var}, {text})",
        action,
        scope_paths,
    )


def _str(expr: str, key: str) -> str:
    """A string field that counts when non-empty (Python `x.get(key) or ...`)."""
    return f"({has(expr, key)} && type({expr}.{key}) == string && {expr}.{key} != '')"


@twin("memory-limits@1.14")
def _memory_limits(texts: RuleText, s: Settings) -> list[Part]:
    res = get("r.c", "resources", "{}")
    lim = get(res, "limits", "{}")
    req = get(res, "requests", "{}")
    regular = f"{V}.cs.filter(r, r.k != 'ephemeralContainers')"
    limit, request = f"{lim}.memory", f"{req}.memory"
    differs = (
        f"{has(lim, 'memory')} && {has(req, 'memory')} && isQuantity(string({limit})) &&"
        f" isQuantity(string({request})) && quantity(string({limit})).compareTo("
        f"quantity(string({request}))) != 0"
    )
    scope = ((True, "resources.limits.memory"), (True, "resources.requests.memory"))
    return [
        _part(texts, "no-limit", regular, f"!{has(lim, 'memory')} && {has(req, 'memory')}",
              "r.p + '.resources.limits.memory'", None, scope),
        _part(texts, "no-limit-no-request", regular,
              f"!{has(lim, 'memory')} && !{has(req, 'memory')}",
              "r.p + '.resources.limits.memory'", None, scope),
        _part(texts, "differs", regular, differs, "r.p + '.resources.requests.memory'",
              {"value": f"string({request})", "request": f"string({request})",
               "limit": f"string({limit})"}, scope),
    ]  # fmt: skip


@twin("host-network@1.14")
def _host_network(texts: RuleText, s: Settings) -> list[Part]:
    test = f"{has(f'{V}.spec', 'hostNetwork')} && {V}.spec.hostNetwork == true && !{V}.anyHP"
    return [_part(texts, None, "", test, f"{V}.prefix + 'spec.hostNetwork'", {"value": "'true'"},
                  ((False, "spec.hostNetwork"),))]  # fmt: skip


@twin("privileged@1.14")
def _privileged(texts: RuleText, s: Settings) -> list[Part]:
    has_it = "'privileged' in r.sc"
    path = "r.p + '.securityContext.privileged'"
    value = {"value": "string(r.sc.privileged)"}
    scope = ((True, "securityContext.privileged"),)
    return [
        _part(texts, None, f"{V}.cs", f"{has_it} && r.sc.privileged == true && !r.hp", path, value, scope),
        _part(texts, "ignored", f"{V}.cs", f"{has_it} && !(r.sc.privileged == true && !r.hp) && !r.hp",
              path, value, scope),
        _part(texts, "ignored-host-process", f"{V}.cs", f"{has_it} && r.hp", path, value, scope),
    ]  # fmt: skip


def _hostprocess_paths() -> tuple[tuple[bool, str], ...]:
    return (
        (True, "securityContext.windowsOptions.hostProcess"),
        (False, "spec.securityContext.windowsOptions.hostProcess"),
    )


@twin("hostprocess-all-or-none@1.22")
def _all_or_none(texts: RuleText, s: Settings) -> list[Part]:
    gate = f"{V}.anyHP && !{V}.podHPSet && {V}.cs.exists(x, x.hp) && !{V}.allHP"
    return [_part(texts, None, f"{V}.cs", f"{gate} && !r.hp",
                  "r.p + '.securityContext.windowsOptions.hostProcess'", {"value": "'false'"},
                  _hostprocess_paths())]  # fmt: skip


@twin("hostprocess-pod-container-mismatch@1.22")
def _mismatch(texts: RuleText, s: Settings) -> list[Part]:
    test = (
        f"{V}.anyHP && {V}.podHPSet && 'hostProcess' in r.wo && type(r.wo.hostProcess) == bool"
        f" && r.wo.hostProcess != {V}.pwo.hostProcess"
    )
    return [_part(texts, None, f"{V}.cs", test, "r.p + '.securityContext.windowsOptions.hostProcess'",
                  {"value": "string(r.wo.hostProcess)"}, _hostprocess_paths())]  # fmt: skip


@twin("hostprocess-host-network@1.22")
def _hp_host_network(texts: RuleText, s: Settings) -> list[Part]:
    test = f"{V}.anyHP && !({has(f'{V}.spec', 'hostNetwork')} && {V}.spec.hostNetwork == true)"
    return [_part(texts, None, "", test, f"{V}.prefix + 'spec.hostNetwork'", None,
                  ((False, "spec.hostNetwork"),))]  # fmt: skip


@twin("hostprocess-run-as-non-root@1.22")
def _hp_non_root(texts: RuleText, s: Settings) -> list[Part]:
    pod = f"{V}.anyHP && {has(f'{V}.psc', 'runAsNonRoot')} && {V}.psc.runAsNonRoot == true"
    return [
        _part(texts, None, "", pod, f"{V}.prefix + 'spec.securityContext.runAsNonRoot'",
              {"value": "'true'"}, ((False, "spec.securityContext.runAsNonRoot"),)),
        _part(texts, None, f"{V}.cs", f"{V}.anyHP && r.hp && 'runAsNonRoot' in r.sc && r.sc.runAsNonRoot == true",
              "r.p + '.securityContext.runAsNonRoot'", {"value": "'true'"},
              ((True, "securityContext.runAsNonRoot"),)),
    ]  # fmt: skip


@twin("hostprocess-user-name@1.22")
def _hp_user(texts: RuleText, s: Settings) -> list[Part]:
    test = f"{V}.anyHP && r.hp && !{_str('r.wo', 'runAsUserName')} && !{_str(f'{V}.pwo', 'runAsUserName')}"
    return [_part(texts, None, f"{V}.cs", test, "r.p + '.securityContext.windowsOptions.runAsUserName'",
                  None, ((True, "securityContext.windowsOptions.runAsUserName"),))]  # fmt: skip


@twin("run-as-non-root-administrator@1.14")
def _non_root_admin(texts: RuleText, s: Settings) -> list[Part]:
    non_root = (
        f"('runAsNonRoot' in r.sc ? r.sc.runAsNonRoot == true : ({has(f'{V}.psc', 'runAsNonRoot')}"
        f" && {V}.psc.runAsNonRoot == true))"
    )
    user = (
        f"({_str('r.wo', 'runAsUserName')} ? r.wo.runAsUserName : {_str(f'{V}.pwo', 'runAsUserName')}"
        f" ? {V}.pwo.runAsUserName : '')"
    )
    base = f"!r.hp && {non_root}"
    scope = ((True, "securityContext"),)
    return [
        _part(texts, None, f"{V}.cs", f"{base} && {user}.lowerAscii() == 'containeradministrator'",
              "r.p + '.securityContext'", {"value": user}, scope),
        _part(texts, "no-user-name", f"{V}.cs", f"{base} && {user} == ''", "r.p + '.securityContext'",
              None, scope),
    ]  # fmt: skip


@twin("os-conflict@1.14")
def _os_conflict(texts: RuleText, s: Settings) -> list[Part]:
    values = {"other": "e.why", "deciding": f"{V}.ev[0].why", "where": f"{V}.ev[0].p"}
    return [_part(texts, "conflict", f"{V}.conflicts", "true", "e.p", values, (), var="e")]


@twin("mixed-os-images@1.14")
def _mixed(texts: RuleText, s: Settings) -> list[Part]:
    both = f"size({V}.imgs) > 1 && {V}.imgs.exists(y, y.os == 'windows')"
    first_windows = f"{V}.imgs.filter(y, y.os == 'windows')[0].i"
    values = {"image": "x.i", "windows_image": first_windows, "value": "x.i"}
    return [_part(texts, "linux-beside-windows", f"{V}.imgs", f"{both} && x.os == 'linux'", "x.p",
                  values, ((True, "image"),), var="x")]  # fmt: skip


def _build_of(tag: str) -> str:
    """engine images.windows_build_of, from a tag."""
    from ..engine.images import WINDOWS_BUILDS
    from .pod import BUILD_NAMES, BUILD_TAG

    table = "{" + ", ".join(f"{lit(k)}: {lit(v)}" for k, v in WINDOWS_BUILDS.items()) + "}"
    found = f"{tag}.find({lit(BUILD_TAG)})"
    return f"({found} == '' ? '' : {table}[{found}.find({lit(BUILD_NAMES)})])"


@twin("image-build-mismatch@1.14")
def _build_mismatch(texts: RuleText, s: Settings) -> list[Part]:
    hyperv = [name for name, info in s.runtime_classes.items() if "hypervisor" in info.handler]
    skip = f"{V}.anyHP" + (f" || {V}.rcName in {lit(sorted(hyperv))}" if hyperv else "")
    builds = f"{V}.imgs.filter(y, y.os == 'windows' && {_build_of('y.t')} != '')"
    build = _build_of("x.t")
    label = "node.kubernetes.io/windows-build"
    ns_build = f"({has(f'{V}.nsel', label)} ? {V}.nsel[{lit(label)}] : '')"
    # The builds placement allows (engine OSDecision.windows_builds): the nodeSelector's, the
    # affinity's (per term that admits a node, the values every build expression lists; a
    # term without one allows any), the RuntimeClass's; intersected.
    aff_defined = f"({V}.affEv.exists(e, e.os == 'windows') && !{V}.affBuildAny)"

    def allowed(b: str) -> str:
        return (
            f"(({ns_build} == '' || {b} == {ns_build}) && (!{aff_defined} ||"
            f" {V}.affBuilds.exists(l, size(l) > 0 && l.all(vs, {b} in vs))) &&"
            f" ({V}.rcBuild == '' || {b} == {V}.rcBuild))"
        )

    defined = f"({ns_build} != '' || {aff_defined} || {V}.rcBuild != '')"
    nonempty = (
        f"({defined} && ({ns_build} != '' ? {allowed(ns_build)} : {aff_defined} ?"
        f" {V}.affBuilds.exists(l, size(l) > 0 && l[0].exists(b, {allowed('b')})) :"
        f" {allowed(f'{V}.rcBuild')}))"
    )
    shown = f"({ns_build} != '' ? {ns_build} : {V}.rcBuild != '' ? {V}.rcBuild : 'the required node affinity')"
    with_nodes = _part(
        texts, "node-build", builds, f"!({skip}) && {nonempty} && !{allowed(build)}",
        "x.p", {"image": "x.i", "build": build, "node_builds": shown, "value": "x.i"},
        ((True, "image"),), var="x",
    )  # fmt: skip
    first = f"{builds}[0]"
    between = _part(
        texts, "image-builds", builds,
        f"!({skip}) && !{nonempty} && {build} != {_build_of(first + '.t')}",
        "x.p", {"image": "x.i", "build": build, "other_image": f"{first}.i",
                "other_build": _build_of(first + ".t"), "value": "x.i"},
        ((True, "image"),), var="x",
    )  # fmt: skip
    # Both fire only for a Windows image with a build in its tag, and only where placement
    # allows other builds or there is a second such image: the conditions test that much.
    # A nodeSelector build alone allows that build only (the affinity and the RuntimeClass
    # may narrow it).
    tagged = f"{V}.imgs.filter(y, y.os == 'windows' && y.t.matches({lit(BUILD_TAG)}))"
    trigger = (
        f"size({tagged}) > 0 && (size({V}.affTerms) > 0 || {V}.rcBuild != '' || ({ns_build} !="
        f" '' ? {tagged}.exists(y, {_build_of('y.t')} != {ns_build}) : size({tagged}) > 1))"
    )
    return [replace(with_nodes, trigger=trigger), replace(between, trigger=trigger)]


@twin("os-name-without-placement@1.24")
def _os_name_without_placement(texts: RuleText, s: Settings) -> list[Part]:
    test = f"{V}.osName == 'windows' && !{V}.ev.exists(e, e.r == '1' && e.os == 'windows')"
    return [_part(texts, None, "", test, f"{V}.prefix + 'spec.os.name'", {"value": "'windows'"},
                  ((False, "spec.os.name"),))]  # fmt: skip


@twin("windows-options-on-linux@1.24")
def _windows_options_on_linux(texts: RuleText, s: Settings) -> list[Part]:
    linux = f"{V}.osName == 'linux'"
    return [
        _part(texts, None, "", f"{linux} && size({V}.pwo) > 0",
              f"{V}.prefix + 'spec.securityContext.windowsOptions'", None,
              ((False, "spec.securityContext.windowsOptions"),)),
        _part(texts, None, f"{V}.cs", f"{linux} && size(r.wo) > 0", "r.p + '.securityContext.windowsOptions'",
              None, ((True, "securityContext.windowsOptions"),)),
    ]  # fmt: skip


@twin("exemption-reason@1.14")
def _exemption_reason(texts: RuleText, s: Settings) -> list[Part]:
    ex = s.engine.config.exemptAnnotation
    reason = s.engine.config.exemptReasonAnnotation
    ann = f"{V}.ann"
    test = (
        f"{has(ann, ex)} && {ann}[{lit(ex)}] != '' && !({has(ann, reason)} &&"
        f" {ann}[{lit(reason)}].trim() != '')"
    )
    path = f'metadata.annotations["{ex}"]'
    return [_part(texts, None, "", test, f"{V}.prefix + {lit(path)}", {"value": f"{ann}[{lit(ex)}]"},
                  ((False, path),))]  # fmt: skip


@twin("hints-without-placement@1.14")
def _hints_without_placement(texts: RuleText, s: Settings) -> list[Part]:
    gate = f"!{V}.placement && {V}.osName == '' && size({V}.noNode) == 0"
    hinted = f"{gate} && {V}.os == 'unknown' && size({V}.hints) > 0 && !{V}.defaulted"
    imaged = f"{gate} && {V}.os == 'windows' && size({V}.ev) > 0 && {V}.ev[0].r == '2'"
    return [
        _part(texts, None, "", hinted, f"{V}.hints[0].p", {"value": f"{V}.hints[0].why"}, ()),
        _part(texts, "image", "", imaged, f"{V}.ev[0].p", {"image_reason": f"{V}.ev[0].why"}, ()),
    ]


@twin("no-matching-node@1.14")
def _no_matching_node(texts: RuleText, s: Settings) -> list[Part]:
    return [_part(texts, "why", f"{V}.noNode", "true", "e.p", {"why": "e.why"}, (), var="e")]


# Host features only a Linux node has (engine checks._LINUX_HOST_PATHS).
_LINUX_HOST_PATHS = ("/proc", "/sys", "/dev", "/lib/modules", "/boot", "/run/systemd")


def linux_only_features() -> str:
    """CEL list(string) of the Linux-only features the pod uses (engine _linux_only_features)."""
    spec = f"{V}.spec"
    pod = [
        when(f"{has(spec, key)} && {spec}.{key} == true", f"[{V}.prefix + 'spec.{key}']")
        for key in ("hostPID", "hostIPC", "shareProcessNamespace")
    ]
    pod.append(
        when(
            f"{has(f'{V}.psc', 'sysctls')} && size({V}.psc.sysctls) > 0",
            f"[{V}.prefix + 'spec.securityContext.sysctls']",
        )
    )
    under = " || ".join(
        f"p == {lit(root)} || p.startsWith({lit(root + '/')})" for root in _LINUX_HOST_PATHS
    )
    host_path = (
        f"{V}.vols.filter(w, type(w) == map && 'hostPath' in w && type(w.hostPath) == map &&"
        f" 'path' in w.hostPath && type(w.hostPath.path) == string && [w.hostPath.path].exists(p,"
        f" {under})).map(w, {V}.prefix + 'spec.volumes[' + string({V}.vols.indexOf(w)) +"
        f" '].hostPath.path')"
    )
    privileged = (
        f"{V}.cs.filter(r, 'privileged' in r.sc && r.sc.privileged == true).map(r, r.p +"
        f" '.securityContext.privileged')"
    )
    capabilities = (
        f"{V}.cs.filter(r, 'capabilities' in r.sc && type(r.sc.capabilities) == map && 'add' in"
        f" r.sc.capabilities && size(r.sc.capabilities.add) > 0).map(r, r.p +"
        f" '.securityContext.capabilities.add')"
    )
    images = f"{V}.imgs.filter(x, x.os == 'linux').map(x, x.p)"
    return concat([*pod, host_path, privileged, capabilities, images])


def reaches_windows(s: Settings) -> tuple[str, str]:
    """(CEL bool, CEL string how) for engine _reaches_windows_nodes."""
    tols = f"{V}.tols"
    how = "''"
    test = "false"
    for taint in reversed(s.taints):
        key, value, effect = taint
        text = f"tolerates the Windows taint {key}={value or ''}:{effect}"
        cond = f"{tols}.exists(t, {tolerates('t', taint)})"
        how = when(cond, lit(text), how)
        test = f"({cond} || {test})"
    everything = tolerates_everything(tols)
    return f"({everything} || {test})", when(everything, "'tolerates every taint'", how)


@twin("linux-only-pod-reaches-windows@1.14")
def _linux_only(texts: RuleText, s: Settings) -> list[Part]:
    reaches, how = reaches_windows(s)
    features = f"{V}.linuxOnly"
    gate = (
        f"size({V}.tols) > 0 && {V}.os != 'windows' && !{V}.placement && {V}.osName != 'linux'"
        f" && {reaches} && size({features}) > 0"
    )
    shown = (
        f"(size({features}) > 3 ? {features}[0] + ', ' + {features}[1] + ', ' + {features}[2] +"
        f" ' and ' + string(size({features}) - 3) + ' more' : {features}.join(', '))"
    )
    return [_part(texts, "features", "", gate, f"{V}.prefix + 'spec.tolerations'",
                  {"how": how, "features": shown}, ((False, "spec.tolerations"),))]  # fmt: skip


@twin("stop-signal@1.33")
def _stop_signal(texts: RuleText, s: Settings) -> list[Part]:
    lifecycle = get("r.c", "lifecycle", "{}")
    signal = f"{lifecycle}.stopSignal"
    present = f"{has(lifecycle, 'stopSignal')}"
    scope = ((True, "lifecycle.stopSignal"),)
    return [
        _part(texts, None, f"{V}.cs", f"{present} && !({signal} in ['SIGTERM', 'SIGKILL'])",
              "r.p + '.lifecycle.stopSignal'", {"value": value_text(signal)}, scope),
        _part(texts, "no-os-name", f"{V}.cs", f"{present} && {signal} in ['SIGTERM', 'SIGKILL'] &&"
              f" {V}.osName == ''", "r.p + '.lifecycle.stopSignal'", {"value": value_text(signal)}, scope),
    ]  # fmt: skip


def default_user(x: str) -> str:
    """engine images.default_user_of, from an image record with repository r and tag t."""
    from .pod import MCR, WINDOWS_REPOS, WINDOWS_VARIANT

    variant = f"{x}.t.find({lit(WINDOWS_VARIANT)})"
    return (
        f"(({x}.r.endsWith('/nanoserver') || {x}.r == 'microsoft/nanoserver') ? 'ContainerUser' :"
        f" ({x}.r.startsWith({lit(MCR)}) && {variant} != '') ? ({variant}.contains('nanoserver') ?"
        f" 'ContainerUser' : 'ContainerAdministrator') : {x}.r.matches({lit(WINDOWS_REPOS)}) ?"
        f" 'ContainerAdministrator' : '')"
    )


@twin("run-as-container-administrator@1.14")
def _container_administrator(texts: RuleText, s: Settings) -> list[Part]:
    admin = f"{V}.imgs.exists(x, x.p == r.p + '.image' && {default_user('x')} == 'ContainerAdministrator')"
    test = f"!{_str(f'{V}.pwo', 'runAsUserName')} && !r.hp && !{_str('r.wo', 'runAsUserName')} && {admin}"
    return [_part(texts, None, f"{V}.cs", test, "r.p + '.securityContext.windowsOptions.runAsUserName'",
                  None, ((True, "securityContext.windowsOptions.runAsUserName"),))]  # fmt: skip


def function_parts(
    rule: CompiledRule, spec: RuleSpec, version: KubeVersion, s: Settings
) -> list[Part]:
    entry = select_version(spec, version)
    assert entry is not None and entry.function is not None
    if entry.params:
        raise NotExportable(f"{entry.function} takes params, which the CEL twin does not")
    translate = FUNCTIONS.get(entry.function)
    if translate is None:
        raise NotExportable(f"check function {entry.function} has no CEL twin")
    return translate(text_of(rule), s)


def parts_of(rule: CompiledRule, spec: RuleSpec, version: KubeVersion, s: Settings) -> list[Part]:
    if rule.function is not None:
        return function_parts(rule, spec, version, s)
    return field_parts(rule, spec, version)


def action_rank(action: str) -> int:
    return {"deny": 3, "warn": 2, "audit": 1}[Action(action).value]
