'use strict';
// Node's dgram baseline, speaking the same protocol as receivers.py:
//   node bench/node_peer.js MODE COUNT WARM ACK_EVERY ECHO_PORT TIMEOUT_S
// MODE is window | blast (receive from bench/peer.py) | rtt (ping bench/peer.py's echo,
// the next ping sent from the 'message' handler). Prints "PORT <n>" once listening and
// "RESULT <json>" at the end, or on SIGTERM (blast mode ends that way).

const dgram = require('dgram');

const [mode, totalArg, warmArg, ackArg, echoArg, timeoutArg] = process.argv.slice(2);
const total = Number(totalArg);
const warm = mode === 'blast' ? 1 : Math.max(1, Number(warmArg));
const ackEvery = mode === 'window' ? Number(ackArg) : 0;
const echoPort = Number(echoArg);
const PING = Buffer.alloc(64, 'p');

const marks = {};
let count = 0;
let nextCheck = 1;
let finished = false;

function mark(name, at) {
  const usage = process.cpuUsage();
  marks[name] = [(usage.user + usage.system) / 1e6, Number(process.hrtime.bigint()) / 1e9, at];
}

function finish() {
  if (finished) return;
  finished = true;
  if (!marks.end) mark('end', count);
  const start = marks.warm || marks.first;
  const end = marks.end;
  const result = start
    ? { received: count, span: end[2] - start[2], cpu_s: end[0] - start[0], wall_s: end[1] - start[1] }
    : { received: count, span: 0, cpu_s: 0, wall_s: 0 };
  sock.close();
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n', () => process.exit(0));
}

// Same schedule as Checkpoints.reached in receivers.py.
function reached(at) {
  if (at === 1) mark('first', at);
  if (at === warm) mark('warm', at);
  if (at >= total) {
    mark('end', at);
    setImmediate(finish); // after the final ack below is sent
    return Infinity;
  }
  let next = total;
  if (at < warm) next = Math.min(next, warm);
  if (ackEvery) next = Math.min(next, (Math.floor(at / ackEvery) + 1) * ackEvery);
  return next;
}

const sock = dgram.createSocket('udp4');
sock.on('message', (msg, rinfo) => {
  count += 1;
  if (count >= nextCheck) {
    nextCheck = reached(count);
    if (ackEvery && (count % ackEvery === 0 || count >= total)) {
      sock.send(String(count), rinfo.port, rinfo.address);
    }
  }
  if (mode === 'rtt' && count < total) sock.send(PING, echoPort, '127.0.0.1');
});
sock.bind(0, '127.0.0.1', () => {
  process.stdout.write('PORT ' + sock.address().port + '\n');
  if (mode === 'rtt') setTimeout(() => sock.send(PING, echoPort, '127.0.0.1'), 50);
});
process.on('SIGTERM', finish);
setTimeout(finish, Number(timeoutArg) * 1000).unref();
