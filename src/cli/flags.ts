/*
 * Flags shared by the commands that act on the org, and the mapping of engine errors to
 * sf-style errors (name, message, actions). No HTTP here.
 */
import { Flags } from '@salesforce/sf-plugins-core';
import { SfError } from '@salesforce/core';
import { LoadError } from '../engine/errors.js';
import { readDefinitionFile, resolveDefinition, parseMapping } from '../engine/definition.js';
import { runFileError } from './run-errors.js';
import type { LoadDefinition } from '../state/types.js';

export const orgFlags = {
  'target-org': Flags.requiredOrg(),
  'api-version': Flags.orgApiVersion(),
};

export const runsDirFlag = {
  'runs-dir': Flags.directory({ summary: 'Folder that holds the run directories (default: $SF_DATACLOUD_LOAD_DIR or ~/.sf/datacloud-load/runs).' }),
};

export const runIdFlag = {
  'run-id': Flags.string({ summary: 'Run to act on (default: the latest run).' }),
};

export const definitionFlags = {
  definition: Flags.file({ char: 'd', exists: true, summary: 'Load definition JSON file (see README).' }),
  profile: Flags.string({ summary: 'Pacing profile: default (adaptive, parent-aware) or seed (the seed\'s Test8 settings).' }),
  'source-object': Flags.string({ summary: 'Data Cloud object to read, e.g. ExtOpportunities__dlm.' }),
  'key-column': Flags.string({ summary: 'Unique key column of the source, e.g. ExternalId__c.' }),
  'parent-column': Flags.string({ summary: 'Parent column of the source, e.g. AccountExternalId__c.' }),
  filter: Flags.string({ summary: 'Data Cloud SQL predicate added to every query.' }),
  'target-object': Flags.string({ summary: 'sObject to upsert into, e.g. Opportunity.' }),
  'external-id-field': Flags.string({ summary: 'External ID field of the sObject, e.g. External_ID__c.' }),
  mapping: Flags.string({ summary: 'Source=Target pairs, comma-separated, e.g. "ExternalId__c=External_ID__c,AccountExternalId__c=Account.External_ID__c".' }),
  'rows-per-job': Flags.integer({ min: 1, max: 150_000_000, summary: 'Rows per Bulk API job.' }),
  partitions: Flags.integer({ min: 1, summary: 'Number of partitions (default: from the profile).' }),
  'max-concurrency': Flags.integer({ min: 1, summary: 'Upper bound on Bulk jobs in flight.' }),
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
  'rows-per-job'?: number;
  partitions?: number;
  'max-concurrency'?: number;
};

export function definitionFromFlags(f: DefinitionFlagValues): LoadDefinition {
  const raw = f.definition ? readDefinitionFile(f.definition) : undefined;
  return resolveDefinition(raw, {
    sourceObject: f['source-object'],
    keyColumn: f['key-column'],
    parentColumn: f['parent-column'],
    filter: f.filter,
    targetObject: f['target-object'],
    externalIdField: f['external-id-field'],
    mapping: f.mapping ? parseMapping(f.mapping) : undefined,
    profile: f.profile,
    rowsPerJob: f['rows-per-job'],
    partitions: f.partitions,
    maxConcurrency: f['max-concurrency'],
  });
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
