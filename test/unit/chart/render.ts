// Renders the Helm chart with the pinned helm (no cluster needed).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments } from "yaml";
import { REPO_DIR, ensureTools, toolPaths } from "../../../hack/lib/tools.ts";

export const CHART = path.join(REPO_DIR, "charts", "ldc-operator");
/** The pinned Kubernetes version: a helm built from source defaults to v1.20 for `helm template`. */
export const KUBE_VERSION = "v1.36.3";

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

/** The pinned helm; builds the tools when missing (minutes, once). */
export function helmPath(): string {
  const p = toolPaths().helm;
  return existsSync(p) ? p : ensureTools().helm;
}

export function kubeScorePath(): string {
  const p = toolPaths().kubeScore;
  return existsSync(p) ? p : ensureTools().kubeScore;
}

/** The pinned promtool (checks and unit-tests the chart's alerting rules). */
export function promtoolPath(): string {
  const p = toolPaths().promtool;
  return existsSync(p) ? p : ensureTools().promtool;
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(bin: string, args: readonly string[], input?: string): RunResult {
  const r = spawnSync(bin, args, {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    ...(input !== undefined ? { input } : {}),
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function helm(args: readonly string[]): RunResult {
  return run(helmPath(), args);
}

/** `--set`-style values as helm arguments; values are passed as JSON (--set-json) so types survive. */
export function valueArgs(values: Record<string, unknown> = {}): string[] {
  return Object.entries(values).flatMap(([k, v]) => ["--set-json", `${k}=${JSON.stringify(v)}`]);
}

export interface TemplateOptions {
  release?: string;
  namespace?: string;
  values?: Record<string, unknown>;
}

/** `helm template` output as text; throws with helm's message when rendering fails. */
export function templateText(opts: TemplateOptions = {}): string {
  const r = helm([
    "template",
    opts.release ?? "ldc-operator",
    CHART,
    "--namespace",
    opts.namespace ?? "ldc-system",
    "--kube-version",
    KUBE_VERSION,
    ...valueArgs(opts.values),
  ]);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return r.stdout;
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`invalid YAML: ${d.errors.map((e) => e.message).join("; ")}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

/** `helm template` output as objects. */
export function template(opts: TemplateOptions = {}): K8sObject[] {
  return parseObjects(templateText(opts));
}

/** Renders and returns helm's error output, failing if rendering succeeds. */
export function templateError(opts: TemplateOptions = {}): string {
  try {
    templateText(opts);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error(`helm template succeeded with ${JSON.stringify(opts.values)} but should have failed`);
}

export function only(objects: readonly K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
}
