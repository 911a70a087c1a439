"""One admission request in, one AdmissionReview out: what /validate and /mutate decide.

Two error channels, as the apiserver expects: a request that is not an AdmissionReview never
gets here (HTTP 4xx, see app.py); an object that cannot be judged gets a denial naming why.
Whatever goes wrong while judging, the answer is a denial (fail closed): a Windows pod must
never slip through because the engine tripped.
"""

from __future__ import annotations

import base64
import time
from dataclasses import replace
from typing import Any

import orjson

from ..clusterview import ClusterView
from ..config import Action
from ..engine.evaluate import Engine
from ..engine.findings import Evaluation
from ..engine.judge import Context, context_of, judge
from ..engine.subject import Subject, subject_of
from ..engine.visit import CHECKED_KINDS, ShapeError
from .logs import JsonLog
from .metrics import Metrics
from .review import AdmissionRequest, AdmissionReviewRequest
from .verdict import FINDINGS_PER_RULE, Verdict, failure, short_warning, verdict_of


class Reviewer:
    """Built once at start-up; `validate` and `mutate` are called per request."""

    def __init__(
        self,
        engine: Engine,
        cluster_view: ClusterView,
        metrics: Metrics,
        log: JsonLog,
    ) -> None:
        self.engine = engine
        self.view = cluster_view
        self.metrics = metrics
        self.log = log

    # --- the two webhooks ------------------------------------------------------------------

    def validate(self, review: AdmissionReviewRequest, started: float) -> dict[str, Any]:
        request = review.request
        decision, verdict, ref = "skip", Verdict(allowed=True), None
        if _is_judged(request):
            try:
                # The object model is built once per review and handed down.
                subject = subject_of(
                    request.object, kind=request.kind.kind, namespace=request.namespace or None
                )
                ref = subject.ref
                evaluation = judge(self.engine, subject, self._context(subject)).evaluation
                if evaluation.checked:
                    verdict = verdict_of(_ratchet(request, subject, evaluation))
                    decision = _decision(verdict)
            except Exception as exc:
                decision, verdict = self._fail_closed(request, exc)
        return self._answer("validate", review, verdict, decision, started, ref)

    def mutate(self, review: AdmissionReviewRequest, started: float) -> dict[str, Any]:
        request = review.request
        decision, verdict, ref, patch = "skip", Verdict(allowed=True), None, None
        if request.operation == "CREATE" and not request.subResource and request.kind.kind == "Pod":
            try:
                subject = subject_of(
                    request.object, kind="Pod", namespace=request.namespace or None
                )
                ref = subject.ref
                judgement = judge(self.engine, subject, self._context(subject), mutate=True)
                result = judgement.mutation
                assert result is not None  # a Pod is always a checked kind
                verdict = verdict_of(judgement.evaluation)
                verdict.warnings[:0] = [short_warning(w) for w in result.warnings]
                if verdict.allowed and result.patch:
                    patch = base64.b64encode(orjson.dumps(result.patch)).decode()
                decision = _decision(verdict)
            except Exception as exc:
                decision, verdict = self._fail_closed(request, exc)
        return self._answer("mutate", review, verdict, decision, started, ref, patch)

    # --- parts -----------------------------------------------------------------------------

    def _context(self, subject: Subject) -> Context:
        # The cluster view (namespace labels, RuntimeClasses, version) wins; what it leaves
        # open falls back to the config, which the engine reads itself.
        return context_of(self.view, subject.namespace, findings_per_rule=FINDINGS_PER_RULE)

    def _fail_closed(self, request: AdmissionRequest, exc: Exception) -> tuple[str, Verdict]:
        ref = _request_ref(request)
        if isinstance(exc, ShapeError):
            message = f"{ref} cannot be checked by winpod: {exc}"
            return "invalid", Verdict(False, failure(message, "BadRequest", 400))
        self.log.emit(
            "error",
            "review-failed",
            {"uid": request.uid, "object": ref, "error": f"{type(exc).__name__}: {exc}"[:300]},
        )
        message = f"{ref}: winpod could not evaluate it (internal error, see the webhook log); denied to be safe"
        return "error", Verdict(False, failure(message, "InternalError", 500))

    def _answer(
        self,
        webhook: str,
        review: AdmissionReviewRequest,
        verdict: Verdict,
        decision: str,
        started: float,
        ref: str | None,
        patch: str | None = None,
    ) -> dict[str, Any]:
        request = review.request
        response: dict[str, Any] = {"uid": request.uid, "allowed": verdict.allowed}
        if verdict.status is not None:
            response["status"] = verdict.status
        if verdict.warnings:
            response["warnings"] = verdict.warnings
        if verdict.audit_annotations:
            response["auditAnnotations"] = verdict.audit_annotations
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = patch
        elapsed = time.perf_counter() - started
        kind = request.kind.kind
        self.metrics.count_request(webhook, request.operation, kind, decision, elapsed)
        for (rule, action), count in verdict.hits.items():
            self.metrics.count_hit(rule, action, count)
        if self.log.enabled("info"):
            fields = {
                "webhook": webhook,
                "uid": request.uid,
                "kind": kind,
                "object": ref or _request_ref(request),
                "operation": request.operation,
                "subResource": request.subResource,
                "dryRun": bool(request.dryRun),
                "decision": decision,
                "rules": verdict.rules,
                "patched": bool(patch),
                "durationMs": round(elapsed * 1000, 3),
            }
            if verdict.would_deny:
                fields["wouldDeny"] = verdict.would_deny
            self.log.emit("info", "review", fields)
        return {"apiVersion": review.apiVersion, "kind": "AdmissionReview", "response": response}


def _is_judged(request: AdmissionRequest) -> bool:
    if request.operation not in ("CREATE", "UPDATE"):
        return False  # DELETE and CONNECT: nothing new can reach a node
    if request.subResource:
        # pods/ephemeralcontainers carries the whole Pod with the new debug container.
        return request.subResource == "ephemeralcontainers" and isinstance(request.object, dict)
    return request.kind.kind in CHECKED_KINDS


def _ratchet(request: AdmissionRequest, subject: Subject, evaluation: Evaluation) -> Evaluation:
    """An UPDATE that leaves the pod spec as it was cannot make anything worse: enforce what
    it is denied for as warnings. Otherwise a pod admitted before a rule existed could never
    again have its labels changed or its finalizers removed (PodSecurity admission does the
    same for pod updates that leave the spec alone)."""
    if request.operation != "UPDATE" or not evaluation.denied:
        return evaluation
    if not isinstance(request.oldObject, dict) or not _same_pod_spec(request, subject):
        return evaluation
    findings = [
        replace(f, action=Action.WARN, note="not enforced: the pod spec is unchanged")
        if f.blocks
        else f
        for f in evaluation.findings
    ]
    return replace(evaluation, findings=findings)


def _same_pod_spec(request: AdmissionRequest, subject: Subject) -> bool:
    try:
        old = subject_of(request.oldObject, kind=subject.kind)
    except ShapeError:
        return False
    new_pod, old_pod = subject.pod, old.pod
    if new_pod is None or old_pod is None:
        return False
    # Annotations count too: rules read some (Hyper-V isolation, exemptions, seccomp).
    try:
        return bool(
            new_pod.get("spec") == old_pod.get("spec")
            and _annotations(new_pod) == _annotations(old_pod)
        )
    except RecursionError:
        # Values nested about as deep as the JSON parser allows (no apiserver sends such a
        # pod; a fuzzer does) are too deep for ==: count the spec as changed, so the denial
        # stays enforced rather than turning into an internal error.
        return False


def _annotations(pod: dict[str, Any]) -> Any:
    metadata = pod.get("metadata")
    return metadata.get("annotations") if isinstance(metadata, dict) else None


def _decision(verdict: Verdict) -> str:
    if not verdict.allowed:
        return "deny"
    if verdict.would_deny:
        return "would-deny"  # allowed with warnings, denied once the warn-only cap goes
    return "warn" if verdict.warnings else "allow"


def _request_ref(request: AdmissionRequest) -> str:
    where = f"{request.namespace}/" if request.namespace else ""
    return f"{request.kind.kind} {where}{request.name or '(unnamed)'}"
