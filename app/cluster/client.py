"""Connections to the apiserver through the official `kubernetes` client, and raw JSON calls.

Responses are read as raw JSON (`_preload_content=False`) rather than the client's models: the
engine takes plain dicts, and skipping model deserialization keeps large audits fast and small.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")

# (connect, read) seconds for ordinary requests; watches pass their own read timeout.
REQUEST_TIMEOUT = (10.0, 60.0)


class ClusterError(Exception):
    """The cluster could not be reached or answered with an error; the message says which call."""


def running_in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.exists()


def make_api_client(
    kubeconfig: str | None = None, context: str | None = None, in_cluster: bool | None = None
) -> Any:
    """An ApiClient for the pod's service account (in a pod) or a kubeconfig (outside)."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    if in_cluster is None:
        in_cluster = kubeconfig is None and context is None and running_in_cluster()
    configuration = client.Configuration()
    try:
        if in_cluster:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
    except (ConfigException, OSError) as exc:
        where = "in-cluster service account" if in_cluster else (kubeconfig or "~/.kube/config")
        raise ClusterError(f"{where}: cannot load the cluster configuration: {exc}") from exc
    # Fail fast: the callers retry with their own backoff, urllib3's silent retries only delay.
    configuration.retries = False
    return client.ApiClient(configuration)


def call_raw(
    api_client: Any,
    path: str,
    query: Mapping[str, str | int | bool] | None = None,
    *,
    method: str = "GET",
    body: Any = None,
    timeout: tuple[float, float] = REQUEST_TIMEOUT,
) -> Any:
    """One request; returns the urllib3 response unread (the caller streams or reads it).

    Raises kubernetes.client.ApiException for non-2xx answers."""
    from kubernetes.client import ApiException

    params = [
        (k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (query or {}).items()
    ]
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = api_client.param_serialize(
        method=method,
        resource_path=path,
        query_params=params,
        header_params=headers,
        body=body,
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(*request, _request_timeout=timeout)
    if not 200 <= response.status <= 299:
        response.read()
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return response.response


def get_json(
    api_client: Any, path: str, query: Mapping[str, str | int | bool] | None = None
) -> Any:
    response = call_raw(api_client, path, query)
    try:
        return orjson.loads(response.data)
    finally:
        response.release_conn()


def list_pages(
    api_client: Any,
    path: str,
    *,
    page_size: int,
    query: Mapping[str, str | int | bool] | None = None,
    on_page: Callable[[Mapping[str, Any]], None] | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """A list call page by page (limit/continue), so no more than one page is held at a time.

    `on_page` sees each page's list metadata (resourceVersion, remainingItemCount)."""
    token: str | None = None
    while True:
        params: dict[str, str | int | bool] = dict(query or {})
        params["limit"] = page_size
        if token:
            params["continue"] = token
        page = get_json(api_client, path, params)
        meta = page.get("metadata") or {}
        if on_page is not None:
            on_page(meta)
        yield page.get("items") or []
        token = meta.get("continue") or None
        if not token:
            return


def describe_error(exc: BaseException) -> str:
    """A short, single-line reason for a failed call (no multi-line header dumps)."""
    from kubernetes.client import ApiException

    if isinstance(exc, ApiException):
        reason = exc.reason or ""
        try:
            status = orjson.loads(exc.body) if exc.body else {}
            if isinstance(status, dict) and status.get("message"):
                reason = str(status["message"])
        except orjson.JSONDecodeError:
            pass
        return f"HTTP {exc.status}: {reason}".strip()
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
