"""Kubernetes minor versions: parsing and ordering.

Rules change at minor releases, so a version is (major, minor); patch levels and vendor
suffixes ("v1.29.4-gke.1043") are accepted and dropped.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")

# The newest Kubernetes minor the catalog's facts were checked against.
LATEST_KNOWN = "1.37"


class KubeVersion(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def parse_version(text: str) -> KubeVersion:
    """Parse "1.26", "v1.26.3" or "1.26.0-eks-1234"; raise ValueError naming the text otherwise."""
    match = _VERSION_RE.match(str(text).strip())
    if not match:
        raise ValueError(f"not a Kubernetes version: {text!r} (expected e.g. 1.30 or v1.30.2)")
    return KubeVersion(int(match.group(1)), int(match.group(2)))


LATEST = parse_version(LATEST_KNOWN)


def beyond_latest(version: KubeVersion) -> str | None:
    """What to tell a user who targets a release newer than any the catalog knows."""
    if version <= LATEST:
        return None
    return (
        f"Kubernetes {version} is newer than the latest release winpod knows ({LATEST}):"
        f" judging with {LATEST}'s rules and apiserver facts"
    )
