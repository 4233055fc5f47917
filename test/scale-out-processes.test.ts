/**
 * Scale-out with real processes (README "Scale-out"): two `herald serve` instances on one
 * PostgreSQL, a run enqueued through the run API of one, and `kill -9` of the instance that is
 * sending it. The survivor resumes the dead instance's parts once their lease runs out
 * (HERALD_PART_LEASE_MS), and its run API answers the run to the end:
 * - every eligible recipient reached the stand-in, and nobody twice (counted at the stand-in);
 * - the rows the dead instance had in flight end `unknown`, never resent; the rest `accepted`;
 * - the same run key asked of the survivor is the same run.
 * The Meta stand-in is test/support/fake-meta.ts on a local port, answering each send after a
 * delay (its `slow` fate) so that requests are out when the kill comes. No Redis: one instance at
 * a time paces the sender (its lease on PostgreSQL), so the kill also hands the sender over.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isValidPhoneNumber } from 'libphonenumber-js/max';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { partOf } from '../src/runs/parts.js';
import { PostgresWarehouse } from '../src/warehouse/postgres.warehouse.js';
import { freshPgUrl } from './helpers/pg.js';
import { listeningUrl, startCli, type CliProcess } from './support/cli-process.js';
import { FakeMeta, type Fate } from './support/fake-meta.js';

const realServer = inject('pgKind') === 'server';
if (!realServer) console.warn('[scale-out-processes] HERALD_TEST_PG_URL is unset: the kill -9 test needs a real PostgreSQL (PGlite serves one session, where advisory locks never conflict); set it to run it');

const ROWS = 300;
const NO_CONSENT = 12; // rows nobody may message
const RATE = 100;
const CONCURRENCY = 4;
const PARTS = 4;
const LATENCY_MS = 100;
const LEASE_MS = 2000;
const TOKEN = 'EAAGm0PX4ZCpsBA-scale-out-test-token';
const API_TOKEN = 'scale-out-api-token';
/** A phone number id of this file's own: no other test's pacing (Redis or lease) shares it. */
const SENDER = `1065${String(Date.now()).slice(-9)}`;
const JOB = 'scale_kill_e2e';

const phone = (i: number) => `+1201555${String(1000 + i).padStart(4, '0')}`;

interface Serve {
  name: string;
  cli: CliProcess;
  url: string;
}

describe('scale-out with real processes', () => {
  let dir = '';
  let pgUrl = '';
  let cleanupPg: (() => Promise<void>) | undefined;
  let admin: PostgresWarehouse | undefined;
  let fake: FakeMeta | undefined;
  const serves: Serve[] = [];

  beforeAll(async () => {
    if (!realServer) return;
    dir = mkdtempSync(join(tmpdir(), 'herald-scale-proc-'));
    ({ url: pgUrl, cleanup: cleanupPg } = await freshPgUrl());
    admin = await PostgresWarehouse.open(pgUrl);
  });

  afterAll(async () => {
    for (const s of serves) {
      if (s.cli.child.exitCode === null && s.cli.child.signalCode === null) s.cli.child.kill('SIGKILL');
      await s.cli.exited;
    }
    await fake?.close();
    await admin?.close();
    await cleanupPg?.();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.runIf(realServer)('kill -9 of the instance sending a run: the survivor finishes it, nobody messaged twice, in-flight rows unknown', async () => {
    const t0 = performance.now();
    const all = Array.from({ length: ROWS + NO_CONSENT }, (_, i) => phone(i));
    expect(all.filter((p) => !isValidPhoneNumber(p))).toEqual([]);
    const eligible = all.slice(0, ROWS);

    // Every send is answered (accepted) LATENCY_MS after it arrives: the `slow` fate, for all.
    fake = await FakeMeta.start({
      goodToken: TOKEN, throughputLevel: 'HIGH', slowMs: LATENCY_MS,
      fates: Object.fromEntries(all.map((p) => [p, 'slow' as Fate])),
    });

    // The segment, in the warehouse the instances share.
    await admin!.query('CREATE TABLE public.scale_segment (k text PRIMARY KEY, phone text, name text, ok text)');
    await admin!.query('INSERT INTO public.scale_segment SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])',
      [all.map((_, i) => `c${i}`), all, all.map((_, i) => `Name ${i}`), all.map((_, i) => (i < ROWS ? 'yes' : 'no'))]);

    const jobs = join(dir, 'jobs');
    const configFile = join(dir, 'herald.yaml');
    writeFileSync(configFile, `
warehouses: { default: { url: "\${HERALD_WAREHOUSE_URL}" } }
providers:
  meta: { base_url: "${fake.url}", graph_version: v24.0, access_token: "\${META_ACCESS_TOKEN}", waba_id: "" }
server: { host: 127.0.0.1, api_token: "\${HERALD_API_TOKEN}" }
`);
    writeJob(jobs);
    const env: NodeJS.ProcessEnv = {
      HERALD_CONFIG: configFile, HERALD_WAREHOUSE_URL: pgUrl, HERALD_API_TOKEN: API_TOKEN, META_ACCESS_TOKEN: TOKEN,
      HERALD_JOBS_DIR: jobs, HERALD_PART_LEASE_MS: String(LEASE_MS), HERALD_LOG_LEVEL: 'info',
      HERALD_REDIS_URL: undefined, // no Redis: one instance at a time paces the sender (its lease), the other waits
    };

    const started = await Promise.all(['A', 'B'].map((name) => startServe(name, env, serves)));
    const [a, b] = started as [Serve, Serve];
    const logs = () => serves.map((s) => `--- ${s.name} (pid ${s.cli.child.pid}) ---\n${s.cli.output()}`).join('\n');
    const tReady = performance.now();

    // POST /runs to A: queued, answered at once.
    const posted = await api(a, 'POST', '/runs', { job: JOB, run_key: 'kill-1' });
    expect(posted.status, JSON.stringify(posted.body)).toBe(202);
    const runId = (posted.body as { run_id: string }).run_id;
    expect(runId).toMatch(/\S/);

    // Some sends have arrived at the stand-in: kill -9 the instance sending (the one whose parts
    // have rows in flight; without Redis one process at a time paces a sender, the other waits).
    await until('50 sends at the stand-in', () => fake!.requests.filter((r) => r.to).length >= 50, 15_000, logs);
    const { pid: victimPid, parts: victimParts } = await pickVictim(admin!, runId, serves);
    const victim = serves.find((s) => s.cli.child.pid === victimPid)!;
    const survivor = victim === a ? b : a;
    victim.cli.child.kill('SIGKILL');
    const tKill = performance.now();
    await victim.cli.exited;
    const sentBeforeKill = fake.requests.filter((r) => r.to && r.at <= tKill).length;
    // The survivor is up (its health check answers) while the victim's lease runs out.
    expect((await fetch(`${survivor.url}/healthz`)).status).toBe(200);

    // The survivor's run API reports the run to its end.
    let view: RunView | undefined;
    await until('the run to succeed on the survivor', async () => {
      const got = await api(survivor, 'GET', `/runs/${runId}`);
      expect(got.status, JSON.stringify(got.body)).toBe(200);
      view = got.body as RunView;
      if (['failed', 'aborted'].includes(view.status)) throw new Error(`run ended ${view.status}: ${JSON.stringify(view)}\n${logs()}`);
      return view.status === 'succeeded';
    }, 15_000, logs);
    const tDone = performance.now();

    // At the stand-in: everyone eligible at most once, nobody without consent.
    const byRecipient = new Map<string, number>();
    for (const r of fake.requests) if (r.to) byRecipient.set(r.to, (byRecipient.get(r.to) ?? 0) + 1);
    const twice = [...byRecipient].filter(([, n]) => n > 1);
    expect(twice, `messaged twice:\n${logs()}`).toEqual([]);
    expect(all.slice(ROWS).filter((p) => byRecipient.has(p.slice(1)))).toEqual([]);
    const acceptedAtFake = fake.accepted.map((x) => x.to);
    expect(acceptedAtFake.length).toBe(new Set(acceptedAtFake).size);

    // The ledger: every eligible row accepted or unknown; the unknowns are the victim's requests in flight.
    const sends = await admin!.query<{ recipient: string; status: string }>('SELECT recipient, status FROM herald.sends WHERE run_id = $1', [runId]);
    const status = new Map(sends.map((s) => [s.recipient, s.status]));
    expect(eligible.filter((p) => !['accepted', 'unknown'].includes(status.get(p) ?? 'missing'))).toEqual([]);
    const unknown = eligible.filter((p) => status.get(p) === 'unknown');
    const acceptedRows = eligible.filter((p) => status.get(p) === 'accepted');
    expect(unknown.length).toBeLessThanOrEqual(CONCURRENCY * victimParts.length);
    // An accepted row was taken by the stand-in exactly once; an unknown one was never resent after the kill.
    expect(acceptedRows.filter((p) => byRecipient.get(p.slice(1)) !== 1)).toEqual([]);
    const afterKill = new Set(fake.requests.filter((r) => r.to && r.at > tKill).map((r) => r.to));
    expect(unknown.filter((p) => afterKill.has(p.slice(1)))).toEqual([]);
    // Nobody missed: a recipient the stand-in never saw is one of the kill's unknowns (its row was
    // written in flight an instant before its request would have left).
    const neverSent = eligible.filter((p) => !byRecipient.has(p.slice(1)));
    expect(neverSent.filter((p) => status.get(p) !== 'unknown')).toEqual([]);
    expect(view).toMatchObject({
      status: 'succeeded',
      counts: { audience: ROWS + NO_CONSENT, accepted: acceptedRows.length, unknown: unknown.length, suppressed: NO_CONSENT, pending: 0, in_flight: 0 },
    });
    expect(view!.parts).toBeDefined();
    const parts = await admin!.query<{ part_id: string; status: string; claimed_by: string }>('SELECT part_id, status, claimed_by FROM herald.run_parts WHERE run_id = $1', [runId]);
    expect(parts.map((p) => p.status)).toEqual(Array(PARTS).fill('succeeded'));
    // The parts the dead instance was running were ended by the survivor.
    expect(parts.filter((p) => victimParts.includes(p.part_id)).map((p) => pidOf(p.claimed_by))).toEqual(victimParts.map(() => survivor.cli.child.pid));

    // The same run key, asked of the survivor: the same run, nothing sent again.
    const again = await api(survivor, 'POST', '/runs', { job: JOB, run_key: 'kill-1' });
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ run_id: runId, created: false, status: 'succeeded' });
    const requestsNow = fake.requests.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.requests.length).toBe(requestsNow);

    console.log(`[scale-out-processes] ${ROWS} eligible rows (+${NO_CONSENT} without consent), ${PARTS} parts, ${RATE}/s, ${LATENCY_MS} ms per send; ` +
      `killed ${victim.name} (pid ${victimPid}, ${victimParts.length} running parts) after ${sentBeforeKill} sends; ` +
      `${acceptedRows.length} accepted, ${unknown.length} unknown (${neverSent.length} of them never reached the stand-in); ` +
      `serves up in ${ms(tReady - t0)}, kill at ${ms(tKill - tReady)} after ready, succeeded ${ms(tDone - tKill)} after the kill; ` +
      `most sends in one second at the stand-in: ${fake.maxPerSecond()} (the job asks ${RATE}/s)`);
  });
});

interface RunView {
  run_id: string;
  status: string;
  counts: Record<string, number>;
  parts?: unknown;
}

function writeJob(jobs: string): void {
  mkdirSync(jobs, { recursive: true });
  writeFileSync(join(jobs, `${JOB}.yaml`), `
name: ${JOB}
source: { query: "SELECT k, phone, name, ok FROM public.scale_segment ORDER BY k" }
audience: { key: k, phone: phone, default_region: US, consent: ok }
message: { provider: meta, sender: "${SENDER}", template: { name: hello, language: en_US }, body: [ { column: name } ] }
delivery: { rate_per_second: ${RATE}, concurrency: ${CONCURRENCY}, parts: ${PARTS} }
`);
}

const ms = (t: number) => `${(t / 1000).toFixed(1)} s`;

async function startServe(name: string, env: NodeJS.ProcessEnv, serves: Serve[]): Promise<Serve> {
  const cli = startCli(['serve', '--port', '0'], env);
  const serve: Serve = { name, cli, url: '' };
  serves.push(serve);
  // serve announces itself in its pino line (stderr carries nothing else).
  await until(`serve ${name} to listen`, () => {
    if (cli.child.exitCode !== null) throw new Error(`serve ${name} exited ${cli.child.exitCode}:\n${cli.output()}`);
    return listeningUrl(cli.output()) !== undefined;
  }, 15_000, cli.output);
  serve.url = listeningUrl(cli.output())!;
  return serve;
}

async function api(s: Serve, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${s.url}${path}`, {
    method, headers: { authorization: `Bearer ${API_TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: await res.json() as unknown };
}

const pidOf = (claimedBy: string) => Number(/:(\d+):[^:]*$/.exec(claimedBy)?.[1]);

/**
 * The instance to kill: the one whose running parts have been sending (rows in flight or accepted;
 * without Redis the other one waits for the sender's lease), else the one holding more running
 * parts. claimed_by is host:pid:random.
 */
async function pickVictim(admin: PostgresWarehouse, runId: string, serves: Serve[]): Promise<{ pid: number; parts: string[] }> {
  const parts = await admin.query<{ part_id: string; part: number; claimed_by: string }>(
    "SELECT part_id, part, claimed_by FROM herald.run_parts WHERE run_id = $1 AND status = 'running'", [runId]);
  const started = await admin.query<{ recipient: string; status: string }>(
    "SELECT recipient, status FROM herald.sends WHERE run_id = $1 AND status IN ('in_flight', 'accepted')", [runId]);
  const score = new Map<number, number>();
  for (const p of parts) {
    const mine = started.filter((f) => partOf(f.recipient, '', PARTS) === Number(p.part));
    const pid = pidOf(p.claimed_by);
    score.set(pid, (score.get(pid) ?? 0) + 1 + 1000 * mine.filter((f) => f.status === 'in_flight').length + 10 * mine.length);
  }
  const [best] = [...score].filter(([pid]) => serves.some((s) => s.cli.child.pid === pid)).sort((x, y) => y[1] - x[1]);
  if (!best) throw new Error(`no serve holds a running part of ${runId}: ${JSON.stringify(parts)}`);
  return { pid: best[0], parts: parts.filter((p) => pidOf(p.claimed_by) === best[0]).map((p) => p.part_id) };
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
