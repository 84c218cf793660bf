/**
 * @module bench/server-baseline
 * The framework's limit for `bench server`: a plain Fastify HTTPS server (same certificate, same
 * TLS) whose one route returns a constant JSON object. Run as its own process:
 * `node server-baseline.js CERT KEY`; prints its URL on stdout and serves until SIGTERM.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';

const [certFile, keyFile] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined) {
  process.stderr.write('usage: server-baseline CERT KEY\n');
  process.exit(2);
}
const app = Fastify({ https: { cert: readFileSync(certFile), key: readFileSync(keyFile) }, logger: false });
const constant = { row: { id: '00000000-0000-7000-8000-000000000000', email: 'user1@example.com', age: 42 } };
app.get('/constant/:id', () => Promise.resolve(constant));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(
  `https://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}\n`,
);
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
