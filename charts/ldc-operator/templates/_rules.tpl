{{- /* Generated from src/chart/permissions.ts by `npm run generate` (hack/generate.ts). DO NOT EDIT. */ -}}

{{- define "ldc-operator.rules.operatorCluster" -}}
# watch every ldc.io kind (informer caches)
- apiGroups:
    - ldc.io
  resources:
    - zones
    - cells
    - shardingrules
    - cellapps
    - failovers
    - drillschedules
  verbs:
    - get
    - list
    - watch
# write each kind's status (server-side apply of the status subresource)
- apiGroups:
    - ldc.io
  resources:
    - zones/status
    - cells/status
    - shardingrules/status
    - cellapps/status
    - failovers/status
    - drillschedules/status
  verbs:
    - patch
# bump a ShardingRule's epoch and advance a Failover's state machine with updates checked against resourceVersion, so two leaders can never both take the same step
- apiGroups:
    - ldc.io
  resources:
    - shardingrules/status
    - failovers/status
  verbs:
    - update
# add and remove the ldc.io/cleanup finalizer on CellApps
- apiGroups:
    - ldc.io
  resources:
    - cellapps
  verbs:
    - patch
    - update
# owner references with blockOwnerDeletion to a CellApp on its Deployments and Services (required where the OwnerReferencesPermissionEnforcement admission plugin is on)
- apiGroups:
    - ldc.io
  resources:
    - cellapps/finalizers
  verbs:
    - update
# automatic failover and drill schedules create a Failover, so every failover is visible and auditable; a drill schedule deletes its finished drills beyond spec.historyLimit; a running Failover carries a finalizer, so deleting it aborts it before it goes
- apiGroups:
    - ldc.io
  resources:
    - failovers
  verbs:
    - create
    - delete
    - patch
# stamp each CellApp's Deployment per cell and zone (server-side apply), scale standbys, delete what a CellApp no longer wants
- apiGroups:
    - apps
  resources:
    - deployments
  verbs:
    - list
    - watch
    - create
    - patch
    - delete
# stamp each CellApp's Service per cell and zone, delete what a CellApp no longer wants
- apiGroups:
    - ""
  resources:
    - services
  verbs:
    - list
    - watch
    - create
    - patch
    - delete
# publish each ShardingRule's routing table (a ConfigMap the sidecars mount) in every namespace running its apps, delete it when the rule is deleted; read the automatic-failover settings ConfigMap in the operator's namespace
- apiGroups:
    - ""
  resources:
    - configmaps
  verbs:
    - list
    - watch
    - create
    - patch
    - delete
# zone health: Ready nodes carrying the zone's node selector
- apiGroups:
    - ""
  resources:
    - nodes
  verbs:
    - list
    - watch
# the Failover barrier's expected set: the Running pods, with a sidecar, of the stamped workloads in every zone
- apiGroups:
    - ""
  resources:
    - pods
  verbs:
    - list
    - watch
# record Events (core/v1), bumping the count of a repeated one
- apiGroups:
    - ""
  resources:
    - events
  verbs:
    - create
    - patch
# record Events (events.k8s.io/v1), bumping the series of a repeated one
- apiGroups:
    - events.k8s.io
  resources:
    - events
  verbs:
    - create
    - patch
# check that a CellApp's namespace exists before publishing a routing table into it
- apiGroups:
    - ""
  resources:
    - namespaces
  verbs:
    - get
{{- end }}

{{- define "ldc-operator.rules.operatorNamespace" -}}
# leader election on a Lease in the operator's namespace; renew the relays' routing Lease (ldc-routing, server-side apply) there, which is also the home cluster's relay namespace
- apiGroups:
    - coordination.k8s.io
  resources:
    - leases
  verbs:
    - get
    - create
    - update
    - patch
# member-cluster kubeconfigs (Zone spec.cluster.kubeconfigSecretRef), kept in the operator's namespace only
- apiGroups:
    - ""
  resources:
    - secrets
  verbs:
    - get
    - list
    - watch
{{- end }}

{{- define "ldc-operator.rules.memberCluster" -}}
# stamp each CellApp's Deployment per cell and zone (server-side apply), scale standbys, delete what a CellApp no longer wants
- apiGroups:
    - apps
  resources:
    - deployments
  verbs:
    - list
    - watch
    - create
    - patch
    - delete
# stamp each CellApp's Service per cell and zone, delete what a CellApp no longer wants
- apiGroups:
    - ""
  resources:
    - services
  verbs:
    - list
    - watch
    - create
    - patch
    - delete
# publish each ShardingRule's routing table (a ConfigMap the sidecars mount) in every namespace running its apps, delete it when the rule is deleted
- apiGroups:
    - ""
  resources:
    - configmaps
  verbs:
    - list
    - watch
    - create
    - patch
    - delete
# zone health: Ready nodes carrying the zone's node selector
- apiGroups:
    - ""
  resources:
    - nodes
  verbs:
    - list
    - watch
# the Failover barrier's expected set: the Running pods, with a sidecar, of the stamped workloads in every zone
- apiGroups:
    - ""
  resources:
    - pods
  verbs:
    - list
    - watch
# record Events (core/v1), bumping the count of a repeated one
- apiGroups:
    - ""
  resources:
    - events
  verbs:
    - create
    - patch
# record Events (events.k8s.io/v1), bumping the series of a repeated one
- apiGroups:
    - events.k8s.io
  resources:
    - events
  verbs:
    - create
    - patch
# create a CellApp's namespace in a member cluster before its first workload lands there
- apiGroups:
    - ""
  resources:
    - namespaces
  verbs:
    - get
    - create
{{- end }}

{{- define "ldc-operator.rules.memberRelayNamespace" -}}
# renew the Lease ldc-routing (server-side apply) that the zone's relay grants routing leases from (docs/fencing.md)
- apiGroups:
    - coordination.k8s.io
  resources:
    - leases
  verbs:
    - create
    - patch
{{- end }}

{{- define "ldc-operator.rules.relay" -}}
# the routing tables the operator publishes into the relay's namespace (ConfigMaps labelled ldc.io/routing-table); the acks the relay holds, in its ConfigMap ldc-acks-<relay pod> (labelled ldc.io/acks) the operator watches
- apiGroups:
    - ""
  resources:
    - configmaps
  verbs:
    - get
    - list
    - watch
    - create
    - update
# the Lease ldc-routing the operator renews: the relay grants routing leases only while it sees renewals
- apiGroups:
    - coordination.k8s.io
  resources:
    - leases
  verbs:
    - get
{{- end }}

{{- define "ldc-operator.rules.relayCluster" -}}
# authenticate each sidecar's ack: a TokenReview (audience ldc-relay) of the pod-bound token it sends names its pod
- apiGroups:
    - authentication.k8s.io
  resources:
    - tokenreviews
  verbs:
    - create
{{- end }}
