/**
 * The restore state machine's definition as Step Functions would receive it: the synthesized
 * `DefinitionString` (an `Fn::Join` of text and references) with every reference replaced by a
 * made-up ARN or id that names the logical id it stands for, so tests can tell which Lambda or
 * task definition a state points at.
 */
import type { Template } from 'aws-cdk-lib/assertions';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-central-1';

type Resources = Record<string, { Type: string }>;

/** The made-up value of `{Ref: id}` or `{Fn::GetAtt: [id, attribute]}`. */
function stand_in(resources: Resources, id: string, attribute?: string): string {
  const pseudo: Record<string, string> = {
    'AWS::Partition': 'aws',
    'AWS::Region': REGION,
    'AWS::AccountId': ACCOUNT,
    'AWS::URLSuffix': 'amazonaws.com',
  };
  if (pseudo[id]) return pseudo[id];
  const type = resources[id]?.Type;
  switch (type) {
    case 'AWS::Lambda::Function':
      return `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`;
    case 'AWS::ECS::Cluster':
      return attribute === 'Arn' ? `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/${id}` : id;
    case 'AWS::ECS::TaskDefinition':
      return `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/${id}:1`;
    case 'AWS::EC2::SecurityGroup':
      return `sg-${id.toLowerCase()}`;
    case 'AWS::EC2::Subnet':
      return `subnet-${id.toLowerCase()}`;
    default:
      return attribute ? `${id}.${attribute}` : id;
  }
}

function render(resources: Resources, value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o['Ref'] === 'string') return stand_in(resources, o['Ref']);
    const getAtt = o['Fn::GetAtt'];
    if (Array.isArray(getAtt)) return stand_in(resources, String(getAtt[0]), String(getAtt[1]));
    const join = o['Fn::Join'];
    if (Array.isArray(join))
      return (join[1] as unknown[]).map((v) => render(resources, v)).join(String(join[0]));
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/** The definition of the only state machine of a template, as plain JSON. */
export function stateMachineDefinition(template: Template): Record<string, unknown> {
  const json = template.toJSON() as {
    Resources: Resources & Record<string, { Properties?: Record<string, unknown> }>;
  };
  const machines = Object.values(json.Resources).filter((r) => r.Type === 'AWS::StepFunctions::StateMachine');
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  return JSON.parse(render(json.Resources, machines[0]!.Properties?.['DefinitionString'])) as Record<
    string,
    unknown
  >;
}

/** The logical id a made-up ARN or id of {@link stateMachineDefinition} stands for. */
export function logicalIdOf(value: string): string {
  return value.replace(/:1$/, '').split(/[:/]/).at(-1)!;
}
