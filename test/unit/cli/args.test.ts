import { describe, expect, it } from "vitest";
import { HELP, UsageError, helpFor, parseInvocation } from "../../../src/cli/args.ts";
import { defaultFailoverName, failoverObject } from "../../../src/cli/kubectl-ldc.ts";

const usage = (argv: string[]): UsageError => {
  try {
    parseInvocation(argv);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error(`no UsageError for ${argv.join(" ")}`);
};

describe("parseInvocation", () => {
  it("parses status with connection flags anywhere", () => {
    expect(parseInvocation(["--context", "prod", "status", "--kubeconfig=/k", "--rule", "users"])).toEqual({
      global: { context: "prod", kubeconfig: "/k" },
      command: { name: "status", rule: "users" },
    });
  });

  it("parses drill start with defaults and every flag", () => {
    expect(parseInvocation(["drill", "start", "--zone", "hz-a"]).command).toEqual({
      name: "drill start",
      target: { zone: "hz-a" },
      duration: "10m",
      skipUnmovable: false,
      dryRun: false,
      wait: false,
    });
    expect(
      parseInvocation(["drill", "start", "--zone", "hz-a", "--dry-run", "--skip-unmovable"]).command,
    ).toMatchObject({ dryRun: true, skipUnmovable: true });
    expect(() => parseInvocation(["drill", "start", "--zone", "hz-a", "--dry-run", "-w"])).toThrow(
      /--dry-run creates nothing to follow: drop --wait/,
    );
    expect(
      parseInvocation([
        "drill",
        "start",
        "--cells",
        "rz00,rz01",
        "--to",
        "hz-b",
        "--duration",
        "15m",
        "--freeze",
        "2s",
        "--name",
        "d1",
        "--reason",
        "monthly",
        "-w",
      ]).command,
    ).toEqual({
      name: "drill start",
      target: { cells: ["rz00", "rz01"] },
      to: "hz-b",
      duration: "15m",
      freeze: "2s",
      failoverName: "d1",
      reason: "monthly",
      skipUnmovable: false,
      dryRun: false,
      wait: true,
    });
  });

  it("parses failover, drill status, drill abort and route", () => {
    expect(parseInvocation(["failover", "--zone", "hz-a", "--yes", "--reason", "dc on fire"]).command).toEqual({
      name: "failover",
      target: { zone: "hz-a" },
      reason: "dc on fire",
      skipUnmovable: false,
      dryRun: false,
      yes: true,
      wait: false,
    });
    expect(parseInvocation(["drill", "status"]).command).toEqual({ name: "drill status", wait: false });
    expect(parseInvocation(["drill", "status", "d1", "-w"]).command).toEqual({
      name: "drill status",
      failoverName: "d1",
      wait: true,
    });
    expect(parseInvocation(["drill", "abort", "d1"]).command).toEqual({ name: "drill abort", failoverName: "d1" });
    expect(parseInvocation(["route", "20881234", "--rule", "users", "--method", "post"]).command).toEqual({
      name: "route",
      key: "20881234",
      rule: "users",
      method: "POST",
    });
    expect(parseInvocation(["route", "42"]).command).toMatchObject({ method: "GET" });
  });

  it("gives help for every command, and at the top level", () => {
    expect(parseInvocation([]).command).toEqual({ name: "help", topic: "" });
    expect(parseInvocation(["--help"]).command).toEqual({ name: "help", topic: "" });
    expect(parseInvocation(["help", "route"]).command).toEqual({ name: "help", topic: "route" });
    for (const argv of [
      ["status"],
      ["route"],
      ["failover"],
      ["drill", "start"],
      ["drill", "status"],
      ["drill", "abort"],
    ]) {
      expect(parseInvocation([...argv, "--help"]).command).toEqual({ name: "help", topic: argv.join(" ") });
      expect(helpFor(argv.join(" "))).toBe(HELP[argv.join(" ")]);
    }
    expect(parseInvocation(["drill", "-h"]).command).toEqual({ name: "help", topic: "drill" });
  });

  it.each([
    [["nope"], /unknown command "nope"/],
    [["drill"], /missing drill command/],
    [["drill", "stop"], /unknown drill command "stop"/],
    [["drill", "start"], /exactly one of --zone ZONE or --cells/],
    [["drill", "start", "--zone", "hz-a", "--cells", "rz00"], /exactly one of --zone/],
    [["drill", "start", "--zone", "HZ_A"], /--zone "HZ_A" is not a zone name/],
    [["drill", "start", "--zone", "hz-a", "--to", "hz-a"], /--to must differ from --zone/],
    [
      ["drill", "start", "--zone", "hz-a", "--duration", "ten minutes"],
      /--duration "ten minutes" is not a positive duration: write e.g. 5s/,
    ],
    [["drill", "start", "--zone", "hz-a", "--duration", "0s"], /not a positive duration/],
    [["drill", "start", "--zone", "hz-a", "--freeze", "5 s"], /--freeze "5 s" is not a duration/],
    [["drill", "start", "--cells", "rz00,rz00"], /lists a cell twice/],
    [["drill", "start", "--zone", "hz-a", "--name", "Bad Name"], /--name "Bad Name"/],
    [["drill", "start", "--zone", "hz-a", "--bogus"], /Unknown option '--bogus'/],
    [["drill", "abort"], /name the Failover to abort/],
    [["route"], /give the routing key/],
    [["route", "1", "2"], /unexpected argument "2"/],
    [["status", "extra"], /unexpected argument "extra"/],
  ])("rejects %j", (argv, message) => {
    const e = usage(argv);
    expect(e.message).toMatch(message);
  });

  it("points usage errors at the command's help", () => {
    expect(usage(["drill", "start"]).command).toBe("drill start");
    expect(usage(["route"]).command).toBe("route");
  });
});

describe("failoverObject", () => {
  const now = new Date("2026-11-21T10:00:00Z");

  it("builds a Drill from drill start, validated like the API server", () => {
    const cmd = parseInvocation(["drill", "start", "--zone", "hz-a", "--to", "hz-b", "--duration", "15m"]).command;
    if (cmd.name !== "drill start") throw new Error("parse");
    const fo = failoverObject(cmd, now);
    expect(fo.metadata.name).toBe("drill-hz-a-20261121-100000");
    expect(fo.spec).toMatchObject({
      type: "Drill",
      target: { zone: "hz-a" },
      destination: { zone: "hz-b" },
      drill: { duration: "15m" },
      writeFreeze: "5s",
      abort: false,
    });
  });

  it("builds an Emergency failover without drill settings", () => {
    const cmd = parseInvocation(["failover", "--cells", "rz00,rz01", "--freeze", "2s", "--yes"]).command;
    if (cmd.name !== "failover") throw new Error("parse");
    const fo = failoverObject(cmd, now);
    expect(fo.metadata.name).toBe("failover-rz00-rz01-20261121-100000");
    expect(fo.spec.type).toBe("Emergency");
    expect(fo.spec.drill).toBeUndefined();
    expect(fo.spec.writeFreeze).toBe("2s");
  });

  it("keeps default names short enough", () => {
    const cells = Array.from({ length: 40 }, (_, i) => `cell-number-${i}`);
    expect(defaultFailoverName("drill", { cells }, now).length).toBeLessThanOrEqual(253);
  });

  it("parses dashboard: a free port by default, --port and --open; a bad port names the flag", () => {
    expect(parseInvocation(["dashboard"]).command).toEqual({ name: "dashboard", port: 0, open: false });
    expect(parseInvocation(["dashboard", "--port", "8080", "--open"]).command).toEqual({
      name: "dashboard",
      port: 8080,
      open: true,
    });
    expect(() => parseInvocation(["dashboard", "--port", "http"])).toThrow(/--port "http" is not a port/);
    expect(() => parseInvocation(["dashboard", "--port", "70000"])).toThrow(/--port/);
  });
});
