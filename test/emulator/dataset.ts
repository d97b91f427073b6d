/*
 * Seeded Data Cloud datasets for the emulator: a child table (Opportunities) with a parent
 * column (Account external ids) and a realistic, skewed number of children per parent, plus
 * the target sObject definitions (Opportunity, Account) that describe serves.
 *
 *   const ds = generateDataset({ rows: 200_000, parents: 20_000, seed: 1 });
 *   const emu = await startEmulator({ seed: 1, ...datasetConfig(ds) });
 *
 * Children per parent: a few "house" parents each hold `hotShare` of all rows; the rest are
 * spread over the other parents with lognormal weights (sigma), every parent getting at least
 * one child while rows allow. Keys follow the seed's format (`externalOpp0000001`). With
 * `shuffle: true` (default) key order is independent of parent order, as in a real org;
 * `shuffle: false` keeps each parent's children contiguous in key order.
 *
 * The table is columnar (datacloud/table.ts): 2,000,000 rows of 10 columns take a few
 * hundred MB. `extraColumns: 1..3` adds Description__c (free text with commas, quotes,
 * apostrophes, some nulls), Probability__c (Integer) and LeadSource__c (picklist-like, some
 * nulls), mapped to Opportunity.Description, Probability and LeadSource; the first seven
 * columns are the same with or without them. External ids are declared
 * `caseSensitive: false` (Salesforce's default); `caseSensitiveExternalIds: true` flips it.
 */
import type { ConfigPatch, DcColumn, DcTable, SObjectDef } from './config.js';
import type { Emulator } from './server.js';
import { Rng } from './random.js';
import { ColumnarTable, DictColumn, InstantColumn, NumberColumn, tableLength, TextColumn, type Column } from './datacloud/table.js';

export type SkewOptions = {
  /** Number of "house" parents (default 1). */
  hotParents?: number;
  /** Share of all rows held by EACH hot parent (default 0.01). */
  hotShare?: number;
  /** Lognormal sigma of the other parents' weights (default 0.8; 0 = uniform). */
  sigma?: number;
};

export type DatasetOptions = {
  rows: number;
  parents: number;
  seed: number;
  /** Skew of children per parent; `false` = as uniform as possible. */
  skew?: SkewOptions | false;
  /** Key order independent of parent order (default true). */
  shuffle?: boolean;
  /** Prefix of child keys (default `externalOpp`), zero-padded to `keyDigits`. */
  keyPrefix?: string;
  /** Prefix of parent keys (default `externalAcc`). */
  parentPrefix?: string;
  /** Digits of the zero-padded numbers (default 7, as in the seed). */
  keyDigits?: number;
  /** Data Cloud object name (default `ExtOpportunities__dlm`). */
  tableName?: string;
  /** 0 (default) to 3 more columns: Description__c, Probability__c, LeadSource__c. */
  extraColumns?: number;
  /** Declare the External ID fields case sensitive (default false, as Salesforce creates them). */
  caseSensitiveExternalIds?: boolean;
};

export type Dataset = {
  options: Required<Omit<DatasetOptions, 'skew'>> & { skew: Required<SkewOptions> | false };
  /** The Data Cloud table (columns and rows). */
  table: DcTable;
  /** Target sObjects for describe: Opportunity and Account. */
  sobjects: Record<string, SObjectDef>;
  /** Parent keys, in key order. */
  parentKeys: string[];
  /** Same array as parentKeys (short name). */
  parents: string[];
  /** Children per parent, aligned with parentKeys. */
  childCounts: number[];
  /** Keys of the hot ("house") parents. */
  hotParents: string[];
  /** Column names, for definitions and tests (`extra`: the extra columns generated). */
  columns: { key: string; parent: string; name: string; stage: string; closeDate: string; amount: string; lastModified: string; extra: string[] };
};

/** The extra columns, in order, with their target fields. */
export const EXTRA_COLUMNS: Array<DcColumn & { target: string }> = [
  { name: 'Description__c', type: 'Varchar', target: 'Description' },
  { name: 'Probability__c', type: 'Integer', target: 'Probability' },
  { name: 'LeadSource__c', type: 'Varchar', target: 'LeadSource' },
];

const WORDS = [
  'renewal', 'upsell', 'pilot', 'enterprise', 'regional', 'expansion', 'migration', 'support', 'licence', 'services', 'annual', 'multi-year',
  'discount', 'partner', 'channel', 'direct', 'cloud', 'on-prem', 'analytics', 'platform', 'onboarding', 'training', 'add-on', 'bundle',
];
const PHRASES = ['3-year term', 'Q3 close', "customer's request", 'signed "as is"', 'via reseller; net 30', 'see notes', 'café & co', 'priority: high'];
const LEAD_SOURCES: Array<string | null> = ['Web', 'Phone Inquiry', 'Partner Referral', 'Purchased List', 'Trade Show', 'Word of mouth', 'Other', null];
const PROBABILITIES = Array.from({ length: 21 }, (_, i) => i * 5);

function description(rng: Rng): string | null {
  if (rng.next() < 0.05) return null;
  const n = 2 + Math.floor(rng.next() * 10);
  const words: string[] = [];
  for (let k = 0; k < n; k++) words.push(WORDS[Math.floor(rng.next() * WORDS.length)]);
  words[0] = words[0][0].toUpperCase() + words[0].slice(1);
  const tail = rng.next() < 0.4 ? `, ${PHRASES[Math.floor(rng.next() * PHRASES.length)]}` : '';
  return `${words.join(' ')}${tail}`;
}

const STAGES = ['Prospecting', 'Qualification', 'Needs Analysis', 'Value Proposition', 'Negotiation/Review', 'Closed Won', 'Closed Lost'];

function key(prefix: string, n: number, digits: number): string {
  return prefix + String(n).padStart(digits, '0');
}

/** Split `total` over weights, integer counts, each at least `min` (largest remainder). */
function apportion(total: number, weights: number[], min: number): number[] {
  const n = weights.length;
  const counts = new Array<number>(n).fill(min);
  let left = total - min * n;
  if (left <= 0) {
    // Not enough rows for everyone: the first `total` parents (by weight order) get one.
    counts.fill(0);
    const order = weights.map((w, i) => [w, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    for (let k = 0; k < Math.min(total, n); k++) counts[order[k][1]] = 1;
    return counts;
  }
  const sum = weights.reduce((a, b) => a + b, 0) || 1;
  const rema: Array<[number, number]> = [];
  let given = 0;
  for (let i = 0; i < n; i++) {
    const exact = (left * weights[i]) / sum;
    const whole = Math.floor(exact);
    counts[i] += whole;
    given += whole;
    rema.push([exact - whole, i]);
  }
  left -= given;
  rema.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; k < left; k++) counts[rema[k % n][1]]++;
  return counts;
}

export function generateDataset(opts: DatasetOptions): Dataset {
  const rows = Math.max(0, Math.floor(opts.rows));
  const parents = Math.max(1, Math.floor(opts.parents));
  const digits = opts.keyDigits ?? 7;
  const keyPrefix = opts.keyPrefix ?? 'externalOpp';
  const parentPrefix = opts.parentPrefix ?? 'externalAcc';
  const tableName = opts.tableName ?? 'ExtOpportunities__dlm';
  const shuffle = opts.shuffle ?? true;
  const extraColumns = Math.max(0, Math.min(EXTRA_COLUMNS.length, Math.floor(opts.extraColumns ?? 0)));
  const caseSensitive = opts.caseSensitiveExternalIds ?? false;
  const skew: Required<SkewOptions> | false =
    opts.skew === false ? false : { hotParents: opts.skew?.hotParents ?? 1, hotShare: opts.skew?.hotShare ?? 0.01, sigma: opts.skew?.sigma ?? 0.8 };
  if (rows >= 10 ** digits || parents >= 10 ** digits) throw new Error(`generateDataset: ${digits} digits are too few for ${Math.max(rows, parents)} keys`);
  const rng = new Rng(opts.seed);

  // 1. Children per parent.
  const parentKeys = Array.from({ length: parents }, (_, i) => key(parentPrefix, i + 1, digits));
  let childCounts: number[];
  const hotIdx: number[] = [];
  if (!skew) {
    childCounts = apportion(rows, new Array<number>(parents).fill(1), rows >= parents ? 1 : 0);
  } else {
    const nHot = Math.min(Math.max(0, Math.floor(skew.hotParents)), parents - 1);
    const pool = Array.from({ length: parents }, (_, i) => i);
    for (let k = 0; k < nHot; k++) {
      const j = k + Math.floor(rng.next() * (parents - k));
      [pool[k], pool[j]] = [pool[j], pool[k]];
      hotIdx.push(pool[k]);
    }
    hotIdx.sort((a, b) => a - b);
    const hotSet = new Set(hotIdx);
    const others = parents - nHot;
    const perHot = Math.min(Math.round(rows * Math.max(0, skew.hotShare)), Math.floor((rows - Math.min(rows, others)) / Math.max(1, nHot)));
    childCounts = new Array<number>(parents).fill(0);
    for (const h of hotIdx) childCounts[h] = Math.max(0, perHot);
    const rest = rows - perHot * nHot;
    const weights: number[] = [];
    for (let i = 0; i < parents; i++) if (!hotSet.has(i)) weights.push(skew.sigma > 0 ? Math.exp(skew.sigma * rng.normal()) : 1);
    const otherCounts = apportion(rest, weights, rest >= others ? 1 : 0);
    let k = 0;
    for (let i = 0; i < parents; i++) if (!hotSet.has(i)) childCounts[i] = otherCounts[k++];
  }

  // 2. Parent of each row, in key order.
  const parentOf = new Int32Array(rows);
  let pos = 0;
  for (let p = 0; p < parents; p++) for (let c = 0; c < childCounts[p]; c++) parentOf[pos++] = p;
  if (shuffle) {
    for (let i = rows - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      const t = parentOf[i];
      parentOf[i] = parentOf[j];
      parentOf[j] = t;
    }
  }

  // 3. Rows, column by column.
  const cols = {
    key: 'ExternalId__c',
    parent: 'AccountExternalId__c',
    name: 'Name__c',
    stage: 'StageName__c',
    closeDate: 'CloseDate__c',
    amount: 'Amount__c',
    lastModified: 'LastModified__c',
    extra: EXTRA_COLUMNS.slice(0, extraColumns).map((c) => c.name),
  };
  const day0 = Date.UTC(2025, 0, 1);
  const days = Array.from({ length: 730 }, (_, d) => new Date(day0 + d * 86_400_000).toISOString().slice(0, 10));
  const keys = new TextColumn();
  const names = new TextColumn();
  const parentCodes = DictColumn.codesFor(rows, parents);
  const stages = new Uint8Array(rows);
  const closes = new Uint16Array(rows);
  const amounts = new Float64Array(rows);
  const modified = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const num = String(i + 1).padStart(digits, '0');
    const sec = Math.floor(rng.next() * 86_400);
    keys.push(keyPrefix + num);
    parentCodes[i] = parentOf[i];
    names.push(`Opportunity ${num}`);
    stages[i] = Math.floor(rng.next() * STAGES.length);
    closes[i] = Math.floor(rng.next() * 730);
    amounts[i] = Math.round(Math.exp(8 + 1.2 * rng.normal()) * 100) / 100;
    modified[i] = day0 + Math.floor(rng.next() * 730) * 86_400_000 + sec * 1000;
  }
  const data: Record<string, Column> = {
    [cols.key]: keys.seal(),
    [cols.parent]: new DictColumn(parentCodes, parentKeys),
    [cols.name]: names.seal(),
    [cols.stage]: new DictColumn(stages, STAGES),
    [cols.closeDate]: new DictColumn(closes, days),
    [cols.amount]: new NumberColumn(amounts),
    [cols.lastModified]: new InstantColumn(modified),
  };
  if (extraColumns > 0) {
    // A separate stream, so the first seven columns do not depend on the width.
    const xr = new Rng((opts.seed ^ 0x0e7a_c01) >>> 0);
    const desc = new TextColumn();
    const prob = new Uint8Array(rows);
    const lead = new Uint8Array(rows);
    for (let i = 0; i < rows; i++) {
      desc.push(description(xr));
      prob[i] = Math.floor(xr.next() * PROBABILITIES.length);
      lead[i] = Math.floor(xr.next() * LEAD_SOURCES.length);
    }
    data.Description__c = desc.seal();
    data.Probability__c = new DictColumn(prob, PROBABILITIES);
    data.LeadSource__c = new DictColumn(lead, LEAD_SOURCES);
  }

  const columns: DcColumn[] = [
    { name: cols.key, type: 'Varchar' },
    { name: cols.parent, type: 'Varchar' },
    { name: cols.name, type: 'Varchar' },
    { name: cols.stage, type: 'Varchar' },
    { name: cols.closeDate, type: 'Date' },
    { name: cols.amount, type: 'Numeric' },
    { name: cols.lastModified, type: 'Timestamp' },
    ...EXTRA_COLUMNS.slice(0, extraColumns).map(({ name, type }) => ({ name, type })),
  ];
  const table: DcTable = new ColumnarTable(tableName, columns, data);

  return {
    options: { rows, parents, seed: opts.seed, skew, shuffle, keyPrefix, parentPrefix, keyDigits: digits, tableName, extraColumns, caseSensitiveExternalIds: caseSensitive },
    table,
    sobjects: targetSObjects({ extraColumns, caseSensitive }),
    parentKeys,
    parents: parentKeys,
    childCounts,
    hotParents: hotIdx.map((i) => parentKeys[i]),
    columns: cols,
  };
}

/**
 * Opportunity (upsert target, External_ID__c) and Account (parent, External_ID__c); with
 * extra columns, Opportunity also has Description, Probability and LeadSource.
 */
export function targetSObjects(opts: { extraColumns?: number; caseSensitive?: boolean } = {}): Record<string, SObjectDef> {
  const caseSensitive = opts.caseSensitive ?? false;
  const extra = [
    { name: 'Description', type: 'textarea' as const, length: 32_000 },
    { name: 'Probability', type: 'percent' as const },
    { name: 'LeadSource', type: 'picklist' as const, length: 255 },
  ].slice(0, Math.max(0, Math.min(3, opts.extraColumns ?? 0)));
  return {
    Opportunity: {
      name: 'Opportunity',
      label: 'Opportunity',
      fields: [
        { name: 'Id', type: 'id' },
        { name: 'External_ID__c', label: 'External ID', type: 'string', length: 255, externalId: true, idLookup: true, unique: true, caseSensitive },
        { name: 'Name', type: 'string', length: 120, nillable: false },
        { name: 'StageName', type: 'picklist', length: 255, nillable: false },
        { name: 'CloseDate', type: 'date', nillable: false },
        { name: 'Amount', type: 'currency' },
        { name: 'AccountId', label: 'Account ID', type: 'reference', referenceTo: ['Account'], relationshipName: 'Account' },
        ...extra,
      ],
    },
    Account: {
      name: 'Account',
      label: 'Account',
      fields: [
        { name: 'Id', type: 'id' },
        { name: 'Name', type: 'string', length: 255, nillable: false },
        { name: 'External_ID__c', label: 'External ID', type: 'string', length: 255, externalId: true, idLookup: true, unique: true, caseSensitive },
      ],
    },
  };
}

/** The config patch that serves the dataset: `startEmulator({ ...datasetConfig(ds), ... })`. */
export function datasetConfig(ds: Dataset): ConfigPatch {
  return { sobjects: ds.sobjects, dataCloud: { tables: { [ds.table.name]: ds.table } } };
}

/** Put the dataset's parents (Accounts) into the target store, as if they already existed. */
export function seedParents(emu: Emulator, ds: Dataset, object = 'Account'): void {
  const at = emu.clock.now();
  for (const k of ds.parentKeys) emu.target.upsert(object, k, { External_ID__c: k, Name: `Account ${k}` }, at);
}

/** Children per parent as a sorted histogram summary (for tests and the CLI banner). */
export function datasetSummary(ds: Dataset): { rows: number; parents: number; maxChildren: number; medianChildren: number; hotParents: Array<{ key: string; rows: number }> } {
  const sorted = ds.childCounts.slice().sort((a, b) => a - b);
  return {
    rows: tableLength(ds.table),
    parents: ds.parentKeys.length,
    maxChildren: sorted[sorted.length - 1] ?? 0,
    medianChildren: sorted[Math.floor(sorted.length / 2)] ?? 0,
    hotParents: ds.hotParents.map((k) => ({ key: k, rows: ds.childCounts[ds.parentKeys.indexOf(k)] })),
  };
}

/** The load definition that maps the generated table onto Opportunity (demo, tests, benchmark). */
export function opportunityDefinition(table = 'ExtOpportunities__dlm', pacing: Record<string, unknown> = {}, extraColumns = 0): Record<string, unknown> {
  return {
    version: 1,
    source: { object: table, keyColumn: 'ExternalId__c', parentColumn: 'AccountExternalId__c' },
    target: {
      object: 'Opportunity',
      externalIdField: 'External_ID__c',
      mapping: {
        ExternalId__c: 'External_ID__c',
        Name__c: 'Name',
        StageName__c: 'StageName',
        CloseDate__c: 'CloseDate',
        Amount__c: 'Amount',
        AccountExternalId__c: 'Account.External_ID__c',
        ...Object.fromEntries(EXTRA_COLUMNS.slice(0, extraColumns).map((c) => [c.name, c.target])),
      },
    },
    pacing,
  };
}
