// Zone health: from the member cluster's reachability, its zone-labelled
// nodes and the readiness of the cells active in it. Pure.
import { parseDuration, type Zone, type ZonePhase } from "../api/index.ts";

export interface ZoneObservation {
  now: Date;
  /** The zone's cluster answered the last probe. */
  reachable: boolean;
  /** Since when it has not answered (undefined while reachable). */
  unreachableSince?: Date;
  /** Why the last probe failed, for the condition message. */
  probeError?: string;
  /** Nodes matching the zone's node selector (last known while unreachable). */
  totalNodes: number;
  readyNodes: number;
  /** Cells active in the zone, and how many of them have every app ready. */
  activeCells: number;
  readyCells: number;
  /** The cluster's caches have synced at least once (else: Pending). */
  observed: boolean;
}

export interface ZoneHealth {
  phase: ZonePhase;
  reason: string;
  message: string;
  /** Re-evaluate after this many ms (while counting down to the failure threshold). */
  requeueAfterMs?: number;
}

export function zoneHealth(zone: Zone, o: ZoneObservation): ZoneHealth {
  const thresholdMs = parseDuration(zone.spec.health.failureThreshold);
  if (!o.reachable) {
    const downMs = o.unreachableSince ? o.now.getTime() - o.unreachableSince.getTime() : thresholdMs;
    const why = o.probeError ? `: ${o.probeError}` : "";
    if (downMs >= thresholdMs) {
      return {
        phase: "Unreachable",
        reason: "ClusterUnreachable",
        message: `the zone's cluster has not answered for ${Math.round(downMs / 1000)}s (failure threshold ${zone.spec.health.failureThreshold})${why}; nothing in the zone is deleted`,
      };
    }
    // Below the threshold a blip is not an outage: report it, keep counting.
    return {
      phase: o.observed ? "Degraded" : "Pending",
      reason: "ProbeFailing",
      message: `the zone's cluster stopped answering ${Math.round(downMs / 1000)}s ago${why}; Unreachable after ${zone.spec.health.failureThreshold}`,
      requeueAfterMs: Math.max(1, thresholdMs - downMs),
    };
  }
  if (!o.observed)
    return { phase: "Pending", reason: "Syncing", message: "waiting for the zone's cluster caches to sync" };
  if (o.totalNodes === 0) {
    return {
      phase: "Degraded",
      reason: "NoNodes",
      message: `no node matches the zone's node selector: label the zone's nodes or fix spec.nodeSelector`,
    };
  }
  const ratio = o.readyNodes / o.totalNodes;
  if (ratio < zone.spec.health.minReadyRatio) {
    return {
      phase: "Degraded",
      reason: "NodesNotReady",
      message: `${o.readyNodes}/${o.totalNodes} nodes Ready, below minReadyRatio ${zone.spec.health.minReadyRatio}`,
    };
  }
  if (o.readyCells < o.activeCells) {
    return {
      phase: "Degraded",
      reason: "CellsNotReady",
      message: `${o.readyCells}/${o.activeCells} cells active here are ready; ${o.readyNodes}/${o.totalNodes} nodes Ready`,
    };
  }
  return {
    phase: "Ready",
    reason: "Healthy",
    message: `${o.readyNodes}/${o.totalNodes} nodes Ready, ${o.activeCells} cell(s) active${zone.spec.cordoned ? ", cordoned" : ""}`,
  };
}

/** Whether a zone may take cells in a failover: healthy and not cordoned. */
export function isFailoverDestination(zone: Zone): boolean {
  return zone.status?.phase === "Ready" && !zone.spec.cordoned;
}
