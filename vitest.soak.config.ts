import { defineConfig } from "vitest/config";

// The soak (npm run e2e:soak): randomized high-availability scenarios for
// LDC_SOAK_MINUTES (default 10). Not part of `npm test`: the default config's
// projects do not include *.soak.ts.
const minutes = Number(process.env.LDC_SOAK_MINUTES ?? 10);
export default defineConfig({
  test: {
    name: "soak",
    include: ["test/e2e/**/*.soak.ts"],
    environment: "node",
    // The soak stops starting scenarios at its deadline; the last one and the teardown may take a few minutes more.
    testTimeout: (minutes + 15) * 60_000,
    hookTimeout: 300_000,
  },
});
