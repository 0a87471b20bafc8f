import { z } from "zod";
import {
  QUANTITY,
  boundedRecord,
  cellName,
  conditions,
  immutable,
  keyedList,
  name,
  nameSet,
  observedGeneration,
  resource,
  withRules,
  zoneName,
} from "./common.ts";
import { CellType } from "./cell.ts";

const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

const port = (description: string) => z.int().min(1).max(65535).describe(description);

export const Container = z
  .looseObject({
    name: name("dns1123Label", "Container name."),
    image: z.string().min(1).max(512).optional().describe("Container image."),
  })
  .describe("A container (core/v1 Container); fields other than name and image are passed through unchecked.");

export const PodTemplate = z
  .looseObject({
    metadata: z
      .looseObject({})
      .optional()
      .describe("Labels and annotations for the pods (core/v1 ObjectMeta); the operator adds its own labels."),
    spec: z
      .looseObject({
        containers: keyedList(
          Container,
          ["name"],
          32,
          "The pod's containers; the first one is the app container that overrides (image, env, resources) apply to.",
        ).min(1),
      })
      .describe(
        "The pod spec (core/v1 PodSpec). The schema checks only containers; fields beyond Pod Security baseline (host namespaces, hostPath, privileged, ...) are refused outside the cluster admin's privileged namespaces (docs/adr/0011-cellapps-cannot-escalate.md); the rest is passed to the Deployment as is.",
      ),
  })
  .describe(
    "The pod template of every Deployment stamped for this app (core/v1 PodTemplateSpec, as in a Deployment's spec.template).",
  );
export type PodTemplate = z.infer<typeof PodTemplate>;

export const EnvVar = z
  .object({
    name: z.string().min(1).max(256).regex(ENV_VAR_NAME).describe("Environment variable name."),
    value: z.string().max(32768).optional().describe("Value; omitted: empty."),
  })
  .describe("An environment variable.");
export type EnvVar = z.infer<typeof EnvVar>;

export const Quantity = z
  .union([z.int(), z.string().max(64).regex(QUANTITY)])
  .describe("A resource quantity, e.g. 500m, 2 or 4Gi.");

export const ResourceRequirements = z
  .object({
    limits: boundedRecord(z.string().max(253), Quantity, 16)
      .optional()
      .describe("Resource limits, e.g. {cpu: 2, memory: 4Gi}."),
    requests: boundedRecord(z.string().max(253), Quantity, 16)
      .optional()
      .describe("Resource requests, e.g. {cpu: 500m, memory: 1Gi}."),
  })
  .describe("Compute resources of the app container (core/v1 ResourceRequirements), replacing the template's.");
export type ResourceRequirements = z.infer<typeof ResourceRequirements>;

export const CellOverride = withRules(
  z
    .object({
      cell: cellName("The Cell this override applies to."),
      replicas: z.int().min(0).max(10000).optional().describe("Replicas in this cell's active zone."),
      standbyReplicas: z
        .int()
        .min(0)
        .max(10000)
        .optional()
        .describe("Replicas of the standby in each of this cell's standby zones."),
      image: z
        .string()
        .min(1)
        .max(512)
        .optional()
        .describe("Image of the app container (the first container) in this cell."),
      env: keyedList(
        EnvVar,
        ["name"],
        64,
        "Environment variables set on the app container in this cell (a same-named variable of the template is replaced).",
      ).optional(),
      resources: ResourceRequirements.optional(),
    })
    .describe(
      "Settings for one cell that differ from the template (e.g. a canary image, more replicas for a busy cell).",
    ),
  {
    cel: "has(self.replicas) || has(self.standbyReplicas) || has(self.image) || has(self.env) || has(self.resources)",
    message: "an override must set at least one of replicas, standbyReplicas, image, env or resources",
    check: (o) =>
      o.replicas !== undefined ||
      o.standbyReplicas !== undefined ||
      o.image !== undefined ||
      o.env !== undefined ||
      o.resources !== undefined,
  },
);
export type CellOverride = z.infer<typeof CellOverride>;

export const Sidecar = withRules(
  z
    .object({
      enabled: z.boolean().default(true).describe("Inject the cell router sidecar into every pod."),
      port: port("Port the sidecar listens on; the Service targets it when the sidecar is enabled.").default(15001),
      appPort: port("Port the app container listens on; the sidecar forwards to it.").default(8080),
      adminPort: port(
        "Port of the sidecar's health, metrics and table endpoints (/__ldc/*): probes and Prometheus use it; the Service never targets it.",
      ).default(15002),
    })
    .describe("The cell router sidecar that routes each request to the cell owning its key."),
  {
    cel: "!self.enabled || self.port != self.appPort",
    message: "sidecar.port and sidecar.appPort must differ: the sidecar and the app cannot listen on the same port",
    fieldPath: ".port",
    check: (s) => !s.enabled || s.port !== s.appPort,
  },
  {
    cel: "!self.enabled || (self.adminPort != self.port && self.adminPort != self.appPort)",
    message:
      "sidecar.adminPort must differ from sidecar.port and sidecar.appPort: the admin endpoints need a port app traffic never reaches",
    fieldPath: ".adminPort",
    check: (s) => !s.enabled || (s.adminPort !== s.port && s.adminPort !== s.appPort),
  },
);
export type Sidecar = z.infer<typeof Sidecar>;

export const AppService = z
  .object({
    port: port("Port the per-cell Service exposes.").default(80),
    targetPort: port(
      "Pod port the Service sends to. Omitted: sidecar.port when the sidecar is enabled, else sidecar.appPort.",
    ).optional(),
  })
  .describe("The Service stamped for the app in each cell.");
export type AppService = z.infer<typeof AppService>;

export const CellAppSpec = z
  .object({
    shardingRule: name("dns1123Label", "The ShardingRule the app's sidecars route by.").meta({
      printerColumn: { name: "Rule", order: 5, priority: 1 },
      selectableField: true,
    }),
    scope: immutable(
      CellType.describe("Which cells the app runs in: every Regional, Global or City cell (see cells). Immutable."),
      "scope is immutable: create a new CellApp instead",
    ).meta({ printerColumn: { name: "Scope", order: 10 }, selectableField: true }),
    cells: nameSet(
      cellName("A Cell name."),
      256,
      "Restricts the app to these cells (all of the scope's type). Omitted: every cell of the scope's type.",
    ).optional(),
    template: PodTemplate,
    replicas: z.int().min(0).max(10000).default(2).describe("Replicas in each cell's active zone."),
    standbyReplicas: z
      .int()
      .min(0)
      .max(10000)
      .default(1)
      .describe("Replicas of the warm standby in each standby zone of each cell; a failover scales it up to replicas."),
    overrides: keyedList(CellOverride, ["cell"], 256, "Per-cell settings, one entry per cell.").optional(),
    sidecar: Sidecar.prefault({}),
    service: AppService.prefault({}),
  })
  .describe("An application stamped into cells: a Deployment and a Service per cell, with per-cell overrides.");
export type CellAppSpec = z.infer<typeof CellAppSpec>;

export const CellAppCellStatus = z
  .object({
    cell: cellName("The Cell."),
    zone: zoneName("The zone the cell's active Deployment runs in."),
    desiredReplicas: z.int().min(0).describe("Replicas wanted in the active zone."),
    readyReplicas: z.int().min(0).describe("Ready replicas in the active zone."),
    standbyZone: zoneName("The zone of the (first) standby Deployment.").optional(),
    standbyReadyReplicas: z.int().min(0).optional().describe("Ready replicas of the standby."),
  })
  .describe("The app in one cell.");
export type CellAppCellStatus = z.infer<typeof CellAppCellStatus>;

export const CellAppStatus = z
  .object({
    observedGeneration: observedGeneration(),
    cells: keyedList(CellAppCellStatus, ["cell"], 256, "The app in each of its cells.").optional(),
    readyCells: z
      .int()
      .min(0)
      .optional()
      .describe("Cells whose active Deployment has all its replicas ready.")
      .meta({ printerColumn: { name: "Ready", order: 20 } }),
    totalCells: z
      .int()
      .min(0)
      .optional()
      .describe("Cells the app runs in.")
      .meta({ printerColumn: { name: "Cells", order: 30 } }),
    conditions: conditions("Standard conditions: Valid (references resolve), Ready (every cell ready).").optional(),
  })
  .describe("The app's rollout across its cells.");
export type CellAppStatus = z.infer<typeof CellAppStatus>;

export const CellApp = resource("CellApp", "dns1035Label", CellAppSpec, CellAppStatus);
export type CellApp = z.infer<typeof CellApp>;
export type CellAppInput = z.input<typeof CellApp>;
