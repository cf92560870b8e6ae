{{- define "viz.createdBy" -}}
linkerd.io/created-by: linkerd/helm {{ .Values.linkerdVersion }}
{{- end -}}

{{- define "viz.partOf" -}}
app.kubernetes.io/part-of: Linkerd
app.kubernetes.io/version: {{ .Values.linkerdVersion }}
{{- end -}}

{{- define "viz.prometheusUrl" -}}
{{- if .Values.prometheusUrl -}}
{{ .Values.prometheusUrl }}
{{- else if .Values.prometheus.enabled -}}
http://prometheus.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}:9090
{{- else -}}
{{ fail "Please enable `linkerd-prometheus` or provide `prometheusUrl` for the viz extension to function properly" }}
{{- end -}}
{{- end -}}
