/** The built CLI (`bin/herald.js`) in a child process, as a scheduler runs it, and the sandbox's record of acceptances. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'herald.js');

export interface CliProcess {
  child: ReturnType<typeof spawn>;
  exited: Promise<number | null>;
  output(): string;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, HERALD_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

/** The URL `herald serve` announces in its pino "herald serve listening" line, once it has. */
export function listeningUrl(output: string): string | undefined {
  const line = output.split('\n').find((l) => l.includes('"msg":"herald serve listening"'));
  return line ? (JSON.parse(line) as { url: string }).url : undefined;
}

export interface Acceptance {
  send_id: string;
  recipient: string;
  wamid: string;
}

/**
 * The sandbox's JSON-lines ledger: one line per acceptance, as a provider would record it. Read
 * while a child may be appending to it, so only complete lines count: the text after the last
 * new line may be a line still being written.
 */
export function acceptances(ledger: string): Acceptance[] {
  if (!existsSync(ledger)) return [];
  const text = readFileSync(ledger, 'utf8');
  return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Acceptance);
}

export async function waitFor(condition: () => boolean, what: string, output: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
