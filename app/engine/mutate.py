"""Pod -> JSON Patch that places it on the right OS (issue 4). Pure: no framework imports.

Contract (the webhook's /mutate and `winpod mutate` both call this):

    mutate_pod(engine, pod, *, namespace=None, runtime_classes=None, namespace_policy=None)
        -> MutationResult(patch: list[dict], warnings: list[str], mutated: dict,
                          evaluation: Evaluation)

`patch` is RFC 6902 operations against `pod`; `mutated` is the pod with them applied;
`evaluation` is the engine's verdict on the mutated pod (so /mutate can deny early with the same
message /validate gives); `warnings` says what was injected and why (the OS evidence).
"""
