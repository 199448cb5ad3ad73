// A UDP peer that is not ours: Node's dgram, driven by tests/test_interop_node.py.
//   node node_peer.js echo            -> echoes every datagram to its sender
//   node node_peer.js client PORT N   -> sends N datagrams (windowed) to 127.0.0.1:PORT,
//                                        checks each echo byte for byte
// The first stdout line is {"port": P}; the client's last line is its verdict.
'use strict';
const dgram = require('dgram');
const crypto = require('crypto');

function payload(i) {
  // Deterministic, binary, 0..1399 bytes: the same function exists in the Python test.
  const seed = crypto.createHash('sha256').update(String(i)).digest();
  const size = (i * 37) % 1400;
  const out = Buffer.alloc(size);
  for (let k = 0; k < size; k++) out[k] = seed[k % seed.length] ^ (k & 0xff);
  return out;
}

const mode = process.argv[2];
const sock = dgram.createSocket('udp4');
const deadline = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(2); }, 30000);

sock.bind(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: sock.address().port }));
  if (mode === 'client') runClient(Number(process.argv[3]), Number(process.argv[4]));
});

if (mode === 'echo') {
  sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  process.stdin.on('end', () => { clearTimeout(deadline); sock.close(); });
  process.stdin.resume();
}

function runClient(port, count) {
  const WINDOW = 32;
  let next = 0;
  let verified = 0;
  let mismatched = 0;
  const sendNext = () => { sock.send(payload(next), port, '127.0.0.1'); next += 1; };
  sock.on('message', (msg) => {
    if (msg.equals(payload(verified))) verified += 1; else { mismatched += 1; verified += 1; }
    if (next < count) sendNext();
    if (verified === count) {
      console.log(JSON.stringify({ verified: verified - mismatched, mismatched }));
      clearTimeout(deadline);
      sock.close();
    }
  });
  while (next < Math.min(WINDOW, count)) sendNext();
}
