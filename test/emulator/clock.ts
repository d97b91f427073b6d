/*
 * The emulator's simulated clock. Virtual time runs `scale` times faster than wall time,
 * so hours of simulated load pass in about a minute. Every duration the emulator reports
 * (job timestamps, processing times) is read on this clock.
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
