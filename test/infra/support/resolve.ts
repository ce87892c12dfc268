/**
 * A synthesized CloudFormation template with its intrinsics resolved the way CloudFormation
 * would in one fixed account and region: `Ref`, `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`,
 * `Fn::Select`, `Fn::Split`, `Fn::If` (with the template's conditions), `Fn::GetAZs` and the
 * pseudo parameters. Every resource gets a made-up physical name derived from its logical id,
 * and ARNs in the format its service uses, so policies can be evaluated against real-looking
 * requests.
 */

export const ACCOUNT = '123456789012';
export const REGION = 'eu-central-1';
export const PARTITION = 'aws';

export interface CfnResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
  readonly Condition?: string;
  readonly Metadata?: Record<string, unknown>;
}

export interface CfnTemplate {
  readonly Resources: Record<string, CfnResource>;
  readonly Conditions?: Record<string, unknown>;
  readonly Parameters?: Record<string, { Default?: unknown }>;
}

const PSEUDO: Record<string, string> = {
  'AWS::Partition': PARTITION,
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'DumpVault',
  'AWS::StackId': `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/DumpVault/1`,
  'AWS::NoValue': '',
};

/** The made-up physical name of a resource: its logical id in lower case (valid for S3 too). */
export function physicalName(logicalId: string): string {
  return logicalId.toLowerCase();
}

const arn = (service: string, resource: string, region = REGION, account = ACCOUNT) =>
  `arn:${PARTITION}:${service}:${region}:${account}:${resource}`;

/** `Ref` of a resource, as CloudFormation documents it per type. */
function refOf(id: string, type: string): string {
  const name = physicalName(id);
  switch (type) {
    case 'AWS::SNS::Topic':
      return arn('sns', name);
    case 'AWS::ECS::TaskDefinition':
      return arn('ecs', `task-definition/${name}:1`);
    case 'AWS::StepFunctions::StateMachine':
      return arn('states', `stateMachine:${name}`);
    case 'AWS::SQS::Queue':
      return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`;
    case 'AWS::KMS::Key':
      return `key-${name}`;
    case 'AWS::SecretsManager::Secret':
      return arn('secretsmanager', `secret:${name}-AbCdEf`);
    case 'AWS::EC2::SecurityGroup':
      return `sg-${name}`;
    case 'AWS::EC2::Subnet':
      return `subnet-${name}`;
    case 'AWS::EC2::VPC':
      return `vpc-${name}`;
    default:
      return name;
  }
}

/** `Fn::GetAtt` of a resource. */
function attributeOf(id: string, type: string, attribute: string): string {
  const name = physicalName(id);
  if (attribute === 'Arn') {
    switch (type) {
      case 'AWS::S3::Bucket':
        return `arn:${PARTITION}:s3:::${name}`;
      case 'AWS::KMS::Key':
        return arn('kms', `key/${name}`);
      case 'AWS::IAM::Role':
        return `arn:${PARTITION}:iam::${ACCOUNT}:role/${name}`;
      case 'AWS::IAM::ManagedPolicy':
        return `arn:${PARTITION}:iam::${ACCOUNT}:policy/${name}`;
      case 'AWS::Lambda::Function':
        return arn('lambda', `function:${name}`);
      case 'AWS::DynamoDB::Table':
        return arn('dynamodb', `table/${name}`);
      case 'AWS::ECS::Cluster':
        return arn('ecs', `cluster/${name}`);
      case 'AWS::SQS::Queue':
        return arn('sqs', name);
      case 'AWS::Logs::LogGroup':
        return arn('logs', `log-group:${name}:*`);
      case 'AWS::Events::Rule':
        return arn('events', `rule/${name}`);
      case 'AWS::Scheduler::Schedule':
        return arn('scheduler', `schedule/default/${name}`);
      case 'AWS::CloudWatch::Alarm':
      case 'AWS::CloudWatch::CompositeAlarm':
        return arn('cloudwatch', `alarm:${name}`);
      case 'AWS::StepFunctions::StateMachine':
        return arn('states', `stateMachine:${name}`);
      case 'AWS::SNS::Topic':
        return arn('sns', name);
      case 'AWS::SecretsManager::Secret':
        return arn('secretsmanager', `secret:${name}-AbCdEf`);
      default:
        return arn(type.split('::')[1]!.toLowerCase(), name);
    }
  }
  switch (attribute) {
    case 'QueueName':
    case 'Name':
    case 'TopicName':
    case 'KeyId':
    case 'GroupId':
      return type === 'AWS::EC2::SecurityGroup' ? `sg-${name}` : name;
    case 'QueueUrl':
      return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}`;
    case 'DomainName':
    case 'RegionalDomainName':
      return `${name}.s3.${REGION}.amazonaws.com`;
    case 'TopicArn':
      return arn('sns', name);
    default:
      return `${name}.${attribute}`;
  }
}

/** Resolves every intrinsic in `value`; throws on one it does not know, so nothing passes unresolved. */
export function resolveIntrinsics(template: CfnTemplate, value: unknown): unknown {
  const resolve = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(resolve);
    if (!v || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      const [key] = keys as [string];
      const arg = o[key];
      switch (key) {
        case 'Ref': {
          const id = arg as string;
          if (PSEUDO[id] !== undefined) return PSEUDO[id];
          const parameter = template.Parameters?.[id];
          if (parameter) return resolve(parameter.Default ?? `parameter-${id}`);
          const resource = template.Resources[id];
          if (!resource) throw new Error(`Ref to unknown ${id}`);
          return refOf(id, resource.Type);
        }
        case 'Fn::GetAtt': {
          const [id, attribute] = (
            typeof arg === 'string' ? (arg as string).split(/\.(.*)/s) : (arg as string[])
          ) as [string, string];
          const resource = template.Resources[id];
          if (!resource) throw new Error(`Fn::GetAtt of unknown ${id}`);
          return attributeOf(id, resource.Type, attribute);
        }
        case 'Fn::Join': {
          const [separator, parts] = arg as [string, unknown[]];
          return (resolve(parts) as unknown[]).map(String).join(separator);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [unknown, unknown];
          return (resolve(list) as unknown[])[Number(resolve(index))];
        }
        case 'Fn::Split': {
          const [separator, source] = arg as [string, unknown];
          return String(resolve(source)).split(separator);
        }
        case 'Fn::GetAZs':
          return [`${REGION}a`, `${REGION}b`, `${REGION}c`];
        case 'Fn::If': {
          const [condition, yes, no] = arg as [string, unknown, unknown];
          return resolve(evaluateCondition(template, condition) ? yes : no);
        }
        case 'Fn::Sub': {
          const [text, variables] = (typeof arg === 'string' ? [arg, {}] : arg) as [
            string,
            Record<string, unknown>,
          ];
          return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
            if (variables[name] !== undefined) return String(resolve(variables[name]));
            if (PSEUDO[name] !== undefined) return PSEUDO[name];
            const [id, attribute] = name.split(/\.(.*)/s) as [string, string | undefined];
            return String(resolve(attribute ? { 'Fn::GetAtt': [id, attribute] } : { Ref: id }));
          });
        }
        default:
          if (key.startsWith('Fn::')) throw new Error(`unsupported intrinsic ${key}`);
      }
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]));
  };
  return resolve(value);
}

/** Evaluates one of the template's conditions. */
export function evaluateCondition(template: CfnTemplate, name: string): boolean {
  const condition = template.Conditions?.[name];
  if (condition === undefined) throw new Error(`unknown condition ${name}`);
  return evaluateConditionExpression(template, condition);
}

function evaluateConditionExpression(template: CfnTemplate, expression: unknown): boolean {
  const o = expression as Record<string, unknown>;
  if (typeof o['Condition'] === 'string') return evaluateCondition(template, o['Condition']);
  if (o['Fn::Equals']) {
    const [a, b] = o['Fn::Equals'] as [unknown, unknown];
    return JSON.stringify(resolveIntrinsics(template, a)) === JSON.stringify(resolveIntrinsics(template, b));
  }
  if (o['Fn::Not']) return !evaluateConditionExpression(template, (o['Fn::Not'] as unknown[])[0]);
  if (o['Fn::And']) return (o['Fn::And'] as unknown[]).every((c) => evaluateConditionExpression(template, c));
  if (o['Fn::Or']) return (o['Fn::Or'] as unknown[]).some((c) => evaluateConditionExpression(template, c));
  throw new Error(`unsupported condition ${JSON.stringify(expression)}`);
}

/** A resource's properties with intrinsics resolved. */
export function resolvedProperties(template: CfnTemplate, logicalId: string): Record<string, unknown> {
  const resource = template.Resources[logicalId];
  if (!resource) throw new Error(`no resource ${logicalId}`);
  return resolveIntrinsics(template, resource.Properties ?? {}) as Record<string, unknown>;
}

/** The logical ids of every resource of a type (resources whose condition is false are left out). */
export function resourcesOfType(template: CfnTemplate, type: string): string[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === type && (!r.Condition || evaluateCondition(template, r.Condition)))
    .map(([id]) => id);
}

/** The resolved `Arn` (or `Ref` where that is the ARN) of a resource. */
export function arnOf(template: CfnTemplate, logicalId: string): string {
  const type = template.Resources[logicalId]?.Type;
  if (!type) throw new Error(`no resource ${logicalId}`);
  const byRef = ['AWS::SNS::Topic', 'AWS::ECS::TaskDefinition', 'AWS::StepFunctions::StateMachine'];
  return byRef.includes(type) ? refOf(logicalId, type) : attributeOf(logicalId, type, 'Arn');
}
