/**
 * Graph API versions and when Meta retires them (docs/providers/meta-graph-versions.md has the
 * source and the date it was read). A request to a retired version is refused, so `herald check`
 * warns ahead of time and fails once the configured version is gone.
 */

interface GraphVersion {
  version: string;
  released: string;
  /** ISO date; null while Meta says "TBD". */
  expires: string | null;
}

export const GRAPH_VERSIONS: readonly GraphVersion[] = [
  { version: 'v26.0', released: '2026-07-29', expires: null },
  { version: 'v25.0', released: '2026-02-18', expires: '2028-07-29' },
  { version: 'v24.0', released: '2025-10-08', expires: '2028-02-18' },
  { version: 'v23.0', released: '2025-05-29', expires: '2027-10-08' },
  { version: 'v22.0', released: '2025-01-21', expires: '2027-05-20' },
  { version: 'v21.0', released: '2024-10-02', expires: '2027-01-21' },
  { version: 'v20.0', released: '2024-05-21', expires: '2026-09-24' },
  { version: 'v19.0', released: '2024-01-23', expires: '2026-05-21' },
  { version: 'v18.0', released: '2023-09-12', expires: '2026-01-26' },
  { version: 'v17.0', released: '2023-05-23', expires: '2025-09-12' },
  { version: 'v16.0', released: '2023-02-02', expires: '2025-05-14' },
  { version: 'v15.0', released: '2022-09-15', expires: '2024-11-20' },
];

/** Warned this long before a version's retirement. */
export const EXPIRY_WARNING_DAYS = 90;
const DAY_MS = 86_400_000;

export interface VersionVerdict {
  level: 'ok' | 'warn' | 'fail';
  detail: string;
}

export function graphVersionVerdict(version: string, today: Date): VersionVerdict {
  const known = GRAPH_VERSIONS.find((v) => v.version === version);
  const newest = GRAPH_VERSIONS[0]!;
  if (!known) {
    if (versionNumber(version) > versionNumber(newest.version)) {
      return { level: 'ok', detail: `${version} is newer than herald's table of versions (newest ${newest.version}): its retirement date is not known here` };
    }
    return { level: 'warn', detail: `${version} is not a Graph API version herald knows; set providers.meta.graph_version (META_GRAPH_VERSION) to one Meta lists, e.g. ${newest.version}` };
  }
  if (!known.expires) return { level: 'ok', detail: `${version}: no retirement date announced` };
  const days = Math.floor((Date.parse(`${known.expires}T00:00:00Z`) - today.getTime()) / DAY_MS);
  const newer = GRAPH_VERSIONS.find((v) => v.expires === null)?.version ?? newest.version;
  if (days < 0) return { level: 'fail', detail: `${version} was retired on ${known.expires}: Meta refuses its requests; set META_GRAPH_VERSION to ${newer}` };
  if (days <= EXPIRY_WARNING_DAYS) return { level: 'warn', detail: `${version} is retired on ${known.expires} (in ${days} days); move META_GRAPH_VERSION to ${newer} before then` };
  return { level: 'ok', detail: `${version} is supported until ${known.expires}` };
}

function versionNumber(version: string): number {
  const m = /^v(\d+)\.(\d+)$/.exec(version);
  return m ? Number(m[1]) * 1000 + Number(m[2]) : -1;
}
