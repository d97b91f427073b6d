/*
 * Locks the lock model's own jobs do not take (lock-model.md §7.10 "not modelled"), as
 * switches of LockModelConfig (config.ts):
 *
 *   background  other org traffic: foreign transactions arrive as a Poisson stream, each
 *               locks one parent picked uniformly from `keys` for a lognormal hold. A chunk
 *               that needs that parent waits for it like for any holder, so a hold longer
 *               than lockTimeout gives a transient UNABLE_TO_LOCK_ROW to rows of any job,
 *               however the load is partitioned. Foreign transactions obey the same rule
 *               (they wait at most lockTimeout, and give up without holding).
 *   hierarchy   a trigger on the child locks the parent's parent (an Account hierarchy
 *               roll-up) for the whole chunk transaction. Which parents have a parent is
 *               given (`parentOf`) or drawn by a hash of the parent value (`share` of them,
 *               under `groups` grandparents), so the bench's lower bound sees the same map.
 *
 * The stream is drawn lazily, in time order, just before each chunk asks for its locks,
 * which in the reservation model (freeAt per lock) is the same as scheduling it as events,
 * and keeps "nothing left to simulate" meaning "no job work left".
 */
import type { LockModelConfig } from '../config.js';
import { hashUnit, Rng } from '../random.js';

export type BackgroundTraffic = NonNullable<LockModelConfig['background']>;
export type HierarchyTrigger = NonNullable<LockModelConfig['hierarchy']>;

/** The parent's parent under the hierarchy switch, or undefined. Pure: the bench's lower bound uses it too. */
export function grandparentOf(parent: string, h: HierarchyTrigger | undefined): string | undefined {
  if (!h) return undefined;
  if (h.parentOf) return h.parentOf[parent];
  const share = h.share ?? 0;
  const groups = Math.max(1, Math.floor(h.groups ?? 1));
  if (share <= 0 || hashUnit(parent, 0x2f6b) >= share) return undefined;
  return `${h.prefix ?? 'ultimateParent'}${Math.floor(hashUnit(parent, 0x7a11) * groups)}`;
}

export type ContentionStats = {
  /** Foreign transactions that ran (got their lock). */
  backgroundTransactions: number;
  /** Foreign transactions that gave up after lockTimeout (our chunks held the parent). */
  backgroundGaveUp: number;
  /** Lock keys added by the hierarchy trigger (grandparents locked, summed over chunks). */
  grandparentLocks: number;
};

/**
 * The foreign-traffic stream. `apply(t, lock)` runs every foreign transaction that arrived
 * at or before t, in order; `lock(key, at, holdMs)` reserves the key and returns false when
 * the transaction could not get it within the lock wait.
 */
export class BackgroundStream {
  private rng: Rng;
  private next = Number.NaN;
  private cfgSeen?: BackgroundTraffic;

  public constructor(private readonly seed: number) {
    this.rng = new Rng(seed ^ 0x6b1d);
  }

  public apply(cfg: BackgroundTraffic | undefined, origin: number, t: number, lock: (key: string, at: number, holdMs: number) => boolean, stats: ContentionStats): void {
    if (!cfg || !(cfg.rate > 0) || cfg.keys.length === 0) {
      this.next = Number.NaN;
      return;
    }
    if (cfg !== this.cfgSeen || Number.isNaN(this.next)) {
      // A new switch setting starts its stream afresh (deterministic from the seed).
      this.cfgSeen = cfg;
      this.rng = new Rng(this.seed ^ 0x6b1d);
      this.next = origin + this.gap(cfg);
    }
    while (this.next <= t) {
      const key = cfg.keys[Math.floor(this.rng.next() * cfg.keys.length)];
      const sigma = cfg.sigma ?? 0;
      const hold = cfg.hold * (sigma > 0 ? Math.exp(sigma * this.rng.normal()) : 1) * 1000;
      if (lock(key, this.next, hold)) stats.backgroundTransactions++;
      else stats.backgroundGaveUp++;
      this.next += this.gap(cfg);
    }
  }

  private gap(cfg: BackgroundTraffic): number {
    return (-Math.log(1 - this.rng.next()) / cfg.rate) * 1000;
  }
}
