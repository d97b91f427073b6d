/* Placeholder: the Bulk API 2.0 ingest routes land here. */
import type { Router } from '../http.js';
import type { Emulator } from '../server.js';

export function registerBulkRoutes(_router: Router, _emu: Emulator): void {}
