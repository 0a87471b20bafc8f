// Local multi-datacenter control planes for development, tests and the demo.
//
//   npm run cluster -- build                    build the pinned binaries (cached)
//   npm run cluster -- up [--datacenters 3]     start N datacenters (idempotent)
//   npm run cluster -- status [--json]          what runs, what answers
//   npm run cluster -- stop dc3 | start dc3     simulate a datacenter outage and recovery
//   npm run cluster -- down [--all]             stop everything, remove all state (--all: every set under .ldc/)
//   npm run cluster -- env                      shell exports (KUBECONFIG_DC1=..., PATH)
//
// --state-dir DIR (or LDC_STATE_DIR) selects another set of datacenters.
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_STATE_DIR, down, readState, start, status, stop, up } from "./lib/controlplane.ts";
import { REPO_DIR, ensureTools, toolPaths } from "./lib/tools.ts";

function stateDirsUnder(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => path.join(root, e.name));
}

const USAGE = `usage: npm run cluster -- <build|up|status|stop NAME|start NAME|down [--all]|env> [--datacenters N] [--state-dir DIR] [--json]`;

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      datacenters: { type: "string", short: "n", default: "3" },
      "state-dir": { type: "string", default: DEFAULT_STATE_DIR },
      json: { type: "boolean", default: false },
      all: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, name] = positionals;
  const stateDir = values["state-dir"];
  if (values.help || !command) {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  switch (command) {
    case "build": {
      const tools = ensureTools();
      console.log(tools.binDirs.join("\n"));
      return 0;
    }
    case "up": {
      const n = Number(values.datacenters);
      if (!Number.isInteger(n) || n < 1 || n > 9) {
        console.error(`--datacenters must be an integer from 1 to 9, got "${values.datacenters}"`);
        return 2;
      }
      const state = await up({ stateDir, datacenters: n });
      for (const dc of state.datacenters.filter((d) => d.index <= n)) {
        console.log(`${dc.name}\t${dc.region}/${dc.zone}\t${dc.server}\tKUBECONFIG=${dc.kubeconfigPath}`);
      }
      return 0;
    }
    case "status": {
      const all = await status(stateDir);
      if (values.json) {
        console.log(JSON.stringify(all, null, 2));
      } else if (all.length === 0) {
        console.log(`no datacenters in ${stateDir} (start some with: npm run cluster -- up --datacenters 3)`);
      } else {
        for (const s of all) {
          const down = Object.entries(s.processes)
            .filter(([, alive]) => !alive)
            .map(([c]) => c);
          const health = s.apiReady && s.nodesReady && down.length === 0 ? "Ready" : "NotReady";
          console.log(
            `${s.name}\t${s.region}/${s.zone}\t${health}\tapi=${s.apiReady ? "ok" : "down"} nodes=${s.nodesReady ? "ready" : "not-ready"}` +
              (down.length ? ` stopped=${down.join(",")}` : "") +
              `\t${s.server}\tKUBECONFIG=${s.kubeconfigPath}`,
          );
        }
      }
      return all.every((s) => s.apiReady) ? 0 : 1;
    }
    case "stop":
    case "start": {
      if (!name) {
        console.error(`usage: npm run cluster -- ${command} <datacenter name, e.g. dc3>`);
        return 2;
      }
      await (command === "stop" ? stop(stateDir, name) : start(stateDir, name));
      return 0;
    }
    case "down":
      if (values.all) {
        // Every set of datacenters under .ldc/ (the developer's, the tests', the demo's).
        for (const dir of stateDirsUnder(path.join(REPO_DIR, ".ldc"))) await down(dir);
        return 0;
      }
      await down(stateDir);
      return 0;
    case "env": {
      const state = readState(stateDir);
      console.log(`export PATH=${toolPaths().binDirs.join(":")}:$PATH`);
      for (const dc of state?.datacenters ?? [])
        console.log(`export KUBECONFIG_${dc.name.toUpperCase()}=${dc.kubeconfigPath}`);
      return 0;
    }
    default:
      console.error(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
