"""AdmissionReview on the wire: parse and check the envelope, build the answer.

Only the envelope goes through pydantic. `object` and `oldObject` stay the plain dicts orjson
made: modelling a whole Pod per request would cost more than the rules themselves, and the
engine already reports odd shapes with a path.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..engine.text import describe_validation, shorten, type_name

API_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
Operation = Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]


class BadReview(Exception):
    """A request that is not an AdmissionReview we can answer: HTTP 4xx, no review."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Envelope(BaseModel):
    # strict: a uid of 42 or a dryRun of "yes" is a broken client, not something to coerce;
    # extra keys are ignored because newer apiservers add fields (requestKind, options, ...).
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class GroupVersionKind(_Envelope):
    group: str = ""
    version: str = ""
    kind: str = Field(min_length=1)


class GroupVersionResource(_Envelope):
    group: str = ""
    version: str = ""
    resource: str = ""


class AdmissionRequest(_Envelope):
    uid: str = Field(min_length=1)
    kind: GroupVersionKind
    resource: GroupVersionResource | None = None
    subResource: str | None = None
    name: str | None = None
    namespace: str | None = None
    operation: Operation
    dryRun: bool | None = None
    # Plain JSON on purpose (see the module docstring); checked by `parse_review`.
    object: Any = None
    oldObject: Any = None


class AdmissionReviewRequest(_Envelope):
    apiVersion: Literal["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]
    kind: Literal["AdmissionReview"]
    request: AdmissionRequest


# --- the answer ----------------------------------------------------------------------------
# Built as plain dicts for speed; these models state the wire format and the tests check every
# answer against them.


class StatusOut(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    status: Literal["Success", "Failure"] | None = None
    message: str | None = None
    reason: str | None = None
    code: int | None = None


class AdmissionResponseOut(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    uid: str = Field(min_length=1)
    allowed: bool
    status: StatusOut | None = None
    warnings: list[str] | None = None
    auditAnnotations: dict[str, str] | None = None
    patchType: Literal["JSONPatch"] | None = None
    patch: str | None = None


class AdmissionReviewOut(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    apiVersion: Literal["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]
    kind: Literal["AdmissionReview"]
    response: AdmissionResponseOut


def parse_review(body: bytes) -> AdmissionReviewRequest:
    """Parse once with orjson, check the envelope; raise BadReview (400) naming what is wrong."""
    if not body:
        raise BadReview(400, "empty body: expected an AdmissionReview")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # Covers non-JSON, invalid UTF-8 and nesting past orjson's depth limit.
        raise BadReview(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadReview(400, f"expected a JSON object (an AdmissionReview), got {type_name(data)}")
    if data.get("kind") != "AdmissionReview":
        raise BadReview(400, f"kind must be AdmissionReview, got {_short(data.get('kind'))}")
    if data.get("apiVersion") not in API_VERSIONS:
        raise BadReview(
            400,
            f"apiVersion must be one of {', '.join(API_VERSIONS)}, got {_short(data.get('apiVersion'))}",
        )
    if not isinstance(data.get("request"), dict):
        raise BadReview(400, "request: required (an AdmissionReview with a request object)")
    try:
        review = AdmissionReviewRequest.model_validate(data)
    except ValidationError as exc:
        raise BadReview(400, describe_validation(exc, most=5)) from None
    request = review.request
    # Judged requests need their object; other subresources (status, scale, ...) pass untouched.
    judged = not request.subResource or request.subResource == "ephemeralcontainers"
    if request.operation in ("CREATE", "UPDATE") and judged:
        if request.object is None:
            raise BadReview(400, f"request.object: required for {request.operation}")
        if not isinstance(request.object, dict):
            raise BadReview(
                400, f"request.object: expected an object, got {type_name(request.object)}"
            )
    return review


def _short(value: Any) -> str:
    # Only scalars are quoted: the repr of a container nested thousands deep would recurse.
    if value is None:
        return "nothing"
    if isinstance(value, (str, int, float)):
        return shorten(repr(value), 60)
    return type_name(value)
