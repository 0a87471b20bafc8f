// What the chart ships for the people on call: the alerting rules
// (files/alerts.yaml) checked by promtool and unit-tested with promtool
// (test/alerts/*.test.yaml), a runbook section per alert, every metric the
// rules and the dashboard (files/dashboard.json) read exported by the
// operator, and the chart rendering both files as they are, opt-in.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { beforeAll, describe, expect, it } from "vitest";
import { REPO_DIR } from "../../../hack/lib/tools.ts";
import { RUNBOOK_URL } from "../../../src/chart/values.ts";
import { createDomainMetrics } from "../../../src/controllers/metrics.ts";
import { metricsRegistry } from "../../../src/runtime/index.ts";
import { CHART, helm, only, promtoolPath, run, template } from "./render.ts";
import type { K8sObject } from "./render.ts";

const ALERTS = path.join(CHART, "files", "alerts.yaml");
const DASHBOARD = path.join(CHART, "files", "dashboard.json");
const TESTS_DIR = path.join(REPO_DIR, "test", "alerts");

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const ruleFile = parse(readFileSync(ALERTS, "utf8")) as { groups: { name: string; rules: Rule[] }[] };
const rules = ruleFile.groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
  uid: string;
  panels: { title: string; type: string; targets?: { expr: string }[] }[];
};
const testFiles = readdirSync(TESTS_DIR)
  .filter((f) => f.endsWith(".test.yaml"))
  .map((f) => path.join(TESTS_DIR, f));

/** Every metric series name the operator's /metrics can carry (histograms with their _bucket, _sum, _count). */
function exportedNames(): Set<string> {
  const domain = createDomainMetrics({ zones: () => [], rules: () => [], failovers: () => [], sidecars: () => [] });
  const names = new Set<string>();
  for (const m of [...domain.registry.getMetricsAsArray(), ...metricsRegistry.getMetricsAsArray()]) {
    const { name, type } = m as unknown as { name: string; type: string };
    names.add(name);
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
  }
  return names;
}
const METRIC = /\b(?:ldc|controller_runtime|workqueue|leader_election|rest_client)_[a-z_]+\b/g;

beforeAll(() => {
  promtoolPath(); // builds the pinned tools on a machine that has none (minutes, once)
}, 900_000);

describe("the alerting rules", () => {
  it("pass promtool check rules", () => {
    const r = run(promtoolPath(), ["check", "rules", ALERTS]);
    expect(r.stdout + r.stderr).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(r.status).toBe(0);
  });

  it("pass their promtool unit tests (test/alerts), which exercise every alert", () => {
    expect(testFiles.length).toBeGreaterThan(0);
    const r = run(promtoolPath(), ["test", "rules", ...testFiles]);
    expect(r.stdout + r.stderr).not.toMatch(/FAILED/);
    expect(r.status).toBe(0);
    const tested = new Set(
      testFiles.flatMap((f) =>
        (
          parse(readFileSync(f, "utf8")) as {
            tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
          }
        ).tests.flatMap((t) =>
          (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
        ),
      ),
    );
    expect([...tested].sort()).toEqual(rules.map((r) => r.alert).sort());
  });

  it("each link to its runbook section in docs/runbooks.md, carry a severity and say what fired", () => {
    const runbooks = readFileSync(path.join(REPO_DIR, "docs", "runbooks.md"), "utf8");
    for (const r of rules) {
      expect(r.annotations.runbook_url).toBe(`${RUNBOOK_URL}#${r.alert.toLowerCase()}`);
      expect(runbooks).toContain(`\n## ${r.alert}\n`);
      expect(["critical", "warning"]).toContain(r.labels.severity);
      expect(r.annotations.summary).toBeTruthy();
      expect(r.annotations.description).toBeTruthy();
    }
  });

  it("read only metrics the operator exports, never per pod", () => {
    const exported = exportedNames();
    for (const r of rules) {
      const used = r.expr.match(METRIC) ?? [];
      expect(used.length).toBeGreaterThan(0);
      for (const m of used) expect(exported, `${r.alert} reads ${m}`).toContain(m);
      // Every replica exports the gauges: an expression keyed by pod would fire once per replica.
      expect(r.expr).not.toMatch(/\b(pod|instance)\b/);
    }
  });
});

describe("the dashboard", () => {
  it("queries only metrics the operator exports, through its data source variable", () => {
    const exported = exportedNames();
    const targets = dashboard.panels.flatMap((p) => p.targets ?? []);
    expect(targets.length).toBeGreaterThan(10);
    for (const t of targets) for (const m of t.expr.match(METRIC) ?? []) expect(exported, t.expr).toContain(m);
    // Every domain metric has a panel.
    const queried = new Set(targets.flatMap((t) => t.expr.match(METRIC) ?? []));
    for (const m of exported)
      if (m.startsWith("ldc_") && !/_(sum|count)$/.test(m) && !exported.has(`${m}_bucket`) && !m.includes("informer"))
        expect(queried, `no panel shows ${m}`).toContain(m);
  });
});

describe("the chart", () => {
  const monitoring = (values: Record<string, unknown>) =>
    template({ values }).filter((o) => o.kind === "PrometheusRule" || o.metadata.name.endsWith("-dashboard"));

  it("renders neither by default, nor in member-cluster mode", () => {
    expect(monitoring({})).toEqual([]);
    expect(
      monitoring({
        memberCluster: { enabled: true },
        prometheusRule: { enabled: true },
        grafanaDashboard: { enabled: true },
      }),
    ).toEqual([]);
  });

  it("ships files/alerts.yaml as the PrometheusRule's spec, its runbook links pointed where asked", () => {
    const rule = only(monitoring({ prometheusRule: { enabled: true, labels: { release: "prom" } } }), "PrometheusRule");
    expect(rule.apiVersion).toBe("monitoring.coreos.com/v1");
    expect(rule.metadata).toMatchObject({ name: "ldc-operator", namespace: "ldc-system", labels: { release: "prom" } });
    expect((rule as K8sObject & { spec: unknown }).spec).toEqual(ruleFile);

    const own = "https://wiki.example.com/ldc/runbooks";
    const moved = only(
      monitoring({ prometheusRule: { enabled: true, runbookUrl: own } }),
      "PrometheusRule",
    ) as K8sObject & {
      spec: typeof ruleFile;
    };
    expect(moved.spec.groups.flatMap((g) => g.rules.map((r) => r.annotations.runbook_url))).toEqual(
      rules.map((r) => `${own}#${r.alert.toLowerCase()}`),
    );
  });

  it("ships files/dashboard.json in a ConfigMap Grafana's sidecar picks up", () => {
    const cm = only(
      monitoring({ grafanaDashboard: { enabled: true, annotations: { grafana_folder: "LDC" } } }),
      "ConfigMap",
    ) as K8sObject & { data: Record<string, string> };
    expect(cm.metadata.labels?.grafana_dashboard).toBe("1");
    expect(cm.metadata.annotations).toEqual({ grafana_folder: "LDC" });
    expect(JSON.parse(cm.data["ldc-operator.json"]!)).toEqual(dashboard);
  });

  it("passes helm lint --strict with both on", () => {
    const r = helm([
      "lint",
      "--strict",
      CHART,
      "--namespace",
      "ldc-system",
      "--set",
      "prometheusRule.enabled=true,grafanaDashboard.enabled=true",
    ]);
    expect(r.stderr + r.stdout).toContain("0 chart(s) failed");
    expect(r.status).toBe(0);
  });

  it("refuses a runbook URL that is not one", () => {
    const r = helm(["template", "x", CHART, "--set", "prometheusRule.runbookUrl=docs/runbooks.md"]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/prometheusRule\.runbookUrl|runbookUrl/);
  });
});
