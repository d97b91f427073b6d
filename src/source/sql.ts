/*
 * Data 360 SQL text: quoting, keyset predicates and the page / re-read queries.
 * Identifiers are always double-quoted (Data Cloud names are mixed case), literals
 * single-quoted, embedded quotes doubled. Nothing unvalidated is spliced in, except the
 * user's own `filter`, which is wrapped in parentheses.
 */

export type SqlValue = string | number | boolean | null | bigint;
export type KeyValue = string | number;

const IDENT = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Throw a clear Error unless `name` is a sane Data Cloud API name (`[A-Za-z][A-Za-z0-9_]*`). */
export function assertIdentifier(name: unknown, what: string): asserts name is string {
  if (typeof name !== 'string' || !IDENT.test(name) || name.length > 255) {
    throw new Error(
      `${what} ${JSON.stringify(name)} is not a valid Data Cloud API name: use letters, digits and underscores, starting with a letter (no quotes, spaces, dots or semicolons).`
    );
  }
}

/** `"name"`, with `"` doubled. */
export function quoteIdent(name: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new Error('An SQL identifier must be a non-empty string.');
  if (name.includes('\0')) throw new Error('An SQL identifier must not contain NUL.');
  return `"${name.replace(/"/g, '""')}"`;
}

/** A literal: `'text'` with `'` doubled, plain decimals for numbers, TRUE/FALSE, NULL. */
export function quoteLiteral(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`Cannot write ${value} as an SQL literal.`);
    return plainDecimal(String(value));
  }
  if (typeof value !== 'string') throw new Error(`Cannot write a ${typeof value} as an SQL literal.`);
  if (value.includes('\0')) throw new Error('An SQL string literal must not contain NUL.');
  return `'${value.replace(/'/g, "''")}'`;
}

const NUMERIC_TYPES = /^(numeric|decimal|double|float|real|integer|int|bigint|smallint|tinyint|number)/i;

/** A literal for a value of a column of Data Cloud type `type`: numbers (exact decimal text too) unquoted for numeric columns. */
export function literalFor(value: KeyValue, type: string | undefined): string {
  if (typeof value === 'string' && type && NUMERIC_TYPES.test(type) && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value.trim())) {
    return plainDecimal(value.trim());
  }
  return quoteLiteral(value);
}

/**
 * A decimal string without exponent: "1e-7" → "0.0000001", "-1.5E+21" → "-1500000000000000000000".
 * Input must be a decimal number in JavaScript/SQL notation.
 */
export function plainDecimal(text: string): string {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) throw new Error(`Not a decimal number: ${text}`);
  const sign = m[1] === '-' ? '-' : '';
  let intPart = m[2];
  let frac = m[3] ?? '';
  const exp = m[4] ? Number(m[4]) : 0;
  if (exp > 0) {
    const move = frac.slice(0, exp).padEnd(exp, '0');
    intPart += move;
    frac = frac.slice(exp);
  } else if (exp < 0) {
    const n = -exp;
    const padded = intPart.padStart(n + 1, '0');
    frac = padded.slice(padded.length - n) + frac;
    intPart = padded.slice(0, padded.length - n);
  }
  intPart = intPart.replace(/^0+(?=\d)/, '') || '0';
  frac = frac.replace(/0+$/, '');
  const out = frac ? `${intPart}.${frac}` : intPart;
  return out === '0' ? '0' : sign + out;
}

function checkKeys(columns: string[], values: unknown[], what: string): void {
  if (columns.length === 0) throw new Error(`${what}: at least one key column is needed.`);
  if (columns.length !== values.length) throw new Error(`${what}: ${columns.length} key columns but ${values.length} values.`);
  for (const v of values) {
    if (v === null || v === undefined) throw new Error(`${what}: key values must not be null.`);
  }
}

/**
 * Rows strictly after `after` in (c1, c2, …) order:
 * `(("c1" > v1) OR ("c1" = v1 AND "c2" > v2) …)`.
 */
export function keysetAfter(columns: string[], after: KeyValue[], types?: Array<string | undefined>): string {
  checkKeys(columns, after, 'keysetAfter');
  return compositeCompare(columns, after, '>', '>', types);
}

/**
 * Rows up to and including `upTo` in (c1, c2, …) order:
 * `(("c1" < v1) OR ("c1" = v1 AND "c2" <= v2))`; for one column `("c1" <= v1)`.
 */
export function keysetUpTo(columns: string[], upTo: KeyValue[], types?: Array<string | undefined>): string {
  checkKeys(columns, upTo, 'keysetUpTo');
  return compositeCompare(columns, upTo, '<', '<=', types);
}

/** Rows whose (c1, c2, …) equal `values` exactly. */
export function keysetEqual(columns: string[], values: KeyValue[], types?: Array<string | undefined>): string {
  checkKeys(columns, values, 'keysetEqual');
  return `(${columns.map((c, i) => `${quoteIdent(c)} = ${literalFor(values[i], types?.[i])}`).join(' AND ')})`;
}

function compositeCompare(columns: string[], values: KeyValue[], strict: string, last: string, types?: Array<string | undefined>): string {
  const lit = (j: number): string => literalFor(values[j], types?.[j]);
  const terms: string[] = [];
  for (let i = 0; i < columns.length; i++) {
    const parts: string[] = [];
    for (let j = 0; j < i; j++) parts.push(`${quoteIdent(columns[j])} = ${lit(j)}`);
    parts.push(`${quoteIdent(columns[i])} ${i === columns.length - 1 ? last : strict} ${lit(i)}`);
    terms.push(`(${parts.join(' AND ')})`);
  }
  return terms.length === 1 ? terms[0] : `(${terms.join(' OR ')})`;
}

export type PageQuery = {
  table: string;
  columns: string[];
  /** Keyset columns, most significant first; the page is ordered by them. Added to the SELECT if missing. */
  keyColumns: string[];
  /** Exclusive lower bound (the last key of the previous page). */
  after?: KeyValue[];
  /** Inclusive upper bound (the partition's end). */
  upTo?: KeyValue[];
  /** The user's filter, raw SQL; wrapped in parentheses. */
  filter?: string;
  limit: number;
};

/** `SELECT "c"… FROM "T" WHERE (after) AND (upTo) AND (filter) ORDER BY "k1", "k2" LIMIT n`. */
export function buildPageQuery(q: PageQuery): string {
  assertIdentifier(q.table, 'Table');
  for (const c of q.columns) assertIdentifier(c, 'Column');
  for (const k of q.keyColumns) assertIdentifier(k, 'Key column');
  if (q.keyColumns.length === 0) throw new Error('buildPageQuery: at least one key column is needed.');
  if (!Number.isSafeInteger(q.limit) || q.limit <= 0) throw new Error(`buildPageQuery: limit must be a positive integer, got ${q.limit}.`);
  const cols = [...q.columns, ...q.keyColumns.filter((k) => !q.columns.includes(k))];
  const preds: string[] = [];
  if (q.after) preds.push(keysetAfter(q.keyColumns, q.after));
  if (q.upTo) preds.push(keysetUpTo(q.keyColumns, q.upTo));
  if (q.filter && q.filter.trim()) preds.push(`(${q.filter.trim()})`);
  return (
    `SELECT ${cols.map(quoteIdent).join(', ')} FROM ${quoteIdent(q.table)}` +
    (preds.length ? ` WHERE ${preds.join(' AND ')}` : '') +
    ` ORDER BY ${q.keyColumns.map(quoteIdent).join(', ')} LIMIT ${q.limit}`
  );
}

export type InQuery = {
  table: string;
  columns: string[];
  keyColumn: string;
  /** Keys to read (the caller chunks; duplicates are dropped). */
  keys: KeyValue[];
  /** Data Cloud type of the key column (numeric keys are written unquoted). */
  keyType?: string;
  filter?: string;
};

/** `SELECT "c"… FROM "T" WHERE "k" IN ('a', 'b') AND (filter) ORDER BY "k"`. */
export function buildInQuery(q: InQuery): string {
  assertIdentifier(q.table, 'Table');
  for (const c of q.columns) assertIdentifier(c, 'Column');
  assertIdentifier(q.keyColumn, 'Key column');
  const keys = [...new Set(q.keys)];
  if (keys.length === 0) throw new Error('buildInQuery: no keys to read.');
  for (const k of keys) if (k === null || k === undefined) throw new Error('buildInQuery: keys must not be null.');
  const cols = q.columns.includes(q.keyColumn) ? q.columns : [...q.columns, q.keyColumn];
  const preds = [`${quoteIdent(q.keyColumn)} IN (${keys.map((k) => literalFor(k, q.keyType)).join(', ')})`];
  if (q.filter && q.filter.trim()) preds.push(`(${q.filter.trim()})`);
  return `SELECT ${cols.map(quoteIdent).join(', ')} FROM ${quoteIdent(q.table)} WHERE ${preds.join(' AND ')} ORDER BY ${quoteIdent(q.keyColumn)}`;
}
