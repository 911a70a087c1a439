{{- /*
The modes (values `mode`, deploy/README.md "Modes"):
  webhook   both webhooks and what runs them (Deployment, Service, certificates, RBAC, config);
  hybrid    the exported ValidatingAdmissionPolicies validate, the mutating webhook places;
  policies  the exported policies alone: nothing runs, the apiserver enforces the rules.
*/ -}}

{{/* "true" when the mode runs the webhook server (webhook, hybrid), else empty. */}}
{{- define "winpod.runsWebhook" -}}
{{- if ne .Values.mode "policies" -}}true{{- end -}}
{{- end -}}

{{/* "true" when the chart renders exported policies (modes policies and hybrid). */}}
{{- define "winpod.rendersPolicies" -}}
{{- if and (ne .Values.mode "webhook") .Values.policies.enabled -}}true{{- end -}}
{{- end -}}

{{/* The release asked for: policies.kubernetesVersion, else the cluster's. */}}
{{- define "winpod.policiesVersionAsked" -}}
{{- .Values.policies.kubernetesVersion | default .Capabilities.KubeVersion.Version -}}
{{- end -}}

{{/* The release whose export the chart installs ("1.36"): the one asked for, or the newest
shipped when it is newer. Fails below the first release that serves ValidatingAdmissionPolicy
v1, naming where the version came from. */}}
{{- define "winpod.policiesMinor" -}}
{{- $exported := include "winpod.exported" . | fromJson -}}
{{- $asked := include "winpod.policiesVersionAsked" . -}}
{{- $from := "policies.kubernetesVersion" -}}
{{- if not .Values.policies.kubernetesVersion -}}
{{- $from = "the cluster's version (helm template: --kube-version, or set policies.kubernetesVersion)" -}}
{{- end -}}
{{- $parts := regexFindAll "[0-9]+" $asked 2 -}}
{{- if lt (len $parts) 2 -}}
{{- fail (printf "mode %s: %q (from %s) is not a Kubernetes version such as 1.33" .Values.mode $asked $from) -}}
{{- end -}}
{{- $major := index $parts 0 | atoi -}}
{{- $minor := index $parts 1 | atoi -}}
{{- $first := first $exported.minors -}}
{{- $firstParts := regexFindAll "[0-9]+" $first 2 -}}
{{- $firstMajor := index $firstParts 0 | atoi -}}
{{- $firstMinor := index $firstParts 1 | atoi -}}
{{- if or (lt $major $firstMajor) (and (eq $major $firstMajor) (lt $minor $firstMinor)) -}}
{{- fail (printf "mode %s needs Kubernetes %s or later, and %s gives %s: ValidatingAdmissionPolicy admissionregistration.k8s.io/v1 is served from %s (its v1beta1 is off by default). Keep mode webhook (the default) on this cluster, or set policies.kubernetesVersion if the version is wrong." .Values.mode $first $from $asked $first) -}}
{{- end -}}
{{- $wanted := printf "%d.%d" $major $minor -}}
{{- if has $wanted $exported.minors -}}
{{- $wanted -}}
{{- else -}}
{{- last $exported.minors -}}
{{- end -}}
{{- end -}}
