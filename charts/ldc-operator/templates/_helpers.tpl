{{/* The chart name, or nameOverride. */}}
{{- define "ldc-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object name: the release name (plus the chart name unless
the release name contains it). Cluster-scoped objects (ClusterRoles and their
bindings) carry it too, so two releases never share one.
*/}}
{{- define "ldc-operator.fullname" -}}
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

{{/* Names of the member-cluster objects (memberCluster.enabled). */}}
{{- define "ldc-operator.memberName" -}}
{{- printf "%s-member" (include "ldc-operator.fullname" . | trunc 56 | trimSuffix "-") }}
{{- end }}

{{- define "ldc-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "ldc-operator.labels" -}}
helm.sh/chart: {{ include "ldc-operator.chart" . }}
app.kubernetes.io/name: {{ include "ldc-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ldc-operator
{{- end }}

{{/* Labels selecting the operator's pods (Deployment, Service, PDB, NetworkPolicy, topology spread). */}}
{{- define "ldc-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ldc-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* Labels selecting the relay's pods (relay.yaml). */}}
{{- define "ldc-operator.relaySelectorLabels" -}}
app.kubernetes.io/name: {{ include "ldc-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: relay
{{- end }}

{{/* repository@digest, or repository:tag (tag defaults to the chart's appVersion). Argument: an image value. */}}
{{- define "ldc-operator.image" -}}
{{- $image := index . 0 }}
{{- $root := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{/* The URL sidecars long-poll for routing tables. */}}
{{- define "ldc-operator.routingApiUrl" -}}
{{- if .Values.routingApi.url }}
{{- .Values.routingApi.url }}
{{- else }}
{{- printf "http://%s.%s.svc:%d" (include "ldc-operator.fullname" .) .Release.Namespace (int .Values.service.port) }}
{{- end }}
{{- end }}

{{/* Values that cannot be expressed in values.schema.json. */}}
{{- define "ldc-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount=%d needs leaderElection.enabled=true (two replicas without leader election would both reconcile): set leaderElection.enabled=true or replicaCount=1" (int .Values.replicaCount)) }}
{{- end }}
{{- end }}
