import { z } from "zod";
import {
  QUALIFIED_NAME,
  boundedRecord,
  conditions,
  name,
  observedGeneration,
  positiveDuration,
  resource,
} from "./common.ts";

export const ZonePhase = z.enum(["Pending", "Ready", "Degraded", "Unreachable"]);
export type ZonePhase = z.infer<typeof ZonePhase>;

export const SecretKeyRef = z
  .object({
    namespace: name("dns1123Label", "Namespace of the Secret."),
    name: name("dns1123Subdomain", "Name of the Secret."),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/)
      .default("kubeconfig")
      .describe("Key in the Secret's data that holds the kubeconfig."),
  })
  .describe("A key of a Secret in the operator's cluster.");

export const ZoneCluster = z
  .object({
    kubeconfigSecretRef: SecretKeyRef.describe(
      "The Secret (in the operator's cluster) holding a kubeconfig for the zone's member cluster. Credentials must be inline (token, client-certificate-data/client-key-data, certificate-authority-data) and the server https: exec plugins, auth providers, file paths and plain http are refused.",
    ),
    insecureSkipTLSVerify: z
      .boolean()
      .default(false)
      .describe(
        "DANGEROUS: allow the kubeconfig's insecure-skip-tls-verify: true, so the member API server's certificate is not verified and anyone on the network path can impersonate it and read the operator's credentials. While in use the Zone shows condition InsecureTLS=True and a Warning event. Prefer certificate-authority-data.",
      ),
  })
  .describe(
    "The Kubernetes cluster the zone's workloads run in. Omitted: the operator's own cluster, with nodes picked by nodeSelector.",
  );

export const ZoneHealth = z
  .object({
    failureThreshold: positiveDuration(
      "How long the zone must fail its health probe (cluster unreachable, or too few ready nodes) before it is Unreachable or Degraded.",
    ).default("10s"),
    minReadyRatio: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe(
        "Fraction of the zone's nodes (0..1) that must be Ready for the zone to be Ready rather than Degraded.",
      ),
  })
  .describe("How the operator judges the zone's health.");

export const ZoneSpec = z
  .object({
    region: name("dns1123Label", "The region (city) the zone is in, e.g. hangzhou. City cells serve one region.").meta({
      printerColumn: { name: "Region", order: 10 },
      selectableField: true,
    }),
    cluster: ZoneCluster.optional(),
    nodeSelector: boundedRecord(
      z.string().max(317).regex(QUALIFIED_NAME, "node selector keys must be label keys (prefix/name)"),
      z.string().max(63).describe("Label value."),
      16,
    )
      .optional()
      .describe(
        "Labels that pick the zone's nodes. Omitted: the operator uses {topology.kubernetes.io/zone: <zone name>}.",
      ),
    health: ZoneHealth.prefault({}),
    cordoned: z
      .boolean()
      .default(false)
      .describe(
        "A cordoned zone takes no new cells and is never chosen as a failover destination; cells already active here keep running.",
      )
      .meta({ printerColumn: { name: "Cordoned", order: 50, priority: 1 } }),
  })
  .describe("A failure domain (datacenter or availability zone) in a region, and where its workloads run.");
export type ZoneSpec = z.infer<typeof ZoneSpec>;

export const ZoneStatus = z
  .object({
    observedGeneration: observedGeneration(),
    phase: ZonePhase.optional()
      .describe(
        "Pending (not probed yet), Ready, Degraded (too few ready nodes) or Unreachable (cluster not reachable).",
      )
      .meta({ printerColumn: { name: "Phase", order: 20 } }),
    reachable: z.boolean().optional().describe("Whether the zone's cluster answered the last probe."),
    readyNodes: z
      .int()
      .min(0)
      .optional()
      .describe("Ready nodes matching the zone's node selector.")
      .meta({ printerColumn: { name: "Nodes", order: 40, priority: 1 } }),
    totalNodes: z.int().min(0).optional().describe("Nodes matching the zone's node selector."),
    cells: z
      .int()
      .min(0)
      .optional()
      .describe("Number of cells active in this zone now.")
      .meta({ printerColumn: { name: "Cells", order: 30 } }),
    lastProbeTime: z.iso.datetime({ offset: true }).optional().describe("When the zone was last probed."),
    conditions: conditions("Standard conditions: Ready (the zone can host active cells).").optional(),
  })
  .describe("The zone's observed health.");
export type ZoneStatus = z.infer<typeof ZoneStatus>;

export const Zone = resource("Zone", "dns1123Label", ZoneSpec, ZoneStatus);
export type Zone = z.infer<typeof Zone>;
export type ZoneInput = z.input<typeof Zone>;
