"""The pod facts and the OS decision (winpod.engine.osinfer) as CEL variables.

Every policy starts with these: the pod template of whatever kind was admitted, its containers
as records ({p: path, k: kind, c: container, sc, wo, hp: effective hostProcess}), its images
classified by repository, the OS evidence in the engine's order (spec.os.name, then placement:
nodeSelector, required node affinity, RuntimeClass; then images), the hints, and the decision.
RuntimeClasses are objects CEL cannot read, so what each known one says is worked out here, at
export time, by the engine itself, and written into the expressions by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..engine import images as engine_images
from ..engine import osinfer
from ..engine.evaluate import Engine
from ..engine.images import WINDOWS_BUILDS
from ..engine.osinfer import RuntimeClassInfo
from .cel import all_of, any_of, concat, field, get, has, lit, when

OS_LABELS = osinfer.OS_LABELS
ARCH_LABELS = osinfer.ARCH_LABELS
BUILD_LABEL = osinfer.WINDOWS_BUILD_LABEL
SKU_LABEL = "kubernetes.azure.com/os-sku"
AFFINITY_PATH = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")
MCR = "mcr.microsoft.com/"


def _re2(pattern: str) -> str:
    """An engine pattern as RE2 (what CEL's matches() and find() run): no verbose-mode
    whitespace, and a lookahead at the end turned into a group that consumes (the same
    strings match; RE2 has no lookaround)."""
    compact = re.sub(r"\s+", "", pattern) if "\n" in pattern else pattern
    return compact.replace("(?=", "(?:")


WINDOWS_REPOS = _re2(engine_images._WINDOWS_REPOS.pattern)
LINUX_REPOS = _re2(engine_images._LINUX_REPOS.pattern)
WINDOWS_VARIANT = _re2(engine_images._WINDOWS_VARIANT_TAG.pattern)
BUILD_TAG = _re2(engine_images._BUILD_TAG_RE.pattern)
BUILD_NAMES = "|".join(WINDOWS_BUILDS)
DRIVE_PATH = _re2(osinfer._DRIVE_PATH.pattern)
WINDOWS_COMMAND = _re2(osinfer._WINDOWS_COMMAND.pattern)


def glob_re2(patterns: Sequence[str]) -> str:
    """The config's image globs (fnmatch, whole reference, lower-cased) as one RE2."""
    parts = []
    for raw in patterns:
        pattern = raw.strip().lower()
        if not pattern:
            continue
        out, i = [], 0
        while i < len(pattern):
            char = pattern[i]
            if char == "*":
                out.append(".*")
            elif char == "?":
                out.append(".")
            elif char == "[":
                end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
                if end == -1:
                    out.append(r"\[")
                else:
                    body = pattern[i + 1 : end]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    out.append("[" + body.replace("\\", "\\\\") + "]")
                    i = end
            else:
                out.append(re.escape(char))
            i += 1
        parts.append("".join(out))
    return "(?s)^(?:" + "|".join(parts) + ")$" if parts else ""


def template_of(root: str, kind: str) -> str:
    """The pod template ({metadata, spec}) inside `root` for the admitted kind."""
    cron = all_of(
        [
            has(root, "spec"),
            has(f"{root}.spec", "jobTemplate"),
            has(f"{root}.spec.jobTemplate", "spec"),
            has(f"{root}.spec.jobTemplate.spec", "template"),
        ]
    )
    return (
        f"({kind} == 'Pod' ? {root} : {kind} == 'CronJob' ? ({cron} ?"
        f" {root}.spec.jobTemplate.spec.template : {{}}) : {kind} == 'PodTemplate' ?"
        f" {get(root, 'template', '{}')} : (({has(root, 'spec')} && {has(f'{root}.spec', 'template')})"
        f" ? {root}.spec.template : {{}}))"
    )


def annotations_of(template: str) -> str:
    meta = get(template, "metadata", "{}")
    return get(meta, "annotations", "{}")


@dataclass(frozen=True)
class Settings:
    """What the export knows at export time, for one namespace group."""

    engine: Engine
    runtime_classes: Mapping[str, RuntimeClassInfo]
    default_os: str  # windows | linux | unknown
    taints: tuple[tuple[str, str | None, str], ...]


def _selector_evidence(sel: str, path: str, via: str, prefix: str) -> tuple[str, str]:
    """(evidence list, no-node list) of one nodeSelector map, as engine _selector."""
    evidence: list[str] = []
    no_node: list[str] = []
    for label in OS_LABELS:
        value = field(sel, label)
        key_path = f'{path}["{label}"]'
        evidence.append(
            when(
                f"{has(sel, label)} && {value} in ['windows', 'linux']",
                f"[{{'os': {value}, 'r': '1', 'p': {prefix} + {lit(key_path)},"
                f" 'why': {lit(f'{via} {label}=')} + {value}}}]",
            )
        )
        lowered = f"{value}.trim().lowerAscii()"
        no_node.append(
            when(
                f"{has(sel, label)} && !({value} in ['windows', 'linux']) && {lowered} in"
                f" ['windows', 'linux']",
                f"[{{'p': {prefix} + {lit(key_path)}, 'why': {lit(f'{via} {label}=')} + {value}"
                f" + ' matches no node: label values are case-sensitive and nodes are labelled"
                f" {label}=' + {lowered}}}]",
            )
        )
    arch = "[]"
    for label in reversed(ARCH_LABELS):
        value = field(sel, label)
        arch_path = lit(f'{path}["{label}"]')
        arch = when(
            f"{has(sel, label)} && {value} != '' && {value} != 'amd64'",
            f"[{{'os': 'linux', 'r': '1', 'p': {prefix} + {arch_path},"
            f" 'why': {lit(f'{via} {label}=')} + {value} + ' (Windows nodes are amd64 only)'}}]",
            arch,
        )
    evidence.append(arch)
    build = field(sel, BUILD_LABEL)
    build_path = lit(f'{path}["{BUILD_LABEL}"]')
    sku_path = lit(f'{path}["{SKU_LABEL}"]')
    evidence.append(
        when(
            f"{has(sel, BUILD_LABEL)} && {build} != ''",
            f"[{{'os': 'windows', 'r': '1', 'p': {prefix} + {build_path},"
            f" 'why': {lit(f'{via} {BUILD_LABEL}=')} + {build}}}]",
        )
    )
    sku = field(sel, SKU_LABEL)
    evidence.append(
        when(
            f"{has(sel, SKU_LABEL)} && {sku} != ''",
            f"[{{'os': {sku}.lowerAscii().startsWith('windows') ? 'windows' : 'linux', 'r': '1',"
            f" 'p': {prefix} + {sku_path}, 'why': {lit(f'{via} {SKU_LABEL}=')}"
            f" + {sku}}}]",
        )
    )
    return concat(evidence), concat(no_node)


def _term_allows(term: str, os_name: str) -> str:
    """Whether one nodeSelectorTerm admits nodes of `os_name` (engine _term)."""
    e = "e"
    key = get(e, "key", "''")
    op = get(e, "operator", "''")
    values = f"{get(e, 'values', '[]')}"
    if os_name == "windows":
        os_rule = (
            f"({op} == 'In' ? {values}.exists(v, v == 'windows') : {op} == 'NotIn' ?"
            f" !{values}.exists(v, v == 'windows') : {op} != 'DoesNotExist')"
        )
        arch_rule = f"!({op} == 'In' && size({values}) > 0 && !{values}.exists(v, v == 'amd64'))"
        build_rule = f"{op} != 'DoesNotExist'"
    else:
        os_rule = (
            f"({op} == 'In' ? {values}.exists(v, v == 'linux') : {op} == 'NotIn' ?"
            f" !{values}.exists(v, v == 'linux') : {op} != 'DoesNotExist')"
        )
        arch_rule = "true"
        build_rule = f"!({op} == 'In' || {op} == 'Exists')"
    allows = (
        f"(type({e}) != map || ({key} in {lit(list(OS_LABELS))} ? {os_rule} : {key} in"
        f" {lit(list(ARCH_LABELS))} ? {arch_rule} : {key} == {lit(BUILD_LABEL)} ? {build_rule}"
        f" : true))"
    )
    expressions = f"{get(term, 'matchExpressions', '[]')}"
    nonempty = (
        f"(type({term}) == map && ((({has(term, 'matchExpressions')}) && size({term}.matchExpressions) > 0)"
        f" || (({has(term, 'matchFields')}) && size({term}.matchFields) > 0)))"
    )
    return f"({nonempty} && {expressions}.all({e}, {allows}))"


def _is_build_in(e: str) -> str:
    return f"(type({e}) == map && {get(e, 'key', chr(39) * 2)} == {lit(BUILD_LABEL)} && {get(e, 'operator', chr(39) * 2)} == 'In')"


def variables(settings: Settings, version_at_least_124: bool) -> list[tuple[str, str]]:
    """The pod's facts and OS decision, as (name, expression) in evaluation order."""
    engine = settings.engine
    v = "variables"
    out: list[tuple[str, str]] = []

    def add(name: str, expr: str) -> None:
        out.append((name, expr))

    add("kind", "request.kind.kind")
    add("pod", template_of("object", f"{v}.kind"))
    add(
        "prefix",
        f"({v}.kind == 'Pod' ? '' : {v}.kind == 'CronJob' ? 'spec.jobTemplate.spec.template.'"
        f" : {v}.kind == 'PodTemplate' ? 'template.' : 'spec.template.')",
    )
    add("spec", get(f"{v}.pod", "spec", "{}"))
    add("meta", get(f"{v}.pod", "metadata", "{}"))
    add("ann", get(f"{v}.meta", "annotations", "{}"))
    add("psc", get(f"{v}.spec", "securityContext", "{}"))
    add("pwo", get(f"{v}.psc", "windowsOptions", "{}"))
    add("podHPSet", has(f"{v}.pwo", "hostProcess"))
    add("podHP", f"({v}.podHPSet && {v}.pwo.hostProcess == true)")
    add(
        "osName",
        f"(({has(f'{v}.spec', 'os')} && {has(f'{v}.spec.os', 'name')}) ? {v}.spec.os.name : '')",
    )
    records = []
    for kind in CONTAINER_KINDS:
        items = f"{v}.spec.{kind}"
        sc = get("c", "securityContext", "{}")
        wo = get(sc, "windowsOptions", "{}")
        hp = f"({has(wo, 'hostProcess')} ? {wo}.hostProcess == true : {v}.podHP)"
        record = (
            f"{{'p': dyn({v}.prefix + {lit(f'spec.{kind}[')} + string({items}.indexOf(c)) + ']'),"
            f" 'k': dyn({lit(kind)}), 'c': dyn(c), 'sc': dyn({sc}), 'wo': dyn({wo}), 'hp': dyn({hp})}}"
        )
        records.append(when(has(f"{v}.spec", kind), f"{items}.map(c, {record})"))
    add("cs", concat(records))
    add("anyHP", f"({v}.podHP || {v}.cs.exists(r, r.hp))")
    add("allHP", f"(size({v}.cs) > 0 && {v}.cs.all(r, r.hp))")
    add("vols", get(f"{v}.spec", "volumes", "[]"))
    add("tols", get(f"{v}.spec", "tolerations", "[]"))
    add("nsel", get(f"{v}.spec", "nodeSelector", "{}"))
    add("rcName", get(f"{v}.spec", "runtimeClassName", "''"))
    # Images: lower-cased reference, repository and tag, as engine.images.split_image.
    lowered = "r.c.image.trim().lowerAscii()"
    bare = f"{lowered}.find('^[^@]*')"
    tag = f"{bare}.find(':[^:/]*$')"
    add(
        "imgs0",
        f"{v}.cs.filter(r, {has('r.c', 'image')} && type(r.c.image) == string).map(r,"
        f" {{'p': r.p + '.image', 'i': r.c.image, 'l': {lowered},"
        f" 'r': {tag} == '' ? {bare} : {bare}.substring(0, size({bare}) - size({tag})),"
        f" 't': {tag} == '' ? '' : {tag}.substring(1)}})",
    )
    windows_globs = glob_re2(engine.config.windowsImages)
    linux_globs = glob_re2(engine.config.linuxImages)
    classify = (
        f"(x.r.matches({lit(WINDOWS_REPOS)}) || x.l.matches({lit(WINDOWS_REPOS)})) ? 'windows'"
        f" : x.r.matches({lit(LINUX_REPOS)}) ? 'linux' : (x.r.startsWith({lit(MCR)}) &&"
        f" x.t.matches({lit(WINDOWS_VARIANT)})) ? 'windows' : ''"
    )
    if linux_globs:
        classify = f"x.l.matches({lit(linux_globs)}) ? 'linux' : {classify}"
    if windows_globs:
        classify = f"x.l.matches({lit(windows_globs)}) ? 'windows' : {classify}"
    add(
        "imgs",
        f"{v}.imgs0.map(x, {{'p': x.p, 'i': x.i, 'r': x.r, 't': x.t, 'os': {classify}}})",
    )
    # --- evidence, in the engine's order -------------------------------------------------
    prefix = f"{v}.prefix"
    add(
        "osEv",
        when(
            f"{v}.osName in ['windows', 'linux']",
            f"[{{'os': {v}.osName, 'r': '0', 'p': {prefix} + 'spec.os.name', 'why':"
            f" 'spec.os.name=' + {v}.osName}}]",
        ),
    )
    ns_evidence, ns_no_node = _selector_evidence(
        f"{v}.nsel", "spec.nodeSelector", "nodeSelector", prefix
    )
    add("nsEv", ns_evidence)
    add("nsNoNode", ns_no_node)
    affinity = get(f"{v}.spec", "affinity", "{}")
    node_affinity = get(affinity, "nodeAffinity", "{}")
    required = get(node_affinity, "requiredDuringSchedulingIgnoredDuringExecution", "{}")
    add("affTerms", f"(type({required}) == map ? {get(required, 'nodeSelectorTerms', '[]')} : [])")
    add("affW", f"{v}.affTerms.exists(t, {_term_allows('t', 'windows')})")
    add("affL", f"{v}.affTerms.exists(t, {_term_allows('t', 'linux')})")
    add(
        "affEv",
        when(
            f"size({v}.affTerms) > 0 && {v}.affW != {v}.affL",
            f"[{{'os': {v}.affW ? 'windows' : 'linux', 'r': '1', 'p': {prefix} + {lit(AFFINITY_PATH)},"
            f" 'why': 'required node affinity admits only ' + ({v}.affW ? 'windows' : 'linux')"
            f" + ' nodes'}}]",
        ),
    )
    add(
        "affNoNode",
        when(
            f"size({v}.affTerms) > 0 && !{v}.affW && !{v}.affL",
            f"[{{'p': {prefix} + {lit(AFFINITY_PATH)}, 'why': 'required node affinity matches"
            f" no node (every nodeSelectorTerm is empty, excludes every OS, or names an OS label"
            f" value in the wrong case)'}}]",
        ),
    )
    # Builds the affinity allows, per term that admits a node (engine _affinity): a term with
    # no build expression allows any build.
    reach = f"({_term_allows('t', 'windows')} || {_term_allows('t', 'linux')})"
    exprs = get("t", "matchExpressions", "[]")
    add(
        "affBuildAny",
        f"{v}.affTerms.exists(t, {reach} && !{exprs}.exists(e, {_is_build_in('e')}))",
    )
    add(
        "affBuilds",
        f"{v}.affTerms.filter(t, {reach}).map(t, {exprs}.filter(e, {_is_build_in('e')}).map(e,"
        f" {get('e', 'values', '[]')}))",
    )
    # RuntimeClasses, known at export time: what each says, by name.
    rc_ev, rc_no_node, rc_build = "[]", "[]", "''"
    for name, info in sorted(settings.runtime_classes.items(), reverse=True):
        decision = engine.infer_os(
            {"spec": {"runtimeClassName": name}},
            runtime_classes={name: info},
            namespace_policy=None,
        )
        rc_items = [
            f"{{'os': {lit(e.os)}, 'r': '1', 'p': {prefix} + {lit(e.path)}, 'why': {lit(e.reason)}}}"
            for e in decision.evidence
        ]
        no_node = [
            f"{{'p': {prefix} + {lit(n.path)}, 'why': {lit(n.reason)}}}" for n in decision.no_node
        ]
        build = osinfer._selector(info.node_selector, "", "").build or ""
        test = f"{v}.rcName == {lit(name)}"
        rc_ev = when(test, "[" + ", ".join(rc_items) + "]", rc_ev)
        rc_no_node = when(test, "[" + ", ".join(no_node) + "]", rc_no_node)
        rc_build = when(test, lit(build), rc_build)
    add("rcEv", rc_ev)
    add("rcNoNode", rc_no_node)
    add("rcBuild", rc_build)
    add(
        "imgEv",
        f"{v}.imgs.filter(x, x.os != '').map(x, {{'os': x.os, 'r': '2', 'p': x.p, 'why': x.os"
        f" + '-only image ' + x.i}})",
    )
    add("ev", f"({v}.osEv + {v}.nsEv + {v}.affEv + {v}.rcEv + {v}.imgEv)")
    add("noNode", f"({v}.nsNoNode + {v}.affNoNode + {v}.rcNoNode)")
    add("placement", f"{v}.ev.exists(e, e.r == '1')")
    add("hints", _hints(settings))
    default = settings.default_os
    if default == "windows":
        fallback = "'windows'"
    elif default == "linux":
        fallback = f"(size({v}.hints) == 0 ? 'linux' : 'unknown')"
    else:
        fallback = "'unknown'"
    add("os", f"(size({v}.ev) > 0 ? {v}.ev[0].os : {fallback})")
    add("defaulted", f"(size({v}.ev) == 0 && {v}.os != 'unknown')")
    add(
        "skipImgs",
        f"({v}.imgEv.exists(e, e.os == 'windows') && {v}.imgEv.exists(e, e.os == 'linux'))",
    )
    add(
        "conflicts",
        f"(size({v}.ev) == 0 ? [] : {v}.ev.filter(e, e.os != {v}.ev[0].os && !(e.r == '2' &&"
        f" ({v}.skipImgs || {v}.ev[0].r == '2'))))",
    )
    # The apiserver checks spec.os.name from 1.24; the apiserver profile judges every pod
    # placed on an OS as if it carried spec.os.name for it.
    stamped = []
    if version_at_least_124:
        stamped.append(f"{v}.osName == {v}.os")
    if engine.config.profile == "apiserver":
        stamped.append("true")
    add("stamped", all_of([f"{v}.os != 'unknown'", any_of(stamped)]))
    # Exemptions (engine Engine._exemptions): honoured only with a reason.
    ex, reason = engine.config.exemptAnnotation, engine.config.exemptReasonAnnotation
    add(
        "exOk",
        f"({has(f'{v}.ann', ex)} && {has(f'{v}.ann', reason)} && {field(f'{v}.ann', reason)}.trim() != '')",
    )
    add(
        "exNames",
        f"({v}.exOk ? {field(f'{v}.ann', ex)}.split(',').map(n, n.trim()).filter(n, n != '') : [])",
    )
    add("exAll", f"('*' in {v}.exNames)")
    add("exWhy", f"({v}.exOk ? {field(f'{v}.ann', reason)}.trim() : '')")
    return out


def _tolerates(t: str, key: str, value: str | None, effect: str) -> str:
    """CEL for engine osinfer.tolerates(t, key, value, effect)."""
    t_key = get(t, "key", "''")
    op = f"(({has(t, 'operator')} && {t}.operator != '') ? {t}.operator : 'Equal')"
    effect_ok = f"(!({has(t, 'effect')}) || {t}.effect == '' || {t}.effect == {lit(effect)})"
    return (
        f"(type({t}) == map && {effect_ok} && ({t_key} == '' ? {op} == 'Exists' : ({t_key} =="
        f" {lit(key)} && ({op} == 'Exists' || ({op} == 'Equal' && {get(t, 'value', chr(39) * 2)}"
        f" == {lit(value or '')})))))"
    )


def tolerates(t: str, taint: tuple[str, str | None, str]) -> str:
    return _tolerates(t, *taint)


def tolerates_everything(tols: str) -> str:
    return (
        f"{tols}.exists(t, type(t) == map && {get('t', 'key', chr(39) * 2)} == '' &&"
        f" {get('t', 'operator', chr(39) * 2)} == 'Exists' && {get('t', 'effect', chr(39) * 2)} == '')"
    )


def _hints(settings: Settings) -> str:
    """The hints, in the engine's order (OSInferrer._hints): what the pod looks like."""
    v = "variables"
    prefix = f"{v}.prefix"
    pod = when(
        f"{v}.podHP",
        f"[{{'p': {prefix} + 'spec.securityContext.windowsOptions.hostProcess', 'why': 'HostProcess pod'}}]",
        when(
            f"size({v}.pwo) > 0",
            f"[{{'p': {prefix} + 'spec.securityContext.windowsOptions', 'why': 'windowsOptions set'}}]",
        ),
    )
    containers = (
        f"{v}.cs.filter(r, (r.wo.hostProcess == true && !{v}.podHP) || (size(r.wo) > 0 && !r.hp"
        f" && size({v}.pwo) == 0)).map(r, (r.wo.hostProcess == true && !{v}.podHP) ?"
        f" {{'p': r.p + '.securityContext.windowsOptions.hostProcess', 'why': 'HostProcess container'}}"
        f" : {{'p': r.p + '.securityContext.windowsOptions', 'why': 'windowsOptions set'}})"
    )
    # r.wo.hostProcess on a map without the key is an error: guard it.
    containers = containers.replace(
        "r.wo.hostProcess == true", "('hostProcess' in r.wo && r.wo.hostProcess == true)"
    )
    tolerations = "[]"
    for taint in reversed(settings.taints):
        key, value, effect = taint
        text = f"tolerates the Windows taint {key}={value or ''}:{effect}"
        tolerations = when(
            f"{v}.tols.exists(t, type(t) == map && {get('t', 'key', chr(39) * 2)} != '' && {tolerates('t', taint)})",
            f"[{{'p': {prefix} + 'spec.tolerations', 'why': {lit(text)}}}]",
            tolerations,
        )
    drive = lit(DRIVE_PATH)
    command = lit(WINDOWS_COMMAND)
    host_path = "w.hostPath.path"
    volume_has = (
        f"(type(w) == map && {has('w', 'hostPath')} && type(w.hostPath) == map &&"
        f" {has('w.hostPath', 'path')} && type({host_path}) == string && {host_path}.matches({drive}))"
    )
    volume_hints = (
        f"{v}.vols.filter(w, {volume_has}).map(w, {{'p': {prefix} + 'spec.volumes[' +"
        f" string({v}.vols.indexOf(w)) + '].hostPath.path', 'why': 'Windows path ' + {host_path}}})"
    )
    mounts = get("r.c", "volumeMounts", "[]")
    mount_has = (
        f"(type(m) == map && {has('m', 'mountPath')} && type(m.mountPath) == string &&"
        f" m.mountPath.matches({drive}))"
    )
    working = (
        f"({has('r.c', 'workingDir')} && type(r.c.workingDir) == string &&"
        f" r.c.workingDir.matches({drive}))"
    )

    def first_word(key: str) -> str:
        words = f"r.c.{key}"
        return (
            f"({has('r.c', key)} && type({words}) == list && size({words}) > 0 &&"
            f" type({words}[0]) == string && {words}[0].matches({command}))"
        )

    container_has = any_of(
        [f"{mounts}.exists(m, {mount_has})", working, first_word("command"), first_word("args")]
    )
    first_mount = f"{mounts}.filter(m, {mount_has})[0]"
    container_hint = (
        f"({mounts}.exists(m, {mount_has}) ? {{'p': r.p + '.volumeMounts[' +"
        f" string({mounts}.indexOf({first_mount})) + '].mountPath', 'why': 'Windows path ' +"
        f" {first_mount}.mountPath}} : {working} ? {{'p': r.p + '.workingDir', 'why': 'Windows path '"
        f" + r.c.workingDir}} : {first_word('command')} ? {{'p': r.p + '.command[0]', 'why':"
        f" 'Windows command ' + r.c.command[0]}} : {{'p': r.p + '.args[0]', 'why': 'Windows command '"
        f" + r.c.args[0]}})"
    )
    container_hints = f"{v}.cs.filter(r, {container_has}).map(r, {container_hint})"
    paths = (
        f"(size({volume_hints}) > 0 ? [{volume_hints}[0]] : size({container_hints}) > 0 ?"
        f" [{container_hints}[0]] : [])"
    )
    return concat([pod, containers, tolerations, paths])
