// Starts (or reuses) the simulated datacenters once per test run.
//  - LDC_KUBECONFIGS=a,b,c: use existing clusters, build and start nothing.
//  - a developer's `npm run cluster -- up` (3+ datacenters Ready): reused, left running.
//  - otherwise: 3 datacenters in .ldc/test-cluster, stopped and removed at the end
//    (LDC_KEEP_CLUSTER=1 keeps them for the next run).
import path from "node:path";
import type { TestProject } from "vitest/node";
import { DEFAULT_STATE_DIR, down, readState, status, topologyFor, up } from "../../hack/lib/controlplane.ts";
import { REPO_DIR, ensureTools } from "../../hack/lib/tools.ts";
import type { DatacenterInfo } from "./harness.ts";

const DATACENTERS = 3;

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.LDC_KUBECONFIGS?.split(",").filter(Boolean);
  if (external?.length) {
    const infos: DatacenterInfo[] = external.map((kubeconfigPath, i) => ({
      name: `dc${i + 1}`,
      index: i + 1,
      ...topologyFor(i + 1),
      kubeconfigPath: path.resolve(kubeconfigPath),
      external: true,
    }));
    project.provide("ldcDatacenters", infos);
    return undefined;
  }

  const tools = ensureTools();
  // Child processes (kubectl, helm in tests) must find the pinned binaries first.
  process.env.PATH = `${tools.binDirs.join(path.delimiter)}${path.delimiter}${process.env.PATH ?? ""}`;

  const shared = await status(DEFAULT_STATE_DIR);
  let stateDir: string;
  let teardown: (() => Promise<void>) | undefined;
  /** The run's own datacenters: tests may stop one or fill one with cluster-scoped objects (harness.ts). */
  let own = false;
  if (shared.length >= DATACENTERS && shared.slice(0, DATACENTERS).every((s) => s.apiReady && s.nodesReady)) {
    stateDir = DEFAULT_STATE_DIR;
    process.stderr.write(`[integration] reusing the datacenters in ${stateDir}\n`);
  } else {
    stateDir = path.join(REPO_DIR, ".ldc", "test-cluster");
    own = true;
    await up({ stateDir, datacenters: DATACENTERS });
    if (process.env.LDC_KEEP_CLUSTER !== "1") teardown = () => down(stateDir);
  }
  const state = readState(stateDir)!;
  const infos: DatacenterInfo[] = state.datacenters.slice(0, DATACENTERS).map((dc) => ({
    name: dc.name,
    index: dc.index,
    region: dc.region,
    zone: dc.zone,
    kubeconfigPath: dc.kubeconfigPath,
    external: false,
    ...(own ? { stateDir } : {}),
  }));
  project.provide("ldcDatacenters", infos);
  project.provide("ldcBinDirs", tools.binDirs);
  return teardown;
}
