/*
 * The load definition: read from a JSON file (versioned, schemas/definition.json, README
 * "The load definition"), completed from flags and a pacing profile, and checked before any
 * org call. Checks here are about shape only: the JSON Schema (names, types, ranges, unknown
 * keys), then what a schema can't say (a filter is one predicate, the key column is mapped to
 * the external ID field, a field takes one column, [min, max] pairs are ordered). Whether the
 * objects and fields exist, and whether externalIdField is an External ID field, is for
 * `plan` to check against the org (describe and a probe query). Every problem is reported at
 * once, in one InvalidDefinition error; doubtful but legal settings come back as warnings.
 */
import { readFileSync } from 'node:fs';
import type { LoadDefinition, PacingSettings } from '../state/types.js';
import { PROFILES } from './profiles.js';
import { LoadError } from './errors.js';
import { definitionSchemaPath, schemaProblems, show, type DefinitionProblem } from './definition-schema.js';

export { definitionSchemaPath, type DefinitionProblem } from './definition-schema.js';

export const DEFINITION_VERSION = 1;
/** Bulk API 2.0 cuts every ingest job into internal batches of this many rows. */
export const INTERNAL_BATCH_ROWS = 10_000;
/** Below this job size a load makes more than WARN_JOBS_PER_MILLION jobs per million rows. */
export const WARN_ROWS_PER_JOB = 500;
export const WARN_JOBS_PER_MILLION = 2_000;

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
  partitions?: number | 'auto';
  maxConcurrency?: number;
  staggerSeconds?: number;
};

/** A complete, checked definition and what is legal but doubtful about it. */
export type ResolvedDefinition = { definition: LoadDefinition; warnings: string[] };

/** The outcome of checking: a definition only when there are no problems. */
export type DefinitionCheck = { definition?: LoadDefinition; problems: DefinitionProblem[]; warnings: string[] };

/** Override → JSON path → the flag that sets it. */
const OVERRIDES: Array<{ key: keyof DefinitionOverrides; path: string[]; flag?: string }> = [
  { key: 'sourceObject', path: ['source', 'object'], flag: '--source-object' },
  { key: 'keyColumn', path: ['source', 'keyColumn'], flag: '--key-column' },
  { key: 'parentColumn', path: ['source', 'parentColumn'], flag: '--parent-column' },
  { key: 'filter', path: ['source', 'filter'], flag: '--filter' },
  { key: 'targetObject', path: ['target', 'object'], flag: '--target-object' },
  { key: 'externalIdField', path: ['target', 'externalIdField'], flag: '--external-id-field' },
  { key: 'mapping', path: ['target', 'mapping'], flag: '--mapping' },
  { key: 'profile', path: ['pacing', 'profile'], flag: '--profile' },
  { key: 'rowsPerJob', path: ['pacing', 'rowsPerJob'], flag: '--rows-per-job' },
  { key: 'partitions', path: ['pacing', 'partitions'], flag: '--partitions' },
  { key: 'maxConcurrency', path: ['pacing', 'maxConcurrency'], flag: '--max-concurrency' },
  { key: 'staggerSeconds', path: ['pacing', 'staggerSeconds'] },
];
const FLAG_FOR = new Map(OVERRIDES.filter((o) => o.flag).map((o) => [o.path.join('.'), o.flag!]));

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Read and parse a definition file. Throws LoadError DefinitionNotFound or InvalidDefinition. */
export function readDefinitionFile(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LoadError('DefinitionNotFound', `The load definition file ${file} can't be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}).`, [
      'Check the path given with --definition.',
      'Or describe the load with flags: --source-object, --key-column, --target-object, --external-id-field and --mapping.',
    ]);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw invalid(file, [{ path: '(file)', message: `The file is not valid JSON: ${(err as Error).message}.` }]);
  }
  if (!isObject(parsed)) {
    throw invalid(file, [{ path: '(file)', message: `The file must hold a JSON object ({ "version": 1, "source": …, "target": … }), not ${show(parsed)}.` }]);
  }
  return parsed;
}

/** Parse "Src__c=Target__c,Other__c=Account.External_ID__c"; entries that aren't pairs are problems. */
export function parseMappingFlag(text: string): { mapping: Record<string, string>; problems: DefinitionProblem[] } {
  const mapping: Record<string, string> = {};
  const problems: DefinitionProblem[] = [];
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [src, dst, extra] = pair.split('=').map((s) => s.trim());
    if (!src || !dst || extra !== undefined) {
      problems.push({
        path: '--mapping',
        message: `--mapping: the entry ${JSON.stringify(pair)} is not of the form SourceColumn=TargetField.`,
        action: 'Write --mapping "ExternalId__c=External_ID__c,AccountExternalId__c=Account.External_ID__c".',
      });
    } else mapping[src] = dst;
  }
  return { mapping, problems };
}

/** Parse a --mapping value; throws InvalidDefinition on a malformed entry. */
export function parseMapping(text: string): Record<string, string> {
  const { mapping, problems } = parseMappingFlag(text);
  if (problems.length) throw invalid(undefined, problems);
  return mapping;
}

/**
 * Complete and check a definition: the file's content (or nothing), flag overrides on top,
 * then the schema and the checks after it. Throws one LoadError InvalidDefinition that lists
 * every problem (message: one line per problem, each with its JSON path; data.problems).
 */
export function resolveDefinition(raw: unknown, o: DefinitionOverrides = {}, opts: { file?: string; problems?: DefinitionProblem[] } = {}): ResolvedDefinition {
  const check = checkDefinition(raw, o);
  const problems = [...(opts.problems ?? []), ...check.problems];
  if (problems.length || !check.definition) throw invalid(opts.file, problems);
  return { definition: check.definition, warnings: check.warnings };
}

/** The pure check behind resolveDefinition: never throws for a bad definition. */
export function checkDefinition(raw: unknown, o: DefinitionOverrides = {}): DefinitionCheck {
  if (raw !== undefined && !isObject(raw)) return { problems: [{ path: '(file)', message: `The definition must be a JSON object, not ${show(raw)}.` }], warnings: [] };
  const doc: Json = raw === undefined ? { version: DEFINITION_VERSION } : structuredClone(raw);
  const given = new Map<string, string>();
  for (const section of ['source', 'target'] as const) if (doc[section] === undefined) doc[section] = {};
  for (const ov of OVERRIDES) {
    const v = o[ov.key];
    if (v === undefined) continue;
    let cur: unknown = doc;
    for (const seg of ov.path.slice(0, -1)) {
      const c = cur as Json;
      if (c[seg] === undefined) c[seg] = {};
      cur = c[seg];
    }
    if (!isObject(cur)) continue; // the container itself is wrong; the schema says so
    cur[ov.path[ov.path.length - 1]] = v;
    if (ov.flag) given.set(ov.path.join('.'), ov.flag);
  }
  const fromFlag = (path: string): string | undefined => {
    for (const [p, flag] of given) if (path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`)) return flag;
    return undefined;
  };
  const problems = [...schemaProblems(doc, { fromFlag, flagFor: (p) => FLAG_FOR.get(p) }), ...semanticProblems(doc, fromFlag)];
  problems.sort((a, b) => rank(a.path) - rank(b.path));
  if (problems.length) return { problems, warnings: [] };
  const definition = build(doc);
  return { definition, problems, warnings: pacingWarnings(definition, fromFlag) };
}

const SECTIONS = ['(file)', '--mapping', 'version', 'name', 'source', 'target', 'pacing'];
function rank(path: string): number {
  const i = SECTIONS.findIndex((s) => path === s || path.startsWith(`${s}.`) || path.startsWith(`${s}[`));
  return i < 0 ? SECTIONS.length : i;
}

/** A schema-valid document → the LoadDefinition the engine runs, with the profile filled in. */
function build(doc: Json): LoadDefinition {
  const src = doc.source as LoadDefinition['source'];
  const tgt = doc.target as Omit<LoadDefinition['target'], 'operation'>;
  const pacingIn = { ...((doc.pacing as Partial<PacingSettings> | undefined) ?? {}) };
  const profile = pacingIn.profile ?? 'default';
  delete pacingIn.profile;
  const pacing: PacingSettings = { ...structuredClone(PROFILES[profile]), ...pacingIn, profile };
  return {
    version: DEFINITION_VERSION,
    ...(typeof doc.name === 'string' && doc.name.trim() ? { name: doc.name.trim() } : {}),
    source: {
      object: src.object,
      keyColumn: src.keyColumn,
      ...(src.parentColumn ? { parentColumn: src.parentColumn } : {}),
      ...(src.columns ? { columns: [...src.columns] } : {}),
      ...(src.filter ? { filter: src.filter.trim() } : {}),
      ...(src.dataspace ? { dataspace: src.dataspace } : {}),
    },
    target: { object: tgt.object, externalIdField: tgt.externalIdField, operation: 'upsert', mapping: { ...tgt.mapping } },
    pacing,
  };
}

/** What the schema can't express. Each check looks only at values of the right type. */
function semanticProblems(doc: Json, fromFlag: (path: string) => string | undefined): DefinitionProblem[] {
  const out: DefinitionProblem[] = [];
  const label = (path: string): string => (fromFlag(path) ? `${path} (from ${fromFlag(path)})` : path);
  const src = isObject(doc.source) ? doc.source : {};
  const tgt = isObject(doc.target) ? doc.target : {};
  const pacing = isObject(doc.pacing) ? doc.pacing : {};
  if (typeof src.filter === 'string') {
    for (const reason of filterProblems(src.filter)) out.push({ path: 'source.filter', message: `${label('source.filter')} must be a single predicate: ${reason}` });
  }
  const name = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z][A-Za-z0-9_]*$/.test(v);
  const mapping = isObject(tgt.mapping) ? (tgt.mapping as Record<string, unknown>) : undefined;
  const key = src.keyColumn;
  const ext = tgt.externalIdField;
  if (mapping && name(key) && name(ext)) {
    const mapped = Object.entries(mapping).find(([s]) => s === key)?.[1];
    const feedsExt = Object.entries(mapping).filter(([, t]) => typeof t === 'string' && t.toLowerCase() === ext.toLowerCase()).map(([s]) => s);
    if (mapped === undefined) {
      out.push({
        path: 'target.mapping',
        message: feedsExt.length
          ? `${label('target.mapping')} maps ${feedsExt.join(', ')}, not the key column ${key} (source.keyColumn), to the external ID field ${ext}. The upsert matches records by the external ID field and pages are read by the key column, so they must be one: map "${key}": "${ext}", or set source.keyColumn to ${feedsExt[0]}.`
          : `${label('target.mapping')} does not map the key column ${key} (source.keyColumn). The upsert matches records by target.externalIdField, so add "${key}": "${ext}".`,
      });
    } else if (typeof mapped === 'string' && mapped.toLowerCase() !== ext.toLowerCase()) {
      const own = !mapped.includes('.');
      out.push({
        path: 'target.mapping',
        message:
          `${label('target.mapping')} maps the key column ${key} to ${mapped}, but target.externalIdField is ${ext}. The upsert matches records by target.externalIdField, so the key column must be mapped to it: ` +
          (own
            ? `set target.externalIdField to ${mapped} if that is the External ID field, or map "${key}": "${ext}" if ${ext} is (plan checks which fields are External IDs against the org).`
            : `map "${key}": "${ext}" (${mapped} is a parent reference, not a field of the record itself).`),
      });
    }
  }
  if (mapping) {
    const byTarget = new Map<string, string[]>();
    for (const [s, t] of Object.entries(mapping)) if (typeof t === 'string') byTarget.set(t.toLowerCase(), [...(byTarget.get(t.toLowerCase()) ?? []), s]);
    for (const [, sources] of byTarget) {
      if (sources.length < 2) continue;
      const t = mapping[sources[0]] as string;
      out.push({
        path: 'target.mapping',
        message: `${label('target.mapping')} maps ${sources.length === 2 ? `both ${sources[0]} and ${sources[1]}` : sources.join(', ')} to ${t}; a target field takes one source column (Bulk API rejects a CSV with a repeated column). Keep one.`,
      });
    }
  }
  for (const k of ['delaySeconds', 'pollSeconds'] as const) {
    const v = pacing[k];
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number' && v[0] > v[1]) {
      out.push({ path: `pacing.${k}`, message: `pacing.${k} must be [min, max] with min ≤ max, not ${show(v)}.` });
    }
  }
  return out;
}

/**
 * Why a filter is not one predicate, or nothing. The filter is trusted SQL (the user's own
 * predicate), wrapped in parentheses and ANDed with the keyset bounds; so it must not end the
 * statement, hide the rest of it in a comment, or close the parenthesis it is wrapped in.
 * Text inside '…' literals and "…" identifiers is skipped ('' and "" escape a quote).
 */
export function filterProblems(filter: string): string[] {
  const out: string[] = [];
  const at = (i: number): string => `at character ${i + 1}`;
  if (filter.includes('\0')) out.push('it contains a NUL character.');
  let depth = 0;
  const opens: number[] = [];
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i];
    if (c === "'" || c === '"') {
      let j = i + 1;
      for (; j < filter.length; j++) {
        if (filter[j] === c) {
          if (filter[j + 1] === c) j++;
          else break;
        }
      }
      if (j >= filter.length) {
        out.push(
          c === "'"
            ? `the text literal opened by ' ${at(i)} is never closed (write a quote inside text as '').`
            : `the quoted name opened by " ${at(i)} is never closed (write a quote inside a name as "").`
        );
        break;
      }
      i = j;
      continue;
    }
    if (c === ';') out.push(`";" ${at(i)} would end the statement; a filter is one predicate, without ";".`);
    else if (c === '-' && filter[i + 1] === '-') {
      out.push(`"--" ${at(i)} starts a comment, which would hide the rest of the query (the key bounds); remove it.`);
      i++;
    } else if (c === '/' && filter[i + 1] === '*') {
      out.push(`"/*" ${at(i)} starts a comment, which would hide the rest of the query (the key bounds); remove it.`);
      i++;
    } else if (c === '*' && filter[i + 1] === '/') {
      out.push(`"*/" ${at(i)} ends a comment that was never opened; remove it.`);
      i++;
    } else if (c === '(') {
      depth++;
      opens.push(i);
    } else if (c === ')') {
      if (depth === 0) out.push(`")" ${at(i)} closes a parenthesis that was never opened (it would close the one the filter is wrapped in).`);
      else {
        depth--;
        opens.pop();
      }
    }
  }
  if (opens.length) out.push(`"(" ${at(opens[0])} is never closed.`);
  return out;
}

/** Legal but doubtful settings of a complete definition. */
function pacingWarnings(def: LoadDefinition, fromFlag: (path: string) => string | undefined): string[] {
  const out: string[] = [];
  const p = def.pacing;
  const label = (path: string): string => (fromFlag(path) ? `${path} (from ${fromFlag(path)})` : path);
  if (p.rowsPerJob !== 'auto' && p.rowsPerJob < WARN_ROWS_PER_JOB) {
    out.push(
      `${label('pacing.rowsPerJob')} is ${p.rowsPerJob}: about ${Math.ceil(1_000_000 / p.rowsPerJob).toLocaleString('en-US')} Bulk jobs per million rows (more than ${WARN_JOBS_PER_MILLION.toLocaleString('en-US')}). ` +
        `Each job uses at least one of the org's 15,000 Bulk API batches per 24 hours and about a dozen API calls, and a job of up to ${INTERNAL_BATCH_ROWS.toLocaleString('en-US')} rows is still one internal batch on one thread. Use "auto" or ${WARN_ROWS_PER_JOB} or more unless you measured a reason.`
    );
  }
  if (p.partitionBy === 'parent' && def.source.parentColumn && p.jobsInFlightPerPartition > 1) {
    out.push(
      `pacing.jobsInFlightPerPartition is ${p.jobsInFlightPerPartition} with partitionBy "parent": two jobs of one partition can then hold rows of the same parent at once and contend for its lock. 1 avoids that.`
    );
  }
  return out;
}

/**
 * A plan-time warning when a run would make more than 2,000 jobs per million rows (for the
 * planner, which knows the row count and the jobs it cut).
 */
export function jobCountWarning(totalRows: number, jobs: number): string | undefined {
  if (totalRows <= 0 || jobs <= 0) return undefined;
  const perMillion = (jobs * 1_000_000) / totalRows;
  if (perMillion <= WARN_JOBS_PER_MILLION) return undefined;
  return `The plan makes ${jobs.toLocaleString('en-US')} Bulk jobs for ${totalRows.toLocaleString('en-US')} rows (${Math.round(perMillion).toLocaleString('en-US')} per million, more than ${WARN_JOBS_PER_MILLION.toLocaleString('en-US')}); each uses at least one of the org's 15,000 Bulk API batches per 24 hours. Fewer partitions or larger jobs (up to ${INTERNAL_BATCH_ROWS.toLocaleString('en-US')} rows) spend less.`;
}

/** One InvalidDefinition error for all problems: one line per problem, the fixes as actions. */
function invalid(file: string | undefined, problems: DefinitionProblem[]): LoadError {
  const what = file ? `The load definition ${file}` : 'The load definition (from flags)';
  const n = problems.length;
  const message = `${what} has ${n === 1 ? 'a problem' : `${n} problems`}:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`;
  const actions = [...new Set(problems.map((p) => p.action).filter((a): a is string => Boolean(a)))];
  actions.push(`Fix ${n === 1 ? 'it' : 'each line'}; schemas/definition.json describes every field (README: "The load definition").`);
  actions.push(`Add "$schema": "${schemaHint()}" to the file to have your editor check it as you type.`);
  return new LoadError('InvalidDefinition', message, actions, { problems: problems.map(({ path, message: m }) => ({ path, message: m })) });
}

function schemaHint(): string {
  try {
    return definitionSchemaPath();
  } catch {
    return 'schemas/definition.json';
  }
}

/** Source columns to read: the key, the parent, and every mapped column. */
export function sourceColumns(def: LoadDefinition): string[] {
  const cols = new Set<string>([def.source.keyColumn]);
  if (def.source.parentColumn) cols.add(def.source.parentColumn);
  for (const c of def.source.columns ?? Object.keys(def.target.mapping)) cols.add(c);
  for (const c of Object.keys(def.target.mapping)) cols.add(c);
  return [...cols];
}
