/*
 * Storage of the emulator's Data Cloud tables. A table given as row objects (`DcTable.rows`,
 * handy in tests) is read in place; a big generated table is a `ColumnarTable`: one compact
 * column per field, no row objects, so millions of rows fit in a few hundred MB:
 *
 *   TextColumn     UTF-8 bytes of every value in one growing buffer + end offsets (nulls flagged)
 *   DictColumn     small-cardinality values as 1/2/4-byte codes into a dictionary
 *   NumberColumn   Float64Array (NaN = null)
 *   InstantColumn  epoch ms in a Float64Array, read back as the ISO text it was built from
 *   ValueColumn    a plain array (any value, e.g. exact decimals beyond 2^53 kept as text)
 *
 * The SQL engine reads every table through `tableData(table)`: a row count and `get(i)` per
 * column. Reading `rows` of a ColumnarTable builds row objects once (for tests that look at
 * or push into them) and from then on the table is read from those rows.
 */
import type { DcColumn, DcTable } from '../config.js';

export type Value = string | number | boolean | null;
export type DcRow = Record<string, Value>;

export interface Column {
  readonly length: number;
  /** True when every value is text without UTF-16 units ≥ U+D800 (native string order = code-point order). */
  readonly plainText?: boolean;
  get(i: number): Value;
  /** Values at positions idx[from..to) (one tight loop per column class: pages are built column by column). */
  gather(idx: Int32Array, from: number, to: number): Value[];
}

type Slicer = { latin1Slice(start: number, end: number): string; utf8Slice(start: number, end: number): string };

function gatherBy(col: Column, idx: Int32Array, from: number, to: number): Value[] {
  const out = new Array<Value>(Math.max(0, to - from));
  for (let k = from; k < to; k++) out[k - from] = col.get(idx[k]);
  return out;
}

/** Text values packed as UTF-8 into one buffer; `get` decodes one value. */
export class TextColumn implements Column {
  private buf = Buffer.allocUnsafe(1 << 16);
  private ends = new Uint32Array(1024);
  private nulls?: Uint8Array;
  private used = 0;
  private n = 0;
  private ascii = true;

  public get length(): number {
    return this.n;
  }

  public get plainText(): boolean {
    return this.ascii;
  }

  public push(v: string | null): void {
    if (this.n === this.ends.length) {
      const e = new Uint32Array(this.ends.length * 2);
      e.set(this.ends);
      this.ends = e;
      if (this.nulls) {
        const z = new Uint8Array(e.length);
        z.set(this.nulls);
        this.nulls = z;
      }
    }
    if (v === null) {
      this.nulls ??= new Uint8Array(this.ends.length);
      this.nulls[this.n] = 1;
    } else {
      const max = v.length * 3;
      if (this.used + max > this.buf.length) {
        const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + max));
        this.buf.copy(b, 0, 0, this.used);
        this.buf = b;
      }
      const written = this.buf.write(v, this.used, 'utf8');
      if (this.ascii && written !== v.length) this.ascii = false;
      this.used += written;
    }
    this.ends[this.n++] = this.used;
  }

  /** Release the spare capacity once the column is complete. */
  public seal(): this {
    this.buf = Buffer.from(this.buf.subarray(0, this.used));
    this.ends = this.ends.slice(0, this.n);
    if (this.nulls) this.nulls = this.nulls.slice(0, this.n);
    return this;
  }

  public get(i: number): Value {
    if (this.nulls?.[i]) return null;
    const s = i === 0 ? 0 : this.ends[i - 1];
    // latin1Slice/utf8Slice: Buffer's own decoders, without toString's argument handling.
    const b = this.buf as unknown as Slicer;
    return this.ascii ? b.latin1Slice(s, this.ends[i]) : b.utf8Slice(s, this.ends[i]);
  }

  public gather(idx: Int32Array, from: number, to: number): Value[] {
    const out = new Array<Value>(Math.max(0, to - from));
    const b = this.buf as unknown as Slicer;
    const { ends, nulls, ascii } = this;
    for (let k = from; k < to; k++) {
      const i = idx[k];
      if (nulls?.[i]) out[k - from] = null;
      else {
        const s = i === 0 ? 0 : ends[i - 1];
        out[k - from] = ascii ? b.latin1Slice(s, ends[i]) : b.utf8Slice(s, ends[i]);
      }
    }
    return out;
  }
}

/** Values drawn from a small set, stored as codes. */
export class DictColumn implements Column {
  public readonly plainText: boolean;
  public constructor(public readonly codes: Uint8Array | Uint16Array | Uint32Array, public readonly dict: Value[]) {
    this.plainText = dict.every((v) => v === null || (typeof v === 'string' && !/[\ud800-\uffff]/.test(v)));
  }
  public get length(): number {
    return this.codes.length;
  }
  public get(i: number): Value {
    return this.dict[this.codes[i]];
  }
  public gather(idx: Int32Array, from: number, to: number): Value[] {
    const out = new Array<Value>(Math.max(0, to - from));
    const { codes, dict } = this;
    for (let k = from; k < to; k++) out[k - from] = dict[codes[idx[k]]];
    return out;
  }
  public static codesFor(n: number, distinct: number): Uint8Array | Uint16Array | Uint32Array {
    return distinct <= 256 ? new Uint8Array(n) : distinct <= 65_536 ? new Uint16Array(n) : new Uint32Array(n);
  }
}

/** Doubles; NaN stands for null. */
export class NumberColumn implements Column {
  public constructor(private readonly values: Float64Array) {}
  public get length(): number {
    return this.values.length;
  }
  public get(i: number): Value {
    const v = this.values[i];
    return Number.isNaN(v) ? null : v;
  }
  public gather(idx: Int32Array, from: number, to: number): Value[] {
    const out = new Array<Value>(Math.max(0, to - from));
    const values = this.values;
    for (let k = from; k < to; k++) {
      const v = values[idx[k]];
      out[k - from] = Number.isNaN(v) ? null : v;
    }
    return out;
  }
}

/** Instants as epoch ms, read back as `YYYY-MM-DDTHH:MM:SS.sssZ`; NaN stands for null. */
export class InstantColumn implements Column {
  public constructor(private readonly ms: Float64Array) {}
  public get length(): number {
    return this.ms.length;
  }
  public get(i: number): Value {
    const v = this.ms[i];
    return Number.isNaN(v) ? null : new Date(v).toISOString();
  }
  public gather(idx: Int32Array, from: number, to: number): Value[] {
    return gatherBy(this, idx, from, to);
  }
}

export class ValueColumn implements Column {
  public constructor(private readonly values: Value[]) {}
  public get length(): number {
    return this.values.length;
  }
  public get(i: number): Value {
    return this.values[i] ?? null;
  }
  public gather(idx: Int32Array, from: number, to: number): Value[] {
    return gatherBy(this, idx, from, to);
  }
}

/** A table held as columns. Serialises (e.g. in GET /__emulator/config) as its schema and row count. */
export class ColumnarTable implements DcTable {
  public readonly name: string;
  public readonly columns: DcColumn[];
  private readonly data: Map<string, Column>;
  private readonly count: number;
  private materialized?: DcRow[];

  public constructor(name: string, columns: DcColumn[], data: Record<string, Column>) {
    this.name = name;
    this.columns = columns;
    this.data = new Map(columns.map((c) => [c.name, data[c.name]]));
    const lengths = new Set(columns.map((c) => data[c.name]?.length ?? -1));
    if (lengths.size !== 1 || lengths.has(-1)) throw new Error(`ColumnarTable ${name}: every column needs data of the same length`);
    this.count = [...lengths][0];
  }

  /** Row objects, built on first use; afterwards they are the table (pushes and edits count). */
  public get rows(): DcRow[] {
    if (!this.materialized) {
      const cols = this.columns.map((c) => [c.name, this.data.get(c.name)!] as const);
      const out = new Array<DcRow>(this.count);
      for (let i = 0; i < this.count; i++) {
        const r: DcRow = {};
        for (const [name, col] of cols) r[name] = col.get(i);
        out[i] = r;
      }
      this.materialized = out;
    }
    return this.materialized;
  }

  public set rows(rows: DcRow[]) {
    this.materialized = rows;
  }

  public get isMaterialized(): boolean {
    return this.materialized !== undefined;
  }

  public get length(): number {
    return this.materialized ? this.materialized.length : this.count;
  }

  public column(name: string): Column | undefined {
    return this.data.get(name);
  }

  public toJSON(): Record<string, unknown> {
    return { name: this.name, columns: this.columns, rowCount: this.length };
  }
}

/** What the SQL engine reads: the row count, a column accessor, and an identity for caches. */
export type TableData = {
  length: number;
  column(name: string): Column;
  /** Changes whenever the underlying storage does (rows replaced, materialised, pushed to). */
  version: unknown;
};

class RowColumn implements Column {
  public constructor(private readonly rows: DcRow[], private readonly name: string) {}
  public get length(): number {
    return this.rows.length;
  }
  public get(i: number): Value {
    return this.rows[i][this.name] ?? null;
  }
  public gather(idx: Int32Array, from: number, to: number): Value[] {
    const out = new Array<Value>(Math.max(0, to - from));
    const { rows, name } = this;
    for (let k = from; k < to; k++) out[k - from] = rows[idx[k]][name] ?? null;
    return out;
  }
}

export function tableLength(table: DcTable): number {
  return table instanceof ColumnarTable ? table.length : table.rows.length;
}

export function tableData(table: DcTable): TableData {
  if (table instanceof ColumnarTable && !table.isMaterialized) {
    return { length: table.length, column: (name) => table.column(name) ?? new ValueColumn([]), version: table };
  }
  const rows = table.rows as DcRow[];
  return { length: rows.length, column: (name) => new RowColumn(rows, name), version: rows };
}

/** A table without its rows, for JSON views of the config. */
export function tableSummary(table: DcTable): Record<string, unknown> {
  return { name: table.name, columns: table.columns, rowCount: tableLength(table) };
}
