/// <reference lib="dom" />
// The console (kubectl ldc dashboard) in a real browser (Debian's chromium
// driven by playwright-core) against real control planes: three private
// datacenters with the examples, the operator in-process and the kwok pods'
// sidecars (a drill's barrier waits for them). The page is read as a user
// sees it: canvas pixels, the rendered timeline, the messages shown.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_DIR } from "../../../hack/lib/tools.ts";
import { startConsole, type RunningConsole } from "../../../src/console/server.ts";
import { LEG } from "../../../src/reconcilers/failover.ts";
import { routingTableName } from "../../../src/reconcilers/naming.ts";
import { ROUTING_TABLE_KEY } from "../../../src/reconcilers/sidecar.ts";
import { parseTable } from "../../../src/routing/index.ts";
import { KubeClient, connectionFromFile } from "../../../src/runtime/index.ts";
import { eventually } from "../harness.ts";
import { APP_NAMESPACE, OperatorEnv, ldcPath, privateDatacentersAvailable, waitConverged } from "../operator/setup.ts";

const CHROMIUM = process.env.LDC_CHROMIUM ?? "/usr/bin/chromium";
/** Screenshots for docs/: LDC_SCREENSHOT_DIR=docs/images; else under .ldc/. */
const SHOTS = path.resolve(REPO_DIR, process.env.LDC_SCREENSHOT_DIR ?? ".ldc/console-screenshots");
const RULE = "users";

interface FailoverObj {
  status?: { phase?: string; steps?: { name: string; phase: string }[] };
}

describe.skipIf(!privateDatacentersAvailable())("console (kubectl ldc dashboard) in chromium", () => {
  const env = new OperatorEnv("console");
  let admin: KubeClient;
  let consoleAdmin: RunningConsole;
  let browser: Browser;
  let page: Page;
  const closers: (() => Promise<unknown> | unknown)[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: run hack/install-chromium.sh`);
    await env.start();
    await waitConverged(env);
    const sidecars = await env.startPodSidecars();
    await eventually("the kwok pods' sidecars running", () => Promise.resolve(sidecars.running().length > 0));
    admin = await KubeClient.fromConnection(connectionFromFile(env.dc("dc1").kubeconfigPath));
    consoleAdmin = await startConsole({ client: admin });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    mkdirSync(SHOTS, { recursive: true });
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
    await browser?.close();
    await consoleAdmin?.close();
    admin?.close();
    await env.stop();
  });

  it("loads: zones by region, cells, no source it cannot read", async () => {
    await page.goto(consoleAdmin.url);
    await page.waitForSelector('[data-zone="sh-a"]');
    expect(await page.locator("[data-zone]").count()).toBe(3);
    expect(await page.locator(".region h3").allInnerTexts()).toEqual(["hangzhou", "shanghai"]);
    await page.waitForSelector('[data-cell="rz00"]');
    await eventually("every source readable", async () => (await page.locator("#problems").innerText()) === "");
  });

  it("draws the shard map shard for shard as the published routing table", async () => {
    const cm = await env.get<{ data: Record<string, string> }>(
      "dc1",
      `/api/v1/namespaces/${APP_NAMESPACE}/configmaps/${routingTableName(RULE)}`,
    );
    const table = parseTable(cm!.data[ROUTING_TABLE_KEY]!);
    await page.waitForFunction(
      ([rule, epoch]) =>
        (window as never as LdcWindow).__ldc.state?.shardMaps.some((m) => m.rule === rule && m.epoch >= epoch),
      [RULE, table.epoch] as const,
    );
    // Each shard's centre pixel, mapped back to a cell through the legend's colours.
    const drawn = await page.evaluate((rule) => {
      const w = window as never as LdcWindow;
      const m = w.__ldc.state!.shardMaps.find((x) => x.rule === rule)!;
      const { size, cols } = w.__ldc.layout[rule]!;
      const colors = w.__ldc.colors[rule]!.map((c) => c.join(","));
      const canvas = document.querySelector<HTMLCanvasElement>(`canvas.map[data-rule="${rule}"]`)!;
      const px = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      const out: string[] = [];
      for (let s = 0; s < m.shards; s++) {
        const x = (s % cols) * size + Math.floor(size / 2);
        const y = Math.floor(s / cols) * size + Math.floor(size / 2);
        const i = (y * canvas.width + x) * 4;
        const idx = colors.indexOf(`${px[i]},${px[i + 1]},${px[i + 2]}`);
        out.push(idx < 0 ? `?${px[i]},${px[i + 1]},${px[i + 2]}` : `${m.cells[idx]!.name}@${m.cells[idx]!.zone}`);
      }
      return { epoch: m.epoch, shards: out, frozen: m.frozen };
    }, RULE);
    const current = parseTable(
      (await env.get<{ data: Record<string, string> }>(
        "dc1",
        `/api/v1/namespaces/${APP_NAMESPACE}/configmaps/${routingTableName(RULE)}`,
      ))!.data[ROUTING_TABLE_KEY]!,
    );
    expect(drawn.epoch).toBe(current.epoch);
    const expected = Array.from(
      { length: current.shards },
      (_, s) => `${current.ownerOf(s).name}@${current.ownerOf(s).zone}`,
    );
    expect(drawn.shards).toEqual(expected);
    expect(drawn.frozen).toEqual(
      Array.from({ length: current.shards }, (_, s) => s).filter((s) => current.isFrozen(s)),
    );
    // The key lookup box answers with the routing core's shard function.
    await page.fill("#lookup-key", "2088123412");
    await page.click("#lookup button");
    const shard = current.shardOf("2088123412");
    await page.waitForFunction(
      (s) => document.querySelector("#lookup-out")?.textContent?.includes(`shard ${s} `),
      shard,
    );
    expect(await page.locator("#lookup-out").innerText()).toContain(`cell ${current.ownerOf(shard).name}`);
    await page.screenshot({ path: path.join(SHOTS, "console-overview.png"), fullPage: true });
  });

  it("starts a drill after its plan and a typed confirmation; the timeline follows the Failover's status", async () => {
    await page.click("#drill-panel summary");
    await page.fill("#drill-cells", "rz00");
    await page.selectOption("#drill-to", "hz-b");
    await page.fill("#drill-duration", "3s");
    await page.fill("#drill-freeze", "1s");
    await page.click("#drill-plan");
    await page.waitForSelector("#dryrun");
    expect(await page.locator("#dryrun").innerText()).toContain("accepted a dry run");
    expect(await page.locator("#plan table").innerText()).toMatch(/rz00\s+hz-a\s+hz-b/);
    expect(await page.locator("#drill-start").isDisabled()).toBe(true);
    const name = (await page.locator("#confirm-help code").innerText()).trim();
    await page.fill("#drill-confirm", name.slice(0, -1));
    expect(await page.locator("#drill-start").isDisabled()).toBe(true);
    await page.fill("#drill-confirm", name);
    // Record every step the page shows for this drill, as it re-renders.
    await page.evaluate((n) => {
      const seen: string[] = ((window as never as { __seen: string[] }).__seen = []);
      new MutationObserver(() => {
        const s = document.querySelector<HTMLElement>(`[data-failover="${n}"]`)?.dataset.step;
        if (s && seen[seen.length - 1] !== s) seen.push(s);
      }).observe(document.getElementById("failovers")!, { childList: true, subtree: true });
    }, name);
    await page.click("#drill-start");
    await page.waitForSelector(`[data-failover="${name}"]`);
    // A screenshot while it runs (any step between the freeze and the failback's end).
    await page.waitForFunction(
      (n) => {
        const el = document.querySelector<HTMLElement>(`[data-failover="${n}"]`);
        return (
          el?.dataset.phase === "Running" &&
          ["Freeze", "WaitReplication", "Switch", "WaitAcknowledge", "ScaleDownOld", "DrillWait"].includes(
            el.dataset.step ?? "",
          )
        );
      },
      name,
      { timeout: 120_000 },
    );
    await page.screenshot({ path: path.join(SHOTS, "console-drill.png"), fullPage: true });
    await page.waitForSelector(`[data-failover="${name}"][data-phase="Succeeded"]`, { timeout: 180_000 });
    const seen = await page.evaluate(() => (window as never as { __seen: string[] }).__seen);
    // What the page showed is the drill's course, in order: a subsequence of its steps.
    const course = ["Preflight", ...LEG, "DrillWait", "Failback", ...LEG, "Done"];
    let at = 0;
    for (const s of seen) {
      const i = course.indexOf(s, at);
      expect(i, `step ${s} out of order in what the page showed: ${seen.join(", ")}`).toBeGreaterThanOrEqual(0);
      at = i;
    }
    expect(new Set(seen).size, `steps seen on screen: ${seen.join(", ")}`).toBeGreaterThanOrEqual(3);
    // The timeline on screen is the Failover's status.steps, step for step.
    const fo = await env.get<FailoverObj>("dc1", ldcPath("failovers", name));
    const shown = await page
      .locator(`[data-failover="${name}"] .timeline li`)
      .evaluateAll((lis) =>
        lis.map((li) => `${(li as HTMLElement).dataset.step}:${(li as HTMLElement).dataset.phase}`),
      );
    expect(shown).toEqual(fo!.status!.steps!.map((s) => `${s.name}:${s.phase}`));
    expect(await page.locator(`[data-failover="${name}"] .facts`).innerText()).toMatch(/RTO\s+\d/);
    await page.screenshot({ path: path.join(SHOTS, "console-drill-done.png"), fullPage: true });
  });

  it("a user without create rights on Failovers is refused, with the API server's reason", async () => {
    const sa = "console-viewer";
    const role = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: sa },
      rules: [
        { apiGroups: ["ldc.io"], resources: ["*"], verbs: ["get", "list", "watch"] },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch"] },
      ],
    };
    const binding = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: sa },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: sa },
      subjects: [{ kind: "ServiceAccount", name: sa, namespace: "default" }],
    };
    await env.kubectl("dc1", ["create", "serviceaccount", sa, "-n", "default"]);
    await env.kubectl("dc1", ["apply", "-f", "-"], [role, binding].map((o) => JSON.stringify(o)).join("\n"));
    const token = (await env.kubectl("dc1", ["create", "token", sa, "-n", "default"])).trim();
    const adminKc = new KubeConfig();
    adminKc.loadFromFile(env.dc("dc1").kubeconfigPath);
    const cluster = adminKc.getCurrentCluster()!;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "dc1", server: cluster.server, caData: cluster.caData, skipTLSVerify: false }],
      users: [{ name: sa, token }],
      contexts: [{ name: "viewer", cluster: "dc1", user: sa }],
      currentContext: "viewer",
    });
    const viewer = await KubeClient.fromKubeConfig(kc);
    const con = await startConsole({ client: viewer });
    closers.push(
      () => viewer.close(),
      () => con.close(),
    );
    const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    closers.push(() => p.close());
    await p.goto(con.url);
    await p.waitForSelector('[data-zone="hz-a"]');
    // It may not read the member clusters' Secrets: it says so, naming the zone.
    await p.waitForFunction(() =>
      document.querySelector("#problems")?.textContent?.includes("member cluster of zone hz-b"),
    );
    expect(await p.locator("#problems").innerText()).toMatch(
      /member cluster not reachable with your credentials.*forbidden \(403\)/,
    );
    await p.click("#drill-panel summary");
    await p.fill("#drill-cells", "rz01");
    await p.fill("#drill-duration", "1m");
    await p.click("#drill-plan");
    await p.waitForSelector("#dryrun");
    const refusal = await p.locator("#dryrun").innerText();
    expect(refusal).toContain("Refused by the API server: forbidden (403)");
    expect(refusal).toContain(`cannot create resource "failovers"`);
    expect(refusal).toContain(`system:serviceaccount:default:${sa}`);
    const name = (await p.locator("#confirm-help code").innerText()).trim();
    await p.fill("#drill-confirm", name);
    expect(await p.locator("#drill-start").isDisabled()).toBe(true);
    await p.screenshot({ path: path.join(SHOTS, "console-refused.png"), fullPage: true });
    expect(await env.get("dc1", ldcPath("failovers", name))).toBeUndefined();
  });
});

interface LdcWindow {
  __ldc: {
    state?: {
      shardMaps: {
        rule: string;
        epoch: number;
        shards: number;
        cells: { name: string; zone: string }[];
        frozen: number[];
      }[];
    };
    layout: Record<string, { size: number; cols: number }>;
    colors: Record<string, number[][]>;
  };
}
