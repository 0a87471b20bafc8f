import { defineConfig } from "vitest/config";

// Two projects: fast unit tests (pure logic) and integration tests against
// real kube-apiservers, started once per run by the global setup.
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
    ],
  },
});
