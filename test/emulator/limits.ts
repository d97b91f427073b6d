/*
 * Org limits that the emulator really decrements, served by GET /limits.
 */
export type LimitName = 'DailyApiRequests' | 'DailyBulkApiBatches' | 'DailyBulkV2QueryJobs' | 'DailyBulkV2QueryFileStorageMB';

export class OrgLimits {
  private readonly values: Record<LimitName, { Max: number; Remaining: number }>;

  public constructor(init: Partial<Record<LimitName, number>> = {}) {
    this.values = {
      DailyApiRequests: { Max: init.DailyApiRequests ?? 5_000_000, Remaining: init.DailyApiRequests ?? 5_000_000 },
      DailyBulkApiBatches: { Max: init.DailyBulkApiBatches ?? 15_000, Remaining: init.DailyBulkApiBatches ?? 15_000 },
      DailyBulkV2QueryJobs: { Max: init.DailyBulkV2QueryJobs ?? 10_000, Remaining: init.DailyBulkV2QueryJobs ?? 10_000 },
      DailyBulkV2QueryFileStorageMB: { Max: 976_562, Remaining: 976_562 },
    };
  }

  /** Spend `n`; returns false (and spends nothing) when not enough remains. */
  public spend(name: LimitName, n = 1): boolean {
    const v = this.values[name];
    if (v.Remaining < n) return false;
    v.Remaining -= n;
    return true;
  }

  public remaining(name: LimitName): number {
    return this.values[name].Remaining;
  }

  public set(name: LimitName, remaining: number, max?: number): void {
    this.values[name] = { Max: max ?? this.values[name].Max, Remaining: remaining };
  }

  public used(name: LimitName): number {
    return this.values[name].Max - this.values[name].Remaining;
  }

  public toJSON(): Record<string, { Max: number; Remaining: number }> {
    return structuredClone(this.values);
  }
}
