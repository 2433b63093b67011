import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * The folder holding jobfleet's package.json, whether this module runs from the sources
 * (src/) or from the compiled build (dist/src/): files that are not code (package.json, the
 * fleet page) are read from the package, never copied into the build.
 */
export const PACKAGE_ROOT: string = (() => {
  for (let dir = import.meta.dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`jobfleet: no package.json above ${import.meta.dirname}`);
  }
})();
