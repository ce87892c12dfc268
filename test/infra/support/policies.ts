/**
 * Asks a real IAM policy evaluator (`@cloud-copilot/iam-simulate`, AGPL-3.0, a devDependency
 * used by tests only) what AWS would answer for one request against a synthesized template:
 * the principal's identity policies (inline policies of the role and the AWS::IAM::Policy
 * resources attached to it) together with the target's resource policy (SNS topic policy, KMS
 * key policy, S3 bucket policy, the Lambda permissions of a function).
 */
import {
  type EvaluationResult,
  runSimulation,
  type SimulationIdentityPolicy,
} from '@cloud-copilot/iam-simulate';
import {
  ACCOUNT,
  arnOf,
  type CfnTemplate,
  PARTITION,
  physicalName,
  resolvedProperties,
  resourcesOfType,
} from './resolve.ts';

export type Decision = EvaluationResult;

export interface PolicyDocument {
  Version?: string;
  Statement: Array<Record<string, unknown>>;
}

/** One request: who (a role's logical id or a service principal), what, on which ARN, with which context. */
export interface PolicyRequest {
  /**
   * `{ role: '<logical id>' }`, `{ service: 'cloudwatch.amazonaws.com' }`, or a principal from
   * outside the template with the identity policies it would have.
   */
  readonly principal:
    | { readonly role: string }
    | { readonly service: string }
    | { readonly arn: string; readonly policies: SimulationIdentityPolicy[] };
  readonly action: string;
  readonly resource: string;
  readonly context?: Readonly<Record<string, string | string[]>>;
  /** The account that owns the resource, when not the template's. @default ACCOUNT */
  readonly resourceAccount?: string;
  /** The resource policy, for a resource outside the template (another account's key). */
  readonly resourcePolicy?: PolicyDocument;
}

const toList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The policies of one synthesized template, evaluated like AWS evaluates them. */
export class TemplatePolicies {
  constructor(readonly template: CfnTemplate) {}

  /** `arn:aws:iam::<account>:role/<name>` of a role's logical id. */
  roleArn(roleId: string): string {
    return arnOf(this.template, roleId);
  }

  /** The inline and attached customer policies of a role (AWS managed policies are not modelled). */
  identityPolicies(roleId: string): SimulationIdentityPolicy[] {
    const role = resolvedProperties(this.template, roleId);
    const name = physicalName(roleId);
    const policies: SimulationIdentityPolicy[] = toList(
      role['Policies'] as Array<{ PolicyName: string; PolicyDocument: PolicyDocument }> | undefined,
    ).map((p) => ({ name: p.PolicyName, policy: p.PolicyDocument }));
    for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
      for (const id of resourcesOfType(this.template, type)) {
        const p = resolvedProperties(this.template, id);
        if (!toList(p['Roles'] as string[] | undefined).includes(name)) continue;
        policies.push({ name: id, policy: p['PolicyDocument'] as PolicyDocument });
      }
    }
    return policies;
  }

  /** The resource policy AWS would consult for `resource`, if the template holds one. */
  resourcePolicy(resource: string): PolicyDocument | undefined {
    const t = this.template;
    if (resource.startsWith(`arn:${PARTITION}:sns:`)) {
      const statements = resourcesOfType(t, 'AWS::SNS::TopicPolicy')
        .map((id) => resolvedProperties(t, id))
        .filter((p) => toList(p['Topics'] as string[]).includes(resource))
        .flatMap((p) => (p['PolicyDocument'] as PolicyDocument).Statement);
      return statements.length ? { Version: '2012-10-17', Statement: statements } : undefined;
    }
    if (resource.startsWith(`arn:${PARTITION}:kms:`)) {
      const key = resourcesOfType(t, 'AWS::KMS::Key').find((id) => arnOf(t, id) === resource);
      return key ? (resolvedProperties(t, key)['KeyPolicy'] as PolicyDocument) : undefined;
    }
    if (resource.startsWith(`arn:${PARTITION}:s3:::`)) {
      const bucket = resource.slice(`arn:${PARTITION}:s3:::`.length).split('/')[0];
      const statements = resourcesOfType(t, 'AWS::S3::BucketPolicy')
        .map((id) => resolvedProperties(t, id))
        .filter((p) => p['Bucket'] === bucket)
        .flatMap((p) => (p['PolicyDocument'] as PolicyDocument).Statement);
      return statements.length ? { Version: '2012-10-17', Statement: statements } : undefined;
    }
    if (resource.startsWith(`arn:${PARTITION}:lambda:`)) {
      const functionArn = resource.split(':').slice(0, 7).join(':');
      const name = functionArn.split(':')[6];
      const statements = resourcesOfType(t, 'AWS::Lambda::Permission')
        .map((id) => resolvedProperties(t, id))
        .filter((p) => {
          const fn = String(p['FunctionName']);
          return fn === name || fn === functionArn || fn.startsWith(`${functionArn}:`);
        })
        .map((p) => lambdaPermissionStatement(p, functionArn));
      return statements.length ? { Version: '2012-10-17', Statement: statements } : undefined;
    }
    return undefined;
  }

  /** What AWS would decide for the request. */
  async decide(request: PolicyRequest): Promise<Decision> {
    const p = request.principal;
    const isRole = !('service' in p);
    const principal = 'role' in p ? this.roleArn(p.role) : 'arn' in p ? p.arn : p.service;
    const context: Record<string, string | string[]> = {
      'aws:SecureTransport': 'true',
      ...(isRole ? { 'aws:PrincipalArn': principal, 'aws:PrincipalAccount': ACCOUNT } : {}),
      ...request.context,
    };
    const resourcePolicy = request.resourcePolicy ?? this.resourcePolicy(request.resource);
    const result = await runSimulation(
      {
        request: {
          principal,
          action: request.action,
          resource: { resource: request.resource, accountId: request.resourceAccount ?? ACCOUNT },
          contextVariables: context,
        },
        identityPolicies: 'role' in p ? this.identityPolicies(p.role) : 'arn' in p ? p.policies : [],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(resourcePolicy ? { resourcePolicy } : {}),
      },
      {},
    );
    if (result.resultType === 'error') {
      throw new Error(`the simulation could not run: ${JSON.stringify(result.errors)}`);
    }
    return result.overallResult;
  }
}

/** An AWS::Lambda::Permission as the statement of the function's resource policy it becomes. */
function lambdaPermissionStatement(p: Record<string, unknown>, functionArn: string): Record<string, unknown> {
  const principal = String(p['Principal']);
  const condition: Record<string, Record<string, string>> = {};
  if (p['SourceArn']) condition['ArnLike'] = { 'AWS:SourceArn': String(p['SourceArn']) };
  if (p['SourceAccount']) condition['StringEquals'] = { 'AWS:SourceAccount': String(p['SourceAccount']) };
  return {
    Effect: 'Allow',
    Principal: principal.endsWith('.amazonaws.com') ? { Service: principal } : { AWS: principal },
    Action: p['Action'],
    Resource: [functionArn, `${functionArn}:*`],
    ...(Object.keys(condition).length ? { Condition: condition } : {}),
  };
}
