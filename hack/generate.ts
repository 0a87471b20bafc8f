// Generates files derived from src/api (the single source of the API) and
// src/chart (the Helm chart's values and RBAC table):
//
//   node hack/generate.ts          write every output (and remove stale ones)
//   node hack/generate.ts --check  exit 1, naming each file that differs
//
// Every output is a row of OUTPUTS (the CRDs, the Helm chart's CRDs, Chart.yaml,
// values.yaml, values.schema.json, RBAC rules and the CellApp admission policy's CEL,
// deploy/member-cluster-rbac.yaml);
// add rows rather than code paths.

import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { allKinds } from "../src/api/kinds.ts";
import type { KindInfo } from "../src/api/kinds.ts";
import { crdFor } from "../src/api/crd.ts";
import type { CustomResourceDefinition } from "../src/api/crd.ts";
import {
  CHART_DIR,
  cellAppPolicyTpl,
  chartYaml,
  memberClusterRbacYaml,
  rulesTpl,
  valuesSchemaJson,
  valuesYaml,
} from "../src/chart/render.ts";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

const HEADER = "# Generated from src/api by `npm run generate` (hack/generate.ts). DO NOT EDIT.\n";

/** One generated file: a path relative to the repo root and its content. */
export interface Output {
  path: string;
  render: () => string;
}

/** A directory whose generated files the table owns: a file there matching `pattern` but in no row is stale. */
export interface ManagedDir {
  dir: string;
  pattern: RegExp;
}

/** A CRD as YAML, with the generated-file header. */
export function crdYaml(crd: CustomResourceDefinition): string {
  return HEADER + stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** The file name of a kind's CRD: <group>_<plural>.yaml (the controller-gen convention). */
export function crdFileName(k: Pick<KindInfo, "group" | "plural">): string {
  return `${k.group}_${k.plural}.yaml`;
}

/** Every kind's CRD objects (for tests, and for emitters that are not files). */
export function crdObjects(): CustomResourceDefinition[] {
  return allKinds.map(crdFor);
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
}

export const OUTPUTS: readonly Output[] = [
  ...allKinds.map((k) => ({ path: `crds/${crdFileName(k)}`, render: () => crdYaml(crdFor(k)) })),
  // The chart ships the same CRDs in its crds/ folder (docs/adr/0003-crd-upgrades.md).
  ...allKinds.map((k) => ({ path: `${CHART_DIR}/crds/${crdFileName(k)}`, render: () => crdYaml(crdFor(k)) })),
  { path: `${CHART_DIR}/Chart.yaml`, render: () => chartYaml(packageVersion()) },
  { path: `${CHART_DIR}/values.yaml`, render: valuesYaml },
  { path: `${CHART_DIR}/values.schema.json`, render: valuesSchemaJson },
  { path: `${CHART_DIR}/templates/_rules.tpl`, render: rulesTpl },
  { path: `${CHART_DIR}/templates/_cellapp-policy.tpl`, render: cellAppPolicyTpl },
  { path: "deploy/member-cluster-rbac.yaml", render: memberClusterRbacYaml },
];

export const MANAGED_DIRS: readonly ManagedDir[] = [
  { dir: "crds", pattern: /^ldc\.io_.*\.yaml$/ },
  { dir: `${CHART_DIR}/crds`, pattern: /^ldc\.io_.*\.yaml$/ },
];

/** Paths (relative to root) of generated-looking files that no output produces. */
export function staleFiles(root = ROOT): string[] {
  const wanted = new Set(OUTPUTS.map((o) => o.path));
  const stale: string[] = [];
  for (const m of MANAGED_DIRS) {
    const dir = join(root, m.dir);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const p = `${m.dir}/${f}`;
      if (m.pattern.test(f) && !wanted.has(p)) stale.push(p);
    }
  }
  return stale.sort();
}

export interface CheckResult {
  /** Outputs whose file is missing or differs from what would be generated. */
  drifted: string[];
  /** Generated-looking files that nothing generates any more. */
  stale: string[];
}

export function check(root = ROOT): CheckResult {
  const drifted: string[] = [];
  for (const o of OUTPUTS) {
    const file = join(root, o.path);
    if (!existsSync(file) || readFileSync(file, "utf8") !== o.render()) drifted.push(o.path);
  }
  return { drifted, stale: staleFiles(root) };
}

export function generate(root = ROOT): { written: string[]; removed: string[] } {
  const written: string[] = [];
  for (const o of OUTPUTS) {
    const file = join(root, o.path);
    const content = o.render();
    if (existsSync(file) && readFileSync(file, "utf8") === content) continue;
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
    written.push(o.path);
  }
  const removed = staleFiles(root);
  for (const p of removed) rmSync(join(root, p));
  return { written, removed };
}

function main(argv: readonly string[]): number {
  if (argv.includes("--check")) {
    const { drifted, stale } = check();
    if (drifted.length === 0 && stale.length === 0) {
      console.log(`generated files are up to date (${OUTPUTS.length} files)`);
      return 0;
    }
    for (const p of drifted) console.error(`drifted: ${p}`);
    for (const p of stale) console.error(`stale (no longer generated): ${p}`);
    console.error("run `npm run generate` and commit the result");
    return 1;
  }
  const { written, removed } = generate();
  for (const p of written) console.log(`wrote ${p}`);
  for (const p of removed) console.log(`removed ${p}`);
  if (written.length === 0 && removed.length === 0) console.log(`up to date (${OUTPUTS.length} files)`);
  return 0;
}

if (process.argv[1] !== undefined && relative(process.argv[1], fileURLToPath(import.meta.url)) === "") {
  process.exitCode = main(process.argv.slice(2));
}
