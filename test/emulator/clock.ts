/*
 * The emulator's simulated clock. Every duration the emulator reports (job timestamps,
 * processing times) is read on this clock. Two ways to drive it:
 *
 *   scaled  virtual time runs `scale` times faster than wall time (interactive use, tests
 *           that poll). Whatever the machine spends, client or emulator, is magnified by
 *           the scale, so figures measured this way bend with the machine's load.
 *   manual  scale 0: virtual time stands still until someone moves it with advanceTo().
 *           The lock benchmark does so only when every client is waiting on a timer
 *           (scripts/bench/lockstep.ts), so no CPU time of anyone becomes simulated time.
 */
export class VirtualClock {
  private wall0 = Date.now();
  private virt0: number;

  public constructor(private scaleFactor = 1, startVirtualMs = Date.parse('2026-01-05T09:00:00.000Z')) {
    this.virt0 = startVirtualMs;
  }

  public get scale(): number {
    return this.scaleFactor;
  }

  /** Change the scale without a jump in virtual time. */
  public setScale(scale: number): void {
    this.virt0 = this.now();
    this.wall0 = Date.now();
    this.scaleFactor = scale;
  }

  /** Move virtual time forward to `virtualMs` (never back); meant for manual mode (scale 0). */
  public advanceTo(virtualMs: number): void {
    const now = this.now();
    if (!(virtualMs > now)) return;
    this.virt0 = virtualMs;
    this.wall0 = Date.now();
  }

  /** Virtual epoch milliseconds. */
  public now(): number {
    return this.virt0 + (Date.now() - this.wall0) * this.scaleFactor;
  }

  /** Wall milliseconds until the given virtual time (>= 0). */
  public wallDelayUntil(virtualMs: number): number {
    return Math.max(0, (virtualMs - this.now()) / this.scaleFactor);
  }
}

/** Salesforce's timestamp form: 2024-01-03T23:52:01.000+0000 */
export function sfTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}
