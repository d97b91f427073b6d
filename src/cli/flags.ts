/*
 * Flags shared by the commands that act on the org (their help in
 * messages/datacloud.load.flags.md), the definition they describe, and the mapping of engine
 * errors to sf-style errors (name, message, actions). No HTTP here.
 */
import { Flags } from '@salesforce/sf-plugins-core';
import { ux } from '@oclif/core';
import { Messages, SfError, type Org } from '@salesforce/core';
import { LoadError } from '../engine/errors.js';
import { definitionSchemaPath, readDefinitionFile, resolveDefinition, parseMappingFlag, type DefinitionProblem, type ResolvedDefinition } from '../engine/definition.js';
import { profileNames } from '../engine/profiles.js';
import { runFileError } from './run-errors.js';
import type { LoadDefinition } from '../state/types.js';

Messages.importMessagesDirectoryFromMetaUrl(import.meta.url);
const messages = Messages.loadMessages('@datacloud/plugin-datacloud-load', 'datacloud.load.flags');

const requiredOrg = Flags.requiredOrg({
  summary: messages.getMessage('flags.target-org.summary'),
  description: messages.getMessage('flags.target-org.description'),
});

/**
 * An org whose lookup failed: the lookup error is thrown when the command first uses it, so
 * that problems with the definition (checked before) come first.
 */
function unresolvedOrg(err: unknown): Org {
  const fail = (): never => {
    throw err;
  };
  return new Proxy({} as Org, { get: (_t, prop) => (typeof prop === 'symbol' || prop === 'then' || prop === 'toJSON' ? undefined : fail) });
}

const deferred = async (lookup: () => Promise<Org>): Promise<Org> => {
  try {
    return await lookup();
  } catch (err) {
    return unresolvedOrg(err);
  }
};

export const orgFlags = {
  'target-org': {
    ...requiredOrg,
    parse: (input: string, ctx: never, opts: never) => deferred(async () => (await requiredOrg.parse(input, ctx, opts)) as Org),
    default: (ctx: never, manifest?: boolean) => deferred(() => (requiredOrg.default as (c: never, m?: boolean) => Promise<Org>)(ctx, manifest)),
  } as typeof requiredOrg,
  'api-version': Flags.orgApiVersion({ summary: messages.getMessage('flags.api-version.summary') }),
};

/**
 * The end-of-run webhook. Its URL is a secret (Slack's carry a token in the path), so it is
 * taken from the flag or the environment at run time and never written to a run file.
 */
export const notifyFlag = {
  'notify-url': Flags.string({ summary: messages.getMessage('flags.notify-url.summary'), description: messages.getMessage('flags.notify-url.description'), env: 'SF_DATACLOUD_LOAD_NOTIFY_URL' }),
};

/** A number of minutes, decimals allowed (0.5 = 30 s), between 0 and `max`. */
export function minutesFlag(max: number) {
  return Flags.custom<number>({
    parse: async (input: string) => {
      const n = Number(input);
      if (input.trim() === '' || !Number.isFinite(n) || n < 0 || n > max) throw new Error(`Expected a number of minutes from 0 to ${max}, not "${input}".`);
      return n;
    },
  });
}

export const runsDirFlag = {
  'runs-dir': Flags.directory({ summary: messages.getMessage('flags.runs-dir.summary') }),
};

export const runIdFlag = {
  'run-id': Flags.string({ summary: messages.getMessage('flags.run-id.summary') }),
};

/** A whole number, or "auto"; the range is checked with the rest of the definition. */
const autoOrInteger = Flags.custom<number | 'auto'>({
  parse: async (input: string) => {
    const t = input.trim();
    if (t.toLowerCase() === 'auto') return 'auto';
    if (!/^[+-]?\d+$/.test(t)) throw new Error(`Expected "auto" or a whole number, not ${JSON.stringify(input)}.`);
    return Number(t);
  },
});

let schemaPath: string;
try {
  schemaPath = definitionSchemaPath();
} catch {
  schemaPath = 'schemas/definition.json';
}

const flag = (name: string): { summary: string; description?: string } => {
  const key = `flags.${name}.description`;
  // Only the --definition text takes the schema's path (tokens given to a text without %s are logged as warnings).
  const description = messages.messages.has(key) ? { description: messages.getMessage(key, name === 'definition' ? [schemaPath, schemaPath] : []) } : {};
  return { summary: messages.getMessage(`flags.${name}.summary`), ...description };
};

export const definitionFlags = {
  definition: Flags.file({ char: 'd', exists: true, ...flag('definition') }),
  profile: Flags.option({ options: profileNames() as ['default', 'seed'], ...flag('profile') })(),
  'source-object': Flags.string(flag('source-object')),
  'key-column': Flags.string(flag('key-column')),
  'parent-column': Flags.string(flag('parent-column')),
  filter: Flags.string(flag('filter')),
  'target-object': Flags.string(flag('target-object')),
  'external-id-field': Flags.string(flag('external-id-field')),
  mapping: Flags.string(flag('mapping')),
  'rows-per-job': autoOrInteger({ ...flag('rows-per-job'), helpValue: 'auto|1-10000' }),
  partitions: autoOrInteger({ ...flag('partitions'), helpValue: 'auto|1-100000' }),
  // The range (1 to 1,000) is checked with the rest of the definition, so all problems show at once.
  'max-concurrency': Flags.integer({ ...flag('max-concurrency'), helpValue: '1-1000' }),
};

export type DefinitionFlagValues = {
  definition?: string;
  profile?: string;
  'source-object'?: string;
  'key-column'?: string;
  'parent-column'?: string;
  filter?: string;
  'target-object'?: string;
  'external-id-field'?: string;
  mapping?: string;
  'rows-per-job'?: number | 'auto';
  partitions?: number | 'auto';
  'max-concurrency'?: number;
};

/**
 * The definition the flags describe (file, then flags on top), checked; throws LoadError
 * InvalidDefinition listing every problem. Warnings are returned, for `this.warn`.
 */
export function resolveDefinitionFlags(f: DefinitionFlagValues): ResolvedDefinition {
  const raw = f.definition ? readDefinitionFile(f.definition) : undefined;
  const parsed = f.mapping !== undefined ? parseMappingFlag(f.mapping) : undefined;
  const problems: DefinitionProblem[] = parsed?.problems ?? [];
  return resolveDefinition(
    raw,
    {
      sourceObject: f['source-object'],
      keyColumn: f['key-column'],
      parentColumn: f['parent-column'],
      filter: f.filter,
      targetObject: f['target-object'],
      externalIdField: f['external-id-field'],
      mapping: parsed?.mapping,
      profile: f.profile,
      rowsPerJob: f['rows-per-job'],
      partitions: f.partitions,
      maxConcurrency: f['max-concurrency'],
    },
    { ...(f.definition ? { file: f.definition } : {}), problems }
  );
}

/**
 * As resolveDefinitionFlags, returning the definition; each warning goes to `warn`
 * (a command passes `(w) => this.warn(w)` so that --json carries them; default: stderr).
 */
export function definitionFromFlags(f: DefinitionFlagValues, warn: (message: string) => void = (m) => ux.warn(m)): LoadDefinition {
  const { definition, warnings } = resolveDefinitionFlags(f);
  for (const w of warnings) warn(w);
  return definition;
}

/** Turn what the engine and state layers throw into SfErrors (name `<Code>Error`) with actions. */
export function toSfError(err: unknown): Error {
  if (err instanceof LoadError) {
    const sfErr = new SfError(err.message, `${err.code}Error`, err.actions);
    if (err.data) sfErr.setData(err.data as Parameters<SfError['setData']>[0]);
    return sfErr;
  }
  return runFileError(err);
}
