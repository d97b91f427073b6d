/*
 * The load definition: read from a JSON file (versioned, documented in the README),
 * completed from flags and a pacing profile, and checked for shape before any org call.
 */
import { readFileSync } from 'node:fs';
import type { LoadDefinition, PacingSettings } from '../state/types.js';
import { PROFILES, profileNames } from './profiles.js';
import { LoadError } from './errors.js';

export const DEFINITION_VERSION = 1;

/** What flags may set; every field optional. */
export type DefinitionOverrides = {
  sourceObject?: string;
  keyColumn?: string;
  parentColumn?: string;
  filter?: string;
  targetObject?: string;
  externalIdField?: string;
  mapping?: Record<string, string>;
  profile?: string;
  rowsPerJob?: number | 'auto';
  partitions?: number;
  maxConcurrency?: number;
  staggerSeconds?: number;
};

type RawDefinition = {
  version?: unknown;
  name?: unknown;
  source?: Record<string, unknown>;
  target?: Record<string, unknown>;
  pacing?: Record<string, unknown>;
};

const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const FIELD_PATH = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$/;

export function readDefinitionFile(file: string): RawDefinition {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new LoadError('DefinitionNotFound', `The load definition file ${file} can't be read.`, [
      'Check the path given with --definition.',
      'Or describe the load with flags: --source-object, --key-column, --target-object, --external-id-field and --mapping.',
    ]);
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as RawDefinition;
  } catch (err) {
    throw new LoadError('InvalidDefinition', `The load definition file ${file} is not a JSON object (${(err as Error).message}).`, [
      'Fix the JSON; the README shows a complete example.',
    ]);
  }
}

/** Parse "Src__c=Target__c,Other__c=Account.External_ID__c". */
export function parseMapping(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [src, dst, extra] = pair.split('=').map((s) => s.trim());
    if (!src || !dst || extra !== undefined) {
      throw new LoadError('InvalidMapping', `The mapping entry "${pair}" is not of the form SourceColumn=TargetField.`, [
        'Write --mapping "ExternalId__c=External_ID__c,AccountExternalId__c=Account.External_ID__c".',
      ]);
    }
    out[src] = dst;
  }
  return out;
}

/** Complete and check a definition. Throws LoadError naming the first problem found. */
export function resolveDefinition(raw: RawDefinition | undefined, o: DefinitionOverrides = {}): LoadDefinition {
  const r = raw ?? {};
  if (r.version !== undefined && r.version !== DEFINITION_VERSION) {
    throw new LoadError('UnsupportedDefinitionVersion', `The load definition has version ${String(r.version)}; this plugin reads version ${DEFINITION_VERSION}.`, [
      `Set "version": ${DEFINITION_VERSION} and check the fields against the README.`,
    ]);
  }
  const src = r.source ?? {};
  const tgt = r.target ?? {};
  const profileName = o.profile ?? str(r.pacing?.profile) ?? 'default';
  const base = PROFILES[profileName];
  if (!base) {
    throw new LoadError('UnknownProfile', `There is no pacing profile "${profileName}".`, [`Use one of: ${profileNames().join(', ')}.`]);
  }
  const pacingIn = { ...(r.pacing ?? {}) };
  delete pacingIn.profile;
  const pacing: PacingSettings = { ...base, ...(pacingIn as Partial<PacingSettings>), profile: profileName };
  if (o.rowsPerJob !== undefined) pacing.rowsPerJob = o.rowsPerJob;
  if (o.partitions !== undefined) pacing.partitions = o.partitions;
  if (o.maxConcurrency !== undefined) pacing.maxConcurrency = o.maxConcurrency;
  if (o.staggerSeconds !== undefined) pacing.staggerSeconds = o.staggerSeconds;

  const mapping = o.mapping ?? (tgt.mapping as Record<string, string> | undefined);
  const def: LoadDefinition = {
    version: 1,
    ...(str(r.name) ? { name: str(r.name) } : {}),
    source: {
      object: required(o.sourceObject ?? str(src.object), 'source.object', '--source-object'),
      keyColumn: required(o.keyColumn ?? str(src.keyColumn), 'source.keyColumn', '--key-column'),
      ...(o.parentColumn ?? str(src.parentColumn) ? { parentColumn: o.parentColumn ?? str(src.parentColumn) } : {}),
      ...(Array.isArray(src.columns) ? { columns: src.columns as string[] } : {}),
      ...(o.filter ?? str(src.filter) ? { filter: o.filter ?? str(src.filter) } : {}),
      ...(str(src.dataspace) ? { dataspace: str(src.dataspace) } : {}),
    },
    target: {
      object: required(o.targetObject ?? str(tgt.object), 'target.object', '--target-object'),
      externalIdField: required(o.externalIdField ?? str(tgt.externalIdField), 'target.externalIdField', '--external-id-field'),
      operation: 'upsert',
      mapping: mapping ?? {},
    },
    pacing,
  };
  if (tgt.operation !== undefined && tgt.operation !== 'upsert') {
    throw new LoadError('UnsupportedOperation', `target.operation "${String(tgt.operation)}" is not supported; loads are upserts by external ID.`, [
      'Remove target.operation or set it to "upsert".',
    ]);
  }
  checkShape(def);
  return def;
}

function checkShape(def: LoadDefinition): void {
  const bad = (what: string, value: string, fix: string): never => {
    throw new LoadError('InvalidName', `${what} "${value}" is not a valid API name.`, [fix]);
  };
  for (const [what, v] of [
    ['source.object', def.source.object],
    ['source.keyColumn', def.source.keyColumn],
    ['target.object', def.target.object],
    ['target.externalIdField', def.target.externalIdField],
  ] as const) {
    if (!NAME.test(v)) bad(what, v, 'Use letters, digits and underscores only, starting with a letter (e.g. ExternalId__c).');
  }
  if (def.source.parentColumn && !NAME.test(def.source.parentColumn)) bad('source.parentColumn', def.source.parentColumn, 'Use the Data Cloud API name of the parent column.');
  for (const c of def.source.columns ?? []) if (!NAME.test(c)) bad('source.columns entry', c, 'Use Data Cloud API names only.');
  const entries = Object.entries(def.target.mapping);
  if (entries.length === 0) {
    throw new LoadError('EmptyMapping', 'The definition maps no source column to a target field.', [
      'Add target.mapping, e.g. {"ExternalId__c": "External_ID__c", "Name__c": "Name"}, or pass --mapping.',
    ]);
  }
  for (const [s, t] of entries) {
    if (!NAME.test(s)) bad('target.mapping source column', s, 'Use the Data Cloud API name of the column.');
    if (!FIELD_PATH.test(t)) bad('target.mapping target field', t, 'Use a field API name, or Relationship.ExternalIdField for a parent (e.g. Account.External_ID__c).');
  }
  if (!entries.some(([s, t]) => s === def.source.keyColumn && t === def.target.externalIdField)) {
    throw new LoadError('KeyNotMapped', `target.mapping must map the key column ${def.source.keyColumn} to the external ID field ${def.target.externalIdField}.`, [
      `Add "${def.source.keyColumn}": "${def.target.externalIdField}" to target.mapping.`,
    ]);
  }
  const p = def.pacing;
  const positiveInt = (name: string, v: unknown): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new LoadError('InvalidPacing', `pacing.${name} must be a whole number of at least 1 (got ${JSON.stringify(v)}).`, ['Fix the value in the definition or flag.']);
    }
  };
  if (p.rowsPerJob !== 'auto') positiveInt('rowsPerJob', p.rowsPerJob);
  if (p.rowsPerJob !== 'auto' && p.rowsPerJob > 150_000_000) positiveInt('rowsPerJob', -1);
  if (p.partitions !== 'auto') positiveInt('partitions', p.partitions);
  positiveInt('maxAttempts', p.maxAttempts);
  positiveInt('maxConcurrency', p.maxConcurrency);
  positiveInt('jobsInFlightPerPartition', p.jobsInFlightPerPartition);
  if (!['adaptive', 'fixed'].includes(p.strategy)) throw new LoadError('InvalidPacing', `pacing.strategy must be "adaptive" or "fixed".`, ['Fix pacing.strategy.']);
  if (!['parent', 'key'].includes(p.partitionBy)) throw new LoadError('InvalidPacing', `pacing.partitionBy must be "parent" or "key".`, ['Fix pacing.partitionBy.']);
}

/** Source columns to read: the key, the parent, and every mapped column. */
export function sourceColumns(def: LoadDefinition): string[] {
  const cols = new Set<string>([def.source.keyColumn]);
  if (def.source.parentColumn) cols.add(def.source.parentColumn);
  for (const c of def.source.columns ?? Object.keys(def.target.mapping)) cols.add(c);
  for (const c of Object.keys(def.target.mapping)) cols.add(c);
  return [...cols];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}

function required(v: string | undefined, field: string, flag: string): string {
  if (!v) {
    throw new LoadError('IncompleteDefinition', `The load definition has no ${field}.`, [
      `Set ${field} in the definition file, or pass ${flag}.`,
    ]);
  }
  return v;
}
