{{/* The chart name, or nameOverride: the app.kubernetes.io/name label. */}}
{{- define "kubepay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: fullnameOverride, else the release name (when it contains the
chart name) or <release>-<chart>. A release named kubepay gets config/default's namePrefix.
*/}}
{{- define "kubepay.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A resource name: <fullname>-<suffix>, the names config/default gives after its namePrefix. */}}
{{- define "kubepay.resourceName" -}}
{{- printf "%s-%s" (include "kubepay.fullname" .root) .suffix | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubepay.managerName" -}}
{{- include "kubepay.resourceName" (dict "root" . "suffix" "controller-manager") }}
{{- end }}

{{- define "kubepay.callbackServiceName" -}}
{{- include "kubepay.resourceName" (dict "root" . "suffix" "callback") }}
{{- end }}

{{- define "kubepay.metricsServiceName" -}}
{{- include "kubepay.resourceName" (dict "root" . "suffix" "controller-manager-metrics-service") }}
{{- end }}

{{- define "kubepay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubepay.managerName" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "kubepay.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "kubepay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ include "kubepay.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kubepay
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* The manager pods' selector (the Deployment's, the Services', the NetworkPolicy's, the PDB's). */}}
{{- define "kubepay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kubepay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
control-plane: controller-manager
{{- end }}

{{- define "kubepay.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "kubepay.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "kubepay.imageTag" .) }}
{{- end }}
{{- end }}

{{/* Whether the callback server serves HTTPS (--notify-cert-dir). */}}
{{- define "kubepay.callbackTLS" -}}
{{- if .Values.callback.tls.enabled }}true{{ end }}
{{- end }}

{{- define "kubepay.callbackTLSSecretName" -}}
{{- if .Values.callback.tls.certManager.enabled }}
{{- default (include "kubepay.resourceName" (dict "root" . "suffix" "callback-tls")) .Values.callback.tls.secretName }}
{{- else }}
{{- required "callback.tls.enabled needs callback.tls.secretName or callback.tls.certManager.enabled" .Values.callback.tls.secretName }}
{{- end }}
{{- end }}

{{- define "kubepay.callbackServicePort" -}}
{{- if .Values.callback.service.port }}
{{- .Values.callback.service.port }}
{{- else if include "kubepay.callbackTLS" . }}443
{{- else }}80
{{- end }}
{{- end }}

{{/* The metrics port inside the pod: 8443 (HTTPS, --metrics-secure) or 8080. */}}
{{- define "kubepay.metricsPort" -}}
{{- if .Values.metrics.secure }}8443{{ else }}8080{{ end }}
{{- end }}

{{/* What providers are told to call: callback.baseURL, else the first ingress host or route hostname. */}}
{{- define "kubepay.callbackBaseURL" -}}
{{- if .Values.callback.baseURL }}
{{- .Values.callback.baseURL | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- $host := first .Values.ingress.hosts }}
{{- $tls := false }}
{{- range .Values.ingress.tls }}{{ if has $host .hosts }}{{ $tls = true }}{{ end }}{{ end }}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host }}
{{- else if and .Values.httpRoute.enabled .Values.httpRoute.hostnames }}
{{- printf "https://%s" (first .Values.httpRoute.hostnames) }}
{{- end }}
{{- end }}
