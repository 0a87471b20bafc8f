// CellApp: for every cell in the app's scope, the Deployments and Services to
// stamp, zone by zone. Pure: desired = f(app, cells, zones); no I/O.
//
// Per cell, one Deployment + Service per zone it runs in, named
// <app>-<cell>-<zone> (so the active and standby sides never collide, also
// when two zones share one cluster):
//   - the active zone (cell.status.activeZone, else spec.zone): full replicas;
//   - the first standby (the first of [home, ...standbyZones] that is not
//     active): standby replicas, a warm copy a failover can scale up;
//   - a warm zone (a running Failover's, see EffectiveCell): full replicas.
import type { EffectiveCell } from "./failover.ts";
import {
  baselineViolations,
  setCondition,
  validateCellApp,
  type PodSecurityLevel,
  type CellApp,
  type Cell,
  type Condition,
  type Zone,
  type CellOverride,
  type ShardingRule,
} from "../api/index.ts";
import { covers } from "./compare.ts";
import { CELLAPP_FINALIZER, Labels, MANAGED_BY, workloadName } from "./naming.ts";
import { sidecarContainer, sidecarPodAnnotations, sidecarVolumes, type SidecarSettings } from "./sidecar.ts";

type Obj = Record<string, unknown>;

export type WorkloadRole = "active" | "standby" | "warm";

export interface ZoneWorkload {
  zone: string;
  role: WorkloadRole;
  replicas: number;
  deployment: Obj;
  service: Obj;
}

export interface CellPlan {
  cell: string;
  activeZone: string;
  standbyZone?: string;
  workloads: ZoneWorkload[];
}

export interface PlanProblem {
  /** The field at fault, e.g. spec.overrides[rz09] or Cell rz01 spec.zone. */
  field: string;
  message: string;
}

export interface CellAppPlan {
  /** Cells the app runs in (whether or not they could be planned). */
  scopeCells: string[];
  /** Fully planned cells: their workloads are the desired state. */
  cells: CellPlan[];
  /** Cells in scope that could not be planned: leave their workloads alone. */
  unplannable: string[];
  problems: PlanProblem[];
}

/** What CellApps may ask for (docs/adr/0011-cellapps-cannot-escalate.md). */
export interface PodSecuritySettings {
  /** The cluster admin's exception list: namespaces whose pod templates may go beyond Pod Security baseline. */
  privilegedNamespaces: readonly string[];
  /** Pod Security level of the namespaces the operator creates in member clusters (outside the exceptions). */
  memberNamespaceLevel: PodSecurityLevel;
}

export const DEFAULT_POD_SECURITY: PodSecuritySettings = { privilegedNamespaces: [], memberNamespaceLevel: "baseline" };

/**
 * The namespace the operator creates for a CellApp in a member cluster: the
 * member API server enforces Pod Security on it, so nothing the operator is
 * tricked into applying there runs beyond the level.
 */
export function memberNamespace(name: string, settings: PodSecuritySettings): Obj {
  const level = settings.privilegedNamespaces.includes(name) ? "privileged" : settings.memberNamespaceLevel;
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: {
      name,
      labels: {
        [Labels.managedBy]: MANAGED_BY,
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/enforce-version": "latest",
      },
    },
  };
}

export interface CellAppInputs {
  app: CellApp;
  /** Every Cell with the running Failovers applied (effectiveCells). */
  cells: readonly EffectiveCell[];
  zones: readonly Zone[];
  sidecar: SidecarSettings;
}

export function activeZoneOf(cell: Cell): string {
  return cell.status?.activeZone ?? cell.spec.zone;
}

/** The first zone of [home, ...standbyZones] other than the active one. */
export function standbyZoneOf(cell: Cell, zoneExists: (z: string) => boolean): string | undefined {
  const active = activeZoneOf(cell);
  return [cell.spec.zone, ...(cell.spec.standbyZones ?? [])].find((z) => z !== active && zoneExists(z));
}

export function cellsInScope<C extends Cell>(app: CellApp, cells: readonly C[]): C[] {
  const only = app.spec.cells ? new Set(app.spec.cells) : undefined;
  return cells
    .filter((c) => c.spec.type === app.spec.scope && !c.metadata.deletionTimestamp)
    .filter((c) => !only || only.has(c.metadata.name))
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

export function planCellApp(inputs: CellAppInputs): CellAppPlan {
  const { scope, overrides, zoneByName, problems } = planScope(inputs);
  const plan: CellAppPlan = { scopeCells: scope.map((c) => c.metadata.name), cells: [], unplannable: [], problems };
  for (const cell of scope) {
    const one = planCell(inputs, cell, overrides.get(cell.metadata.name), zoneByName);
    if (one.plan) plan.cells.push(one.plan);
    else plan.unplannable.push(cell.metadata.name);
    plan.problems.push(...one.problems);
  }
  return plan;
}

/** What is common to every cell of the app's plan: its cells, overrides, zones, and the spec's problems. */
function planScope({ app, cells, zones }: CellAppInputs) {
  const zoneByName = new Map(zones.map((z) => [z.metadata.name, z]));
  const overrides = new Map((app.spec.overrides ?? []).map((o) => [o.cell, o]));
  const scope = cellsInScope(app, cells);
  const problems: PlanProblem[] = [];
  for (const name of app.spec.cells ?? []) {
    const cell = cells.find((c) => c.metadata.name === name);
    if (!cell)
      problems.push({
        field: "spec.cells",
        message: `Cell ${name} does not exist: create it or remove it from spec.cells`,
      });
    else if (cell.spec.type !== app.spec.scope)
      problems.push({
        field: "spec.cells",
        message: `Cell ${name} is ${cell.spec.type} but the app's scope is ${app.spec.scope}: remove it from spec.cells`,
      });
  }
  const inScope = new Set(scope.map((c) => c.metadata.name));
  for (const o of app.spec.overrides ?? []) {
    if (!inScope.has(o.cell))
      problems.push({
        field: `spec.overrides[${o.cell}]`,
        message: `the override names cell ${o.cell}, which is not in the app's scope: fix the name or remove the override`,
      });
  }
  return { scope, overrides, zoneByName, problems };
}

/** One cell's share of the plan: its workloads (undefined: it cannot be planned) and problems. */
interface OneCellPlan {
  plan?: CellPlan;
  problems: PlanProblem[];
}

/**
 * The workloads of one cell. They depend on the app (all but its overrides),
 * the cell, the cell's override, the zones the cell names (zonesNamedBy) and
 * the sidecar settings, nothing else: CellPlanMemo relies on this list.
 */
function planCell(
  { app, sidecar }: CellAppInputs,
  cell: EffectiveCell,
  override: CellOverride | undefined,
  zoneByName: ReadonlyMap<string, Zone>,
): OneCellPlan {
  const cellName = cell.metadata.name;
  const active = activeZoneOf(cell);
  const activeZone = zoneByName.get(active);
  if (!activeZone) {
    return {
      problems: [
        {
          field: `Cell ${cellName} ${cell.status?.activeZone ? "status.activeZone" : "spec.zone"}`,
          message: `zone ${active} of cell ${cellName} does not exist: create the Zone or fix the cell`,
        },
      ],
    };
  }
  const problems: PlanProblem[] = [];
  const replicas = override?.replicas ?? app.spec.replicas;
  const standbyReplicas = override?.standbyReplicas ?? cell.spec.standbyReplicas ?? app.spec.standbyReplicas;
  const standby = standbyZoneOf(cell, (z) => zoneByName.has(z));
  const warmZone = cell.moving?.warmZone;
  const warm = warmZone && warmZone !== active ? warmZone : undefined;
  if (warm && !zoneByName.has(warm)) {
    problems.push({
      field: `Failover ${cell.moving?.failover} status.cells`,
      message: `warm zone ${warm} does not exist`,
    });
  }

  const sides: { zone: Zone; role: WorkloadRole; replicas: number }[] = [
    { zone: activeZone, role: "active", replicas },
  ];
  if (standby) {
    const isWarm = standby === warm;
    sides.push({
      zone: zoneByName.get(standby)!,
      role: isWarm ? "warm" : "standby",
      replicas: isWarm ? replicas : standbyReplicas,
    });
  }
  if (warm && warm !== standby && zoneByName.has(warm)) {
    sides.push({ zone: zoneByName.get(warm)!, role: "warm", replicas });
  }
  return {
    plan: {
      cell: cellName,
      activeZone: active,
      ...(standby ? { standbyZone: standby } : {}),
      workloads: sides.map((s) => workload(app, cell, s.zone, s.role, s.replicas, override, sidecar)),
    },
    problems,
  };
}

/** The zones a cell's plan may look at (planCell): home, standbys, active, warm. */
function zonesNamedBy(cell: EffectiveCell): string[] {
  const out = [cell.spec.zone, ...(cell.spec.standbyZones ?? [])];
  if (cell.status?.activeZone) out.push(cell.status.activeZone);
  if (cell.moving?.warmZone) out.push(cell.moving.warmZone);
  return out;
}

/** A cell's plan without its objects: what the status and the cleanup need. */
export interface CellOutline {
  cell: string;
  activeZone: string;
  standbyZone?: string;
  /** The Deployment and the Service of a zone share the name. */
  workloads: { zone: string; role: WorkloadRole; replicas: number; name: string }[];
}

function outlineOf(p: CellPlan): CellOutline {
  return {
    cell: p.cell,
    activeZone: p.activeZone,
    ...(p.standbyZone ? { standbyZone: p.standbyZone } : {}),
    workloads: p.workloads.map((w) => ({
      zone: w.zone,
      role: w.role,
      replicas: w.replicas,
      name: String((w.deployment.metadata as { name: string }).name),
    })),
  };
}

interface CellEntry {
  base: string;
  cell: EffectiveCell;
  override: string;
  zones: (Zone | undefined)[];
  /** Set once the cell was planned with these inputs; outline undefined: it cannot be planned. */
  planned: boolean;
  outline?: CellOutline;
  problems: PlanProblem[];
  /** cluster/kind/name -> the cached object last found to cover the desired one. */
  verified: Map<string, object>;
}

interface AppEntry {
  uid: string | undefined;
  generation: number | undefined;
  spec: unknown;
  sidecar: SidecarSettings;
  /** The app's inputs common to every cell, serialised: everything but the overrides. */
  base: string;
  /** baselineViolations of the template (it depends on nothing else). */
  unsafe: ReturnType<typeof baselineViolations>;
  cells: Map<string, CellEntry>;
}

/**
 * What CellApp reconciles keep between them so a change costs what it
 * touches: a change to one cell's override (or to one cell) plans that cell
 * again, and a Deployment or Service is compared with the desired one only
 * when it, or the inputs of its cell, changed. Kept per cell: the inputs
 * (cells and zones by identity: the caches keep an object until it changes;
 * the override serialised; the rest of the app serialised once per
 * generation), the outline of its plan (no objects: memory stays small) and
 * the cached objects found to cover it. planCellAppReconcile returns the same
 * actions with or without a memo (a property test holds both). One per
 * controller instance.
 */
export class CellPlanMemo {
  readonly #apps = new Map<string, AppEntry>();
  /** Work done with this memo: cells planned, objects compared with the cache (what it saves shows here). */
  readonly work = { cellsPlanned: 0, compared: 0 };

  /** The app's entry, up to date with `app` and `sidecar`. */
  app(app: CellApp, sidecar: SidecarSettings): AppEntry {
    const key = `${app.metadata.namespace ?? ""}/${app.metadata.name}`;
    const entry = this.#apps.get(key);
    const { uid, generation } = app.metadata;
    if (
      entry !== undefined &&
      entry.sidecar === sidecar &&
      entry.uid === uid &&
      // The API server bumps the generation on every spec change; without one, compare the spec object.
      (entry.spec === app.spec || (generation !== undefined && entry.generation === generation))
    ) {
      entry.spec = app.spec;
      return entry;
    }
    const { overrides: _o, ...rest } = app.spec;
    const base = JSON.stringify([app.apiVersion, app.kind, app.metadata.name, app.metadata.namespace, uid, rest]);
    const same = entry !== undefined && entry.sidecar === sidecar && entry.base === base;
    const next: AppEntry = {
      uid,
      generation,
      spec: app.spec,
      sidecar,
      base,
      unsafe: same ? entry.unsafe : baselineViolations(app.spec.template),
      cells: same ? entry.cells : new Map(),
    };
    this.#apps.set(key, next);
    return next;
  }

  /** Drop an app's entry (the app is gone). */
  forget(appKey: string): void {
    this.#apps.delete(appKey);
  }
}

/** The memo entry of a cell whose inputs are unchanged, else a fresh one (replacing the old). */
function cellEntry(
  app: AppEntry,
  cell: EffectiveCell,
  override: CellOverride | undefined,
  zoneByName: ReadonlyMap<string, Zone>,
): CellEntry {
  const o = override === undefined ? "" : JSON.stringify(override);
  const zones = zonesNamedBy(cell).map((z) => zoneByName.get(z));
  const hit = app.cells.get(cell.metadata.name);
  if (
    hit &&
    hit.base === app.base &&
    hit.cell === cell &&
    hit.override === o &&
    hit.zones.length === zones.length &&
    hit.zones.every((z, i) => z === zones[i])
  )
    return hit;
  const fresh: CellEntry = {
    base: app.base,
    cell,
    override: o,
    zones,
    planned: false,
    problems: [],
    verified: new Map(),
  };
  app.cells.set(cell.metadata.name, fresh);
  return fresh;
}

function selectorLabels(app: CellApp, cell: string, zone: string): Record<string, string> {
  return { [Labels.app]: app.metadata.name, [Labels.cell]: cell, [Labels.zone]: zone };
}

function workloadLabels(app: CellApp, cell: Cell, zone: string, role: WorkloadRole): Record<string, string> {
  return {
    [Labels.managedBy]: MANAGED_BY,
    [Labels.name]: app.metadata.name,
    [Labels.appNamespace]: app.metadata.namespace ?? "",
    ...(app.metadata.uid ? { [Labels.appUid]: app.metadata.uid } : {}),
    [Labels.rule]: app.spec.shardingRule,
    ...selectorLabels(app, cell.metadata.name, zone),
    [Labels.role]: role,
  };
}

/** The labels a Deployment gives its pods: all of its own but the role, which changes at each failover. */
function podLabels(labels: Record<string, string>): Record<string, string> {
  const { [Labels.role]: _role, ...rest } = labels;
  return rest;
}

/** Owner references work only inside one cluster: zones without a member cluster are the operator's own. */
function ownerReferences(app: CellApp, zone: Zone): Obj[] | undefined {
  if (zone.spec.cluster || !app.metadata.uid) return undefined;
  return [
    {
      apiVersion: app.apiVersion,
      kind: app.kind,
      name: app.metadata.name,
      uid: app.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
}

/** The labels of a zone's nodes: spec.nodeSelector, else topology.kubernetes.io/zone=NAME. */
export function zoneNodeSelector(zone: Zone): Record<string, string> {
  return zone.spec.nodeSelector && Object.keys(zone.spec.nodeSelector).length > 0
    ? zone.spec.nodeSelector
    : { "topology.kubernetes.io/zone": zone.metadata.name };
}

function mergeEnv(base: readonly Obj[] | undefined, extra: readonly { name: string; value?: string }[]): Obj[] {
  const out = (base ?? []).map((e) => ({ ...e }));
  for (const e of extra) {
    const i = out.findIndex((x) => x.name === e.name);
    if (i >= 0) out[i] = { ...e };
    else out.push({ ...e });
  }
  return out;
}

function workload(
  app: CellApp,
  cell: Cell,
  zone: Zone,
  role: WorkloadRole,
  replicas: number,
  override: CellOverride | undefined,
  sidecar: SidecarSettings,
): ZoneWorkload {
  const zoneName = zone.metadata.name;
  const name = workloadName(app.metadata.name, cell.metadata.name, zoneName);
  const namespace = app.metadata.namespace;
  const labels = workloadLabels(app, cell, zoneName, role);
  const owners = ownerReferences(app, zone);
  const metadata = { name, namespace, labels, ...(owners ? { ownerReferences: owners } : {}) };
  const template = app.spec.template as { metadata?: Obj; spec: Obj & { containers: Obj[] } };
  const podSpec = structuredClone(template.spec) as Obj & {
    containers: Obj[];
    volumes?: Obj[];
    nodeSelector?: Record<string, string>;
  };

  // Overrides apply to the first container, the app.
  const [first, ...rest] = podSpec.containers;
  const appContainer: Obj = { ...first };
  if (override?.image) appContainer.image = override.image;
  if (override?.resources) appContainer.resources = override.resources;
  const cellEnv = [
    { name: "LDC_CELL", value: cell.metadata.name },
    { name: "LDC_ZONE", value: zoneName },
    { name: "LDC_REGION", value: zone.spec.region },
  ];
  appContainer.env = mergeEnv(mergeEnv(appContainer.env as Obj[] | undefined, cellEnv), override?.env ?? []);
  const containers = [appContainer, ...rest];
  const volumes = [...(podSpec.volumes ?? [])];
  if (app.spec.sidecar.enabled) {
    containers.push(
      sidecarContainer(
        {
          app: app.metadata.name,
          namespace: namespace ?? "",
          rule: app.spec.shardingRule,
          cell: cell.metadata.name,
          cellType: cell.spec.type,
          zone: zoneName,
          region: zone.spec.region,
          port: app.spec.sidecar.port,
          adminPort: app.spec.sidecar.adminPort,
          appPort: app.spec.sidecar.appPort,
          servicePort: app.spec.service.port,
          memberCluster: zone.spec.cluster !== undefined,
        },
        sidecar,
      ),
    );
    volumes.push(...sidecarVolumes(app.spec.shardingRule, sidecar));
  }
  const templateMeta = (template.metadata ?? {}) as {
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  const deployment: Obj = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata,
    spec: {
      replicas,
      selector: { matchLabels: selectorLabels(app, cell.metadata.name, zoneName) },
      template: {
        metadata: {
          // Not the role: a failover changes replicas, never the pod template (no rollout of every pod it moves).
          labels: { ...(templateMeta.labels ?? {}), ...podLabels(labels) },
          ...(templateMeta.annotations || app.spec.sidecar.enabled
            ? {
                annotations: {
                  ...templateMeta.annotations,
                  ...(app.spec.sidecar.enabled
                    ? sidecarPodAnnotations(app.spec.sidecar.adminPort, templateMeta.annotations)
                    : {}),
                },
              }
            : {}),
        },
        spec: {
          ...podSpec,
          containers,
          ...(volumes.length ? { volumes } : {}),
          nodeSelector: { ...(podSpec.nodeSelector ?? {}), ...zoneNodeSelector(zone) },
        },
      },
    },
  };
  const targetPort =
    app.spec.service.targetPort ?? (app.spec.sidecar.enabled ? app.spec.sidecar.port : app.spec.sidecar.appPort);
  const service: Obj = {
    apiVersion: "v1",
    kind: "Service",
    metadata,
    spec: {
      selector: selectorLabels(app, cell.metadata.name, zoneName),
      ports: [{ name: "http", port: app.spec.service.port, targetPort, protocol: "TCP" }],
    },
  };
  return { zone: zoneName, role, replicas, deployment, service };
}

export interface ObservedDeployment {
  zone: string;
  cell: string;
  replicas?: number;
  readyReplicas?: number;
}

/** Status per cell from the plan and the Deployments observed in each zone. */
export function cellAppStatusCells(
  plan: { cells: readonly (CellPlan | CellOutline)[]; scopeCells: readonly string[] },
  observed: readonly ObservedDeployment[],
): { cells: Obj[]; readyCells: number; totalCells: number } {
  const find = (cell: string, zone: string | undefined) =>
    zone ? observed.find((d) => d.cell === cell && d.zone === zone) : undefined;
  const cells = plan.cells.map((c) => {
    const active = c.workloads.find((w) => w.role === "active")!;
    const standbyReady = find(c.cell, c.standbyZone)?.readyReplicas ?? 0;
    return {
      cell: c.cell,
      zone: c.activeZone,
      desiredReplicas: active.replicas,
      readyReplicas: find(c.cell, c.activeZone)?.readyReplicas ?? 0,
      ...(c.standbyZone ? { standbyZone: c.standbyZone, standbyReadyReplicas: standbyReady } : {}),
    };
  });
  const readyCells = cells.filter((c) => c.readyReplicas >= c.desiredReplicas).length;
  return { cells, readyCells, totalCells: plan.scopeCells.length };
}

// ---- one reconcile: observation -> actions ---------------------------------

/** How long to wait before looking again at a zone (or cluster) that does not answer. */
export const UNREACHABLE_RETRY_MS = 15_000;

export type WorkloadKind = "Deployment" | "Service";

/** One of the app's Deployments or Services as a cluster's cache shows it. */
export interface ObservedWorkload {
  cluster: string;
  kind: WorkloadKind;
  object: { metadata?: { name?: string; namespace?: string; labels?: Record<string, string> }; status?: unknown };
}

export interface ClusterObservation {
  name: string;
  /** The operator's own cluster (always written to). */
  local: boolean;
  /** Answered its last probe. */
  reachable: boolean;
}

/** What one CellApp reconcile looks at, all from caches. */
export interface CellAppObservation {
  app: CellApp;
  /** Every Cell with the running Failovers applied (effectiveCells). */
  cells: readonly EffectiveCell[];
  zones: readonly Zone[];
  rules: readonly ShardingRule[];
  sidecar: SidecarSettings;
  podSecurity: PodSecuritySettings;
  /** The cluster of each zone, by zone name; a zone whose member cluster is not connected is absent. */
  zoneClusters: ReadonlyMap<string, ClusterObservation>;
  /** Every cluster the operator knows (its own and the zones' member clusters). */
  clusters: readonly ClusterObservation[];
  /** The app's Deployments and Services (by the app's labels) in every cluster. */
  workloads: readonly ObservedWorkload[];
  now: Date;
  /** What earlier reconciles of the same controller worked out (optional: the actions are the same without it). */
  memo?: CellPlanMemo;
}

export interface WorkloadApply {
  cluster: string;
  zone: string;
  kind: WorkloadKind;
  name: string;
  object: Obj;
  /** Not in the cache: a new object. */
  create: boolean;
}

export interface WorkloadDelete {
  cluster: string;
  kind: WorkloadKind;
  namespace: string;
  name: string;
}

export interface CellAppEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/** What one CellApp reconcile does, in this order. */
export interface CellAppActions {
  addFinalizer: boolean;
  /** Member clusters where the app's namespace must exist before the applies. */
  ensureNamespaces: string[];
  apply: WorkloadApply[];
  delete: WorkloadDelete[];
  /** The deletion is complete: release the finalizer. */
  removeFinalizer: boolean;
  /** The desired status (written unless unchanged); undefined: none. */
  status?: Record<string, unknown>;
  events: CellAppEvent[];
  /** Clusters the deletion waits for (unreachable). */
  blockedClusters: string[];
  requeueAfterMs?: number;
}

function noActions(): CellAppActions {
  return {
    addFinalizer: false,
    ensureNamespaces: [],
    apply: [],
    delete: [],
    removeFinalizer: false,
    events: [],
    blockedClusters: [],
  };
}

const writable = (c: ClusterObservation): boolean => c.local || c.reachable;

/**
 * One CellApp reconcile, pure: from what the caches show to what to write.
 * Deletion removes the app's workloads from every cluster, then the finalizer
 * (never while a cluster is unreachable). An invalid spec changes nothing but
 * the conditions. Otherwise: apply the workloads the caches do not show as
 * wanted (quiet in steady state), delete those of cells that left the scope
 * (never in an unreachable zone, nor of cells that cannot be planned), and
 * report per-cell readiness.
 */
export function planCellAppReconcile(o: CellAppObservation): CellAppActions {
  const { app, now } = o;
  const actions = noActions();
  const ns = app.metadata.namespace ?? "";
  const finalizers = app.metadata.finalizers ?? [];

  if (app.metadata.deletionTimestamp) {
    if (!finalizers.includes(CELLAPP_FINALIZER)) return actions;
    const clusters = new Map(o.clusters.map((c) => [c.name, c]));
    actions.blockedClusters = o.clusters.filter((c) => !writable(c)).map((c) => c.name);
    actions.delete = o.workloads
      .filter((w) => clusters.get(w.cluster) && writable(clusters.get(w.cluster)!))
      .map((w) => ({ cluster: w.cluster, kind: w.kind, namespace: ns, name: w.object.metadata?.name ?? "" }));
    if (actions.blockedClusters.length) {
      actions.events.push({
        type: "Warning",
        reason: "CleanupBlocked",
        message: `cannot remove the app's workloads from unreachable cluster(s) ${actions.blockedClusters.join(", ")}; the finalizer ${CELLAPP_FINALIZER} stays until they are reachable (remove it by hand to abandon those workloads)`,
      });
      actions.requeueAfterMs = UNREACHABLE_RETRY_MS;
    } else {
      actions.removeFinalizer = true;
    }
    return actions;
  }

  actions.addFinalizer = !finalizers.includes(CELLAPP_FINALIZER);
  const gen = app.metadata.generation;
  const observedConditions = app.status?.conditions;
  let conditions: Condition[] | undefined = observedConditions;
  const validation = validateCellApp(app, { cells: o.cells, shardingRules: o.rules });
  // The operator applies the template with its own rights in every zone's cluster: even
  // where no admission policy stopped it, nothing beyond baseline outside the exceptions.
  const appEntry = o.memo?.app(app, o.sidecar);
  const unsafe = o.podSecurity.privilegedNamespaces.includes(ns)
    ? []
    : (appEntry?.unsafe ?? baselineViolations(app.spec.template));
  const problems = [...validation.problems, ...unsafe.map((v) => ({ ...v, reason: "PodSecurity" }))];
  if (problems.length > 0) {
    // Invalid references or an unsafe template: say so, change nothing (existing workloads keep serving).
    const message = problems.map((p) => p.message).join("; ");
    conditions = setCondition(
      conditions,
      { type: "Valid", status: "False", reason: problems[0]!.reason, message, observedGeneration: gen },
      now,
    );
    conditions = setCondition(
      conditions,
      {
        type: "Ready",
        status: "False",
        reason: "InvalidSpec",
        message: "the spec is invalid: see the Valid condition",
        observedGeneration: gen,
      },
      now,
    );
    actions.status = { ...(app.status ?? {}), observedGeneration: gen, conditions };
    // setCondition returns the same list when nothing changed: warn once per change.
    if (conditions !== observedConditions) actions.events.push({ type: "Warning", reason: "InvalidSpec", message });
    return actions;
  }

  const inputs: CellAppInputs = { app, cells: o.cells, zones: o.zones, sidecar: o.sidecar };
  const { scope, overrides, zoneByName, problems: planProblemList } = planScope(inputs);
  const outlines: CellOutline[] = [];
  const unplannable: string[] = [];
  const observed = new Map<string, ObservedWorkload>();
  for (const w of o.workloads) {
    const k = `${w.cluster}/${w.kind}/${w.object.metadata?.name ?? ""}`;
    if (!observed.has(k)) observed.set(k, w);
  }

  // Desired workloads in writable zones (the operator's own cluster is always written to);
  // unreachable zones are left as they are.
  const unreachableZones = new Set<string>();
  const wanted = new Set<string>();
  for (const cell of scope) {
    const override = overrides.get(cell.metadata.name);
    const entry = appEntry && cellEntry(appEntry, cell, override, zoneByName);
    // The cell's objects, built only when one of them must be compared (its inputs or a cached object changed).
    let full: OneCellPlan | undefined;
    const planned = (): OneCellPlan => {
      if (full === undefined && o.memo) o.memo.work.cellsPlanned++;
      return (full ??= planCell(inputs, cell, override, zoneByName));
    };
    let outline: CellOutline | undefined;
    if (entry?.planned) {
      outline = entry.outline;
      planProblemList.push(...entry.problems);
    } else {
      const p = planned();
      outline = p.plan && outlineOf(p.plan);
      planProblemList.push(...p.problems);
      if (entry) Object.assign(entry, { planned: true, outline, problems: p.problems });
    }
    if (!outline) {
      unplannable.push(cell.metadata.name);
      continue;
    }
    outlines.push(outline);
    outline.workloads.forEach((w, i) => {
      const cluster = o.zoneClusters.get(w.zone);
      if (!cluster || !writable(cluster)) {
        unreachableZones.add(w.zone);
        return;
      }
      for (const kind of ["Deployment", "Service"] as const) {
        const k = `${cluster.name}/${kind}/${w.name}`;
        wanted.add(k);
        const seen = observed.get(k);
        if (seen && entry?.verified.get(k) === seen.object) continue;
        const zw = planned().plan!.workloads[i]!;
        const object = kind === "Deployment" ? zw.deployment : zw.service;
        if (seen && o.memo) o.memo.work.compared++;
        if (seen && covers(seen.object, object)) {
          entry?.verified.set(k, seen.object);
          continue;
        }
        entry?.verified.delete(k);
        actions.apply.push({ cluster: cluster.name, zone: w.zone, kind, name: w.name, object, create: !seen });
        if (!seen && !cluster.local && !actions.ensureNamespaces.includes(cluster.name))
          actions.ensureNamespaces.push(cluster.name);
      }
    });
  }

  // Remove workloads of cells that left the scope (only in clusters that answer;
  // cells that could not be planned keep theirs).
  const keepCells = new Set(unplannable);
  const clusters = new Map(o.clusters.map((c) => [c.name, c]));
  for (const w of o.workloads) {
    const cluster = clusters.get(w.cluster);
    if (!cluster || !writable(cluster)) continue;
    const name = w.object.metadata?.name ?? "";
    const labels = w.object.metadata?.labels ?? {};
    const cell = labels[Labels.cell] ?? "";
    if (wanted.has(`${w.cluster}/${w.kind}/${name}`) || keepCells.has(cell)) continue;
    // A zone in an unreachable state shares no cluster with a reachable one, but be explicit.
    if (unreachableZones.has(labels[Labels.zone] ?? "")) continue;
    actions.delete.push({ cluster: w.cluster, kind: w.kind, namespace: ns, name });
    actions.events.push({
      type: "Normal",
      reason: "Removed",
      message: `removed ${w.kind} ${name}: cell ${cell} left the app's scope`,
    });
  }

  // Status from the caches of every zone's cluster.
  const deployments: ObservedDeployment[] = [];
  for (const c of outlines) {
    for (const w of c.workloads) {
      const cluster = o.zoneClusters.get(w.zone);
      const dep = cluster && observed.get(`${cluster.name}/Deployment/${w.name}`);
      const st = dep?.object.status as { replicas?: number; readyReplicas?: number } | undefined;
      deployments.push({
        cell: c.cell,
        zone: w.zone,
        replicas: st?.replicas ?? 0,
        readyReplicas: st?.readyReplicas ?? 0,
      });
    }
  }
  const summary = cellAppStatusCells({ cells: outlines, scopeCells: scope.map((c) => c.metadata.name) }, deployments);
  const planProblems = planProblemList.map((p) => `${p.field}: ${p.message}`);
  conditions = setCondition(
    conditions,
    {
      type: "Valid",
      status: "True",
      reason: "Valid",
      message: planProblems.length ? planProblems.join("; ") : "spec is valid",
      observedGeneration: gen,
    },
    now,
  );
  const ready = summary.readyCells === summary.totalCells && unreachableZones.size === 0;
  const readyMessage =
    `${summary.readyCells}/${summary.totalCells} cells ready` +
    (!ready && unreachableZones.size
      ? `; zone(s) ${[...unreachableZones].sort().join(", ")} unreachable: their workloads are left as they are`
      : "");
  conditions = setCondition(
    conditions,
    {
      type: "Ready",
      status: ready ? "True" : "False",
      reason: ready ? "AllCellsReady" : unreachableZones.size ? "ZoneUnreachable" : "CellsNotReady",
      message: readyMessage,
      observedGeneration: gen,
    },
    now,
  );
  actions.status = {
    observedGeneration: gen,
    cells: summary.cells,
    readyCells: summary.readyCells,
    totalCells: summary.totalCells,
    conditions,
  };
  if (unreachableZones.size) actions.requeueAfterMs = UNREACHABLE_RETRY_MS;
  return actions;
}
