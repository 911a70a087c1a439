"""Findings: what a rule says about one place in one object."""

from __future__ import annotations

from dataclasses import dataclass, field

from .osinfer import OSDecision
from .settings import Action


# Not frozen: built per object (why: app/engine/__init__.py).
@dataclass(slots=True)
class Finding:
    rule: str
    action: Action
    path: str  # inside the object, e.g. spec.template.spec.containers[0].securityContext.privileged
    message: str  # what Windows does instead
    fix: str
    exempted: bool = False
    exemption_reason: str | None = None
    # The apiserver rejects this field outright once spec.os.name is windows.
    apiserver_rejects: bool = False
    # A deny that a warn-only cap (maxAction, config or namespace) made weaker: enforcement
    # would deny it, so a rollout can count what it will block before it blocks it.
    would_deny: bool = False
    # How a surface enforced it, when not as its action says, e.g. "not enforced: the pod spec
    # is unchanged": shown before the path, so a cut for length never loses it.
    note: str | None = None
    # Findings of the same rule and outcome after this one that were counted, not built: a
    # surface that shows only the first few asks for a limit (Context.findings_per_rule), so a
    # pod of 40,000 containers does not build 40,000 messages nobody reads.
    more: int = 0

    @property
    def count(self) -> int:
        """How many findings this one stands for (itself and the ones counted after it)."""
        return 1 + self.more

    @property
    def blocks(self) -> bool:
        return self.action is Action.DENY and not self.exempted

    def head(self) -> str:
        """What goes before the path: the exemption, the note, would-deny."""
        parts = []
        if self.exempted:
            parts.append(f"exempted ({self.exemption_reason})")
        if self.note:
            parts.append(self.note)
        if self.would_deny:
            parts.append("would deny")
        return "".join(f"{part}: " for part in parts)

    def line(self) -> str:
        """The one-line form users see: path, reason, fix, rule."""
        return f"{self.head()}{self.path}: {self.message}; {self.fix} (rule {self.rule})"


@dataclass(slots=True)
class Evaluation:
    kind: str
    namespace: str | None
    name: str | None
    checked: bool
    os: OSDecision | None = None
    findings: list[Finding] = field(default_factory=list)
    skipped_reason: str | None = None

    @property
    def denied(self) -> bool:
        return any(f.blocks for f in self.findings)

    @property
    def object_ref(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name or '(unnamed)'}"

    def by_action(self, action: Action) -> list[Finding]:
        return [f for f in self.findings if f.action is action and not f.exempted]
