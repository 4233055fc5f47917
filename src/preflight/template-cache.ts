/**
 * Approved templates, cached on disk for a few minutes: template management endpoints are rate
 * limited (Meta: about 200 calls an hour per app and WABA), and validate, run and templates list
 * would otherwise each call them.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Provider, ProviderTemplate } from '../providers/provider.js';
import { hexDigest } from '../util/hex-digest.js';

export const TEMPLATE_CACHE_TTL_MS = 10 * 60_000;

interface CacheFile {
  fetched_at: number;
  templates: ProviderTemplate[];
}

/**
 * The provider's templates from the cache when fresh, else fetched and cached. `account` tells
 * apart the accounts a machine talks to (base URL, WABA or sender); it is hashed into the file name.
 */
export async function approvedTemplates(
  provider: Provider & { listTemplates(): Promise<ProviderTemplate[]> },
  account: string,
  options: { refresh?: boolean; dir?: string; now?: number } = {},
): Promise<{ templates: ProviderTemplate[]; fromCache: boolean }> {
  const dir = options.dir ?? process.env.HERALD_CACHE_DIR ?? join(tmpdir(), 'herald-cache');
  const file = join(dir, `templates-${provider.name}-${hexDigest([account], 16)}.json`);
  const now = options.now ?? Date.now();
  if (!options.refresh) {
    try {
      const cached = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
      if (now - cached.fetched_at < TEMPLATE_CACHE_TTL_MS && Array.isArray(cached.templates)) return { templates: cached.templates, fromCache: true };
    } catch {
      // no cache, or an unreadable one: fetch
    }
  }
  const templates = await provider.listTemplates();
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, JSON.stringify({ fetched_at: now, templates } satisfies CacheFile));
  } catch {
    // a read-only disk costs the next command one more call, nothing else
  }
  return { templates, fromCache: false };
}
