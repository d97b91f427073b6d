/*
 * The target org's records, per sObject, keyed by external id. Counts every write to a
 * row, so tests can check that nothing was lost and nothing written twice.
 */
export type StoredRecord = {
  id: string;
  fields: Record<string, string>;
  writes: number;
  createdAt: number;
  updatedAt: number;
};

export class TargetStore {
  private readonly objects = new Map<string, Map<string, StoredRecord>>();
  private idSeq = 0;

  public table(object: string): Map<string, StoredRecord> {
    const key = object.toLowerCase();
    let t = this.objects.get(key);
    if (!t) {
      t = new Map();
      this.objects.set(key, t);
    }
    return t;
  }

  /** Insert or update by external id. Returns the record id and whether it was created. */
  public upsert(object: string, externalId: string, fields: Record<string, string>, at: number): { id: string; created: boolean } {
    const t = this.table(object);
    const existing = t.get(externalId);
    if (existing) {
      for (const [k, v] of Object.entries(fields)) {
        if (v === '') continue; // an empty cell leaves the field as it was
        existing.fields[k] = v === '#N/A' ? '' : v;
      }
      existing.writes++;
      existing.updatedAt = at;
      return { id: existing.id, created: false };
    }
    const id = `006${String(++this.idSeq).padStart(12, '0')}AAA`;
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(fields)) clean[k] = v === '#N/A' ? '' : v;
    t.set(externalId, { id, fields: clean, writes: 1, createdAt: at, updatedAt: at });
    return { id, created: true };
  }

  public get(object: string, externalId: string): StoredRecord | undefined {
    return this.table(object).get(externalId);
  }

  public clear(object?: string): void {
    if (object) this.objects.delete(object.toLowerCase());
    else this.objects.clear();
  }

  /** Counts for tests: rows, total writes, rows written more than once. */
  public summary(object: string): { object: string; rows: number; writes: number; rewritten: number } {
    const t = this.table(object);
    let writes = 0;
    let rewritten = 0;
    for (const r of t.values()) {
      writes += r.writes;
      if (r.writes > 1) rewritten++;
    }
    return { object, rows: t.size, writes, rewritten };
  }
}
