import { defineConfig } from "vitest/config";

// Three projects: fast unit tests (pure logic), integration tests against
// real kube-apiservers started once per run by the global setup, and the
// end-to-end drill verifier, which starts its own datacenters.
export default defineConfig({
  test: {
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          globalSetup: ["test/integration/global-setup.ts"],
          testTimeout: 180_000,
          hookTimeout: 240_000,
          // Control planes are shared by all integration files; files run
          // in parallel but each isolates itself in its own namespaces.
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
      {
        test: {
          // The drill verifier (npm run e2e:drill): starts its own 3 datacenters, no global
          // setup. It runs after the other projects (groupOrder) so they do not compete for CPU.
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 1 },
          // drill.test.ts and ha.test.ts each start 3 datacenters: one at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
