// The operator's integration tests: one environment (three private
// datacenters, the CRDs and examples, the operator in-process), started once
// and shared by the groups below in this order. Each group leaves the examples
// converged, except the last two: lifecycle deletes an app and moves a cell
// for good, and the DrillSchedule's drills need nothing of the examples; pod security,
// last, installs a cluster-wide admission policy.
import { afterAll, beforeAll, describe } from "vitest";
import { convergeTests } from "./converge.ts";
import { drillScheduleTests } from "./drillschedule.ts";
import { evacuationTests } from "./evacuation.ts";
import { healingTests } from "./healing.ts";
import { lifecycleTests } from "./lifecycle.ts";
import { podSecurityTests } from "./podsecurity.ts";
import { OperatorEnv, privateDatacentersAvailable, waitConverged } from "./setup.ts";

describe.skipIf(!privateDatacentersAvailable())("operator", () => {
  const env = new OperatorEnv("operator");

  beforeAll(async () => {
    await env.start();
    await waitConverged(env);
  });
  afterAll(async () => {
    await env.stop();
  });

  describe("the examples converge and stay quiet", () => convergeTests(env));
  describe("self-healing", () => healingTests(env));
  describe("zone evacuation and dry runs", () => evacuationTests(env));
  describe("outages, bad objects, scope and deletion", () => lifecycleTests(env));
  describe("DrillSchedule", () => drillScheduleTests(env));
  describe("pod security: CellApps cannot escalate", () => podSecurityTests(env));
});
