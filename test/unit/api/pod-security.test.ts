// Pod Security baseline for CellApp templates (src/api/pod-security.ts): each
// escalation refused naming its field, what baseline allows passes, and the
// admission policy's CEL covers every rule the operator checks.
import { describe, expect, it } from "vitest";
import { baselineCelValidations, baselineViolations } from "../../../src/api/pod-security.ts";
import { planCellApp } from "../../../src/reconcilers/cellapp.ts";
import { topology } from "../reconcilers/fixtures.ts";
import { ESCALATIONS, allowedTemplate } from "./pod-security-cases.ts";

describe("baselineViolations", () => {
  it("passes a template using what baseline allows, at its limits", () => {
    expect(baselineViolations(allowedTemplate())).toEqual([]);
  });

  it.each(ESCALATIONS)("refuses $name, naming the field and the fix", ({ template, field }) => {
    const found = baselineViolations(template);
    expect(found).toHaveLength(1);
    expect(found[0]!.field).toMatch(field);
    expect(found[0]!.message).toMatch(field);
    expect(found[0]!.message).toContain("Pod Security baseline allows no");
    expect(found[0]!.message).toContain("cellAppSecurity.privilegedNamespaces");
  });

  it("names each offending container, volume and port", () => {
    const found = baselineViolations({
      spec: {
        hostPID: true,
        containers: [
          { name: "app", securityContext: { privileged: true } },
          { name: "tool", ports: [{ containerPort: 1 }, { containerPort: 2, hostPort: 2 }] },
        ],
        volumes: [{ name: "ok", emptyDir: {} }, { name: "root", hostPath: { path: "/" } }, { hostPath: {} }],
      },
    }).map((v) => v.field);
    expect(found.sort()).toEqual([
      "spec.template.spec.containers[name=app].securityContext.privileged",
      "spec.template.spec.containers[name=tool].ports[1].hostPort",
      "spec.template.spec.hostPID",
      "spec.template.spec.volumes[2].hostPath",
      "spec.template.spec.volumes[name=root].hostPath",
    ]);
  });

  it("refuses values of the wrong type rather than guessing (a string 'true' is not false)", () => {
    expect(baselineViolations({ spec: { containers: [], hostNetwork: "true" } }).map((v) => v.field)).toEqual([
      "spec.template.spec.hostNetwork",
    ]);
    expect(
      baselineViolations({ spec: { containers: [{ name: "a", securityContext: { capabilities: { add: "ALL" } } }] } })
        .length,
    ).toBe(1);
  });

  it("passes every Deployment the operator stamps from an allowed template (the injected sidecar too)", () => {
    const t = topology();
    const app = t.apps.find((a) => a.spec.sidecar.enabled)!;
    const plan = planCellApp({ app, cells: t.cells, zones: t.zones, sidecar: { image: "ldc/sidecar:test" } });
    const templates = plan.cells.flatMap((c) =>
      c.workloads.map((w) => (w.deployment.spec as { template: unknown }).template),
    );
    expect(templates.length).toBeGreaterThan(0);
    for (const tpl of templates) expect(baselineViolations(tpl)).toEqual([]);
  });
});

describe("baselineCelValidations (the admission policy)", () => {
  it("has one validation per rule, each lifted by the exception list and naming its field", () => {
    const validations = baselineCelValidations();
    for (const { name, field } of ESCALATIONS) {
      expect(
        validations.filter((v) => field.test(v.message)),
        name,
      ).toHaveLength(1);
    }
    for (const v of validations) expect(v.expression).toMatch(/^variables\.privileged \|\| /);
  });
});
