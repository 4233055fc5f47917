/** herald's version, from the package.json above the running file (src/cli in tests, dist/src/cli when built). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function heraldVersion(from: string = import.meta.dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'herald' && pkg.version) return pkg.version;
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}
