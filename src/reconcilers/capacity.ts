// Will the scaled-up replicas fit? Requests against the allocatable of a
// zone's nodes minus what the pods already on them request, as the
// scheduler counts (containers' requests; init containers run one at a time
// and are left out). Pure.

/** CPU in cores, memory in bytes. */
export interface Resources {
  cpu: number;
  memory: number;
}

export interface CapacityNode {
  metadata?: { name?: string; labels?: Record<string, string> };
  status?: { allocatable?: Record<string, string> };
}

export interface CapacityPod {
  spec?: { nodeName?: string; containers?: { resources?: { requests?: Record<string, string> } }[] };
  status?: { phase?: string };
}

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity ("500m", "512Mi", "1.5", "2e3") as a number; NaN when it is not one. */
export function parseQuantity(q: string | undefined): number {
  if (q === undefined) return 0;
  const m = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(
    q.trim(),
  );
  if (!m) return Number.NaN;
  const base = Number(m[1]) * (m[2] ? 10 ** Number(m[2].slice(1)) : 1);
  return base * SUFFIX[m[3] ?? ""]!;
}

function requestsOf(r: Record<string, string> | undefined): Resources {
  const cpu = parseQuantity(r?.cpu);
  const memory = parseQuantity(r?.memory);
  return { cpu: Number.isFinite(cpu) ? cpu : 0, memory: Number.isFinite(memory) ? memory : 0 };
}

/** What one pod of this spec requests (the sum of its containers). */
export function podRequests(spec: CapacityPod["spec"]): Resources {
  const out = { cpu: 0, memory: 0 };
  for (const c of spec?.containers ?? []) {
    const r = requestsOf(c.resources?.requests);
    out.cpu += r.cpu;
    out.memory += r.memory;
  }
  return out;
}

/** A zone's free capacity: its nodes' allocatable minus the requests of the pods bound to them and not finished. */
export function freeCapacity(
  nodes: readonly CapacityNode[],
  pods: readonly CapacityPod[],
): { nodes: number; allocatable: Resources; requested: Resources; free: Resources } {
  const names = new Set(nodes.map((n) => n.metadata?.name).filter((n) => n !== undefined));
  const allocatable = { cpu: 0, memory: 0 };
  for (const n of nodes) {
    const a = requestsOf(n.status?.allocatable);
    allocatable.cpu += a.cpu;
    allocatable.memory += a.memory;
  }
  const requested = { cpu: 0, memory: 0 };
  for (const p of pods) {
    const phase = p.status?.phase;
    if (!p.spec?.nodeName || !names.has(p.spec.nodeName) || phase === "Succeeded" || phase === "Failed") continue;
    const r = podRequests(p.spec);
    requested.cpu += r.cpu;
    requested.memory += r.memory;
  }
  return {
    nodes: names.size,
    allocatable,
    requested,
    free: { cpu: allocatable.cpu - requested.cpu, memory: allocatable.memory - requested.memory },
  };
}

/** "1.5 CPU, 2.0 GiB" */
export function formatResources(r: Resources): string {
  const cpu = Math.round(r.cpu * 1000) / 1000;
  return `${cpu} CPU, ${(r.memory / 2 ** 30).toFixed(1)} GiB`;
}

/** Whether `need` fits in `free`, and a message saying so with the figures. */
export function checkFit(
  zone: string,
  need: Resources,
  free: ReturnType<typeof freeCapacity>,
): { fits: boolean; message: string } {
  const short: string[] = [];
  if (need.cpu > free.free.cpu + 1e-9) short.push("CPU");
  if (need.memory > free.free.memory) short.push("memory");
  const figures = `needs ${formatResources(need)} more requested; ${free.nodes} node(s) have ${formatResources(free.free)} free (allocatable ${formatResources(free.allocatable)} minus ${formatResources(free.requested)} requested)`;
  if (free.nodes === 0)
    return {
      fits: need.cpu <= 0 && need.memory <= 0,
      message: `zone ${zone} has no node matching its node selector; ${figures}`,
    };
  return short.length
    ? {
        fits: false,
        message: `zone ${zone} lacks ${short.join(" and ")}: ${figures}: add nodes or choose another destination`,
      }
    : { fits: true, message: `zone ${zone} fits: ${figures}` };
}
