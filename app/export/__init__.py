"""`winpod export`: the rule catalog as CEL admission policies the apiserver runs itself
(ValidatingAdmissionPolicy, and MutatingAdmissionPolicy for placement), with no webhook.

What cannot be expressed in CEL is listed (Export.left) and stays with the webhook; it is never
dropped silently.
"""

from __future__ import annotations

from .build import (
    EXCLUDED_NAMESPACES,
    MUTATING_FROM,
    VALIDATING_FROM,
    Export,
    ExportError,
    LeftToWebhook,
    export,
)

__all__ = [
    "EXCLUDED_NAMESPACES",
    "MUTATING_FROM",
    "VALIDATING_FROM",
    "Export",
    "ExportError",
    "LeftToWebhook",
    "export",
]
