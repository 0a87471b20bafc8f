// The CellApp ValidatingAdmissionPolicy's CEL (docs/adr/0011-cellapps-cannot-escalate.md):
// a CellApp's author may not get, through the operator, workloads they could
// not create themselves. hack/generate.ts writes it into the chart
// (templates/_cellapp-policy.tpl); templates/cellapp-policy.yaml wraps it.
// Order matters: the API server reports the first failed validation, so the
// template's own faults come before the author's missing rights.

import { CEL_VARIABLES, baselineCelValidations, type CelValidation } from "../api/pod-security.ts";

export interface PolicyValidation {
  expression: string;
  message?: string;
  messageExpression?: string;
  reason?: "Forbidden" | "Invalid";
}

/** A named ServiceAccount other than `default` needs the right to impersonate it (the edit role has it). */
function serviceAccountValidation(field: "serviceAccountName" | "serviceAccount"): PolicyValidation {
  const sa = `variables.podSpec.${field}`;
  return {
    expression:
      `!has(${sa}) || ${sa} == 'default' || ` +
      `authorizer.group('').resource('serviceaccounts').namespace(request.namespace).name(string(${sa})).check('impersonate').allowed()`,
    messageExpression:
      `'spec.template.spec.${field}: ' + request.userInfo.username + ' may not run pods as ServiceAccount ' + string(${sa}) + ` +
      `' in ' + request.namespace + ' (that takes the right to impersonate it, as the edit role grants): ' + ` +
      `'use the default ServiceAccount, or ask for impersonate on serviceaccounts/' + string(${sa})`,
    reason: "Forbidden",
  };
}

const createRights: PolicyValidation = {
  expression:
    "authorizer.group('apps').resource('deployments').namespace(request.namespace).check('create').allowed() && " +
    "authorizer.group('').resource('services').namespace(request.namespace).check('create').allowed()",
  messageExpression:
    "'spec.template: ' + request.userInfo.username + ' may not create Deployments and Services in ' + request.namespace + " +
    "', which the operator creates for a CellApp: ask for create on deployments.apps and services there (the edit role has both)'",
  reason: "Forbidden",
};

const baseline = (v: CelValidation): PolicyValidation => ({ ...v, reason: "Forbidden" });

export const CELLAPP_POLICY_VARIABLES = CEL_VARIABLES;

export function cellAppPolicyValidations(): PolicyValidation[] {
  return [
    ...baselineCelValidations().map(baseline),
    serviceAccountValidation("serviceAccountName"),
    serviceAccountValidation("serviceAccount"),
    createRights,
  ];
}
