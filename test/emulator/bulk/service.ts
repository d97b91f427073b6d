/* Placeholder: the Bulk API 2.0 ingest engine (jobs, lock model) lands here. */
import type { Emulator } from '../server.js';

export class BulkService {
  public constructor(private readonly emu: Emulator) {}
  public stop(): void {}
  public inspectJobs(): unknown[] {
    void this.emu;
    return [];
  }
}
