/**
 * HttpClient's `departed` hook (src/providers/http.ts): called when undici writes the request to
 * its connection, not when the request is handed over. Real HTTP on loopback.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/providers/http.js';

let server: Server;
let url: string;
/** When the server saw each request's headers, by its path. */
const received = new Map<string, number>();

beforeAll(async () => {
  server = createServer((req, res) => {
    received.set(req.url ?? '', performance.now());
    const delay = req.url === '/slow' ? 300 : 0;
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), delay));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('HttpClient departed', () => {
  it('is called once, when the request leaves: after it waited for a free connection', async () => {
    const http = new HttpClient({ baseUrl: url, connections: 1 });
    try {
      const departed: Record<string, number[]> = { slow: [], next: [] };
      const handedOver = performance.now();
      const [slow, next] = await Promise.all([
        http.request('POST', '/slow', { a: 1 }, {}, () => departed.slow!.push(performance.now())),
        http.request('POST', '/next', { a: 2 }, {}, () => departed.next!.push(performance.now())),
      ]);
      expect(slow).toMatchObject({ kind: 'response', status: 200 });
      expect(next).toMatchObject({ kind: 'response', status: 200 });
      expect(departed.slow).toHaveLength(1);
      expect(departed.next).toHaveLength(1);
      // One connection: the second request left only once the first was answered (300 ms on).
      expect(departed.next![0]! - handedOver).toBeGreaterThanOrEqual(290);
      expect(departed.next![0]!).toBeLessThanOrEqual(received.get('/next')!);
      expect(departed.slow![0]!).toBeLessThanOrEqual(received.get('/slow')!);
    } finally {
      await http.close();
    }
  });

  it('is not called for a request that never reached a connection', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const http = new HttpClient({ baseUrl: `http://127.0.0.1:${port}` });
    try {
      let calls = 0;
      const outcome = await http.request('POST', '/x', {}, {}, () => calls++);
      expect(outcome).toMatchObject({ kind: 'not_sent' });
      expect(calls).toBe(0);
    } finally {
      await http.close();
    }
  });
});
