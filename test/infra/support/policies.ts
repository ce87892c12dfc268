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
import { expect } from 'vitest';
import {
  ACCOUNT,
  arnOf,
  type CfnResource,
  type CfnTemplate,
  PARTITION,
  physicalName,
  REGION,
  resolvedProperties,
  resolveIntrinsics,
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

/** Where a policy statement lives: the resource that holds it. */
export interface StatementSite {
  readonly logicalId: string;
  readonly type: string;
}

/** A policy statement (intrinsics resolved) and where it lives. */
export interface SitedStatement {
  readonly site: StatementSite;
  readonly statement: Record<string, unknown>;
}

export type StatementFilter = (statement: Record<string, unknown>, site: StatementSite) => boolean;

/** The template with the statements `drop` matched taken out, and what was taken out. */
export interface Removal {
  readonly policies: TemplatePolicies;
  readonly removed: SitedStatement[];
}

/** Resources that are a resource policy statement of their own. */
const PERMISSION_TYPES = ['AWS::Lambda::Permission'];

/** IAM's wildcard match (`*`, `?`), case-insensitive for actions. */
function wildcardMatch(pattern: string, value: string, ignoreCase: boolean): boolean {
  const body = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, ignoreCase ? 'is' : 's').test(value);
}

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

  /**
   * The template with every statement `drop` matches removed (issue 12: each allowed answer must
   * turn into a denial when the statement that grants it is removed). Statements are looked for
   * in role inline policies, IAM policies, topic, bucket and key policies; a Lambda permission is
   * one statement, removed as a whole resource. A policy left with no statement is removed too.
   */
  without(drop: StatementFilter): Removal {
    const template = structuredClone(this.template) as CfnTemplate;
    const resources = template.Resources as Record<string, CfnResource>;
    const removed: SitedStatement[] = [];
    const prune = (document: PolicyDocument | undefined, site: StatementSite): boolean => {
      if (!document) return false;
      document.Statement = toList(document.Statement).filter((raw) => {
        const statement = resolveIntrinsics(this.template, raw) as Record<string, unknown>;
        if (!drop(statement, site)) return true;
        removed.push({ site, statement });
        return false;
      });
      return document.Statement.length === 0;
    };
    for (const [logicalId, resource] of Object.entries(resources)) {
      const site = { logicalId, type: resource.Type };
      const properties = (resource.Properties ?? {}) as Record<string, unknown>;
      if (PERMISSION_TYPES.includes(resource.Type)) {
        const permission = resolvedProperties(this.template, logicalId);
        const fn = String(permission['FunctionName']);
        const functionArn = fn.startsWith('arn:')
          ? fn
          : `arn:${PARTITION}:lambda:${REGION}:${ACCOUNT}:function:${fn}`;
        const statement = lambdaPermissionStatement(permission, functionArn);
        if (drop(statement, site)) {
          removed.push({ site, statement });
          delete resources[logicalId];
        }
        continue;
      }
      switch (resource.Type) {
        case 'AWS::IAM::Role': {
          const inline = properties['Policies'] as Array<{ PolicyDocument: PolicyDocument }> | undefined;
          if (inline) properties['Policies'] = inline.filter((p) => !prune(p.PolicyDocument, site));
          break;
        }
        case 'AWS::IAM::Policy':
        case 'AWS::IAM::ManagedPolicy':
        case 'AWS::SNS::TopicPolicy':
        case 'AWS::S3::BucketPolicy':
          if (prune(properties['PolicyDocument'] as PolicyDocument, site)) delete resources[logicalId];
          break;
        case 'AWS::KMS::Key':
          prune(properties['KeyPolicy'] as PolicyDocument, site);
          break;
      }
    }
    return { policies: new TemplatePolicies(template), removed };
  }

  /**
   * Matches the Allow statements that could grant `request` on their own terms (conditions
   * aside): in the principal's identity policies, or in the resource's policy naming the
   * principal (or `*`), with an action and a resource that match the request's.
   */
  granting(request: PolicyRequest): StatementFilter {
    const p = request.principal;
    const role = 'role' in p ? p.role : undefined;
    const name = 'role' in p ? this.roleArn(p.role) : 'arn' in p ? p.arn : p.service;
    const ownIdentity = (site: StatementSite) =>
      role !== undefined &&
      ((site.type === 'AWS::IAM::Role' && site.logicalId === role) ||
        (['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy'].includes(site.type) &&
          toList(resolvedProperties(this.template, site.logicalId)['Roles'] as string[] | undefined).includes(
            physicalName(role),
          )));
    const namesPrincipal = (statement: Record<string, unknown>) => {
      const principal = statement['Principal'];
      if (principal === '*') return true;
      return Object.values((principal ?? {}) as Record<string, unknown>)
        .flatMap((v) => toList(v as string | string[]))
        .some(
          (v) =>
            v === '*' ||
            v === name ||
            // The account's root delegates to the account's IAM policies (KMS key policies).
            (!('service' in p) && (v === ACCOUNT || v === `arn:${PARTITION}:iam::${ACCOUNT}:root`)),
        );
    };
    return (statement, site) => {
      if (statement['Effect'] !== 'Allow') return false;
      const actions = toList(statement['Action'] as string | string[] | undefined);
      const resources = toList(statement['Resource'] as string | string[] | undefined);
      if (!actions.some((a) => wildcardMatch(a, request.action, true))) return false;
      if (!resources.some((r) => wildcardMatch(r, request.resource, false))) return false;
      return 'Principal' in statement ? namesPrincipal(statement) : ownIdentity(site);
    };
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

/**
 * Asserts that AWS allows `request`, and that it denies it once the statements granting it (in
 * the principal's policies or the resource's policy naming the principal) are removed from the
 * template: the answer comes from those statements and nothing else (issue 12: "each fails when
 * its statement is removed"). Returns what was removed.
 */
export async function expectGrantedByItsStatements(
  policies: TemplatePolicies,
  request: PolicyRequest,
): Promise<SitedStatement[]> {
  expect(await policies.decide(request)).toBe('Allowed');
  const { policies: without, removed } = policies.without(policies.granting(request));
  expect(removed.length, `statements granting ${request.action} on ${request.resource}`).toBeGreaterThan(0);
  expect(await without.decide(request)).toBe('ImplicitlyDenied');
  return removed;
}
