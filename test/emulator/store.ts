/*
 * The target org's records, per sObject, keyed by external id. Counts every write to a row,
 * so tests can check that nothing was lost and nothing written twice.
 *
 * Values are the exact text of the CSV cells last written (Bulk rules: an empty cell leaves a
 * field as it was, `#N/A` clears it to ''). External ids match with the object's rule:
 * case-insensitive unless its External ID field is case sensitive (`caseRule`).
 *
 * Compact for millions of records: per object one Map from the (folded) key to a slot, and
 * per slot the original key, one packed string of all field values, and typed arrays for the
 * id number, write count and times. `table(object)` is a Map-like view that builds
 * StoredRecord objects on access.
 */
export type StoredRecord = {
  id: string;
  /** The record's fields as the cells of the CSV rows that wrote them. */
  fields: Record<string, string>;
  /** Resolved lookups: reference field (e.g. AccountId) → parent record id, from `Account.External_ID__c` cells. */
  refs?: Record<string, string>;
  writes: number;
  createdAt: number;
  updatedAt: number;
};

const REF = '\u0001ref:';

class Grow<T extends Float64Array | Int32Array> {
  public a: T;
  public constructor(private readonly make: (n: number) => T) {
    this.a = make(1024);
  }
  public set(i: number, v: number): void {
    if (i >= this.a.length) {
      const b = this.make(Math.max(this.a.length * 2, i + 1));
      b.set(this.a);
      this.a = b;
    }
    this.a[i] = v;
  }
}

function encode(values: Array<string | undefined>): string {
  let s = '';
  for (const v of values) s += v === undefined ? '-' : `${v.length.toString(36)}:${v}`;
  return s;
}

function decode(s: string, n: number): Array<string | undefined> {
  const out = new Array<string | undefined>(n);
  let p = 0;
  for (let k = 0; k < n && p < s.length; k++) {
    if (s.charCodeAt(p) === 45 /* - */) {
      p++;
      continue;
    }
    const colon = s.indexOf(':', p);
    const len = parseInt(s.slice(p, colon), 36);
    out[k] = s.slice(colon + 1, colon + 1 + len);
    p = colon + 1 + len;
  }
  return out;
}

class ObjectTable {
  public readonly index = new Map<string, number>();
  private readonly keys: Array<string | undefined> = [];
  private readonly packed: string[] = [];
  private readonly names: string[] = [];
  private readonly pos = new Map<string, number>();
  private readonly seqs = new Grow((n) => new Int32Array(n));
  private readonly writeCounts = new Grow((n) => new Int32Array(n));
  private readonly created = new Grow((n) => new Float64Array(n));
  private readonly updated = new Grow((n) => new Float64Array(n));

  public constructor(public caseSensitive: boolean) {}

  public fold(key: string): string {
    return this.caseSensitive ? key : key.toLowerCase();
  }

  /** Re-key after the matching rule changed. */
  public setRule(caseSensitive: boolean): void {
    if (caseSensitive === this.caseSensitive) return;
    this.caseSensitive = caseSensitive;
    this.index.clear();
    this.keys.forEach((k, slot) => {
      if (k !== undefined) this.index.set(this.fold(k), slot);
    });
  }

  private position(name: string): number {
    let p = this.pos.get(name);
    if (p === undefined) {
      p = this.names.length;
      this.names.push(name);
      this.pos.set(name, p);
    }
    return p;
  }

  public slotOf(key: string): number | undefined {
    return this.index.get(this.fold(key));
  }

  public write(key: string, fields: Record<string, string>, refs: Record<string, string> | undefined, at: number, newSeq: (slot: number) => number): { seq: number; created: boolean } {
    const k = this.fold(key);
    let slot = this.index.get(k);
    const created = slot === undefined;
    let values: Array<string | undefined>;
    if (slot === undefined) {
      slot = this.keys.length;
      this.keys.push(key);
      this.index.set(k, slot);
      this.seqs.set(slot, newSeq(slot));
      this.writeCounts.set(slot, 0);
      this.created.set(slot, at);
      values = [];
    } else values = decode(this.packed[slot], this.names.length);
    for (const name in fields) {
      const v = fields[name];
      const p = this.position(name);
      if (v === '' && !created) continue; // an empty cell leaves the field as it was
      values[p] = v === '#N/A' ? '' : v;
    }
    if (refs) for (const name in refs) values[this.position(REF + name)] = refs[name];
    this.packed[slot] = encode(values);
    this.writeCounts.set(slot, this.writeCounts.a[slot] + 1);
    this.updated.set(slot, at);
    return { seq: this.seqs.a[slot], created };
  }

  public record(slot: number, idOf: (seq: number) => string): StoredRecord {
    const values = decode(this.packed[slot], this.names.length);
    const fields: Record<string, string> = {};
    let refs: Record<string, string> | undefined;
    values.forEach((v, p) => {
      if (v === undefined) return;
      const name = this.names[p];
      if (name.startsWith(REF)) (refs ??= {})[name.slice(REF.length)] = v;
      else fields[name] = v;
    });
    return {
      id: idOf(this.seqs.a[slot]),
      fields,
      ...(refs ? { refs } : {}),
      writes: this.writeCounts.a[slot],
      createdAt: this.created.a[slot],
      updatedAt: this.updated.a[slot],
    };
  }

  public idSeq(slot: number): number {
    return this.seqs.a[slot];
  }

  public writesOf(slot: number): number {
    return this.writeCounts.a[slot];
  }

  public keyOf(slot: number): string | undefined {
    return this.keys[slot];
  }

  public remove(key: string): boolean {
    const k = this.fold(key);
    const slot = this.index.get(k);
    if (slot === undefined) return false;
    this.index.delete(k);
    this.keys[slot] = undefined;
    this.packed[slot] = '';
    return true;
  }

  /** Live slots in insertion order. */
  public *slots(): IterableIterator<number> {
    for (let s = 0; s < this.keys.length; s++) if (this.keys[s] !== undefined) yield s;
  }
}

/** A Map-like view of one object's records, keyed by external id as first written. */
export class TargetTable {
  public constructor(private readonly t: ObjectTable, private readonly idOf: (seq: number) => string) {}

  public get size(): number {
    return this.t.index.size;
  }
  public has(key: string): boolean {
    return this.t.slotOf(key) !== undefined;
  }
  public get(key: string): StoredRecord | undefined {
    const slot = this.t.slotOf(key);
    return slot === undefined ? undefined : this.t.record(slot, this.idOf);
  }
  /** The record id only (no record object built). */
  public recordId(key: string): string | undefined {
    const slot = this.t.slotOf(key);
    return slot === undefined ? undefined : this.idOf(this.t.idSeq(slot));
  }
  /** The record's id number (0 when absent): `recordIdOf(seq)` is its id. */
  public seqOf(key: string): number {
    const slot = this.t.slotOf(key);
    return slot === undefined ? 0 : this.t.idSeq(slot);
  }
  public delete(key: string): boolean {
    return this.t.remove(key);
  }
  public *keys(): IterableIterator<string> {
    for (const s of this.t.slots()) yield this.t.keyOf(s)!;
  }
  public *values(): IterableIterator<StoredRecord> {
    for (const s of this.t.slots()) yield this.t.record(s, this.idOf);
  }
  public *entries(): IterableIterator<[string, StoredRecord]> {
    for (const s of this.t.slots()) yield [this.t.keyOf(s)!, this.t.record(s, this.idOf)];
  }
  public [Symbol.iterator](): IterableIterator<[string, StoredRecord]> {
    return this.entries();
  }
  /** Counts without building records. */
  public counts(): { rows: number; writes: number; rewritten: number } {
    let writes = 0;
    let rewritten = 0;
    for (const s of this.t.slots()) {
      const w = this.t.writesOf(s);
      writes += w;
      if (w > 1) rewritten++;
    }
    return { rows: this.t.index.size, writes, rewritten };
  }
}

/** The record id of an id number. */
export function recordIdOf(seq: number): string {
  return `006${String(seq).padStart(12, '0')}AAA`;
}

export class TargetStore {
  private readonly objects = new Map<string, ObjectTable>();
  private idSeq = 0;
  private readonly idOf = recordIdOf;
  /** Record id number → its table and slot (for update/delete by Id). */
  private readonly seqTable: Array<ObjectTable | undefined> = [];
  private readonly seqSlot = new Grow((n) => new Int32Array(n));

  /** `caseRule(object)`: whether the object's external ids match case-sensitively (default: never). */
  public constructor(private readonly caseRule: (object: string) => boolean = () => false) {}

  private obj(object: string): ObjectTable {
    const key = object.toLowerCase();
    let t = this.objects.get(key);
    const rule = this.caseRule(object);
    if (!t) this.objects.set(key, (t = new ObjectTable(rule)));
    else t.setRule(rule);
    return t;
  }

  public table(object: string): TargetTable {
    return new TargetTable(this.obj(object), this.idOf);
  }

  /**
   * Insert or update by external id with Bulk's cell rules. `refs`: resolved lookups to keep
   * with the record. Returns the record id and whether it was created.
   */
  public upsert(object: string, externalId: string, fields: Record<string, string>, at: number, refs?: Record<string, string>): { id: string; seq: number; created: boolean } {
    const t = this.obj(object);
    const r = t.write(externalId, fields, refs, at, (slot) => {
      const seq = ++this.idSeq;
      this.seqTable[seq] = t;
      this.seqSlot.set(seq, slot);
      return seq;
    });
    return { id: this.idOf(r.seq), seq: r.seq, created: r.created };
  }

  /** The external key of the object's record with this id (undefined when there is none). */
  public keyOfId(object: string, id: string): string | undefined {
    const m = /^006(\d{12})AAA$/.exec(id);
    if (!m) return undefined;
    const seq = Number(m[1]);
    const t = this.seqTable[seq];
    if (!t || t !== this.objects.get(object.toLowerCase())) return undefined;
    return t.keyOf(this.seqSlot.a[seq]);
  }

  public get(object: string, externalId: string): StoredRecord | undefined {
    return this.table(object).get(externalId);
  }

  public clear(object?: string): void {
    if (object) this.objects.delete(object.toLowerCase());
    else this.objects.clear();
  }

  /** Delete by external key. */
  public delete(object: string, externalId: string): boolean {
    return this.obj(object).remove(externalId);
  }

  /** Counts for tests: rows, total writes, rows written more than once. */
  public summary(object: string): { object: string; rows: number; writes: number; rewritten: number } {
    return { object, ...this.table(object).counts() };
  }
}
