// kube-score (a linter from the Kubernetes ecosystem, built from its pinned Go
// module like the other tools) over the rendered chart: clean, except for
// the checks hack/kube-score.yaml ignores, each with its reason, and each
// still needed.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { REPO_DIR } from "../../../hack/lib/tools.ts";
import { kubeScorePath, run, templateText } from "./render.ts";
import type { TemplateOptions } from "./render.ts";

interface Exception {
  id: string;
  why: string;
}
interface KubeScoreConfig {
  kubernetesVersion: string;
  enable: Exception[];
  ignore: Exception[];
}

const config = parse(readFileSync(path.join(REPO_DIR, "hack", "kube-score.yaml"), "utf8")) as KubeScoreConfig;

const RENDERINGS: [string, TemplateOptions][] = [
  ["default values", {}],
  [
    "every option on",
    {
      values: {
        replicaCount: 3,
        serviceMonitor: { enabled: true },
        prometheusRule: { enabled: true },
        grafanaDashboard: { enabled: true },
        networkPolicy: { enabled: true },
        service: { type: "LoadBalancer" },
      },
    },
  ],
  ["member-cluster mode", { values: { memberCluster: { enabled: true } } }],
];

/** Runs kube-score over manifests; returns the lines that are not OK or SKIPPED, and the exit status. */
function score(manifests: string, ignore: readonly string[]): { status: number; findings: string[] } {
  const args = [
    "score",
    "--kubernetes-version",
    config.kubernetesVersion,
    "--output-format",
    "ci",
    "--exit-one-on-warning",
    ...config.enable.flatMap((e) => ["--enable-optional-test", e.id]),
    ...ignore.flatMap((id) => ["--ignore-test", id]),
    "-",
  ];
  const r = run(kubeScorePath(), args, manifests);
  const findings = r.stdout.split("\n").filter((l) => l !== "" && !/^\[(OK|SKIPPED)\]/.test(l));
  return { status: r.status, findings: r.status === 0 ? findings : [...findings, r.stderr].filter(Boolean) };
}

beforeAll(() => {
  kubeScorePath(); // builds the pinned tools on a machine that has none (minutes, once)
}, 900_000);

describe("kube-score over the rendered chart", () => {
  it("has a reason for every exception and enabled optional check", () => {
    for (const e of [...config.enable, ...config.ignore]) {
      expect(e.id, JSON.stringify(e)).toMatch(/^[a-z0-9-]+$/);
      expect(e.why?.length ?? 0, e.id).toBeGreaterThan(40);
    }
  });

  it.each(RENDERINGS)("is clean with %s", (_what, opts) => {
    const { status, findings } = score(
      templateText(opts),
      config.ignore.map((e) => e.id),
    );
    expect(findings).toEqual([]);
    expect(status).toBe(0);
  });

  it.each(config.ignore.map((e) => [e.id]))("still needs the exception for %s", (id) => {
    const others = config.ignore.map((e) => e.id).filter((x) => x !== id);
    const findings = RENDERINGS.flatMap(([, opts]) => score(templateText(opts), others).findings);
    expect(findings.length, `${id} passes without its exception: remove it from hack/kube-score.yaml`).toBeGreaterThan(
      0,
    );
  });
});
