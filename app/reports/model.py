"""The report every format renders: one schema, built once by `winpod check`.

The JSON format is this model dumped as is, so its field names are the stable wire schema
(`version` is the schema version; a field is only ever added, never renamed).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class FindingRecord(_Record):
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
    blocks: bool = Field(description="fails the check under the chosen --fail-on")


class ObjectRecord(_Record):
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
    findings: list[int] = Field(default_factory=list)  # indexes into Report.findings


class ErrorRecord(_Record):
    file: str
    line: int | None
    message: str


class Summary(_Record):
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


class RuleRecord(_Record):
    """A catalog rule as the SARIF driver lists it."""

    id: str
    title: str
    os: str
    action: Literal["deny", "warn", "audit", "off"]  # default at the target version
    source: str
    notes: str | None = None


class Report(_Record):
    version: int = SCHEMA_VERSION
    winpod: str
    kubernetesVersion: str
    summary: Summary
    objects: list[ObjectRecord]
    findings: list[FindingRecord]
    errors: list[ErrorRecord]
    rules: list[RuleRecord] = Field(default_factory=list, exclude=True)
