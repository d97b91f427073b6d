/*
 * The target org's records, per sObject, keyed by external id. Counts every write to a row,
 * so tests can check that nothing was lost and nothing written twice.
 *
 * Values are the exact text of the CSV cells last written (Bulk rules: an empty cell leaves a
 * field as it was, `#N/A` clears it to ''). External ids match with the object's rule:
 * case-insensitive unless its External ID field is case sensitive (`caseRule`).
 *
 * Compact for millions of records, and off the JS heap: per object, every record is one
 * UTF-8 entry in an append-only arena of large Buffers (its key and all field values), found
 * through an open-addressing hash table of the folded key; ids, write counts and times are
 * typed arrays. `table(object)` is a Map-like view that builds StoredRecord objects on access.
 */
import { Arena, Grow, hash } from './store-arena.js';

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

/**
 * A copy of `s` that references no larger string. V8 keeps `text.slice()` results as views of
 * their parent, so a key sliced from an upload would keep the whole upload text alive.
 */
export function own(s: string): string {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/** The record id of an id number. */
export function recordIdOf(seq: number): string {
  return `006${String(seq).padStart(12, '0')}AAA`;
}

/** Each field value (or absent) as `<len36>:<text>` / `-`, or `=` when it is the key itself, in one flat string. */
function encode(values: Array<string | undefined>, key: string): string {
  const parts = new Array<string>(values.length);
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    parts[k] = v === undefined ? '-' : v === key ? '=' : `${v.length.toString(36)}:${v}`;
  }
  return parts.join('');
}

/** Inverse of encode: `n` field values. */
function decode(s: string, n: number, key: string): Array<string | undefined> {
  const values = new Array<string | undefined>(n);
  let p = 0;
  for (let k = 0; k < n && p < s.length; k++) {
    const c = s.charCodeAt(p);
    if (c === 45 /* - */ || c === 61 /* = */) {
      if (c === 61) values[k] = key;
      p++;
      continue;
    }
    const colon = s.indexOf(':', p);
    const len = parseInt(s.slice(p, colon), 36);
    values[k] = s.slice(colon + 1, colon + 1 + len);
    p = colon + 1 + len;
  }
  return values;
}

class ObjectTable {
  private arena = new Arena();
  private at = new Grow((n) => new Float64Array(n));
  private lens = new Grow((n) => new Int32Array(n));
  private keyLens = new Grow((n) => new Int32Array(n));
  /** Slot → live (1) or deleted (0). */
  private live = new Grow((n) => new Int32Array(n));
  /** Hash table of slot + 1 (0 = empty; a deleted slot stays as a tombstone until a rehash); linear probing, at most half full. */
  private table = new Int32Array(1 << 12);
  private tableEntries = 0;
  private slotsUsed = 0;
  private liveCount = 0;
  private wasted = 0;
  private readonly names: string[] = [];
  private readonly pos = new Map<string, number>();
  private readonly headerPos = new WeakMap<string[], Int32Array>();
  private readonly seqs = new Grow((n) => new Int32Array(n));
  private readonly writeCounts = new Grow((n) => new Int32Array(n));
  private readonly created = new Grow((n) => new Float64Array(n));
  private readonly updated = new Grow((n) => new Float64Array(n));

  public constructor(public caseSensitive: boolean) {}

  public get size(): number {
    return this.liveCount;
  }

  public fold(key: string): string {
    return this.caseSensitive ? key : key.toLowerCase();
  }

  private storedKey(slot: number): string {
    return this.arena.get(this.at.a[slot], 0, this.keyLens.a[slot]);
  }

  private storedFields(slot: number): string {
    return this.arena.get(this.at.a[slot], this.keyLens.a[slot], this.lens.a[slot]);
  }

  public keyOf(slot: number): string | undefined {
    return this.live.a[slot] ? this.storedKey(slot) : undefined;
  }

  /** The slot of a key, or -1. */
  public slotOf(key: string): number {
    const k = this.fold(key);
    const mask = this.table.length - 1;
    for (let h = hash(k) & mask; ; h = (h + 1) & mask) {
      const v = this.table[h];
      if (v === 0) return -1;
      const slot = v - 1;
      if (this.live.a[slot] && this.fold(this.storedKey(slot)) === k) return slot;
    }
  }

  /** Room for one more entry (call before a new slot becomes live). */
  private reserve(): void {
    if ((this.tableEntries + 1) * 2 > this.table.length) this.rehash(this.liveCount * 4 > this.table.length ? this.table.length * 2 : this.table.length);
  }

  private insertIndex(folded: string, slot: number): void {
    this.tableEntries++;
    const mask = this.table.length - 1;
    let h = hash(folded) & mask;
    while (this.table[h] !== 0) h = (h + 1) & mask;
    this.table[h] = slot + 1;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size);
    this.tableEntries = 0;
    const mask = size - 1;
    for (let slot = 0; slot < this.slotsUsed; slot++) {
      if (!this.live.a[slot]) continue;
      this.tableEntries++;
      let h = hash(this.fold(this.storedKey(slot))) & mask;
      while (this.table[h] !== 0) h = (h + 1) & mask;
      this.table[h] = slot + 1;
    }
  }

  /** Re-key after the matching rule changed. */
  public setRule(caseSensitive: boolean): void {
    if (caseSensitive === this.caseSensitive) return;
    this.caseSensitive = caseSensitive;
    this.rehash(this.table.length);
  }

  private position(name: string): number {
    let p = this.pos.get(name);
    if (p === undefined) {
      p = this.names.length;
      name = own(name);
      this.names.push(name);
      this.pos.set(name, p);
    }
    return p;
  }

  /** Field positions of a header (cached per header array). */
  private positions(header: string[]): Int32Array {
    let ps = this.headerPos.get(header);
    if (!ps) this.headerPos.set(header, (ps = Int32Array.from(header, (h) => this.position(h))));
    return ps;
  }

  private store(slot: number, key: string, fields: string): void {
    this.at.set(slot, this.arena.put(key, fields));
    this.keyLens.set(slot, this.arena.keyLen);
    this.lens.set(slot, this.arena.len);
  }

  /** Write the cells of `row` (named by `header`; column `skip` left out) to the record of `key`. */
  public write(
    key: string,
    header: string[],
    row: string[],
    skip: number,
    refs: Record<string, string> | undefined,
    at: number,
    newSeq: (slot: number) => number
  ): { seq: number; created: boolean } {
    let slot = this.slotOf(key);
    const created = slot < 0;
    let values: Array<string | undefined>;
    let storedKey = key;
    if (created) {
      this.reserve();
      slot = this.slotsUsed++;
      this.live.set(slot, 1);
      this.liveCount++;
      this.seqs.set(slot, newSeq(slot));
      this.writeCounts.set(slot, 0);
      this.created.set(slot, at);
      values = [];
    } else {
      storedKey = this.storedKey(slot);
      values = decode(this.storedFields(slot), this.names.length, storedKey);
      this.wasted += this.lens.a[slot];
    }
    const ps = this.positions(header);
    for (let c = 0; c < ps.length; c++) {
      if (c === skip) continue;
      const v = row[c] ?? '';
      if (v === '' && !created) continue; // an empty cell leaves the field as it was
      values[ps[c]] = v === '#N/A' ? '' : v;
    }
    if (refs) for (const name in refs) values[this.position(REF + name)] = refs[name];
    this.store(slot, storedKey, encode(values, storedKey));
    if (created) this.insertIndex(this.fold(key), slot);
    this.writeCounts.set(slot, this.writeCounts.a[slot] + 1);
    this.updated.set(slot, at);
    if (this.wasted > 64 * 1024 * 1024 && this.wasted > this.arena.bytes / 2) this.compact();
    return { seq: this.seqs.a[slot], created };
  }

  /** Rewrite live entries into a fresh arena (updates leave old versions behind). */
  private compact(): void {
    const old = this.arena;
    this.arena = new Arena();
    for (let slot = 0; slot < this.slotsUsed; slot++) {
      if (!this.live.a[slot]) continue;
      const at = this.at.a[slot];
      const k = this.keyLens.a[slot];
      this.at.a[slot] = this.arena.put(old.get(at, 0, k), old.get(at, k, this.lens.a[slot]));
    }
    this.wasted = 0;
  }

  public record(slot: number, idOf: (seq: number) => string): StoredRecord {
    const values = decode(this.storedFields(slot), this.names.length, this.storedKey(slot));
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

  public remove(key: string): boolean {
    const slot = this.slotOf(key);
    if (slot < 0) return false;
    this.live.a[slot] = 0;
    this.liveCount--;
    this.wasted += this.lens.a[slot];
    return true;
  }

  /** Live slots in insertion order. */
  public *slots(): IterableIterator<number> {
    for (let s = 0; s < this.slotsUsed; s++) if (this.live.a[s]) yield s;
  }

  /** Bytes held: the arena's chunks and the typed arrays. */
  public heldBytes(): number {
    return this.arena.allocated + this.table.byteLength + [this.at, this.lens, this.keyLens, this.live, this.seqs, this.writeCounts, this.created, this.updated].reduce((n, g) => n + g.a.byteLength, 0);
  }

  public isLive(slot: number): boolean {
    return slot < this.slotsUsed && this.live.a[slot] === 1;
  }
}

/** A Map-like view of one object's records, keyed by external id as first written. */
export class TargetTable {
  public constructor(
    private readonly t: ObjectTable,
    private readonly idOf: (seq: number) => string,
    private readonly newSeq: (t: ObjectTable, slot: number) => number
  ) {}

  /** TargetStore.upsertRow on this table (its matching rule as of when the view was made). */
  public upsertRow(externalId: string, header: string[], row: string[], skip: number, at: number, refs?: Record<string, string>): { id: string; seq: number; created: boolean } {
    const r = this.t.write(externalId, header, row, skip, refs, at, (slot) => this.newSeq(this.t, slot));
    return { id: this.idOf(r.seq), seq: r.seq, created: r.created };
  }

  public get size(): number {
    return this.t.size;
  }
  public has(key: string): boolean {
    return this.t.slotOf(key) >= 0;
  }
  public get(key: string): StoredRecord | undefined {
    const slot = this.t.slotOf(key);
    return slot < 0 ? undefined : this.t.record(slot, this.idOf);
  }
  /** The record id only (no record object built). */
  public recordId(key: string): string | undefined {
    const slot = this.t.slotOf(key);
    return slot < 0 ? undefined : this.idOf(this.t.idSeq(slot));
  }
  /** The record's id number (0 when absent): `recordIdOf(seq)` is its id. */
  public seqOf(key: string): number {
    const slot = this.t.slotOf(key);
    return slot < 0 ? 0 : this.t.idSeq(slot);
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
    return { rows: this.t.size, writes, rewritten };
  }
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

  private readonly allocate = (t: ObjectTable, slot: number): number => {
    const seq = ++this.idSeq;
    this.seqTable[seq] = t;
    this.seqSlot.set(seq, slot);
    return seq;
  };

  public table(object: string): TargetTable {
    return new TargetTable(this.obj(object), this.idOf, this.allocate);
  }

  /**
   * Insert or update by external id with Bulk's cell rules. `refs`: resolved lookups to keep
   * with the record. Returns the record id and whether it was created.
   */
  public upsert(object: string, externalId: string, fields: Record<string, string>, at: number, refs?: Record<string, string>): { id: string; seq: number; created: boolean } {
    return this.upsertRow(object, externalId, Object.keys(fields), Object.values(fields), -1, at, refs);
  }

  /** upsert() for a CSV row: cells of `row` named by `header`, column `skip` (e.g. Id of an update) left out. */
  public upsertRow(object: string, externalId: string, header: string[], row: string[], skip: number, at: number, refs?: Record<string, string>): { id: string; seq: number; created: boolean } {
    return this.table(object).upsertRow(externalId, header, row, skip, at, refs);
  }

  /** The external key of the object's record with this id (undefined when there is none). */
  public keyOfId(object: string, id: string): string | undefined {
    const m = /^006(\d{12})AAA$/.exec(id);
    if (!m) return undefined;
    const seq = Number(m[1]);
    const t = this.seqTable[seq];
    if (!t || t !== this.objects.get(object.toLowerCase())) return undefined;
    const slot = this.seqSlot.a[seq];
    return t.isLive(slot) ? t.keyOf(slot) : undefined;
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

  /** Bytes held by every object's records (for /__emulator/memory). */
  public heldBytes(): number {
    let n = this.seqSlot.a.byteLength;
    for (const t of this.objects.values()) n += t.heldBytes();
    return n;
  }

  /** Counts for tests: rows, total writes, rows written more than once. */
  public summary(object: string): { object: string; rows: number; writes: number; rewritten: number } {
    return { object, ...this.table(object).counts() };
  }
}
