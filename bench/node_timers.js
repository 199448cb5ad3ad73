'use strict';
// Node's timer baseline, the same three scenarios as `scenarios.py timers`:
//   node bench/node_timers.js chain N    setTimeout(fn, 0) chain: each callback sets the next
//   node bench/node_timers.js batch N    N x setTimeout(fn, 0) set at once, all fire
//   node bench/node_timers.js clear N    N timeouts of 1 hour + i ms set, then all cleared
// Prints "RESULT <json>": cpu_s / wall_s over `span` timers (chain and batch: after a
// 10 % warm-up; clear: set_cpu_s and clear_cpu_s over all N). Note that Node turns a
// delay below 1 ms into 1 ms: each timer of the chain waits about 1 ms.

const [mode, countArg] = process.argv.slice(2);
const total = Number(countArg);
const warm = Math.max(1, Math.floor(total / 10));

function now() {
  const usage = process.cpuUsage();
  return [(usage.user + usage.system) / 1e6, Number(process.hrtime.bigint()) / 1e9];
}

function report(result) {
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n', () => process.exit(0));
}

function spanResult(start, end, span) {
  return { span, cpu_s: end[0] - start[0], wall_s: end[1] - start[1] };
}

if (mode === 'chain') {
  let count = 0;
  let start = null;
  const step = () => {
    count += 1;
    if (count === warm) start = now();
    if (count < total) setTimeout(step, 0);
    else report(spanResult(start, now(), total - warm));
  };
  setTimeout(step, 0);
} else if (mode === 'batch') {
  // A warm-up batch first, then the measured one (from inside a timer callback, as the
  // Python side sets its batch from the event thread).
  const batch = (count, done) => {
    let fired = 0;
    const fire = () => {
      fired += 1;
      if (fired === count) done();
    };
    for (let i = 0; i < count; i += 1) setTimeout(fire, 0);
  };
  setTimeout(() => {
    batch(warm, () => {
      const start = now();
      batch(total, () => report(spanResult(start, now(), total)));
    });
  }, 0);
} else if (mode === 'clear') {
  setTimeout(() => {
    const noop = () => {};
    const ids = new Array(total);
    const start = now();
    for (let i = 0; i < total; i += 1) ids[i] = setTimeout(noop, 3600000 + i);
    const set = now();
    for (let i = 0; i < total; i += 1) clearTimeout(ids[i]);
    const end = now();
    report({
      span: total,
      set_cpu_s: set[0] - start[0],
      clear_cpu_s: end[0] - set[0],
      cpu_s: end[0] - start[0],
      wall_s: end[1] - start[1],
    });
  }, 0);
} else {
  process.stderr.write('unknown mode ' + mode + '\n');
  process.exit(2);
}
setTimeout(() => process.exit(3), 120000).unref();
