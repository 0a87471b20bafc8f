// The console's bundle budget (ADR 0016): its JavaScript under 150 KB
// gzipped, every script served from the package (no CDN, no other origin).
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { webDir } from "../../../src/console/server.ts";

const BUDGET = 150 * 1024;

describe("console bundle", () => {
  const dir = webDir();
  const files = readdirSync(dir);

  it("keeps its JavaScript under 150 KB gzipped", () => {
    const js = files.filter((f) => f.endsWith(".js") || f.endsWith(".mjs"));
    expect(js.length).toBeGreaterThan(0);
    const gzipped = js.reduce((sum, f) => sum + gzipSync(readFileSync(dir + f), { level: 9 }).length, 0);
    expect(gzipped).toBeLessThan(BUDGET);
  });

  it("loads nothing from another origin", () => {
    const html = readFileSync(dir + "index.html", "utf8");
    const refs = [...html.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.filter((r) => !r.startsWith("#"))).toEqual(["/app.css", "/app.js"]);
    for (const f of files.filter((x) => x.endsWith(".js"))) {
      expect(readFileSync(dir + f, "utf8"), f).not.toMatch(/\bimport\s*\(?\s*["']https?:|from\s+["']https?:/);
    }
  });
});
