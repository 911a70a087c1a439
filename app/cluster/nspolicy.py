"""Namespace labels -> NamespacePolicy, merged over the config file's entry (labels win).

    winpod.io/default-os: windows | linux | unknown   -> defaultOS
    winpod.io/max-action: deny | warn | audit         -> maxAction

An invalid value is ignored (the config's entry applies) and logged once per namespace, label
and value, so a typo shows up in the logs without flooding them on every watch event.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ..engine.settings import EngineSettings, NamespacePolicy
from .log import log

DEFAULT_OS_LABEL = "winpod.io/default-os"
MAX_ACTION_LABEL = "winpod.io/max-action"

_ALLOWED = {
    DEFAULT_OS_LABEL: ("defaultOS", ("windows", "linux", "unknown")),
    MAX_ACTION_LABEL: ("maxAction", ("deny", "warn", "audit")),
}

_logged: set[tuple[str, str, str]] = set()
_logged_lock = threading.Lock()


def label_overrides(namespace: str, labels: Mapping[str, Any]) -> dict[str, str]:
    """The NamespacePolicy fields the labels set; invalid values dropped (and logged once)."""
    overrides: dict[str, str] = {}
    for label, (field, allowed) in _ALLOWED.items():
        value = labels.get(label)
        if value is None:
            continue
        if value in allowed:
            overrides[field] = value
            continue
        with _logged_lock:
            seen = (namespace, label, str(value))
            if seen in _logged:
                continue
            _logged.add(seen)
        log(
            "invalid-namespace-label",
            level="warning",
            namespace=namespace,
            label=label,
            value=value,
            allowed=list(allowed),
            detail="ignored; the config's setting applies",
        )
    return overrides


def namespace_policy(
    config: EngineSettings, namespace: str, labels: Mapping[str, Any]
) -> NamespacePolicy | None:
    """The namespace's policy, or None when neither the config nor the labels say anything
    (the engine then uses its defaults)."""
    base = config.namespaces.get(namespace)
    overrides = label_overrides(namespace, labels)
    if not overrides:
        return base
    return (base or NamespacePolicy()).model_copy(update=overrides)


def namespace_labels(obj: Mapping[str, Any]) -> dict[str, str] | None:
    """What the namespace cache keeps per Namespace: only winpod's labels (small, and a label
    change elsewhere does not change the snapshot's meaning)."""
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping):
        return None
    labels = meta.get("labels")
    if not isinstance(labels, Mapping):
        return {}
    return {k: str(v) for k, v in labels.items() if k in _ALLOWED}
