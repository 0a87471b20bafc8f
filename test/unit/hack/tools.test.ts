import { describe, expect, it } from "vitest";
import { topologyFor } from "../../../hack/lib/controlplane.ts";
import { readVersions, toolPaths } from "../../../hack/lib/tools.ts";

describe("hack tooling", () => {
  it("pins one release of every component, in the versions the docs name", () => {
    const v = readVersions();
    expect(v.KUBERNETES_VERSION).toMatch(/^v1\.36\.\d+$/);
    expect(v.ETCD_VERSION).toMatch(/^v3\.6\.\d+$/);
    expect(v.KWOK_VERSION).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(v.HELM_VERSION).toMatch(/^v3\.\d+\.\d+$/);
    expect(v.KUBE_SCORE_VERSION).toMatch(/^v\d+\.\d+\.\d+$/);
    expect(v.FORTIO_VERSION).toMatch(/^v1\.66\.\d+$/);
    // github.com/prometheus/prometheus: v0.3XX.Y is Prometheus 3.XX.Y.
    expect(v.PROMTOOL_VERSION).toMatch(/^v0\.3\d\d\.\d+$/);
  });

  it("keys the binary cache by version, outside the repo", () => {
    const paths = toolPaths();
    const v = readVersions();
    expect(paths.kubeApiserver).toContain(`kubernetes-${v.KUBERNETES_VERSION}`);
    expect(paths.etcd).toContain(`etcd-${v.ETCD_VERSION}`);
    expect(paths.helm).toContain(`helm-${v.HELM_VERSION}`);
    expect(paths.kubeScore).toContain(`kube-score-${v.KUBE_SCORE_VERSION}`);
    expect(paths.fortio).toContain(`fortio-${v.FORTIO_VERSION}`);
    expect(paths.promtool).toContain(`promtool-${v.PROMTOOL_VERSION}`);
    expect(paths.kubectl.startsWith(process.cwd() + "/")).toBe(false);
  });

  it("maps the first datacenters onto the examples' zones, and further ones onto their own", () => {
    expect(topologyFor(1)).toEqual({ zone: "hz-a", region: "hangzhou" });
    expect(topologyFor(2)).toEqual({ zone: "hz-b", region: "hangzhou" });
    expect(topologyFor(3)).toEqual({ zone: "sh-a", region: "shanghai" });
    expect(topologyFor(5)).toEqual({ zone: "dc5", region: "region-5" });
  });
});
