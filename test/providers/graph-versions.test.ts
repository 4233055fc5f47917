/** Meta's Graph API versions against their published retirement dates (docs/providers/meta-graph-versions.md). */
import { describe, expect, it } from 'vitest';
import { graphVersionVerdict } from '../../src/providers/meta/graph-versions.js';

const on = (date: string) => new Date(`${date}T12:00:00Z`);

describe('graphVersionVerdict', () => {
  it('a supported version is ok and says until when', () => {
    expect(graphVersionVerdict('v24.0', on('2026-12-03'))).toEqual({ level: 'ok', detail: 'v24.0 is supported until 2028-02-18' });
  });

  it('warns within 90 days of retirement, naming the version to move to', () => {
    // v21.0 is retired on 2027-01-21: 48 days after 2026-12-03.
    expect(graphVersionVerdict('v21.0', on('2026-12-03'))).toEqual({
      level: 'warn', detail: 'v21.0 is retired on 2027-01-21 (in 48 days); move META_GRAPH_VERSION to v26.0 before then',
    });
    expect(graphVersionVerdict('v21.0', on('2026-10-22')).level).toBe('warn'); // 90 days before
    expect(graphVersionVerdict('v21.0', on('2026-10-21')).level).toBe('ok'); // 91 days before
  });

  it('fails once the version is retired', () => {
    expect(graphVersionVerdict('v20.0', on('2026-12-03'))).toEqual({
      level: 'fail', detail: 'v20.0 was retired on 2026-09-24: Meta refuses its requests; set META_GRAPH_VERSION to v26.0',
    });
  });

  it('a version with no announced date is ok; one newer than the table is ok with a note; an unknown older one warns', () => {
    expect(graphVersionVerdict('v26.0', on('2026-12-03')).level).toBe('ok');
    expect(graphVersionVerdict('v27.0', on('2026-12-03'))).toMatchObject({ level: 'ok', detail: expect.stringContaining('newer than herald\'s table') });
    expect(graphVersionVerdict('v13.5', on('2026-12-03')).level).toBe('warn');
  });
});
