{{- /*
Generated from deploy/components/kube-system/config-patch.yaml by `python deploy/generate.py`: edit that, never this file.
What kubeSystem.enabled changes in the config file (merged over .Values.config).
*/ -}}
{{- define "winpod.kubeSystemPatch" -}}
namespaces:
  kube-system:
    maxAction: warn
{{- end -}}
