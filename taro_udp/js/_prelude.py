"""The JavaScript half of the runtime: ``wx``, timers, console, ``require``, ``Page``...

It runs once in every new context, with three host functions in scope: ``host(op,
json)`` (every call into Python: JSON text in, ``"o" + JSON`` or ``"e" + JSON`` out, so
that no string with a NUL and no rope string ever crosses the binding, and a Python
exception becomes a JS ``Error`` here instead of the binding's ``SystemError``),
``hostNow()`` and ``hostPerf()`` (the loop's clock, as numbers), plus ``MARK`` (the
tag key of ``_values``) and ``SLOT`` (where Python leaves a compiled module). It returns
the dispatcher Python calls every JS callback through, and leaves the datagram entry in
``SLOT``; both return a result as ``enc()`` text (one flat string from
``JSON.stringify``: any length crosses the binding) and catch what the callback throws,
handing it back as an object (name, message, stack) whose JSON the binding makes.

Binary data crosses as base64 (``Uint8Array.fromBase64`` / ``toBase64``).
"""

# The JS source keeps its own line lengths.
# ruff: noqa: E501

PRELUDE = r"""
(function (host, hostNow, hostPerf, MARK, SLOT) {
  'use strict';
  const g = globalThis;
  // The intrinsics the runtime's own plumbing uses, kept now: a script that replaces
  // JSON.parse, Object.keys or Promise.prototype.then changes nothing of the runtime.
  const apply = Reflect.apply, construct = Reflect.construct;
  const jsonParse = JSON.parse, jsonStringify = JSON.stringify;
  const O = { defineProperty: Object.defineProperty, keys: Object.keys, entries: Object.entries,
              assign: Object.assign, create: Object.create };
  const ownProperty = Object.prototype.hasOwnProperty;
  const RealPromise = Promise, promiseResolve = Promise.resolve, promiseReject = Promise.reject;
  const promiseThen = Promise.prototype.then;
  const resolved = (v) => apply(promiseResolve, RealPromise, [v]);
  const then = (p, onOk, onFail) => apply(promiseThen, p, [onOk, onFail]);
  const hasOwn = (object, key) => apply(ownProperty, object, [key]);
  const ERRORS = { TypeError, RangeError, SyntaxError, ReferenceError };

  function call(op, args) {
    const r = host(op, args === undefined ? '' : jsonStringify(args));
    if (r.charCodeAt(0) === 101) {  // 'e'
      const e = jsonParse(r.slice(1));
      throw new (ERRORS[e.name] || Error)(e.message);
    }
    return r.length > 1 ? dec(r.slice(1)) : undefined;
  }

  // Functions Python calls back: by id, dropped once they cannot be called again.
  const fns = new Map();
  let nextFn = 1;
  function keep(fn) { const id = nextFn++; fns.set(id, fn); return id; }

  // -- values for Python: JSON text, with what JSON cannot carry tagged ------------------
  // (see _values.py). Handles: functions and Promises Python holds, until it lets go.
  const handles = new Map();
  let nextHandle = 1;
  function handle(value) { const id = nextHandle++; handles.set(id, value); return id; }
  // A Promise handed to Python is Python's to handle (JSPromise.result()): its
  // rejection is reported only if Python lets go of it unobserved (or at close).
  const observed = new Set(), unobserved = new Map();
  // One rejected before the hand-over is Python's only if no JS code handled it and it
  // was not reported yet: Python's handler is then the first (the engine counts those).
  function handOver(p) {
    const id = handle(p);
    const before = call('adopted');
    let early = true;
    then(p, undefined, (e) => { if (!observed.has(id) && (adopted || !early)) unobserved.set(id, e); });
    const adopted = call('adopted') !== before;
    then(resolved(), () => { early = false; });
    return id;
  }
  function tag(kind, payload) { return { [MARK]: [kind, payload] }; }
  function replacer(key, v) {
    switch (typeof v) {
      case 'string': case 'boolean': case 'undefined': return v;
      case 'number': return Number.isFinite(v) ? v : tag('number', String(v));
      case 'function': return tag('fn', handle(v));
      case 'bigint': return tag('bigint', v.toString());
      case 'symbol': return tag('symbol', v.toString());
      default:
        if (v === null) return v;
        if (v instanceof ArrayBuffer) return tag('bytes', new Uint8Array(v).toBase64());
        if (v instanceof Error) return tag('error', [String(v.name), String(v.message), String(v.stack || '')]);
        if (v instanceof RealPromise) return tag('promise', handOver(v));
        return v;
    }
  }
  // JSON.stringify's output is one flat string: it crosses the binding at any length.
  function enc(value) { return jsonStringify(value, replacer); }
  function reviver(key, v) {
    if (v === null || typeof v !== 'object' || !hasOwn(v, MARK)) return v;
    const [kind, payload] = v[MARK];
    if (kind === 'bytes') return toBuffer(payload);
    if (kind === 'number') return Number(payload);
    if (kind === 'handle') return handles.get(payload);
    if (kind === 'py') return function (...args) { return call('callPython', [payload, encText(args)]); };
    return v;
  }
  function dec(text) { return text.indexOf(MARK) < 0 ? jsonParse(text) : jsonParse(text, reviver); }
  function encText(value) { const t = enc(value); return t === undefined ? null : t; }

  // -- binary <-> base64 --------------------------------------------------------------
  function bytesOf(value) {
    if (value instanceof ArrayBuffer) return new Uint8Array(value);
    if (ArrayBuffer.isView(value)) {
      return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    }
    return null;
  }
  function toBuffer(b64) {
    const bytes = Uint8Array.fromBase64(b64);
    return bytes.buffer;
  }

  // -- clock -------------------------------------------------------------------------
  const RealDate = Date;
  function TaroDate(...args) {
    if (!new.target) return new RealDate(hostNow()).toString();
    // new.target: a subclass (class Stamp extends Date) gets a Stamp.
    return construct(RealDate, args.length ? args : [hostNow()], new.target);
  }
  O.defineProperty(TaroDate, 'name', { value: 'Date' });
  O.defineProperty(TaroDate, 'length', { value: 7 });
  TaroDate.prototype = RealDate.prototype;
  TaroDate.now = hostNow;
  TaroDate.parse = RealDate.parse;
  TaroDate.UTC = RealDate.UTC;
  O.defineProperty(RealDate.prototype, 'constructor', { value: TaroDate, writable: true,
                                                             configurable: true });
  g.Date = TaroDate;
  g.performance = { now: hostPerf };

  // -- timers (taro_udp's: one order with datagrams and Python timers) --------------------
  const timers = new Map();
  function schedule(fn, delay, args, repeat) {
    if (typeof fn !== 'function') {
      throw new TypeError((repeat ? 'setInterval' : 'setTimeout') + ': callback must be a function');
    }
    let ms = Number(delay);
    if (!Number.isFinite(ms)) ms = Number.isNaN(ms) || ms < 0 ? 0 : 2147483648;
    const id = call('setTimer', [ms, repeat]);
    timers.set(id, { fn, args, repeat });
    return id;
  }
  function clear(id) {
    if (typeof id !== 'number' || !timers.has(id)) return;
    timers.delete(id);
    call('clearTimer', [id]);
  }
  g.setTimeout = (fn, delay, ...args) => schedule(fn, delay, args, false);
  g.setInterval = (fn, delay, ...args) => schedule(fn, delay, args, true);
  g.clearTimeout = clear;
  g.clearInterval = clear;
  g.queueMicrotask = g.queueMicrotask || ((fn) => { then(resolved(), fn); });

  // -- randomness: the engine's own, or seeded from the simulated network's seed --------
  // Seeded (api.seed, when a SimulatedNetwork is active), Math.random and
  // crypto.getRandomValues draw from one xoshiro128** generator, so that two runs with
  // the same seed see the same numbers: reproducible, and NOT cryptographic. Otherwise
  // Math.random is the engine's and getRandomValues takes the OS's random bytes.
  let nextWord = null;
  function seedRandom(hex) {
    let a = parseInt(hex.slice(0, 8), 16) | 0, b = parseInt(hex.slice(8, 16), 16) | 0;
    let c = parseInt(hex.slice(16, 24), 16) | 0, d = parseInt(hex.slice(24, 32), 16) | 0;
    if ((a | b | c | d) === 0) a = 1;
    const rotl = (x, k) => (x << k) | (x >>> (32 - k));
    nextWord = () => {
      const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
      const t = b << 9;
      c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
      return r;
    };
    O.defineProperty(Math, 'random', { value: function random() {
      return ((nextWord() >>> 5) * 67108864 + (nextWord() >>> 6)) / 9007199254740992;  // 53 bits
    }, writable: true, configurable: true });
  }
  const INTEGER_ARRAYS = [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array];
  function getRandomValues(array) {
    if (!INTEGER_ARRAYS.some((T) => array instanceof T)) {
      throw new TypeError('crypto.getRandomValues: argument must be an integer TypedArray');
    }
    if (array.byteLength > 65536) {
      const e = new Error('crypto.getRandomValues: ' + array.byteLength + ' bytes asked, at most 65536');
      e.name = 'QuotaExceededError';
      throw e;
    }
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    if (nextWord === null) {
      if (bytes.length) bytes.set(Uint8Array.fromBase64(call('randomBytes', [bytes.length])));
    } else {
      for (let i = 0; i < bytes.length; i += 4) {
        const w = nextWord();
        for (let k = 0; k < 4 && i + k < bytes.length; k++) bytes[i + k] = (w >>> (8 * k)) & 255;
      }
    }
    return array;
  }
  function randomUUID() {
    const b = getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }
  g.crypto = { getRandomValues, randomUUID };

  // -- console -----------------------------------------------------------------------
  function show(value, depth) {
    if (typeof value === 'string') return depth ? jsonStringify(value) : value;
    if (value instanceof Error) return value.stack ? value.name + ': ' + value.message + '\n' + value.stack : String(value);
    if (typeof value === 'function') return '[Function ' + (value.name || 'anonymous') + ']';
    if (value instanceof ArrayBuffer) return 'ArrayBuffer { byteLength: ' + value.byteLength + ' }';
    if (typeof value === 'object' && value !== null) {
      try {
        return jsonStringify(value, (k, v) => {
          if (v instanceof ArrayBuffer) return 'ArrayBuffer { byteLength: ' + v.byteLength + ' }';
          if (typeof v === 'function') return '[Function ' + (v.name || 'anonymous') + ']';
          if (typeof v === 'bigint') return v.toString() + 'n';
          return v;
        });
      } catch (e) { return String(value); }
    }
    return String(value);
  }
  function format(args) {
    let out = '';
    let rest = args;
    if (typeof args[0] === 'string' && /%[sdifjoO%]/.test(args[0])) {
      let i = 1;
      out = args[0].replace(/%[sdifjoO%]/g, (m) => {
        if (m === '%%') return '%';
        if (i >= args.length) return m;
        const v = args[i++];
        if (m === '%d' || m === '%i') return String(parseInt(v, 10));
        if (m === '%f') return String(parseFloat(v));
        if (m === '%s') return typeof v === 'string' ? v : show(v, 1);
        return show(v, 1);
      });
      rest = args.slice(i);
      for (const v of rest) out += ' ' + show(v, 0);
      return out;
    }
    return args.map((v) => show(v, 0)).join(' ');
  }
  const consoleObject = {};
  for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
    consoleObject[level] = (...args) => { call('console', [level, format(args)]); };
  }
  consoleObject.trace = consoleObject.debug;
  g.console = consoleObject;

  // -- TextEncoder / TextDecoder (UTF-8) -----------------------------------------------
  class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(input = '') {
      const s = String(input);
      const out = [];
      for (let i = 0; i < s.length; i++) {
        let c = s.charCodeAt(i);
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
          const d = s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
          else c = 0xfffd;
        } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        if (c < 0x80) out.push(c);
        else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
        else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      }
      return new Uint8Array(out);
    }
  }
  class TextDecoder {
    constructor(label = 'utf-8', options = {}) {
      const name = String(label).toLowerCase();
      if (name !== 'utf-8' && name !== 'utf8') throw new RangeError('TextDecoder: only utf-8 is provided, not ' + label);
      this.fatal = !!(options && options.fatal);
    }
    get encoding() { return 'utf-8'; }
    decode(input) {
      if (input === undefined) return '';
      const b = bytesOf(input);
      if (b === null) throw new TypeError('TextDecoder.decode: argument must be an ArrayBuffer or a view of one');
      // The Encoding Standard's UTF-8 decoder: one U+FFFD per maximal invalid subpart
      // (ED A0 80 is three), as browsers, Node and Python give.
      const fatal = this.fatal;
      let out = '';
      let chunk = [];
      const flush = () => { out += String.fromCharCode.apply(null, chunk); chunk = []; };
      const bad = () => { if (fatal) throw new TypeError('TextDecoder: invalid UTF-8'); chunk.push(0xfffd); };
      let i = b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
      let needed = 0, seen = 0, cp = 0, lower = 0x80, upper = 0xbf;
      while (i < b.length) {
        const c = b[i];
        if (needed === 0) {
          i++;
          if (c < 0x80) chunk.push(c);
          else if (c >= 0xc2 && c <= 0xdf) { needed = 1; cp = c & 0x1f; }
          else if (c >= 0xe0 && c <= 0xef) { if (c === 0xe0) lower = 0xa0; else if (c === 0xed) upper = 0x9f; needed = 2; cp = c & 0xf; }
          else if (c >= 0xf0 && c <= 0xf4) { if (c === 0xf0) lower = 0x90; else if (c === 0xf4) upper = 0x8f; needed = 3; cp = c & 7; }
          else bad();
        } else if (c < lower || c > upper) {
          needed = seen = cp = 0; lower = 0x80; upper = 0xbf;
          bad();  // and c starts the next sequence: i stays
        } else {
          i++;
          lower = 0x80; upper = 0xbf;
          cp = (cp << 6) | (c & 0x3f);
          if (++seen === needed) {
            if (cp >= 0x10000) { cp -= 0x10000; chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023)); }
            else chunk.push(cp);
            needed = seen = cp = 0;
          }
        }
        if (chunk.length > 8192) flush();
      }
      if (needed) bad();
      flush();
      return out;
    }
  }
  g.TextEncoder = TextEncoder;

  // -- errors thrown out of eval() -------------------------------------------------------
  // The binding turns such an error into text through Error.prototype.toString, as a C
  // string: cut at a NUL, a lone surrogate mangled. The last error made text is kept
  // for Python to read whole (api.lastThrown). A Proxy of the method: it looks and
  // behaves as the engine's own (name, length, source text "[native code]").
  let lastStringified;
  O.defineProperty(Error.prototype, 'toString', {
    value: new Proxy(Error.prototype.toString, {
      apply(target, self, args) { lastStringified = self; return apply(target, self, args); },
    }),
    writable: true, enumerable: false, configurable: true,
  });
  g.TextDecoder = TextDecoder;

  // -- UDPSocket -----------------------------------------------------------------------
  const EVENTS = { Message: 'message', Error: 'error', Listening: 'listening', Close: 'close' };

  function portArg(value) {
    // NaN and Infinity would turn into null in JSON (the OS would pick a port): send
    // them as text, which the validators reject as an invalid port, as WeChat does.
    return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
  }

  function messageFields(option, out) {
    for (const key of ['message', 'data']) {
      if (!(key in option)) continue;
      const value = option[key];
      const bytes = bytesOf(value);
      if (bytes !== null) out[key + '$b64'] = bytes.toBase64();
      else if (value !== undefined) out[key] = value;
    }
  }

  class UDPSocket {
    constructor(id) {
      O.defineProperty(this, '_id', { value: id });
      O.defineProperty(this, '_listeners', { value: { message: new Map(), error: new Map(), listening: new Map(), close: new Map() } });
      O.defineProperty(this, '_errors', { value: new Map() });  // once closed: id -> error listener
    }
    bind(port) {
      // A failed bind returns 0 (never a bound port) and is reported to onError: the
      // bind never throws, so mini-program code that checks the result goes on.
      return call('bind', [this._id, port === undefined ? null : portArg(port)]);
    }
    _result(method, option) {
      if (option === null || typeof option !== 'object') {
        throw new TypeError(method + ': option must be an object');
      }
      const out = {};
      for (const key of ['address', 'port', 'offset', 'length', 'setBroadcast']) {
        if (key in option && option[key] !== undefined) out[key] = key === 'port' ? portArg(option[key]) : option[key];
      }
      messageFields(option, out);
      const callbacks = {};
      let any = false;
      for (const key of ['success', 'fail', 'complete']) {
        const fn = option[key];
        if (fn === undefined || fn === null) continue;
        if (typeof fn !== 'function') throw new TypeError(method + ': ' + key + ' must be a function');
        callbacks[key] = fn;
        any = true;
      }
      if (any) out.$callbacks = keep(callbacks);
      out.$keys = O.keys(callbacks);
      return call(method, [this._id, out]);
    }
    send(option) { this._result('send', option); }
    write(option) { this._result('write', option); }
    connect(option) {
      if (option === null || typeof option !== 'object') throw new TypeError('connect: option must be an object');
      const out = {};
      if ('address' in option) out.address = option.address;
      if ('port' in option) out.port = portArg(option.port);
      call('connect', [this._id, out]);
    }
    setTTL(ttl) { call('setTTL', [this._id, portArg(ttl === undefined ? null : ttl)]); }
    close() { call('close', [this._id]); }
  }
  // A socket's listeners are in `fns` while it is open. Once it has closed, nothing can
  // call its message, listening or close listeners again: they are dropped, here and in
  // Python. Its error listeners stay, held by the socket object alone (a method called
  // after close reports "<method>:fail socket is closed" to them, as the core does),
  // until the object is garbage: then Python forgets the socket too.
  const live = new Map();  // id -> UDPSocket, while open
  const closedSockets = new Map();  // id -> WeakRef(UDPSocket), once closed
  const released = new FinalizationRegistry((id) => {
    closedSockets.delete(id);
    call('release', [id]);
  });
  function socketClosed(id) {
    const sock = live.get(id);
    if (sock === undefined) return;
    live.delete(id);
    for (const [event, known] of O.entries(sock._listeners)) {
      for (const [listener, fnId] of known) {
        fns.delete(fnId);
        if (event === 'error') sock._errors.set(fnId, listener);
      }
      if (event !== 'error') known.clear();
    }
    closedSockets.set(id, new WeakRef(sock));
  }
  function fireClosed(id, fnId, json) {
    const ref = closedSockets.get(id);
    const sock = ref === undefined ? undefined : ref.deref();
    const fn = sock === undefined ? undefined : sock._errors.get(fnId);
    if (fn !== undefined) fn(dec(json));
  }
  for (const [Name, event] of O.entries(EVENTS)) {
    UDPSocket.prototype['on' + Name] = function (listener) {
      if (typeof listener !== 'function') throw new TypeError('on' + Name + ': listener must be a function');
      const known = this._listeners[event];
      if (known.has(listener)) return;
      const open = live.has(this._id);
      if (!open && event !== 'error') return;  // closed: it could never be called
      const id = open ? keep(listener) : nextFn++;
      if (!open) this._errors.set(id, listener);
      known.set(listener, id);
      call('on', [this._id, event, id]);
    };
    UDPSocket.prototype['off' + Name] = function (listener) {
      const known = this._listeners[event];
      if (listener === undefined) {
        for (const id of known.values()) { fns.delete(id); this._errors.delete(id); }
        known.clear();
        call('off', [this._id, event, null]);
        return;
      }
      const id = known.get(listener);
      if (id === undefined) return;
      known.delete(listener);
      fns.delete(id);
      this._errors.delete(id);
      call('off', [this._id, event, id]);
    };
  }

  function createUDPSocket(type) {
    const sock = new UDPSocket(call('createUDPSocket', [type === undefined ? null : type]));
    live.set(sock._id, sock);
    released.register(sock, sock._id);
    return sock;
  }

  // -- storage (in memory) ---------------------------------------------------------------
  const storage = new Map();
  function storageKey(key, method) {
    if (typeof key !== 'string' || key === '') throw new TypeError(method + ': key must be a non-empty string');
    return key;
  }
  const clone = (value) => (value === undefined ? undefined : jsonParse(jsonStringify(value)));

  // -- wx / Taro -------------------------------------------------------------------------
  // wx is a plain object with what is provided (and stubbed) as its own properties, so
  // that a call reads a plain property. Its prototype is a Proxy that sees only the
  // names wx lacks: they are absent (undefined, not `in wx`, canIUse false), as on a
  // phone where an API does not exist, and the first read of each logs a hint.
  const provided = O.assign(O.create(null), {
    createUDPSocket,
    getStorageSync(key) { key = storageKey(key, 'getStorageSync'); return storage.has(key) ? clone(storage.get(key)) : ''; },
    setStorageSync(key, value) { storage.set(storageKey(key, 'setStorageSync'), clone(value)); },
    removeStorageSync(key) { storage.delete(storageKey(key, 'removeStorageSync')); },
    clearStorageSync() { storage.clear(); },
    getStorageInfoSync() { return { keys: Array.from(storage.keys()), currentSize: 0, limitSize: 10240 }; },
    canIUse(name) { return typeof name === 'string' && hasOwn(wx, name.split('.')[0]); },
  });
  const hinted = new Set();
  const absent = new Proxy(O.create(null), {
    get(target, prop) {
      if (typeof prop !== 'string') return undefined;
      if (prop in Object.prototype) return Object.prototype[prop];  // wx.hasOwnProperty...
      if (prop !== 'then' && prop !== 'toJSON' && !hinted.has(prop)) {
        hinted.add(prop);
        call('hint', [prop]);
      }
      return undefined;
    },
    has(target, prop) { return prop in Object.prototype; },
  });
  const wx = O.create(absent);
  for (const name of O.keys(provided)) {
    O.defineProperty(wx, name, { value: provided[name], writable: true, enumerable: true, configurable: true });
  }
  // The arguments of a Python stub: functions as JSFunction handles (a stub may call
  // them, then or later); an async call's success/fail/complete are left out (run here).
  function stubCall(name, args, async) {
    if (async && args[0] && typeof args[0] === 'object' && !Array.isArray(args[0])) {
      const { success, fail, complete, ...rest } = args[0];
      args = [rest, ...args.slice(1)];
    }
    return call('stub', [name, encText(args)]);
  }
  // A stub written in Python: sync APIs (a name ending in Sync, or declared sync) return
  // its value; async ones call success or fail, then complete, or settle the Promise
  // they return when given no callback.
  function pythonStub(name, sync) {
    return function (...args) {
      if (sync) return stubCall(name, args, false);
      const option = args[0] && typeof args[0] === 'object' ? args[0] : {};
      const settle = (ok, res) => {
        const fn = ok ? option.success : option.fail;
        if (typeof fn === 'function') fn(res);
        if (typeof option.complete === 'function') option.complete(res);
      };
      let res, ok = true;
      try {
        res = stubCall(name, args, true);
        if (res === undefined || res === null) res = { errMsg: name + ':ok' };
      } catch (e) {
        ok = false;
        res = { errMsg: name + ':fail ' + e.message };
      }
      if (typeof option.success === 'function' || typeof option.fail === 'function' || typeof option.complete === 'function') {
        then(resolved(), () => settle(ok, res));
        return undefined;
      }
      return ok ? resolved(res) : apply(promiseReject, RealPromise, [res]);
    };
  }
  function setStub(name, fn) {
    O.defineProperty(wx, name, { value: fn, writable: true, enumerable: true, configurable: true });
  }
  function removeStub(name) {
    if (name in provided) setStub(name, provided[name]);
    else delete wx[name];
  }
  g.wx = wx;

  // -- Taro and the module @tarojs/taro ----------------------------------------------------
  // Taro is wx plus what Taro itself adds; `import Taro, { createUDPSocket } from
  // '@tarojs/taro'` gets it as an ES module namespace whose members are read at each use
  // (so a stub made later is seen), whatever node_modules holds.
  function currentPage() {
    for (let i = pages.length - 1; i >= 0; i--) if (pages[i] !== undefined) return pages[i];
    return undefined;
  }
  const ENV_TYPE = { WEAPP: 'WEAPP', SWAN: 'SWAN', ALIPAY: 'ALIPAY', TT: 'TT', QQ: 'QQ', JD: 'JD', WEB: 'WEB', RN: 'RN', HARMONY: 'HARMONY', QUICKAPP: 'QUICKAPP' };
  const taroOwn = {
    ENV_TYPE,
    getEnv() { return ENV_TYPE.WEAPP; },
    getApp() { return app; },
    getCurrentPages() { return pages.filter((p) => p !== undefined); },
    getCurrentInstance() {
      const page = currentPage();
      return { app, page, router: page === undefined ? null : { path: '/' + page.route, params: O.assign({}, page.options) } };
    },
  };
  // wx is Taro's prototype: what wx provides or a test stubs is Taro's too, and what wx
  // lacks is absent from both.
  const Taro = O.create(wx);
  for (const name of O.keys(taroOwn)) {
    O.defineProperty(Taro, name, { value: taroOwn[name], writable: true, enumerable: true, configurable: true });
  }
  g.Taro = Taro;
  const taroModule = new Proxy({}, {
    get(target, prop) {
      if (prop === '__esModule') return true;
      if (prop === 'default') return Taro;
      return Taro[prop];
    },
    has(target, prop) { return prop === '__esModule' || prop === 'default' || prop in Taro; },
  });

  // -- require: CommonJS, and ES modules / TypeScript as CommonJS -----------------------
  // Python resolves (taro_udp/js/_resolve.py) and loads: an ES module or a .ts file comes
  // back turned into CommonJS by sucrase, with every line where it was and webpack's
  // interop (`exports.__esModule`, `default`), so `require` of an ES module gets its
  // namespace and `import x from` a CommonJS module gets its module.exports.
  const modules = new Map();
  const loading = [];  // the modules whose top-level code runs now, innermost last
  function makeRequire(dir) {
    function require(path) {
      if (typeof path !== 'string') throw new TypeError('require: path must be a string');
      const found = call('resolve', [dir, path]);
      const known = modules.get(found.path);
      // A module still loading is returned as it is (a cycle), as Node and webpack do.
      if (known !== undefined) return known.exports;
      const module = { id: found.path, filename: found.path, exports: {}, loaded: false };
      modules.set(found.path, module);
      if (found.builtin) {
        module.exports = taroModule;
        module.loaded = true;
        return module.exports;
      }
      try {
        const loaded = call('load', [found.path]);
        if (loaded.error !== undefined) throw new (ERRORS[loaded.name] || SyntaxError)(loaded.error);
        if (found.path.endsWith('.json')) {
          module.exports = jsonParse(loaded.source);
        } else {
          // Compiled by Python under the file's own name (Engine.compile_module), after
          // the transform for TypeScript and ES modules: the function, or the
          // SyntaxError, waits in SLOT.
          const fn = g[SLOT];
          delete g[SLOT];
          if (!loaded.compiled) throw fn;
          loading.push(found.path);
          try {
            apply(fn, module.exports, [module.exports, makeRequire(found.dir), module, found.path, found.dir]);
          } finally { loading.pop(); }
        }
      } catch (e) {
        modules.delete(found.path);
        throw e;
      }
      module.loaded = true;
      return module.exports;
    }
    return require;
  }
  g.require = makeRequire('');

  // -- App / Page / Component ------------------------------------------------------------
  let app = undefined;
  let defining = null;  // the route whose file is being loaded
  const definitions = new Map();
  const pages = [];

  function setPath(target, path, value) {
    const keys = [];
    path.replace(/[^.[\]]+|\[(\d+)\]/g, (m, index) => { keys.push(index !== undefined ? Number(index) : m); return m; });
    // Own properties only: a key from a datagram ('devices.' + name) may be __proto__,
    // constructor or prototype, and must not reach Object.prototype of the whole context.
    const put = (node, k, v) => {
      if (hasOwn(node, k)) node[k] = v;
      else O.defineProperty(node, k, { value: v, writable: true, enumerable: true, configurable: true });
    };
    let node = target;
    for (let i = 0; i < keys.length - 1; i++) {
      const k = keys[i];
      let next = hasOwn(node, k) ? node[k] : undefined;
      if (next === null || typeof next !== 'object') {
        next = typeof keys[i + 1] === 'number' ? [] : {};
        put(node, k, next);
      }
      node = next;
    }
    put(node, keys[keys.length - 1], value);
  }
  function setData(data, callback) {
    if (data === null || typeof data !== 'object') throw new TypeError('setData: data must be an object');
    // The logic layer's this.data keeps the values given (a socket stays a socket), as
    // in WeChat; only the view layer (page.data in Python) gets a JSON copy.
    for (const [path, value] of O.entries(data)) setPath(this.data, path, value);
    if (typeof callback === 'function') then(resolved(), () => apply(callback, this, []));
  }
  g.App = function App(options) {
    app = O.assign({}, options || {});
    return app;
  };
  g.getApp = function getApp() { return app; };
  // A page's file may be loaded by open_page (defining is its route) or by a plain
  // require before that: then the definition is kept under the module's own route.
  const definingRoute = () => {
    if (defining !== null || loading.length === 0) return defining;
    return loading[loading.length - 1].replace(/\.js$/, '');
  };
  g.Page = function Page(options) {
    definitions.set(definingRoute(), { kind: 'page', options: options || {} });
  };
  g.Component = function Component(options) {
    definitions.set(definingRoute(), { kind: 'component', options: options || {} });
  };
  g.Behavior = function Behavior(options) { return options || {}; };
  g.getCurrentPages = function getCurrentPages() { return pages.slice(); };

  function instantiate(route, definition, query) {
    const o = definition.options;
    const page = {};
    if (definition.kind === 'page') {
      for (const [k, v] of O.entries(o)) if (k !== 'data') page[k] = v;
    } else {
      O.assign(page, o.methods || {});
      page.properties = clone(o.properties) || {};
    }
    page.data = clone(o.data) || {};
    page.route = route;
    page.options = O.assign({}, query);
    page.setData = setData;
    return page;
  }
  function lifecycle(page, definition, names, arg) {
    for (const name of names) {
      const o = definition.options;
      const fn = definition.kind === 'page' ? page[name]
        : (o.lifetimes && o.lifetimes[name]) || o[name] || (o.methods && o.methods[name]);
      if (typeof fn === 'function') apply(fn, page, [arg]);
    }
  }

  // -- what Python calls -----------------------------------------------------------------
  const api = {
    // A datagram: its fields as arguments (no JSON on the hot path).
    message(id, b64, address, family, port, size, localAddress, localPort) {
      const fn = fns.get(id);
      if (fn === undefined) return;
      fn({ remoteInfo: { address, family, port, size },
           localInfo: { address: localAddress, family, port: localPort },
           message: toBuffer(b64) });
    },
    fire(id, json) {
      const fn = fns.get(id);
      if (fn === undefined) return;
      fn(json === null ? undefined : dec(json));
    },
    result(id, key, json) {
      const callbacks = fns.get(id);
      if (callbacks === undefined) return;
      if (key === 'complete') fns.delete(id);
      const fn = callbacks[key];
      if (fn !== undefined) fn(dec(json));
    },
    timer(id, last) {
      const timer = timers.get(id);
      if (timer === undefined) return;
      if (last) timers.delete(id);
      timer.fn(...timer.args);
    },
    closed: socketClosed,
    seed: seedRandom,
    fireClosed,
    json(value) { return value; },
    lastThrown() {
      const e = lastStringified;
      lastStringified = undefined;
      return e instanceof Error ? thrown(e) : undefined;
    },
    require(path) { return g.require(path); },
    launch(queryJson) {
      const query = jsonParse(queryJson);
      for (const name of ['/app.js', '/app.ts']) {
        if (call('resolve', ['', name, true]) != null) { g.require(name); break; }
      }
      if (app !== undefined) {
        lifecycle(app, { kind: 'page', options: app }, ['onLaunch', 'onShow'], { query });
      }
    },
    open(route, queryJson) {
      const query = jsonParse(queryJson);
      let definition = definitions.get(route);
      if (definition === undefined) {
        defining = route;
        try { g.require('/' + route); } finally { defining = null; }
        definition = definitions.get(route);
        if (definition === undefined) throw new Error(route + ' did not call Page() or Component()');
      }
      const page = instantiate(route, definition, query);
      const index = pages.push(page) - 1;
      O.defineProperty(page, '$taroDefinition', { value: definition });
      if (definition.kind === 'component') lifecycle(page, definition, ['created', 'attached'], undefined);
      lifecycle(page, definition, ['onLoad'], page.options);
      lifecycle(page, definition, ['onShow'], undefined);
      lifecycle(page, definition, definition.kind === 'page' ? ['onReady'] : ['ready'], undefined);
      return index;
    },
    page(index) { return pages[index]; },
    // The view layer's copy: JSON text already (a socket kept in data reads as {}).
    data(index) { const page = pages[index]; return page === undefined ? undefined : jsonStringify(page.data); },
    method(index, name, argsJson) {
      const args = dec(argsJson);
      const page = pages[index];
      if (page === undefined) throw new Error('the page is closed');
      const fn = page[name];
      if (typeof fn !== 'function') throw new TypeError(page.route + '.' + name + ' is not a function');
      return apply(fn, page, args);
    },
    callHandle(id, argsJson) {
      const fn = handles.get(id);
      if (typeof fn !== 'function') throw new TypeError('this JSFunction is no longer callable');
      return fn(...dec(argsJson));
    },
    release(id) {
      handles.delete(id);
      observed.delete(id);
      if (!unobserved.has(id)) return undefined;
      const e = unobserved.get(id);
      unobserved.delete(id);
      return thrown(e);  // a rejected Promise Python never awaited: uncaught after all
    },
    unobserved() {
      const all = Array.from(unobserved.values(), thrown);
      unobserved.clear();
      return all;
    },
    watch(id) {
      observed.add(id);
      unobserved.delete(id);
      const settled = (ok) => (value) => { call('settled', [id, ok, encText(value)]); };
      then(resolved(handles.get(id)), settled(true), settled(false));
    },
    closePage(index) {
      const page = pages[index];
      if (page === undefined) return;
      const definition = page.$taroDefinition;
      lifecycle(page, definition, ['onHide', 'onUnload'], undefined);
      if (definition.kind === 'component') lifecycle(page, definition, ['detached'], undefined);
      pages[index] = undefined;
    },
    stub(name, js, sync) {
      setStub(name, js === null ? pythonStub(name, sync) : (0, eval)('(' + js + ')'));
    },
    unstub(name) { removeStub(name); },
    console: (...args) => format(args),
  };

  function thrown(e) {
    try {
      return e instanceof Error
        ? { name: String(e.name), message: String(e.message), stack: String(e.stack || '') }
        : { name: '', message: show(e, 1), stack: '' };
    } catch (inner) {
      return { name: 'Error', message: '(a thrown value that cannot be shown)', stack: '' };
    }
  }
  // The hot path, one entry per datagram, left in SLOT for Python: no op lookup, no spread.
  g[SLOT] = function message(id, b64, address, family, port, size, localAddress, localPort) {
    try {
      api.message(id, b64, address, family, port, size, localAddress, localPort);
      return '';
    } catch (e) {
      return thrown(e);
    }
  };
  // Every call from Python: "" (undefined) or the result as enc() text, both strings;
  // or, for what was thrown, an object { name, message, stack } (Python reads its JSON).
  // A thrown value that is not an Error has the name "".
  return function dispatch(op, ...args) {
    try {
      const value = api[op](...args);
      if (value === undefined) return '';
      return op === 'data' ? value : enc(value);
    } catch (e) {
      return thrown(e);
    }
  };
})
"""
