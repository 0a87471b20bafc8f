// Pod templates beyond Pod Security baseline, each with the field its refusal
// must name. Shared by the operator's own check (test/unit/api/pod-security.test.ts)
// and the chart's admission policy against a real API server
// (test/integration/operator/podsecurity.ts), so both refuse the same cases.

type Obj = Record<string, unknown>;

export const APP_IMAGE = "registry.example.com/payments/account:1.14.2";

/** A template that uses what baseline allows, at its limits. */
export function allowedTemplate(): Obj {
  return {
    metadata: { annotations: { "container.apparmor.security.beta.kubernetes.io/app": "runtime/default" } },
    spec: {
      hostNetwork: false,
      securityContext: {
        seccompProfile: { type: "RuntimeDefault" },
        sysctls: [{ name: "net.ipv4.ping_group_range", value: "0 1000" }],
        seLinuxOptions: { type: "container_t", level: "s0:c123,c456" },
      },
      initContainers: [{ name: "init", image: APP_IMAGE, securityContext: { privileged: false } }],
      containers: [
        {
          name: "app",
          image: APP_IMAGE,
          ports: [{ containerPort: 8080 }],
          securityContext: {
            capabilities: { add: ["NET_BIND_SERVICE", "CHOWN"], drop: ["ALL"] },
            procMount: "Default",
            appArmorProfile: { type: "RuntimeDefault" },
            allowPrivilegeEscalation: false,
          },
        },
      ],
      volumes: [{ name: "scratch", emptyDir: {} }],
    },
  };
}

const app = (extra: Obj = {}, securityContext?: Obj): Obj => ({
  name: "app",
  image: APP_IMAGE,
  ...extra,
  ...(securityContext ? { securityContext } : {}),
});

const template = (spec: Obj, metadata?: Obj): Obj => ({
  ...(metadata ? { metadata } : {}),
  spec: { containers: [app()], ...spec },
});

const C = String.raw`spec\.template\.spec\.containers\[[^\]]*\]\)?`;
const P = String.raw`spec\.template\.spec`;

export interface EscalationCase {
  name: string;
  template: Obj;
  /** Matches the field in both the operator's message and the admission policy's. */
  field: RegExp;
}

export const ESCALATIONS: readonly EscalationCase[] = [
  { name: "hostNetwork", template: template({ hostNetwork: true }), field: new RegExp(`${P}\\.hostNetwork`) },
  { name: "hostPID", template: template({ hostPID: true }), field: new RegExp(`${P}\\.hostPID`) },
  { name: "hostIPC", template: template({ hostIPC: true }), field: new RegExp(`${P}\\.hostIPC`) },
  {
    name: "a privileged container",
    template: template({ containers: [app({}, { privileged: true })] }),
    field: new RegExp(`${C}.*\\.securityContext\\.privileged`),
  },
  {
    name: "a privileged init container",
    template: template({
      initContainers: [{ name: "init", image: APP_IMAGE, securityContext: { privileged: true } }],
    }),
    field: /initContainers\[[^\]]*\]\)?\.securityContext\.privileged/,
  },
  {
    name: "a hostPath of /",
    template: template({
      containers: [app({ volumeMounts: [{ name: "root", mountPath: "/host" }] })],
      volumes: [{ name: "root", hostPath: { path: "/" } }],
    }),
    field: new RegExp(`${P}\\.volumes\\[[^\\]]*\\]\\.hostPath`),
  },
  {
    name: "an added SYS_ADMIN capability",
    template: template({ containers: [app({}, { capabilities: { add: ["SYS_ADMIN"] } })] }),
    field: new RegExp(`${C}.*\\.securityContext\\.capabilities\\.add`),
  },
  {
    name: "a host port",
    template: template({ containers: [app({ ports: [{ containerPort: 8080, hostPort: 80 }] })] }),
    field: new RegExp(`${C}.*\\.ports\\[[^\\]]*\\]\\.hostPort`),
  },
  {
    name: "an unmasked /proc",
    template: template({ containers: [app({}, { procMount: "Unmasked" })] }),
    field: new RegExp(`${C}.*\\.securityContext\\.procMount`),
  },
  {
    name: "an Unconfined seccomp profile (pod)",
    template: template({ securityContext: { seccompProfile: { type: "Unconfined" } } }),
    field: new RegExp(`${P}\\.securityContext\\.seccompProfile\\.type`),
  },
  {
    name: "an Unconfined seccomp profile (container)",
    template: template({ containers: [app({}, { seccompProfile: { type: "Unconfined" } })] }),
    field: new RegExp(`${C}.*\\.securityContext\\.seccompProfile\\.type`),
  },
  {
    name: "an unsafe sysctl",
    template: template({ securityContext: { sysctls: [{ name: "kernel.msgmax", value: "65536" }] } }),
    field: new RegExp(`${P}\\.securityContext\\.sysctls`),
  },
  {
    name: "the SELinux type spc_t",
    template: template({ containers: [app({}, { seLinuxOptions: { type: "spc_t" } })] }),
    field: new RegExp(`${C}.*\\.securityContext\\.seLinuxOptions\\.type`),
  },
  {
    name: "an Unconfined AppArmor profile",
    template: template({ securityContext: { appArmorProfile: { type: "Unconfined" } } }),
    field: new RegExp(`${P}\\.securityContext\\.appArmorProfile\\.type`),
  },
  {
    name: "an unconfined AppArmor annotation",
    template: template({}, { annotations: { "container.apparmor.security.beta.kubernetes.io/app": "unconfined" } }),
    field: /spec\.template\.metadata\.annotations\[container\.apparmor\.security\.beta\.kubernetes\.io\//,
  },
  {
    name: "a Windows HostProcess container",
    template: template({ containers: [app({}, { windowsOptions: { hostProcess: true } })] }),
    field: new RegExp(`${C}.*\\.securityContext\\.windowsOptions\\.hostProcess`),
  },
];
