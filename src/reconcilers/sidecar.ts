// The cell-router sidecar's contract with the pods it is injected into: the
// container, its flags and environment, the routing-table mount and ports.
// The sidecar (src/sidecar) reads exactly these; a test holds both ends.
import type { CellType } from "../api/index.ts";
import { routingTableName } from "./naming.ts";

export const SIDECAR_CONTAINER = "ldc-sidecar";
/** The container port of the sidecar's admin endpoints (probes and Prometheus use it by name). */
export const SIDECAR_ADMIN_PORT_NAME = "ldc-admin";
const METRICS_PATH = "/__ldc/metrics";
export const ROUTING_VOLUME = "ldc-routing";
export const ROUTING_MOUNT_PATH = "/etc/ldc/routing";
/** The file name of the serialised table inside the routing ConfigMap. */
export const ROUTING_TABLE_KEY = "table.json";
/**
 * The Secret (in the app's namespace) whose key `token` the sidecar sends as
 * its bearer token when acknowledging epochs; optional: without it the
 * sidecar routes but cannot report, and the rule's status counts it out.
 */
export const ROUTING_TOKEN_SECRET = "ldc-routing-token";

/**
 * With relays on, the sidecar acknowledges with a ServiceAccount token the
 * kubelet projects into its pod, bound to the pod and rotated (the sidecar
 * re-reads the file before each ack); the relay reviews it with this audience.
 */
export const RELAY_AUDIENCE = "ldc-relay";
export const ROUTING_TOKEN_VOLUME = "ldc-routing-token";
export const ROUTING_TOKEN_MOUNT_PATH = "/var/run/secrets/ldc.io/routing";
export const ROUTING_TOKEN_FILE = `${ROUTING_TOKEN_MOUNT_PATH}/token`;
/** Lifetime the kubelet requests for the projected token (it refreshes it at 80%). */
export const ROUTING_TOKEN_EXPIRATION_SECONDS = 3600;

export interface SidecarSettings {
  /** Image of the sidecar, from the operator's configuration. */
  image: string;
  /** Base URL of the operator's routing API for sidecars in the operator's own cluster (omitted: the mounted table only). */
  routingApiUrl?: string;
  /**
   * The same for sidecars in member clusters, which may not resolve the
   * operator's Service (omitted: the mounted table only; they then hold no
   * routing lease, and an unreachable member zone cannot be proven fenced).
   */
  memberRoutingApiUrl?: string;
  /**
   * The zone-local relay (src/relay) every zone's sidecars use when relays
   * are on: `http://ldc-relay.<relay namespace>.svc:<port>`, resolved in the
   * sidecar's own cluster. Wins over routingApiUrl and memberRoutingApiUrl.
   */
  relayUrl?: string;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

export interface SidecarPlacement {
  app: string;
  namespace: string;
  rule: string;
  cell: string;
  cellType: CellType;
  zone: string;
  region: string;
  port: number;
  /** The sidecar's admin port (/__ldc/*: probes, metrics); never targeted by a Service. */
  adminPort: number;
  appPort: number;
  /** Port of the per-cell Services (where a forward to another cell goes). */
  servicePort: number;
  /** The zone's workloads live in a member cluster. */
  memberCluster: boolean;
}

/**
 * The routing API the sidecars of a zone use, if any (they hold routing
 * leases only then: ADR 0007): the zone's relay when relays are on (every
 * zone, home cluster included), else the operator's.
 */
export function routingApiUrlFor(settings: SidecarSettings, memberCluster: boolean): string | undefined {
  if (settings.relayUrl) return settings.relayUrl;
  return memberCluster ? settings.memberRoutingApiUrl : settings.routingApiUrl;
}

/** The URL of the relay in the sidecar's own cluster (cluster DNS of its Service). */
export function relayUrl(namespace: string, port: number): string {
  return `http://ldc-relay.${namespace}.svc:${port}`;
}

/** Environment the sidecar reads (names are the contract). */
type EnvVar = { name: string; value?: string; valueFrom?: Record<string, unknown> };

export function sidecarEnv(p: SidecarPlacement, settings: SidecarSettings): EnvVar[] {
  const env: EnvVar[] = [
    { name: "LDC_LISTEN", value: `0.0.0.0:${p.port}` },
    { name: "LDC_ADMIN_LISTEN", value: `0.0.0.0:${p.adminPort}` },
    { name: "LDC_APP_URL", value: `http://127.0.0.1:${p.appPort}` },
    { name: "LDC_RULE", value: p.rule },
    { name: "LDC_CELL", value: p.cell },
    { name: "LDC_CELL_TYPE", value: p.cellType },
    { name: "LDC_ZONE", value: p.zone },
    { name: "LDC_REGION", value: p.region },
    { name: "LDC_APP", value: p.app },
    { name: "LDC_NAMESPACE", value: p.namespace },
    { name: "LDC_TABLE_FILE", value: `${ROUTING_MOUNT_PATH}/${ROUTING_TABLE_KEY}` },
    { name: "LDC_PEER_PORT", value: String(p.servicePort) },
    { name: "LDC_SIDECAR_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    settings.relayUrl
      ? { name: "LDC_ROUTING_TOKEN_FILE", value: ROUTING_TOKEN_FILE }
      : {
          name: "LDC_ROUTING_TOKEN",
          valueFrom: { secretKeyRef: { name: ROUTING_TOKEN_SECRET, key: "token", optional: true } },
        },
  ];
  const routingApi = routingApiUrlFor(settings, p.memberCluster);
  if (routingApi) env.push({ name: "LDC_ROUTING_API", value: routingApi });
  return env;
}

/**
 * What the sidecar container asks for unless the operator's settings say
 * otherwise, from bench/sidecar-footprint.ts (docs/adr/0015-sidecar-footprint.md):
 * memory requested = RSS at 1,000-2,000 req/s (~80-85 MB) with a little room;
 * the limit = the burst's peak (~115-130 MB: 256 connections of 64 KiB
 * bodies) with 50% headroom; CPU requested = ~500 req/s (1,000 req/s costs
 * ~0.18 vCPU), no CPU limit (throttling would add latency to every request).
 */
export const DEFAULT_SIDECAR_RESOURCES: NonNullable<SidecarSettings["resources"]> = {
  requests: { cpu: "100m", memory: "96Mi" },
  limits: { memory: "192Mi" },
};

export function sidecarContainer(p: SidecarPlacement, settings: SidecarSettings): Record<string, unknown> {
  return {
    name: SIDECAR_CONTAINER,
    image: settings.image,
    env: sidecarEnv(p, settings),
    ports: [
      { name: "ldc-router", containerPort: p.port, protocol: "TCP" },
      { name: SIDECAR_ADMIN_PORT_NAME, containerPort: p.adminPort, protocol: "TCP" },
    ],
    // Probes on the admin port: the traffic port answers 404 for /__ldc/*.
    readinessProbe: { httpGet: { path: "/__ldc/healthz", port: SIDECAR_ADMIN_PORT_NAME }, periodSeconds: 5 },
    livenessProbe: {
      httpGet: { path: "/__ldc/healthz?live=1", port: SIDECAR_ADMIN_PORT_NAME },
      periodSeconds: 10,
      failureThreshold: 6,
    },
    volumeMounts: [
      { name: ROUTING_VOLUME, mountPath: ROUTING_MOUNT_PATH, readOnly: true },
      ...(settings.relayUrl
        ? [{ name: ROUTING_TOKEN_VOLUME, mountPath: ROUTING_TOKEN_MOUNT_PATH, readOnly: true }]
        : []),
    ],
    resources: settings.resources ?? DEFAULT_SIDECAR_RESOURCES,
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
  };
}

/**
 * Pod annotations for annotation-based Prometheus discovery of the sidecar's
 * metrics on its admin port, unless the app's template already claims
 * `prometheus.io/*` for its own metrics (a pod has one such target).
 */
export function sidecarPodAnnotations(
  adminPort: number,
  appAnnotations: Readonly<Record<string, string>> | undefined,
): Record<string, string> {
  if (Object.keys(appAnnotations ?? {}).some((k) => k.startsWith("prometheus.io/"))) return {};
  return {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": String(adminPort),
    "prometheus.io/path": METRICS_PATH,
  };
}

/** The pod volumes the sidecar needs: the routing table, and with relays on its pod-bound token. */
export function sidecarVolumes(rule: string, settings: SidecarSettings): Record<string, unknown>[] {
  const volumes = [routingVolume(rule)];
  if (settings.relayUrl) {
    volumes.push({
      name: ROUTING_TOKEN_VOLUME,
      projected: {
        sources: [
          {
            serviceAccountToken: {
              audience: RELAY_AUDIENCE,
              expirationSeconds: ROUTING_TOKEN_EXPIRATION_SECONDS,
              path: "token",
            },
          },
        ],
      },
    });
  }
  return volumes;
}

/** The volume with the rule's routing table (optional: pods start before the first publish). */
export function routingVolume(rule: string): Record<string, unknown> {
  return { name: ROUTING_VOLUME, configMap: { name: routingTableName(rule), optional: true } };
}
