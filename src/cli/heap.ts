/*
 * Memory of a long load. V8 lets the old generation grow to several times what is live
 * before it collects; a load allocates fast (pages, CSV text, result files) while holding
 * little, so the heap grew to about 4× its live size (RSS 410 MB at 600k rows). Capping the
 * growth at 1.5× keeps the peak flat whatever the row count (about 300 MB at 2M rows of 10
 * columns), for some 15 % more CPU in collections (README, "Memory and CPU"). The flag is
 * read by V8 at each collection, so setting it at run time works.
 */
import v8 from 'node:v8';

let done = false;

export function boundHeapGrowth(): void {
  if (done) return;
  done = true;
  v8.setFlagsFromString('--heap-growing-percent=50');
}
