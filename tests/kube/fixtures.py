"""Fixtures for real kube-apiservers, re-exported from tests/conftest.py so every test directory
has them:

- `kube_control_plane` (session): etcd and every available apiserver, started on first use only
  (a run that asks for no apiserver starts none) and stopped at the end of the session;
- `apiservers` (session): {"1.24": ApiServer, "1.36": ApiServer}, whichever are available;
- `apiserver`: parametrized over VERSIONS (ids `k8s-1.24`, `k8s-1.36`, marked `kube`), so a
  test taking it runs once per version;
- `kube_namespace`: a namespace of the test's own (with its ServiceAccount) on `apiserver`.

Without the binaries or etcd the tests skip, saying what is missing. Tests that take only
`apiservers` should carry `pytest.mark.kube` themselves.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType

import pytest

from tests.kube.controlplane import ApiServer, ControlPlane, find_binaries

VERSIONS = ("1.24", "1.36")
# Once per version, each marked `kube`: the params of `apiserver`, and with `@EACH_VERSION` a
# test's argument `minor` (for tests that take `apiservers` and pick one).
_EACH_MINOR = [pytest.param(minor, id=f"k8s-{minor}", marks=pytest.mark.kube) for minor in VERSIONS]
EACH_VERSION = pytest.mark.parametrize("minor", _EACH_MINOR)

_namespaces = itertools.count(1)


@pytest.fixture(scope="session")
def kube_control_plane() -> Iterator[ControlPlane]:
    binaries = find_binaries()
    if isinstance(binaries, str):
        pytest.skip(binaries)
    plane = ControlPlane.start(binaries)
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def apiservers(kube_control_plane: ControlPlane) -> Mapping[str, ApiServer]:
    return MappingProxyType(kube_control_plane.servers)


@pytest.fixture(params=_EACH_MINOR)
def apiserver(request: pytest.FixtureRequest, apiservers: Mapping[str, ApiServer]) -> ApiServer:
    return apiserver_at(apiservers, request.param)


def apiserver_at(apiservers: Mapping[str, ApiServer], minor: str) -> ApiServer:
    """The apiserver of `minor`; the test is skipped, saying so, when there is none."""
    if minor not in apiservers:
        pytest.skip(f"no kube-apiserver {minor} (have {', '.join(sorted(apiservers)) or 'none'})")
    return apiservers[minor]


@pytest.fixture
def kube_namespace(request: pytest.FixtureRequest, apiserver: ApiServer) -> str:
    """A fresh namespace named after the test. Never deleted: with no namespace controller a
    deleted namespace only turns Terminating; the session's etcd goes away instead."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.originalname.lower()).strip("-")
    name = f"{stem[:50].rstrip('-')}-{next(_namespaces)}"
    apiserver.ensure_namespace(name)
    return name
