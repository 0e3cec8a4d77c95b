{{/* The chart's name. */}}
{{- define "divisor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object's name: <release>-divisor, or the release name when it already says divisor. */}}
{{- define "divisor.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "divisor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "divisor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "divisor.labels" -}}
{{ include "divisor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end -}}

{{- define "divisor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "divisor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "divisor.adminSecretName" -}}
{{- default (printf "%s-admin" (include "divisor.fullname" .)) .Values.admin.existingSecret -}}
{{- end -}}

{{- define "divisor.adminSecretKey" -}}
{{- if .Values.admin.existingSecret -}}{{ .Values.admin.existingSecretKey }}{{- else -}}token{{- end -}}
{{- end -}}

{{/* Refuses values that cannot work, with what to change. */}}
{{- define "divisor.checks" -}}
{{- if not (or (eq .Values.kind "Deployment") (eq .Values.kind "DaemonSet")) -}}
{{- fail (printf "kind: %v is not supported; use Deployment or DaemonSet" .Values.kind) -}}
{{- end -}}
{{- if hasKey .Values.config "admin" -}}
{{- fail "config.admin: the chart writes the admin section; set admin.port, admin.token or admin.existingSecret instead" -}}
{{- end -}}
{{- if hasKey .Values.config "providers" -}}
{{- fail "config.providers: the chart writes the providers section; set controller.* instead" -}}
{{- end -}}
{{- if and .Values.admin.token (lt (len .Values.admin.token) 16) -}}
{{- fail "admin.token: the admin token must be at least 16 characters (openssl rand -hex 24)" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.admin.service.enabled) -}}
{{- fail "serviceMonitor.enabled needs admin.service.enabled: the ServiceMonitor scrapes the admin Service" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (eq .Values.kind "DaemonSet") -}}
{{- fail "autoscaling.enabled works with kind: Deployment only (a DaemonSet runs one pod per node)" -}}
{{- end -}}
{{- end -}}

{{/* divisor.yaml: the admin section, the kubernetes provider in controller mode, then config. */}}
{{- define "divisor.config" -}}
admin:
  address: "0.0.0.0:{{ .Values.admin.port }}"
  tokens:
    - name: {{ .Values.admin.tokenName | quote }}
      token: "${DIVISOR_ADMIN_TOKEN}"
{{- if .Values.controller.enabled }}
providers:
  - type: kubernetes
    {{- with .Values.controller.namespaces }}
    namespaces: {{- toYaml . | nindent 6 }}
    {{- end }}
    endpointSlices: {{ .Values.controller.endpointSlices }}
    ingress:
      enabled: {{ .Values.controller.ingress.enabled }}
      class: {{ .Values.controller.ingress.class | quote }}
    gatewayApi:
      enabled: {{ .Values.controller.gatewayApi.enabled }}
      controllerName: {{ .Values.controller.gatewayApi.controllerName | quote }}
    {{- with .Values.controller.statusAddress }}
    statusAddress: {{ . | quote }}
    {{- end }}
{{- end }}
{{ toYaml .Values.config }}
{{- end -}}
