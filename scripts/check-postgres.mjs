// Fails (exit 1) unless a PostgreSQL server answers at $FORTRESS_TEST_PG_URL. It sends a real
// protocol message (SSLRequest) and expects PostgreSQL's one-byte answer, so a port held by
// something else does not pass. Used by .ci/run.
import net from 'node:net';

const raw = process.env.FORTRESS_TEST_PG_URL;
if (!raw) {
  console.error('FORTRESS_TEST_PG_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)');
  process.exit(1);
}
let url;
try {
  url = new URL(raw);
} catch {
  console.error('FORTRESS_TEST_PG_URL is not a valid URL');
  process.exit(1);
}
const socket = net.connect({ host: url.hostname, port: Number(url.port || 5432) });
const fail = (why) => {
  console.error(`PostgreSQL is not reachable at ${url.host}: ${why}`);
  process.exit(1);
};
socket.setTimeout(5000, () => fail('timed out'));
socket.on('error', (error) => fail(error.message));
socket.on('connect', () => {
  const request = Buffer.alloc(8);
  request.writeInt32BE(8, 0);
  request.writeInt32BE(80877103, 4); // SSLRequest code
  socket.write(request);
});
socket.once('data', (data) => {
  const answer = String.fromCharCode(data[0]);
  socket.destroy();
  if (answer === 'S' || answer === 'N') {
    console.log(`PostgreSQL answers at ${url.host}`);
    process.exit(0);
  }
  fail(`unexpected answer ${JSON.stringify(answer)}`);
});
