"""The JavaScript half of the runtime: ``wx``, timers, console, ``require``, ``Page``...

It runs once in every new context, with three host functions in scope: ``host(op,
json)`` (every call into Python: JSON text in, ``"o" + JSON`` or ``"e" + JSON`` out, so
that no string with a NUL and no rope string ever crosses the binding, and a Python
exception becomes a JS ``Error`` here instead of the binding's ``SystemError``),
``hostNow()`` and ``hostPerf()`` (the loop's clock, as numbers). It returns the
dispatcher Python calls every JS callback through; the dispatcher catches what the
callback throws and hands it back as JSON text (name, message, stack).

Binary data crosses as base64 (``Uint8Array.fromBase64`` / ``toBase64``).
"""

# The JS source keeps its own line lengths.
# ruff: noqa: E501

PRELUDE = r"""
(function (host, hostNow, hostPerf, MARK, SLOT) {
  'use strict';
  const g = globalThis;
  const ERRORS = { TypeError, RangeError, SyntaxError, ReferenceError };

  function call(op, args) {
    const r = host(op, args === undefined ? '' : JSON.stringify(args));
    if (r.charCodeAt(0) === 101) {  // 'e'
      const e = JSON.parse(r.slice(1));
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
        if (v instanceof Promise) return tag('promise', handle(v));
        return v;
    }
  }
  // JSON.stringify's output is one flat string: it crosses the binding at any length.
  function enc(value) { return JSON.stringify(value, replacer); }
  function reviver(key, v) {
    if (v === null || typeof v !== 'object' || !Object.prototype.hasOwnProperty.call(v, MARK)) return v;
    const [kind, payload] = v[MARK];
    if (kind === 'bytes') return toBuffer(payload);
    if (kind === 'number') return Number(payload);
    if (kind === 'handle') return handles.get(payload);
    if (kind === 'py') return function (...args) { return call('callPython', [payload, encText(args)]); };
    return v;
  }
  function dec(text) { return text.indexOf(MARK) < 0 ? JSON.parse(text) : JSON.parse(text, reviver); }
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
    return args.length ? new RealDate(...args) : new RealDate(hostNow());
  }
  TaroDate.prototype = RealDate.prototype;
  TaroDate.now = hostNow;
  TaroDate.parse = RealDate.parse;
  TaroDate.UTC = RealDate.UTC;
  Object.defineProperty(RealDate.prototype, 'constructor', { value: TaroDate, writable: true,
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
  g.queueMicrotask = g.queueMicrotask || ((fn) => { Promise.resolve().then(fn); });

  // -- console -----------------------------------------------------------------------
  function show(value, depth) {
    if (typeof value === 'string') return depth ? JSON.stringify(value) : value;
    if (value instanceof Error) return value.stack ? value.name + ': ' + value.message + '\n' + value.stack : String(value);
    if (typeof value === 'function') return '[Function ' + (value.name || 'anonymous') + ']';
    if (value instanceof ArrayBuffer) return 'ArrayBuffer { byteLength: ' + value.byteLength + ' }';
    if (typeof value === 'object' && value !== null) {
      try {
        return JSON.stringify(value, (k, v) => {
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
      const fatal = this.fatal;
      let out = '';
      const bad = () => { if (fatal) throw new TypeError('TextDecoder: invalid UTF-8'); return '\ufffd'; };
      let i = 0;
      if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) i = 3;
      let chunk = [];
      const flush = () => { out += String.fromCharCode.apply(null, chunk); chunk = []; };
      while (i < b.length) {
        const c = b[i];
        let cp = -1, need = 0, min = 0;
        if (c < 0x80) { cp = c; i++; }
        else if (c >= 0xc2 && c < 0xe0) { cp = c & 31; need = 1; min = 0x80; }
        else if (c >= 0xe0 && c < 0xf0) { cp = c & 15; need = 2; min = 0x800; }
        else if (c >= 0xf0 && c < 0xf5) { cp = c & 7; need = 3; min = 0x10000; }
        else { i++; chunk.push(bad().charCodeAt(0)); continue; }
        if (need) {
          let j = 1;
          for (; j <= need; j++) {
            const d = b[i + j];
            if (d === undefined || (d & 0xc0) !== 0x80) break;
            cp = (cp << 6) | (d & 63);
          }
          if (j <= need || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            i += Math.max(1, j);
            chunk.push(bad().charCodeAt(0));
            continue;
          }
          i += need + 1;
        }
        if (cp >= 0x10000) { cp -= 0x10000; chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 1023)); }
        else chunk.push(cp);
        if (chunk.length > 8192) flush();
      }
      flush();
      return out;
    }
  }
  g.TextEncoder = TextEncoder;
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
      Object.defineProperty(this, '_id', { value: id });
      Object.defineProperty(this, '_listeners', { value: { message: new Map(), error: new Map(), listening: new Map(), close: new Map() } });
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
      out.$keys = Object.keys(callbacks);
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
  for (const [Name, event] of Object.entries(EVENTS)) {
    UDPSocket.prototype['on' + Name] = function (listener) {
      if (typeof listener !== 'function') throw new TypeError('on' + Name + ': listener must be a function');
      const known = this._listeners[event];
      if (known.has(listener)) return;
      const id = keep(listener);
      known.set(listener, id);
      call('on', [this._id, event, id]);
    };
    UDPSocket.prototype['off' + Name] = function (listener) {
      const known = this._listeners[event];
      if (listener === undefined) {
        for (const id of known.values()) fns.delete(id);
        known.clear();
        call('off', [this._id, event, null]);
        return;
      }
      const id = known.get(listener);
      if (id === undefined) return;
      known.delete(listener);
      fns.delete(id);
      call('off', [this._id, event, id]);
    };
  }

  function createUDPSocket(type) {
    return new UDPSocket(call('createUDPSocket', [type === undefined ? null : type]));
  }

  // -- storage (in memory) ---------------------------------------------------------------
  const storage = new Map();
  function storageKey(key, method) {
    if (typeof key !== 'string' || key === '') throw new TypeError(method + ': key must be a non-empty string');
    return key;
  }
  const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

  // -- wx / Taro -------------------------------------------------------------------------
  const provided = {
    createUDPSocket,
    getStorageSync(key) { key = storageKey(key, 'getStorageSync'); return storage.has(key) ? clone(storage.get(key)) : ''; },
    setStorageSync(key, value) { storage.set(storageKey(key, 'setStorageSync'), clone(value)); },
    removeStorageSync(key) { storage.delete(storageKey(key, 'removeStorageSync')); },
    clearStorageSync() { storage.clear(); },
    getStorageInfoSync() { return { keys: Array.from(storage.keys()), currentSize: 0, limitSize: 10240 }; },
    canIUse(name) { return typeof name === 'string' && name.split('.')[0] in provided; },
  };
  const stubs = {};
  function notProvided(name) {
    return function () {
      throw new TypeError('wx.' + name + ' is not provided: stub it with runtime.stub("' + name + '", fn)');
    };
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
  // A stub written in Python: sync APIs return its value; async ones call success or
  // fail, then complete, or settle the Promise they return when given no callback.
  function pythonStub(name) {
    return function (...args) {
      if (name.endsWith('Sync')) return stubCall(name, args, false);
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
        Promise.resolve().then(() => settle(ok, res));
        return undefined;
      }
      return ok ? Promise.resolve(res) : Promise.reject(res);
    };
  }
  const handler = {
    get(target, prop) {
      if (typeof prop !== 'string') return undefined;
      if (prop in stubs) return stubs[prop];
      if (prop in provided) return provided[prop];
      if (prop === 'then' || prop === 'toJSON') return undefined;
      return notProvided(prop);
    },
    has(target, prop) { return prop in stubs || prop in provided; },
    set(target, prop, value) { stubs[prop] = value; return true; },
    deleteProperty(target, prop) { delete stubs[prop]; return true; },
  };
  g.wx = new Proxy({}, handler);

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
      return { app, page, router: page === undefined ? null : { path: '/' + page.route, params: Object.assign({}, page.options) } };
    },
  };
  g.Taro = new Proxy({}, {
    get(target, prop) { return typeof prop === 'string' && prop in taroOwn ? taroOwn[prop] : handler.get(target, prop); },
    has(target, prop) { return prop in taroOwn || handler.has(target, prop); },
    set(target, prop, value) { return handler.set(target, prop, value); },
    deleteProperty(target, prop) { return handler.deleteProperty(target, prop); },
  });
  const taroModule = new Proxy({}, {
    get(target, prop) {
      if (prop === '__esModule') return true;
      if (prop === 'default') return g.Taro;
      return g.Taro[prop];
    },
    has(target, prop) { return prop === '__esModule' || prop === 'default' || prop in g.Taro; },
  });

  // -- require: CommonJS, and ES modules / TypeScript as CommonJS -----------------------
  // Python resolves (taro_udp/js/_resolve.py) and loads: an ES module or a .ts file comes
  // back turned into CommonJS by sucrase, with every line where it was and webpack's
  // interop (`exports.__esModule`, `default`), so `require` of an ES module gets its
  // namespace and `import x from` a CommonJS module gets its module.exports.
  const modules = new Map();
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
        if (loaded.error !== undefined) throw new SyntaxError(loaded.error);
        if (found.path.endsWith('.json')) {
          module.exports = JSON.parse(loaded.source);
        } else {
          // Compiled by Python under the file's own name (Engine.compile_module), after
          // the transform for TypeScript and ES modules: the function, or the
          // SyntaxError, waits in SLOT.
          const fn = g[SLOT];
          delete g[SLOT];
          if (!loaded.compiled) throw fn;
          fn.call(module.exports, module.exports, makeRequire(found.dir), module, found.path, found.dir);
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
    let node = target;
    for (let i = 0; i < keys.length - 1; i++) {
      const k = keys[i];
      if (node[k] === null || typeof node[k] !== 'object') node[k] = typeof keys[i + 1] === 'number' ? [] : {};
      node = node[k];
    }
    node[keys[keys.length - 1]] = value;
  }
  function setData(data, callback) {
    if (data === null || typeof data !== 'object') throw new TypeError('setData: data must be an object');
    for (const [path, value] of Object.entries(data)) setPath(this.data, path, clone(value));
    if (typeof callback === 'function') Promise.resolve().then(() => callback.call(this));
  }
  g.App = function App(options) {
    app = Object.assign({}, options || {});
    return app;
  };
  g.getApp = function getApp() { return app; };
  g.Page = function Page(options) {
    definitions.set(defining, { kind: 'page', options: options || {} });
  };
  g.Component = function Component(options) {
    definitions.set(defining, { kind: 'component', options: options || {} });
  };
  g.Behavior = function Behavior(options) { return options || {}; };
  g.getCurrentPages = function getCurrentPages() { return pages.slice(); };

  function instantiate(route, definition, query) {
    const o = definition.options;
    const page = {};
    if (definition.kind === 'page') {
      for (const [k, v] of Object.entries(o)) if (k !== 'data') page[k] = v;
    } else {
      Object.assign(page, o.methods || {});
      page.properties = clone(o.properties) || {};
    }
    page.data = clone(o.data) || {};
    page.route = route;
    page.options = Object.assign({}, query);
    page.setData = setData;
    return page;
  }
  function lifecycle(page, definition, names, arg) {
    for (const name of names) {
      const o = definition.options;
      const fn = definition.kind === 'page' ? page[name]
        : (o.lifetimes && o.lifetimes[name]) || o[name] || (o.methods && o.methods[name]);
      if (typeof fn === 'function') fn.call(page, arg);
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
    json(value) { return value; },
    require(path) { return g.require(path); },
    launch(queryJson) {
      const query = JSON.parse(queryJson);
      for (const name of ['/app.js', '/app.ts']) {
        if (call('resolve', ['', name, true]) != null) { g.require(name); break; }
      }
      if (app !== undefined) {
        lifecycle(app, { kind: 'page', options: app }, ['onLaunch', 'onShow'], { query });
      }
    },
    open(route, queryJson) {
      const query = JSON.parse(queryJson);
      let definition = definitions.get(route);
      if (definition === undefined) {
        defining = route;
        try { g.require('/' + route); } finally { defining = null; }
        definition = definitions.get(route);
        if (definition === undefined) throw new Error(route + ' did not call Page() or Component()');
      }
      const page = instantiate(route, definition, query);
      const index = pages.push(page) - 1;
      Object.defineProperty(page, '$taroDefinition', { value: definition });
      if (definition.kind === 'component') lifecycle(page, definition, ['created', 'attached'], undefined);
      lifecycle(page, definition, ['onLoad'], page.options);
      lifecycle(page, definition, ['onShow'], undefined);
      lifecycle(page, definition, definition.kind === 'page' ? ['onReady'] : ['ready'], undefined);
      return index;
    },
    page(index) { return pages[index]; },
    data(index) { const page = pages[index]; return page === undefined ? undefined : page.data; },
    method(index, name, argsJson) {
      const args = dec(argsJson);
      const page = pages[index];
      if (page === undefined) throw new Error('the page is closed');
      const fn = page[name];
      if (typeof fn !== 'function') throw new TypeError(page.route + '.' + name + ' is not a function');
      return fn.apply(page, args);
    },
    callHandle(id, argsJson) {
      const fn = handles.get(id);
      if (typeof fn !== 'function') throw new TypeError('this JSFunction is no longer callable');
      return fn(...dec(argsJson));
    },
    release(id) { handles.delete(id); },
    watch(id) {
      const settled = (ok) => (value) => { call('settled', [id, ok, encText(value)]); };
      Promise.resolve(handles.get(id)).then(settled(true), settled(false));
    },
    closePage(index) {
      const page = pages[index];
      if (page === undefined) return;
      const definition = page.$taroDefinition;
      lifecycle(page, definition, ['onHide', 'onUnload'], undefined);
      if (definition.kind === 'component') lifecycle(page, definition, ['detached'], undefined);
      pages[index] = undefined;
    },
    stub(name, js) {
      if (js === null) stubs[name] = pythonStub(name);
      else stubs[name] = (0, eval)('(' + js + ')');
    },
    unstub(name) { delete stubs[name]; },
    console: (...args) => format(args),
  };

  // Every call from Python: "" (undefined) or the result as enc() text, both strings;
  // or, for what was thrown, an object { name, message, stack } (Python reads its JSON).
  // A thrown value that is not an Error has the name "".
  return function dispatch(op, ...args) {
    try {
      const value = api[op](...args);
      return value === undefined ? '' : enc(value);
    } catch (e) {
      try {
        return e instanceof Error
          ? { name: String(e.name), message: String(e.message), stack: String(e.stack || '') }
          : { name: '', message: show(e, 1), stack: '' };
      } catch (inner) {
        return { name: 'Error', message: '(a thrown value that cannot be shown)', stack: '' };
      }
    }
  };
})
"""
