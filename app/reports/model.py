"""The records every format writes: the stable wire schema of `winpod check --format json`.

The JSON report is `{version, winpod, kubernetesVersion, summary, objects, findings, errors}`
with these records as they are (field names are the schema: a field is only ever added, never
renamed; `version` is the schema version). Plain dataclasses, built from the engine's own values
once per object and serialised by orjson: a stream of hundreds of thousands of objects pays no
validation for values it made itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

SCHEMA_VERSION = 1


@dataclass(slots=True, kw_only=True)
class FindingRecord:
    rule: str
    action: Literal["deny", "warn", "audit"]
    kind: str
    namespace: str | None
    name: str | None
    path: str
    message: str
    fix: str
    file: str | None  # None for an object read from a cluster (winpod audit)
    line: int | None
    exempted: bool = False
    exemptionReason: str | None = None
    blocks: bool = False  # fails the check under the chosen --fail-on
    column: int | None = None  # 1-based, where the field is written (YAML); added in 0.2
    # Enforcement would deny it: a warn-only cap (maxAction) made it weaker. Added in 0.2.
    wouldDeny: bool = False


@dataclass(slots=True, kw_only=True)
class ObjectRecord:
    file: str
    line: int
    kind: str | None
    namespace: str | None
    name: str | None
    checked: bool
    os: str | None = None  # windows | linux | unknown, for checked objects
    osEvidence: str | None = None  # why, e.g. "nodeSelector kubernetes.io/os=windows"
    osEvidencePath: str | None = None  # where, e.g. spec.template.spec.nodeSelector[...]
    skippedReason: str | None = None
    denied: bool = False
    findings: list[int] = field(default_factory=list)  # indexes into the report's findings


@dataclass(slots=True, kw_only=True)
class ErrorRecord:
    file: str
    line: int | None
    message: str


@dataclass(slots=True, kw_only=True)
class Summary:
    files: int
    objects: int
    checked: int
    skipped: int
    windows: int
    linux: int
    unknown: int
    deny: int
    warn: int
    audit: int
    exempted: int
    deniedObjects: int
    errors: int
    skippedKinds: dict[str, int]
    failOn: Literal["deny", "warn"]
    exitCode: int


@dataclass(slots=True, kw_only=True)
class RuleRecord:
    """A catalog rule as the SARIF driver lists it."""

    id: str
    title: str
    os: str
    action: Literal["deny", "warn", "audit", "off"]  # default at the target version
    source: str
    notes: str | None = None
