{{- define "prometheus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "prometheus.server.fullname" -}}
{{- $name := include "prometheus.name" . -}}
{{- if contains $name .Release.Name -}}
{{- printf "%s-%s" .Release.Name .Values.server.name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s-%s" .Release.Name $name .Values.server.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "prometheus.server.matchLabels" -}}
app.kubernetes.io/component: {{ .Values.server.name }}
app.kubernetes.io/name: {{ include "prometheus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "prometheus.server.labels" -}}
{{ include "prometheus.server.matchLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
app.kubernetes.io/part-of: {{ include "prometheus.name" . }}
{{- end -}}

{{- define "prometheus.serviceAccountName.server" -}}
{{- default (include "prometheus.server.fullname" .) .Values.serviceAccounts.server.name -}}
{{- end -}}

{{- define "prometheus.clusterRoleName" -}}
{{- default (include "prometheus.server.fullname" .) .Values.server.clusterRoleNameOverride -}}
{{- end -}}

{{- /* Fixture only: true when the pod asks the (absent) proxy injector for a sidecar. */ -}}
{{- define "prometheus.injected" -}}
{{- if eq (toString (index .Values.server.podAnnotations "linkerd.io/inject")) "enabled" -}}true{{- end -}}
{{- end -}}

{{- define "prometheus.storageClass" -}}
{{- with .Values.server.persistentVolume.storageClass -}}
{{- if eq "-" . -}}
storageClassName: ""
{{- else -}}
storageClassName: {{ . | quote }}
{{- end -}}
{{- end -}}
{{- end -}}
