{{- /* Generated from src/chart/cellapp-policy.ts and src/api/pod-security.ts by `npm run generate` (hack/generate.ts). DO NOT EDIT. */ -}}

{{- define "ldc-operator.cellAppPolicy.variables" -}}
- name: template
  expression: object.spec.template
- name: podSpec
  expression: object.spec.template.spec
- name: containers
  expression: "variables.podSpec.containers + (has(variables.podSpec.initContainers) ? variables.podSpec.initContainers : [])"
{{- end }}

{{- define "ldc-operator.cellAppPolicy.validations" -}}
- expression: variables.privileged || !has(variables.podSpec.hostNetwork) || variables.podSpec.hostNetwork in [false]
  message: "spec.template.spec.hostNetwork: Pod Security baseline allows no sharing of the host's network namespace: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.hostPID) || variables.podSpec.hostPID in [false]
  message: "spec.template.spec.hostPID: Pod Security baseline allows no sharing of the host's process namespace: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.hostIPC) || variables.podSpec.hostIPC in [false]
  message: "spec.template.spec.hostIPC: Pod Security baseline allows no sharing of the host's IPC namespace: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.volumes) || variables.podSpec.volumes.all(v, !has(v.hostPath))
  message: "spec.template.spec.volumes[*].hostPath: Pod Security baseline allows no hostPath volumes (the node's filesystem): remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || c.securityContext.privileged in [false])
  message: "spec.template.spec.containers[*] (or initContainers[*]).securityContext.privileged: Pod Security baseline allows no privileged containers: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.capabilities) || !has(c.securityContext.capabilities.add) || c.securityContext.capabilities.add.all(i, i in ['AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID', 'SYS_CHROOT']))
  message: "spec.template.spec.containers[*] (or initContainers[*]).securityContext.capabilities.add: Pod Security baseline allows no added capabilities beyond AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort in [0]))
  message: "spec.template.spec.containers[*] (or initContainers[*]).ports[*].hostPort: Pod Security baseline allows no host ports: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.procMount) || c.securityContext.procMount in ['Default'])
  message: "spec.template.spec.containers[*] (or initContainers[*]).securityContext.procMount: Pod Security baseline allows no a procMount other than Default: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.securityContext) || !has(variables.podSpec.securityContext.seccompProfile) || !has(variables.podSpec.securityContext.seccompProfile.type) || !(variables.podSpec.securityContext.seccompProfile.type in ['Unconfined'])
  message: "spec.template.spec.securityContext.seccompProfile.type: Pod Security baseline allows no Unconfined seccomp profiles: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.seccompProfile) || !has(c.securityContext.seccompProfile.type) || !(c.securityContext.seccompProfile.type in ['Unconfined']))
  message: "spec.template.spec.containers[*] (or initContainers[*]).securityContext.seccompProfile.type: Pod Security baseline allows no Unconfined seccomp profiles: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.securityContext) || !has(variables.podSpec.securityContext.appArmorProfile) || !has(variables.podSpec.securityContext.appArmorProfile.type) || variables.podSpec.securityContext.appArmorProfile.type in ['RuntimeDefault', 'Localhost']
  message: "spec.template.spec.securityContext.appArmorProfile.type: Pod Security baseline allows no AppArmor profiles other than RuntimeDefault or Localhost: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.appArmorProfile) || !has(c.securityContext.appArmorProfile.type) || c.securityContext.appArmorProfile.type in ['RuntimeDefault', 'Localhost'])
  message: "spec.template.spec.containers[*] (or initContainers[*]).securityContext.appArmorProfile.type: Pod Security baseline allows no AppArmor profiles other than RuntimeDefault or Localhost: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.securityContext) || !has(variables.podSpec.securityContext.seLinuxOptions) || !has(variables.podSpec.securityContext.seLinuxOptions.type) || variables.podSpec.securityContext.seLinuxOptions.type in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']
  message: "spec.template.spec.securityContext.seLinuxOptions.type: Pod Security baseline allows no SELinux types other than container_t, container_init_t, container_kvm_t, container_engine_t: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.seLinuxOptions) || !has(c.securityContext.seLinuxOptions.type) || c.securityContext.seLinuxOptions.type in ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'])
  message: "spec.template.spec.containers[*] (or initContainers[*]).securityContext.seLinuxOptions.type: Pod Security baseline allows no SELinux types other than container_t, container_init_t, container_kvm_t, container_engine_t: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.securityContext) || !has(variables.podSpec.securityContext.seLinuxOptions) || !has(variables.podSpec.securityContext.seLinuxOptions.user) || variables.podSpec.securityContext.seLinuxOptions.user in ['']
  message: "spec.template.spec.securityContext.seLinuxOptions.user: Pod Security baseline allows no custom SELinux users: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.seLinuxOptions) || !has(c.securityContext.seLinuxOptions.user) || c.securityContext.seLinuxOptions.user in [''])
  message: "spec.template.spec.containers[*] (or initContainers[*]).securityContext.seLinuxOptions.user: Pod Security baseline allows no custom SELinux users: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.securityContext) || !has(variables.podSpec.securityContext.seLinuxOptions) || !has(variables.podSpec.securityContext.seLinuxOptions.role) || variables.podSpec.securityContext.seLinuxOptions.role in ['']
  message: "spec.template.spec.securityContext.seLinuxOptions.role: Pod Security baseline allows no custom SELinux roles: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.seLinuxOptions) || !has(c.securityContext.seLinuxOptions.role) || c.securityContext.seLinuxOptions.role in [''])
  message: "spec.template.spec.containers[*] (or initContainers[*]).securityContext.seLinuxOptions.role: Pod Security baseline allows no custom SELinux roles: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.securityContext) || !has(variables.podSpec.securityContext.sysctls) || variables.podSpec.securityContext.sysctls.all(i, has(i.name) && i.name in ['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes'])
  message: "spec.template.spec.securityContext.sysctls: Pod Security baseline allows no sysctls beyond kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, net.ipv4.ip_unprivileged_port_start, net.ipv4.tcp_syncookies, net.ipv4.ping_group_range, net.ipv4.ip_local_reserved_ports, net.ipv4.tcp_keepalive_time, net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.podSpec.securityContext) || !has(variables.podSpec.securityContext.windowsOptions) || !has(variables.podSpec.securityContext.windowsOptions.hostProcess) || variables.podSpec.securityContext.windowsOptions.hostProcess in [false]
  message: "spec.template.spec.securityContext.windowsOptions.hostProcess: Pod Security baseline allows no Windows HostProcess pods: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.windowsOptions) || !has(c.securityContext.windowsOptions.hostProcess) || c.securityContext.windowsOptions.hostProcess in [false])
  message: "spec.template.spec.containers[*] (or initContainers[*]).securityContext.windowsOptions.hostProcess: Pod Security baseline allows no Windows HostProcess containers: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: variables.privileged || !has(variables.template.metadata) || !has(variables.template.metadata.annotations) || variables.template.metadata.annotations.all(k, !k.startsWith('container.apparmor.security.beta.kubernetes.io/') || variables.template.metadata.annotations[k] == 'runtime/default' || variables.template.metadata.annotations[k].startsWith('localhost/'))
  message: "spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/*]: Pod Security baseline allows no AppArmor profiles other than runtime/default or localhost/*: remove it, or have a cluster admin list the namespace in the operator's privileged namespaces (chart value cellAppSecurity.privilegedNamespaces)"
  reason: Forbidden
- expression: "!has(variables.podSpec.serviceAccountName) || variables.podSpec.serviceAccountName == 'default' || authorizer.group('').resource('serviceaccounts').namespace(request.namespace).name(string(variables.podSpec.serviceAccountName)).check('impersonate').allowed()"
  messageExpression: "'spec.template.spec.serviceAccountName: ' + request.userInfo.username + ' may not run pods as ServiceAccount ' + string(variables.podSpec.serviceAccountName) + ' in ' + request.namespace + ' (that takes the right to impersonate it, as the edit role grants): ' + 'use the default ServiceAccount, or ask for impersonate on serviceaccounts/' + string(variables.podSpec.serviceAccountName)"
  reason: Forbidden
- expression: "!has(variables.podSpec.serviceAccount) || variables.podSpec.serviceAccount == 'default' || authorizer.group('').resource('serviceaccounts').namespace(request.namespace).name(string(variables.podSpec.serviceAccount)).check('impersonate').allowed()"
  messageExpression: "'spec.template.spec.serviceAccount: ' + request.userInfo.username + ' may not run pods as ServiceAccount ' + string(variables.podSpec.serviceAccount) + ' in ' + request.namespace + ' (that takes the right to impersonate it, as the edit role grants): ' + 'use the default ServiceAccount, or ask for impersonate on serviceaccounts/' + string(variables.podSpec.serviceAccount)"
  reason: Forbidden
- expression: authorizer.group('apps').resource('deployments').namespace(request.namespace).check('create').allowed() && authorizer.group('').resource('services').namespace(request.namespace).check('create').allowed()
  messageExpression: "'spec.template: ' + request.userInfo.username + ' may not create Deployments and Services in ' + request.namespace + ', which the operator creates for a CellApp: ask for create on deployments.apps and services there (the edit role has both)'"
  reason: Forbidden
{{- end }}
