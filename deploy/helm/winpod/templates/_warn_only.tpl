{{- /*
Generated from deploy/components/warn-only/config-patch.yaml by `python deploy/generate.py`: edit that, never this file.
What warnOnly changes in the config file (merged over .Values.config).
*/ -}}
{{- define "winpod.warnOnlyPatch" -}}
maxAction: warn
{{- end -}}
