"""The pure rule engine: no web framework, server or Kubernetes client imports (a test checks).

Import from the submodules: `winpod.engine.evaluate.Engine`, `winpod.engine.rules.load_catalog`.

Dataclasses built per evaluated object (evidence, findings, container references, ...) are
not frozen: a frozen dataclass's `__init__` sets every field through `object.__setattr__`,
and that alone was a fifth of the engine's instructions per object (bench/results.md).
Nothing mutates them after construction; `dataclasses.replace` makes changed copies.
"""
