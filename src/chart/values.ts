// The Helm chart's values, as one zod schema: hack/generate.ts writes
// charts/ldc-operator/values.schema.json (every object closed with
// `additionalProperties: false`, so a typo fails `helm install` naming the
// key) and charts/ldc-operator/values.yaml (the defaults, commented with the
// descriptions below) from it.

import { z } from "zod";
import { POD_SECURITY_LEVELS } from "../api/pod-security.ts";

/** Container images are built from this repo's Dockerfile (docs/image.md). */
export const DEFAULT_OPERATOR_IMAGE = "ghcr.io/ldc-operator/ldc-operator";
export const DEFAULT_SIDECAR_IMAGE = "ghcr.io/ldc-operator/ldc-sidecar";

/** Where the alerts' runbook links point by default: docs/runbooks.md of this repository. */
export const RUNBOOK_URL = "https://github.com/ldc-operator/ldc-operator/blob/main/docs/runbooks.md";

/** The port the operator's HTTP server listens on: /healthz, /readyz, /metrics and the routing API. */
export const OPERATOR_HTTP_PORT = 8080;
/** The relay's container port and default Service port (src/relay: RELAY_PORT). */
export const RELAY_HTTP_PORT = 8080;

const quantity = (what: string) =>
  z
    .union([z.string().regex(/^[0-9.]+[a-zA-Z]*$/), z.number().positive()])
    .optional()
    .describe(what);

const ResourceList = z.strictObject({
  cpu: quantity("CPU, e.g. 100m."),
  memory: quantity("Memory, e.g. 128Mi."),
  "ephemeral-storage": quantity("Local ephemeral storage, e.g. 64Mi."),
});

const Resources = (defaults: { requests: z.input<typeof ResourceList>; limits: z.input<typeof ResourceList> }) =>
  z
    .strictObject({
      requests: ResourceList.default(defaults.requests).describe("Requests (what the scheduler reserves)."),
      limits: ResourceList.default(defaults.limits).describe("Limits."),
    })
    .prefault({});

const Image = (repository: string, what: string) =>
  z
    .strictObject({
      repository: z.string().min(1).default(repository).describe("Image repository."),
      tag: z.string().default("").describe("Image tag; empty: the chart's appVersion."),
      digest: z
        .string()
        .regex(/^(sha256:[0-9a-f]{64})?$/)
        .default("")
        .describe("Image digest (sha256:...); set, it wins over the tag."),
      pullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent").describe("Image pull policy."),
    })
    .prefault({})
    .describe(what);

const stringMap = (what: string) => z.record(z.string(), z.string()).default({}).describe(what);

/** A Kubernetes object passed through to the rendered manifest unchecked (the API server validates it). */
const k8sObject = z.looseObject({});

const WhenUnsatisfiable = z.enum(["DoNotSchedule", "ScheduleAnyway"]);

export const Values = z
  .strictObject({
    nameOverride: z.string().max(63).default("").describe("Replaces the chart name in object names."),
    fullnameOverride: z
      .string()
      .max(63)
      .default("")
      .describe(
        "Replaces the whole object name prefix (default: the release name, plus `-ldc-operator` unless it contains it).",
      ),
    memberCluster: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            "Install into a member cluster (a zone's cluster) instead: renders only the member-cluster ClusterRole, a ServiceAccount bound to it and a token Secret for the zone's kubeconfig. Use with --skip-crds.",
          ),
      })
      .prefault({})
      .describe("Member-cluster mode."),
    image: Image(DEFAULT_OPERATOR_IMAGE, "The operator's image (target `operator` of the Dockerfile)."),
    imagePullSecrets: z
      .array(z.strictObject({ name: z.string().min(1) }))
      .default([])
      .describe("Secrets for pulling the operator's image."),
    replicaCount: z
      .int()
      .min(1)
      .max(9)
      .default(2)
      .describe(
        "Operator replicas: one leads (leader election), the others stand by and serve /metrics and the routing API.",
      ),
    leaderElection: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe("Run controllers only while holding the Lease; required with more than one replica."),
      })
      .prefault({})
      .describe(
        "Leader election on the coordination.k8s.io Lease `ldc-operator` in the release namespace (one operator per namespace).",
      ),
    logLevel: z
      .enum(["trace", "debug", "info", "warn", "error", "fatal"])
      .default("info")
      .describe("Log level (JSON logs on stdout)."),
    resources: Resources({
      requests: { cpu: "100m", memory: "128Mi", "ephemeral-storage": "64Mi" },
      limits: { cpu: "1", memory: "512Mi", "ephemeral-storage": "256Mi" },
    }).describe("The operator container's resource requests and limits."),
    sidecar: z
      .strictObject({
        image: Image(
          DEFAULT_SIDECAR_IMAGE,
          "The cell-router sidecar's image (target `sidecar` of the Dockerfile), injected into every CellApp pod.",
        ),
      })
      .prefault({})
      .describe("The cell-router sidecar the operator injects into CellApp pods."),
    routingApi: z
      .strictObject({
        url: z
          .string()
          .regex(/^(https?:\/\/\S+)?$/)
          .default("")
          .describe(
            "URL sidecars long-poll for routing tables (and routing leases, docs/fencing.md). Empty: this release's Service (http://<fullname>.<namespace>.svc:<service.port>), given to sidecars in the operator's own cluster only; member-cluster sidecars then follow their mounted table and hold no lease, so an unreachable member zone cannot be proven fenced. Set an address reachable from member clusters to give it to every zone.",
          ),
        writeTokensSecret: z
          .string()
          .regex(/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$/)
          .max(253)
          .default("")
          .describe(
            "A Secret in the release namespace whose key `tokens` holds the bearer tokens (one per line) allowed to use the routing API: sidecars' reads (tables, leases) and acknowledgements. Empty: the routing API answers no /v1 request (401). With relay.enabled (the default) sidecars use their zone's relay, authenticated by their pods' tokens, and need none; without relays, sidecars read the token from the Secret `ldc-routing-token` (key `token`) in their namespace and, lacking it, hold no routing lease and refuse writes.",
          ),
      })
      .prefault({})
      .describe("The routing API the operator serves on its HTTP port."),
    relay: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe(
            "Run the per-zone relay (Deployment and Service `ldc-relay` in the release namespace, here and, with memberCluster.enabled, in each member cluster) and give every zone's sidecars their zone's relay as routing API: tables within milliseconds of the operator's write and routing leases, without reaching the operator's Service (docs/fencing.md). Install member clusters in the same namespace as the operator. Off: sidecars use routingApi.url as before.",
          ),
        replicaCount: z.int().min(1).max(9).default(2).describe("Relay replicas per cluster (each serves alone)."),
        port: z
          .int()
          .min(1)
          .max(65535)
          .default(RELAY_HTTP_PORT)
          .describe("Port of the `ldc-relay` Service (the sidecars' LDC_ROUTING_API)."),
        resources: Resources({
          requests: { cpu: "50m", memory: "64Mi", "ephemeral-storage": "32Mi" },
          limits: { cpu: "500m", memory: "256Mi", "ephemeral-storage": "64Mi" },
        }).describe("The relay container's resource requests and limits."),
      })
      .prefault({})
      .describe(
        "The per-zone relay (`ldc-relay`, the operator's image): reads only its own cluster's API server (the routing ConfigMaps and the Lease `ldc-routing` in its namespace) and serves the zone's sidecars.",
      ),
    cellAppSecurity: z
      .strictObject({
        admissionPolicy: z
          .boolean()
          .default(true)
          .describe(
            "Install the ValidatingAdmissionPolicy `<fullname>-cellapps`: a CellApp is refused unless its author may create Deployments and Services in its namespace (and impersonate a named ServiceAccount it uses), and unless its pod template keeps to Pod Security baseline (outside privilegedNamespaces). Each message names the field.",
          ),
        privilegedNamespaces: z
          .array(
            z
              .string()
              .max(63)
              .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
          )
          .default([])
          .describe(
            "The cluster admin's exception list: namespaces whose CellApps may use fields beyond Pod Security baseline (host namespaces, hostPath, privileged containers, ...). The admission policy and the operator let them through there, and namespaces the operator creates for them in member clusters get the `privileged` level.",
          ),
        memberNamespaceLevel: z
          .enum(POD_SECURITY_LEVELS)
          .default("baseline")
          .describe(
            "Pod Security level (label pod-security.kubernetes.io/enforce) of the namespaces the operator creates in member clusters for CellApps; privilegedNamespaces get `privileged`. Existing namespaces are left as they are.",
          ),
      })
      .prefault({})
      .describe(
        "What a CellApp may ask the operator to create (docs/adr/0011-cellapps-cannot-escalate.md): the operator stamps its pod template with its own rights in every zone's cluster.",
      ),
    client: z
      .strictObject({
        qps: z.int().min(1).default(50).describe("Requests per second to each cluster's API server."),
        burst: z.int().min(1).default(100).describe("Burst above qps."),
      })
      .prefault({})
      .describe("The operator's Kubernetes client rate limit, per cluster."),
    service: z
      .strictObject({
        type: z.enum(["ClusterIP", "LoadBalancer"]).default("ClusterIP").describe("Service type."),
        port: z
          .int()
          .min(1)
          .max(65535)
          .default(OPERATOR_HTTP_PORT)
          .describe("Service port (metrics and the routing API)."),
        annotations: stringMap("Service annotations (e.g. for a load balancer)."),
      })
      .prefault({})
      .describe("The Service in front of the operator: /metrics and the routing API."),
    serviceMonitor: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe("Create a prometheus-operator ServiceMonitor (needs the monitoring.coreos.com CRDs)."),
        interval: z
          .string()
          .regex(/^[0-9]+(ms|s|m|h)$/)
          .default("30s")
          .describe("Scrape interval."),
        scrapeTimeout: z
          .string()
          .regex(/^[0-9]+(ms|s|m|h)$/)
          .default("10s")
          .describe("Scrape timeout."),
        labels: stringMap("Extra labels, e.g. the one your Prometheus selects ServiceMonitors by."),
      })
      .prefault({})
      .describe("Prometheus scraping."),
    prometheusRule: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe(
            "Create a prometheus-operator PrometheusRule with the operator's alerts (files/alerts.yaml; runbooks in docs/runbooks.md; needs the monitoring.coreos.com CRDs).",
          ),
        runbookUrl: z
          .string()
          .regex(/^https?:\/\/\S+$/)
          .default(RUNBOOK_URL)
          .describe("Where the alerts' runbook_url annotations point (each adds #<alert name, lower case>)."),
        labels: stringMap("Extra labels, e.g. the one your Prometheus selects PrometheusRules by."),
      })
      .prefault({})
      .describe("Alerts for the people on call."),
    grafanaDashboard: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe("Create a ConfigMap holding the operator's Grafana dashboard (files/dashboard.json)."),
        labels: z
          .record(z.string(), z.string())
          .default({ grafana_dashboard: "1" })
          .describe("Labels of the ConfigMap: the one Grafana's dashboard sidecar looks for, and any others."),
        annotations: stringMap("Annotations of the ConfigMap, e.g. grafana_folder for the sidecar's folder."),
      })
      .prefault({})
      .describe("The Grafana dashboard, for Grafana's dashboard sidecar."),
    networkPolicy: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe("Create a NetworkPolicy restricting ingress to the operator's pods to its HTTP port."),
        from: z
          .array(k8sObject)
          .default([])
          .describe(
            "NetworkPolicyPeers allowed to reach the HTTP port. Empty: any source, on that port only (sidecars in every app namespace and in member clusters long-poll the routing API; Prometheus scrapes /metrics).",
          ),
      })
      .prefault({})
      .describe("Ingress NetworkPolicy for the operator's pods."),
    podDisruptionBudget: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Create a PodDisruptionBudget."),
        maxUnavailable: z
          .int()
          .min(1)
          .default(1)
          .describe("Pods that voluntary disruptions (drains) may take down at once."),
      })
      .prefault({})
      .describe("PodDisruptionBudget for the operator's pods."),
    topologySpread: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Spread replicas across zones and nodes."),
        zone: WhenUnsatisfiable.default("ScheduleAnyway").describe("Across topology.kubernetes.io/zone."),
        node: WhenUnsatisfiable.default("DoNotSchedule").describe("Across kubernetes.io/hostname."),
      })
      .prefault({})
      .describe("Topology spread constraints of the operator's pods (labelSelector: the chart's pod labels)."),
    serviceAccount: z
      .strictObject({ annotations: stringMap("ServiceAccount annotations.") })
      .prefault({})
      .describe("The operator's ServiceAccount (always created; named like the release)."),
    podAnnotations: stringMap("Extra pod annotations."),
    podLabels: stringMap("Extra pod labels."),
    nodeSelector: stringMap("Pod nodeSelector."),
    tolerations: z.array(k8sObject).default([]).describe("Pod tolerations."),
    affinity: k8sObject.default({}).describe("Pod affinity."),
    priorityClassName: z.string().default("").describe("Pod priorityClassName."),
  })
  .describe("Values of the ldc-operator Helm chart.");

export type ChartValues = z.output<typeof Values>;
export type ChartValuesInput = z.input<typeof Values>;

/** The chart's default values. */
export function defaultValues(): ChartValues {
  return Values.parse({});
}

/** values.schema.json: JSON Schema draft-07 (what Helm validates values against). */
export function valuesJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(Values, { target: "draft-7", io: "input" }) as Record<string, unknown>;
  return { ...schema, title: "ldc-operator chart values" };
}
