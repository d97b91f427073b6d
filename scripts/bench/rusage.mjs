// Preloaded into the plugin's process by bench-throughput.ts (node --import): at exit, write
// the process's own resource usage (CPU, peak RSS) to $BENCH_RUSAGE_FILE. Nothing else.
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  if (process.env.BENCH_RUSAGE_FILE) writeFileSync(process.env.BENCH_RUSAGE_FILE, JSON.stringify(process.resourceUsage()));
});
