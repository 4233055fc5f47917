/**
 * Provider HTTP: undici `request` on a `Pool` (about 6× the throughput of `fetch` here), with an
 * injectable dispatcher (MockAgent in tests, a Pool in production). Every failure is sorted into
 * what it means for a send: the request never left (safe to retry) or it may have reached the
 * provider (the outcome is unknown: never resend blindly).
 */
import { Pool, request, type Dispatcher } from 'undici';
import { errorMessage } from '../errors.js';
import type { SendOutcome } from './provider.js';

export interface HttpOptions {
  /** Scheme, host and optional base path, e.g. `https://bizmsgapi.ada-asia.com/prod`. */
  baseUrl: string;
  /** Defaults to a Pool on the base URL's origin. */
  dispatcher?: Dispatcher;
  /** Headers and body must arrive within this many ms (default 15 s). */
  timeoutMs?: number;
  /**
   * Most connections when herald makes the Pool. The default, 1,000, is the most sends dispatch
   * ever keeps in flight: the Pool opens connections as requests need them, so their number
   * follows rate × latency (1,000/s at 150 ms: ~170) instead of capping it (128 connections held
   * a 1,000/s job to 853/s at 150 ms).
   */
  connections?: number;
  /** Sent with every request (auth). */
  headers?: Record<string, string>;
}

export type HttpOutcome =
  | { kind: 'response'; status: number; headers: Record<string, string | string[] | undefined>; text: string; json: unknown }
  /** Failed before the request was written (refused, DNS, connect timeout): safe to retry. */
  | { kind: 'not_sent'; detail: string }
  /** Failed after it may have been written (timeout, reset): the provider may have acted on it. */
  | { kind: 'maybe_sent'; detail: string };

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
/** The most sends a run keeps in flight (job schema `delivery.concurrency`, dispatch's default). */
const MAX_IN_FLIGHT = 1000;
/** Bodies past this are cut: a provider answer is small, and a runaway one must not exhaust memory. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export class HttpClient {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly origin: string;
  private readonly basePath: string;
  private closed = false;

  constructor(private readonly options: HttpOptions) {
    const url = new URL(options.baseUrl);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher = (options.dispatcher ?? new Pool(this.origin, { connections: options.connections ?? MAX_IN_FLIGHT, pipelining: 1 })).compose(reportingDeparture);
  }

  /** `departed` is called when the request is written to its connection (see reportingDeparture). */
  async request(method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}, departed?: () => void): Promise<HttpOutcome> {
    const timeout = this.options.timeoutMs ?? 15_000;
    let response: Dispatcher.ResponseData<unknown>;
    try {
      response = await request(`${this.origin}${this.basePath}${path}`, {
        method,
        dispatcher: this.dispatcher,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...this.options.headers,
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: timeout,
        bodyTimeout: timeout,
        maxRedirections: 0,
        ...(departed ? { [DEPARTED]: departed } : {}),
      } as Parameters<typeof request>[1]);
    } catch (err) {
      return transportFailure(err);
    }
    let text: string;
    try {
      text = await readCapped(response.body);
    } catch (err) {
      // The status line arrived, so the request was received; its body did not.
      const failure = transportFailure(err);
      return { kind: 'maybe_sent', detail: `HTTP ${response.statusCode}, then ${failure.detail}` };
    }
    return { kind: 'response', status: response.statusCode, headers: response.headers, text, json: parseJson(text) };
  }

  /** Idempotent: a provider may be closed early (to let its last events land) and again at exit. */
  async close(): Promise<void> {
    if (this.ownsDispatcher && !this.closed) {
      this.closed = true;
      await this.dispatcher.close();
    }
  }
}

/** The request option that carries a `departed` callback to reportingDeparture. */
const DEPARTED = 'heraldDeparted';

/**
 * An interceptor: calls the request's `departed` option when undici writes the request to its
 * connection (its handler's onConnect / onRequestStart, called right before the headers are
 * written). Handing a request to the Pool is not that moment: it may wait for a connection to open,
 * and a sender's window must count requests when they leave (dispatch.ts).
 */
function reportingDeparture(dispatch: Dispatcher['dispatch']): Dispatcher['dispatch'] {
  return (opts, handler) => {
    const departed = (opts as { [DEPARTED]?: () => void })[DEPARTED];
    if (!departed) return dispatch(opts, handler);
    const hooked = new Proxy(handler, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        if (property !== 'onConnect' && property !== 'onRequestStart') return value.bind(target) as unknown;
        return (...args: unknown[]) => {
          departed();
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return dispatch(opts, hooked);
  };
}

function transportFailure(err: unknown): Extract<HttpOutcome, { kind: 'not_sent' | 'maybe_sent' }> {
  const code = (err as { code?: string }).code ?? '';
  const detail = `${code ? `${code}: ` : ''}${errorMessage(err)}`;
  return NOT_SENT_CODES.has(code) ? { kind: 'not_sent', detail } : { kind: 'maybe_sent', detail };
}

async function readCapped(body: Dispatcher.ResponseData<unknown>['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      body.destroy();
      break;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined; // truncated or not JSON: callers see `json: undefined` and the raw text
  }
}

/** Retry-After in seconds or as an HTTP date, in ms. */
export function retryAfterMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const value = headers['retry-after'];
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * What every provider does alike with a transport failure or a response it cannot read; null
 * when the adapter must read the response itself (a JSON body, or a 2xx).
 */
export function genericOutcome(r: HttpOutcome): SendOutcome | null {
  if (r.kind === 'not_sent') return { kind: 'error', action: 'retry', code: 'network', detail: r.detail };
  if (r.kind === 'maybe_sent') return { kind: 'unknown', detail: r.detail };
  const { status } = r;
  const snippet = r.text.replace(/\s+/g, ' ').trim().slice(0, 200) || '(empty body)';
  if (status >= 300 && status < 400) {
    const location = r.headers.location;
    return { kind: 'error', action: 'fix_request', code: `http:${status}`, detail: `redirected${location ? ` to ${String(location)}` : ''}: check the provider's base URL` };
  }
  if (status === 429) return { kind: 'error', action: 'slow_down', code: 'http:429', detail: snippet, ...withRetryAfter(r.headers) };
  if (r.json !== undefined && r.json !== null && typeof r.json === 'object') return null;
  if (status >= 500) return { kind: 'error', action: 'retry', code: `http:${status}`, detail: snippet, ...withRetryAfter(r.headers) };
  if (status === 401 || status === 403) return { kind: 'error', action: 'abort', code: `http:${status}`, detail: snippet };
  if (status >= 400) return { kind: 'error', action: 'permanent', code: `http:${status}`, detail: snippet };
  // 2xx we cannot read (HTML from a proxy, empty, truncated): it may have been accepted.
  return { kind: 'unknown', detail: `HTTP ${status} with an unreadable body: ${snippet}` };
}

function withRetryAfter(headers: Record<string, string | string[] | undefined>): { retryAfterMs?: number } {
  const ms = retryAfterMs(headers);
  return ms === undefined ? {} : { retryAfterMs: ms };
}
