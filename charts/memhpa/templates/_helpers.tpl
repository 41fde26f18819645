{{/*
Names and labels of every object come from here and nowhere else.
*/}}

{{/* The chart name, overridable. */}}
{{- define "memhpa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The object name prefix. Truncated to 55 characters so that component suffixes
("-webhook", "-scaler", "-serving") keep names within the 63 of a DNS label.
*/}}
{{- define "memhpa.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "memhpa.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: immutable in a Deployment, so they never carry the version. */}}
{{- define "memhpa.selectorLabels" -}}
app.kubernetes.io/name: {{ include "memhpa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "memhpa.labels" -}}
helm.sh/chart: {{ include "memhpa.chart" . }}
{{ include "memhpa.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: memhpa
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Object names of the components. */}}
{{- define "memhpa.webhookServiceName" -}}
{{ include "memhpa.fullname" . }}-webhook
{{- end }}
{{- define "memhpa.metricsServiceName" -}}
{{ include "memhpa.fullname" . }}-metrics
{{- end }}
{{- define "memhpa.servingCertName" -}}
{{ include "memhpa.fullname" . }}-serving
{{- end }}
{{- define "memhpa.servingSecretName" -}}
{{ include "memhpa.fullname" . }}-serving-tls
{{- end }}
{{- define "memhpa.caName" -}}
{{ include "memhpa.fullname" . }}-ca
{{- end }}
{{- define "memhpa.selfSignedIssuerName" -}}
{{ include "memhpa.fullname" . }}-selfsigned
{{- end }}
{{- define "memhpa.leaseName" -}}
{{- default (printf "%s-scaler" (include "memhpa.fullname" .)) .Values.scaler.leaderElection.id }}
{{- end }}
{{- /* The Leases of the scaler: the one named memhpa.leaseName, or one a shard. */}}
{{- define "memhpa.leaseNames" -}}
{{- $name := include "memhpa.leaseName" . }}
{{- $n := int .Values.scaler.shards }}
{{- if le $n 1 }}
{{- list $name | toJson }}
{{- else }}
{{- $names := list }}
{{- range $i := until $n }}
{{- $names = append $names (printf "%s-%d" $name $i) }}
{{- end }}
{{- $names | toJson }}
{{- end }}
{{- end }}
{{- define "memhpa.leaderElectionRoleName" -}}
{{ include "memhpa.fullname" . }}-leader-election
{{- end }}

{{/* The ServiceAccount the pods run as. */}}
{{- define "memhpa.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "memhpa.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference: repository@digest, or repository:tag (tag defaults to appVersion). */}}
{{- define "memhpa.image" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository (default .appVersion .tag) }}
{{- end }}
{{- end }}

{{/* The webhook DNS names in the serving certificate. */}}
{{- define "memhpa.webhookDNSNames" -}}
{{- $svc := include "memhpa.webhookServiceName" . }}
- {{ $svc }}
- {{ $svc }}.{{ .Release.Namespace }}
- {{ $svc }}.{{ .Release.Namespace }}.svc
- {{ $svc }}.{{ .Release.Namespace }}.svc.{{ .Values.clusterDomain }}
{{- end }}

{{/*
"true" when the self-signed path's Secret of the previous release (a lookup,
empty under `helm template`) can serve again: it holds tls.crt, tls.key and
ca.crt, was issued for exactly these DNS names, and expires neither within a
third of selfSignedCert.validityDays (cert-manager's default renewal point) nor
later than a certificate issued now would (a lowered validityDays takes
effect). Its annotations say what it was issued for, since Helm's templates
cannot parse a certificate. Arguments: secret, dnsNames (a list), days.
*/}}
{{- define "memhpa.selfSignedReusable" -}}
{{- $s := .secret }}
{{- $has := and (dig "data" "tls.crt" "" $s) (dig "data" "tls.key" "" $s) (dig "data" "ca.crt" "" $s) }}
{{- $names := dig "metadata" "annotations" "autoscaling.memhpa.io/dns-names" "" $s }}
{{- $notAfter := dig "metadata" "annotations" "autoscaling.memhpa.io/not-after" "" $s }}
{{- if and $has (eq $names (join "," .dnsNames)) $notAfter }}
{{- $left := sub (toDate "2006-01-02T15:04:05Z07:00" $notAfter).Unix (now).Unix }}
{{- $lifetime := mul .days 86400 }}
{{- if and (gt $left (div $lifetime 3)) (le $left $lifetime) }}true{{ end }}
{{- end }}
{{- end }}

{{/* Where the serving Secret is mounted: a directory, so renewals reach the pod. */}}
{{- define "memhpa.tlsDir" -}}
/tls
{{- end }}

{{/*
Where the webhook reads the CA bundle of the apiserver's client certificate
(webhook.clientCA), and whether it does: "true" or "". One source only.
*/}}
{{- define "memhpa.clientCADir" -}}
/client-ca
{{- end }}
{{- define "memhpa.clientCAEnabled" -}}
{{- $c := .Values.webhook.clientCA }}
{{- if and $c.configMap $c.secret }}
{{- fail "webhook.clientCA: set configMap or secret, not both" }}
{{- end }}
{{- if or $c.configMap $c.secret }}true{{ end }}
{{- end }}

{{/*
The fields both webhook configurations share. Arguments: ctx (the root
context), path, caBundle (empty when cert-manager injects it). The apiserver
calls webhook.url + path when it is set, else the Service.
*/}}
{{- define "memhpa.webhookCommon" -}}
{{- $ := .ctx -}}
{{- $path := .path -}}
admissionReviewVersions: ["v1"]
sideEffects: None
matchPolicy: Equivalent
failurePolicy: {{ $.Values.webhook.failurePolicy }}
timeoutSeconds: {{ $.Values.webhook.timeoutSeconds }}
{{- with $.Values.webhook.namespaceSelector }}
namespaceSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
clientConfig:
  {{- with $.Values.webhook.url }}
  url: {{ printf "%s%s" . $path | quote }}
  {{- else }}
  service:
    name: {{ include "memhpa.webhookServiceName" $ }}
    namespace: {{ $.Release.Namespace }}
    path: {{ .path }}
    port: {{ $.Values.webhook.service.port }}
  {{- end }}
  {{- with .caBundle }}
  caBundle: {{ . }}
  {{- end }}
rules:
  - apiGroups: ["autoscaling.memhpa.io"]
    apiVersions: ["v1alpha1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["memhpas"]
    scope: Namespaced
{{- end }}
