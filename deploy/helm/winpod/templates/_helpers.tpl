{{/* The name every object shares: the release name, or release-chart when they differ. */}}
{{- define "winpod.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "winpod.labels" -}}
app.kubernetes.io/name: winpod
app.kubernetes.io/part-of: winpod
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "winpod.selectorLabels" -}}
app.kubernetes.io/name: winpod
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "winpod.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The effective config file: values.config, with the kustomize components' patches merged
over it: warn-only's (_warn_only.tpl) when warnOnly is set, kube-system's (_kube_system.tpl)
when kubeSystem.enabled is. */}}
{{- define "winpod.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- if .Values.warnOnly -}}
{{- $cfg = mergeOverwrite $cfg (include "winpod.warnOnlyPatch" . | fromYaml) -}}
{{- end -}}
{{- if .Values.kubeSystem.enabled -}}
{{- $cfg = mergeOverwrite $cfg (include "winpod.kubeSystemPatch" . | fromYaml) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* cert-manager's injection annotation, or the caBundle from the self-managed CA. */}}
{{- define "winpod.caAnnotation" -}}
{{- if eq .Values.certificates.mode "certManager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s-serving" .Release.Namespace (include "winpod.fullname" .) }}
{{- end }}
{{- end -}}

{{- define "winpod.caBundle" -}}
{{- if eq .Values.certificates.mode "selfManaged" }}
caBundle: {{ required "certificates.selfManaged.caCrt is required (winpod certs --out-dir certs; --set-file certificates.selfManaged.caCrt=certs/ca.crt)" .Values.certificates.selfManaged.caCrt | b64enc }}
{{- end }}
{{- end -}}

{{- define "winpod.restrictedContainerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
