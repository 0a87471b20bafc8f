// Pod Security "baseline" for a CellApp's pod template, in one place
// (docs/adr/0011-cellapps-cannot-escalate.md). The operator stamps the
// template into Deployments with its own rights, in every zone's cluster, so
// the template may not ask for more than baseline allows unless the namespace
// is on the cluster admin's exception list. Each rule is declared once and
// emitted twice: as a check the CellApp reconciler runs before it applies
// anything, and as CEL for the chart's ValidatingAdmissionPolicy
// (hack/generate.ts writes charts/ldc-operator/templates/_cellapp-policy.tpl).
// The rules follow https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline

type Obj = Record<string, unknown>;

/** Pod Security Admission levels (the namespace label pod-security.kubernetes.io/enforce). */
export const POD_SECURITY_LEVELS = ["privileged", "baseline", "restricted"] as const;
export type PodSecurityLevel = (typeof POD_SECURITY_LEVELS)[number];

/** Capabilities baseline allows a container to add. */
export const BASELINE_CAPABILITIES = [
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
] as const;

/** Sysctls baseline allows (the namespaced, "safe" set). */
export const SAFE_SYSCTLS = [
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
] as const;

const SELINUX_TYPES = ["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"] as const;
const APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/";

/** Where a rule looks: the pod spec, each container (and init container), each port of each, each volume. */
type Scope = "pod" | "container" | "port" | "volume";

/**
 * What a set field must be (an unset field always passes):
 * oneOf: one of these values; notOneOf: none of them; absent: never set;
 * eachOneOf: a list whose every item (or item[key]) is one of these values.
 */
type Allowed =
  | { oneOf: readonly (string | number | boolean)[] }
  | { notOneOf: readonly string[] }
  | { absent: true }
  | { eachOneOf: readonly string[]; key?: string };

interface Rule {
  scope: Scope;
  /** The field under its scope, e.g. ["securityContext", "privileged"]. */
  path: readonly string[];
  allowed: Allowed;
  /** What the field asks for, for the message: "privileged containers". */
  what: string;
}

const rule = (scope: Scope, path: string, allowed: Allowed, what: string): Rule => ({
  scope,
  path: path.split("."),
  allowed,
  what,
});

const RULES: readonly Rule[] = [
  rule("pod", "hostNetwork", { oneOf: [false] }, "sharing of the host's network namespace"),
  rule("pod", "hostPID", { oneOf: [false] }, "sharing of the host's process namespace"),
  rule("pod", "hostIPC", { oneOf: [false] }, "sharing of the host's IPC namespace"),
  rule("volume", "hostPath", { absent: true }, "hostPath volumes (the node's filesystem)"),
  rule("container", "securityContext.privileged", { oneOf: [false] }, "privileged containers"),
  rule(
    "container",
    "securityContext.capabilities.add",
    { eachOneOf: BASELINE_CAPABILITIES },
    `added capabilities beyond ${BASELINE_CAPABILITIES.join(", ")}`,
  ),
  rule("port", "hostPort", { oneOf: [0] }, "host ports"),
  rule("container", "securityContext.procMount", { oneOf: ["Default"] }, "a procMount other than Default"),
  rule("pod", "securityContext.seccompProfile.type", { notOneOf: ["Unconfined"] }, "Unconfined seccomp profiles"),
  rule("container", "securityContext.seccompProfile.type", { notOneOf: ["Unconfined"] }, "Unconfined seccomp profiles"),
  rule(
    "pod",
    "securityContext.appArmorProfile.type",
    { oneOf: ["RuntimeDefault", "Localhost"] },
    "AppArmor profiles other than RuntimeDefault or Localhost",
  ),
  rule(
    "container",
    "securityContext.appArmorProfile.type",
    { oneOf: ["RuntimeDefault", "Localhost"] },
    "AppArmor profiles other than RuntimeDefault or Localhost",
  ),
  rule(
    "pod",
    "securityContext.seLinuxOptions.type",
    { oneOf: SELINUX_TYPES },
    `SELinux types other than ${SELINUX_TYPES.filter(Boolean).join(", ")}`,
  ),
  rule(
    "container",
    "securityContext.seLinuxOptions.type",
    { oneOf: SELINUX_TYPES },
    `SELinux types other than ${SELINUX_TYPES.filter(Boolean).join(", ")}`,
  ),
  rule("pod", "securityContext.seLinuxOptions.user", { oneOf: [""] }, "custom SELinux users"),
  rule("container", "securityContext.seLinuxOptions.user", { oneOf: [""] }, "custom SELinux users"),
  rule("pod", "securityContext.seLinuxOptions.role", { oneOf: [""] }, "custom SELinux roles"),
  rule("container", "securityContext.seLinuxOptions.role", { oneOf: [""] }, "custom SELinux roles"),
  rule(
    "pod",
    "securityContext.sysctls",
    { eachOneOf: SAFE_SYSCTLS, key: "name" },
    `sysctls beyond ${SAFE_SYSCTLS.join(", ")}`,
  ),
  rule("pod", "securityContext.windowsOptions.hostProcess", { oneOf: [false] }, "Windows HostProcess pods"),
  rule("container", "securityContext.windowsOptions.hostProcess", { oneOf: [false] }, "Windows HostProcess containers"),
];

const TEMPLATE = "spec.template";
const POD = `${TEMPLATE}.spec`;

export const PRIVILEGED_FIX =
  "remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)";

function message(field: string, what: string): string {
  return `${field}: Pod Security baseline allows no ${what}: ${PRIVILEGED_FIX}`;
}

// ---------------------------------------------------------------- the check

export interface PodSecurityViolation {
  /** The CellApp field at fault, e.g. spec.template.spec.containers[name=app].securityContext.privileged. */
  field: string;
  message: string;
}

function at(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (typeof cur !== "object" || cur === null || !(p in cur)) return undefined;
    cur = (cur as Obj)[p];
  }
  return cur;
}

function passes(value: unknown, allowed: Allowed): boolean {
  if (value === undefined) return true;
  if ("absent" in allowed) return false;
  if ("oneOf" in allowed) return allowed.oneOf.includes(value as string);
  if ("notOneOf" in allowed) return !allowed.notOneOf.includes(value as string);
  if (!Array.isArray(value)) return false;
  return value.every((item) => allowed.eachOneOf.includes((allowed.key ? at(item, [allowed.key]) : item) as string));
}

const list = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const label = (item: Obj, i: number): string => (typeof item.name === "string" ? `name=${item.name}` : String(i));

/**
 * The fields of a CellApp's pod template (spec.template) that Pod Security
 * baseline refuses, each named with its container, port or volume.
 */
export function baselineViolations(template: unknown): PodSecurityViolation[] {
  const spec = at(template, ["spec"]);
  const out: PodSecurityViolation[] = [];
  const add = (field: string, r: Rule) => out.push({ field, message: message(field, r.what) });
  const containers = (["containers", "initContainers"] as const).flatMap((kind) =>
    list(at(spec, [kind])).map((c, i) => ({ c, at: `${POD}.${kind}[${label(c, i)}]` })),
  );
  for (const r of RULES) {
    const field = r.path.join(".");
    if (r.scope === "pod") {
      if (!passes(at(spec, r.path), r.allowed)) add(`${POD}.${field}`, r);
    } else if (r.scope === "volume") {
      list(at(spec, ["volumes"])).forEach((v, i) => {
        if (!passes(at(v, r.path), r.allowed)) add(`${POD}.volumes[${label(v, i)}].${field}`, r);
      });
    } else if (r.scope === "container") {
      for (const { c, at: where } of containers) if (!passes(at(c, r.path), r.allowed)) add(`${where}.${field}`, r);
    } else {
      for (const { c, at: where } of containers) {
        list(c.ports).forEach((p, i) => {
          if (!passes(at(p, r.path), r.allowed)) add(`${where}.ports[${i}].${field}`, r);
        });
      }
    }
  }
  const annotations = at(template, ["metadata", "annotations"]);
  for (const [key, value] of Object.entries(typeof annotations === "object" && annotations ? annotations : {})) {
    if (key.startsWith(APPARMOR_ANNOTATION_PREFIX) && !appArmorAnnotationAllowed(value)) {
      const field = `${TEMPLATE}.metadata.annotations[${key}]`;
      out.push({ field, message: message(field, "AppArmor profiles other than runtime/default or localhost/*") });
    }
  }
  return out;
}

function appArmorAnnotationAllowed(value: unknown): boolean {
  return typeof value === "string" && (value === "runtime/default" || value.startsWith("localhost/"));
}

// ---------------------------------------------------------------- the CEL

/**
 * The ValidatingAdmissionPolicy's variables the rules' CEL uses, over a
 * CellApp (`object`). `variables.privileged` (the namespace is on the
 * exception list) comes from the chart's values.
 */
export const CEL_VARIABLES: readonly { name: string; expression: string }[] = [
  { name: "template", expression: "object.spec.template" },
  { name: "podSpec", expression: "object.spec.template.spec" },
  {
    name: "containers",
    expression:
      "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])",
  },
];

const celLiteral = (v: string | number | boolean): string => (typeof v === "string" ? `'${v}'` : String(v));
const celList = (vs: readonly (string | number | boolean)[]): string => `[${vs.map(celLiteral).join(", ")}]`;

/** `base.a.b` passes: unset somewhere along the path, or allowed. */
function celField(base: string, path: readonly string[], allowed: Allowed): string {
  const unset = path.map((_, i) => `!has(${[base, ...path.slice(0, i + 1)].join(".")})`);
  const x = [base, ...path].join(".");
  if ("absent" in allowed) return unset.join(" || ");
  const ok =
    "oneOf" in allowed
      ? `${x} in ${celList(allowed.oneOf)}`
      : "notOneOf" in allowed
        ? `!(${x} in ${celList(allowed.notOneOf)})`
        : `${x}.all(i, ${allowed.key ? `has(i.${allowed.key}) && i.${allowed.key}` : "i"} in ${celList(allowed.eachOneOf)})`;
  return [...unset, ok].join(" || ");
}

function celRule(r: Rule): string {
  switch (r.scope) {
    case "pod":
      return celField("variables.podSpec", r.path, r.allowed);
    case "volume":
      return `!has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, ${celField("v", r.path, r.allowed)})`;
    case "container":
      return `variables.containers.all(c, ${celField("c", r.path, r.allowed)})`;
    case "port":
      return `variables.containers.all(c, !has(c.ports) || c.ports.all(p, ${celField("p", r.path, r.allowed)}))`;
  }
}

function celFieldName(r: Rule): string {
  const field = r.path.join(".");
  switch (r.scope) {
    case "pod":
      return `${POD}.${field}`;
    case "volume":
      return `${POD}.volumes[*].${field}`;
    case "container":
      return `${POD}.containers[*] (or initContainers[*]).${field}`;
    case "port":
      return `${POD}.containers[*] (or initContainers[*]).ports[*].${field}`;
  }
}

export interface CelValidation {
  expression: string;
  message: string;
}

/** One validation per rule: passes when the namespace is privileged or the template keeps to baseline. */
export function baselineCelValidations(): CelValidation[] {
  const out = RULES.map((r) => ({
    expression: `variables.privileged || ${celRule(r)}`,
    message: message(celFieldName(r), r.what),
  }));
  out.push({
    expression:
      "variables.privileged || !has(variables.template.metadata) || !has(variables.template.metadata.annotations) || " +
      `variables.template.metadata.annotations.all(k, !k.startsWith('${APPARMOR_ANNOTATION_PREFIX}') || ` +
      `variables.template.metadata.annotations[k] == 'runtime/default' || variables.template.metadata.annotations[k].startsWith('localhost/'))`,
    message: message(
      `${TEMPLATE}.metadata.annotations[${APPARMOR_ANNOTATION_PREFIX}*]`,
      "AppArmor profiles other than runtime/default or localhost/*",
    ),
  });
  return out;
}
