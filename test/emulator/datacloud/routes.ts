/* Placeholder: the Data Cloud query endpoints land here (query-sql, queryv2). */
import type { Router } from '../http.js';
import type { Emulator } from '../server.js';

export function registerDataCloudRoutes(_router: Router, _emu: Emulator): void {}
