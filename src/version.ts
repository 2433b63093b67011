import { readFileSync } from 'node:fs';
import path from 'node:path';

/** jobfleet's version, from package.json (recorded with each registered worker). */
export const VERSION: string = (
  JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }
).version;
