/**
 * The server side of bench/webhook-ingest.ts, in a process of its own (so the load generator
 * never shares its event loop): `herald` mode runs `herald serve`'s webhook stack into
 * PostgreSQL; `bare` mode is a node:http server that does the least a webhook receiver must:
 * reads the whole body into memory (a signature is computed over it) and answers 200.
 * Tells its port over IPC; answers the message "cpu" with its CPU time so far (µs, user + system);
 * stops on the message "stop".
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RuntimeConfigSchema } from '../src/config/runtime.schema.js';
import { createLogger } from '../src/log.js';
import { startServe } from '../src/server/serve.js';
import { openWarehouse } from '../src/warehouse/open.js';

const [mode, pgUrl, appSecret = 'bench-app-secret'] = process.argv.slice(2);
const send = (m: unknown) => process.send?.(m);
process.on('message', (m) => {
  if (m === 'cpu') {
    const { user, system } = process.cpuUsage();
    send({ cpu: user + system });
  }
});

if (mode === 'bare') {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      // The whole body in one buffer, as a receiver holds it to check its signature.
      void Buffer.concat(chunks);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
    });
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => send({ port: (server.address() as AddressInfo).port }));
  process.on('message', (m) => {
    if (m === 'stop') server.close(() => process.exit(0));
  });
} else if (mode === 'herald' && pgUrl) {
  const wh = await openWarehouse(pgUrl);
  const config = RuntimeConfigSchema.parse({ providers: { meta: { app_secret: appSecret } } });
  const handle = await startServe({ config, wh, logger: createLogger({ level: 'warn' }), port: 0, host: '127.0.0.1' });
  send({ port: handle.port });
  process.on('message', (m) => {
    if (m === 'stop') void handle.close().then(() => wh.close()).then(() => process.exit(0));
  });
} else {
  console.error('usage: webhook-server.js bare | herald <postgres url> [app secret]');
  process.exit(2);
}
