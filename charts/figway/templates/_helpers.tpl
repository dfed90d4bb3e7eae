{{/* Names, labels and the decisions more than one template needs. */}}

{{- define "figway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, with the chart name unless the release name already has it. */}}
{{- define "figway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Selector labels: never change after install (a Deployment selector is immutable). */}}
{{- define "figway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "figway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "figway.labels" -}}
{{ include "figway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: figway
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "figway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "figway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator image; by digest when one is given. */}}
{{- define "figway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "figway.gatewayImage" -}}
{{- default (include "figway.image" .) .Values.gateway.image -}}
{{- end -}}

{{/* "true" when the operator elects a leader: explicitly, or (auto) when it has replicas to spare. */}}
{{- define "figway.leaderElection" -}}
{{- $mode := .Values.operator.leaderElection.enabled -}}
{{- if eq (toString $mode) "auto" -}}
{{- ternary "true" "false" (gt (int .Values.operator.replicas) 1) -}}
{{- else -}}
{{- ternary "true" "false" (eq (toString $mode) "true") -}}
{{- end -}}
{{- end -}}

{{- define "figway.podDisruptionBudget" -}}
{{- $mode := .Values.operator.podDisruptionBudget.enabled -}}
{{- if eq (toString $mode) "auto" -}}
{{- ternary "true" "false" (gt (int .Values.operator.replicas) 1) -}}
{{- else -}}
{{- ternary "true" "false" (eq (toString $mode) "true") -}}
{{- end -}}
{{- end -}}

{{/*
The rules the operator needs wherever it reconciles ApiRoutes: in a ClusterRole (all
namespaces) or in a Role per watched namespace. Each rule is an API call the operator makes;
test/unit/chart/rbac.test.ts compares these with the operator's own list, so a verb the code
does not use cannot creep in.
*/}}
{{- define "figway.operatorRules" -}}
- apiGroups: ["figway.dev"]
  resources: ["apiroutes"]
  verbs: ["list", "watch"]
- apiGroups: ["figway.dev"]
  resources: ["apiroutes/status"]
  verbs: ["patch"]
- apiGroups: ["figway.dev"]
  # Owner references with blockOwnerDeletion need update on the owner's finalizers
  # (OwnerReferencesPermissionEnforcement admission).
  resources: ["apiroutes/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["configmaps", "serviceaccounts", "services"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Secrets: get to check that the Secrets an ApiRoute names exist (never kept); list and
# watch only because the API server lets the operator grant a gateway Role no more than it
# holds itself, and each gateway gets get/list/watch on its own Secrets by name.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/* Fails the render with a clear message when a Prometheus Operator kind is asked for but the cluster lacks its API. */}}
{{- define "figway.requireMonitoringApi" -}}
{{- if not (.root.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") -}}
{{- fail (printf "%s.enabled is true but the cluster has no monitoring.coreos.com/v1 API: install the Prometheus Operator CRDs first (or pass --api-versions monitoring.coreos.com/v1 to helm template)" .key) -}}
{{- end -}}
{{- end -}}

{{/* The Lease calls of leader election (create the Lease, read it, renew or take it over). */}}
{{- define "figway.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end -}}

{{/*
The gateway defaults the operator applies to every gateway (`--gateway-defaults`, JSON of
the spec.gateway fields they share; the operator validates it with the ApiRoute schema).
Empty values are left out, so the operator's own default applies.
*/}}
{{- define "figway.gatewayDefaults" -}}
{{- $gateway := .Values.gateway -}}
{{- $defaults := dict -}}
{{- range $field := list "nodeSelector" "tolerations" "affinity" "topologySpreadConstraints" "priorityClassName" "podLabels" "env" -}}
{{- with index $gateway $field -}}
{{- $_ := set $defaults $field . -}}
{{- end -}}
{{- end -}}
{{- with .Values.imagePullSecrets -}}
{{- $_ := set $defaults "imagePullSecrets" . -}}
{{- end -}}
{{- with $gateway.serviceAccount.annotations -}}
{{- $_ := set $defaults "serviceAccount" (dict "annotations" .) -}}
{{- end -}}
{{- $service := dict -}}
{{- range $field := list "annotations" "loadBalancerClass" "externalTrafficPolicy" -}}
{{- with index $gateway.service $field -}}
{{- $_ := set $service $field . -}}
{{- end -}}
{{- end -}}
{{- if or $service (ne $gateway.service.type "ClusterIP") -}}
{{- $_ := set $service "type" $gateway.service.type -}}
{{- $_ := set $defaults "service" $service -}}
{{- end -}}
{{- if $defaults -}}
{{- toJson $defaults -}}
{{- end -}}
{{- end -}}

{{/* prometheus.io annotations, for Prometheus setups that find targets by annotation. */}}
{{- define "figway.scrapeAnnotations" -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .Values.operator.adminPort | quote }}
prometheus.io/path: /metrics
{{- end -}}
