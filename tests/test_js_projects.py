"""taro_udp.js: whole projects as they are written: npm's real crypto-js, a Taro module.

- ``crypto-js`` is installed by npm into a temporary project (once per test session; npm's
  own cache makes it take well under a second) and used the way a gateway-provisioning
  module uses it, ``import CryptoJS from 'crypto-js'`` in TypeScript, plus the subpath
  form ``require('crypto-js/aes')``. Its ciphertexts must be Node's ``crypto``'s, byte
  for byte (computed by node in the test when node is there, else the recorded values,
  from the node command in ``NODE_VECTORS``).
- A Taro-style TypeScript module (``import Taro from '@tarojs/taro'``, an enum, a class
  with private fields and methods, ``async`` methods with retries) talks to a Python
  fake device on the simulated network, under virtual time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

if sys.version_info < (3, 10):  # pragma: no cover
    pytest.skip("taro_udp.js needs Python 3.10+ (quickjs-ng)", allow_module_level=True)
pytest.importorskip("quickjs", reason="taro_udp.js needs the quickjs-ng package")

import taro_udp
from taro_udp.js.plugin import JSRuntimeFactory
from taro_udp.testing import SimulatedNetwork

from ._helpers import WAIT

CRYPTO_JS = "crypto-js@4.2.0"
PLAIN = '{"ssid":"lab","pwd":"s3cret"}'
KEY = "0123456789abcdef"
IV = "fedcba9876543210"
# node -e 'const c = require("crypto");
#   const x = c.createCipheriv("aes-128-cbc", "0123456789abcdef", "fedcba9876543210");
#   console.log(JSON.stringify({
#     aes: Buffer.concat([x.update(process.argv[1], "utf8"), x.final()]).toString("base64"),
#     hmac: c.createHmac("sha256", "key").update("message").digest("hex"),
#     md5: c.createHash("md5").update("taro").digest("hex") }))' '{"ssid":"lab","pwd":"s3cret"}'
NODE_SCRIPT = (
    'const c = require("crypto");'
    'const x = c.createCipheriv("aes-128-cbc", "0123456789abcdef", "fedcba9876543210");'
    "console.log(JSON.stringify({"
    'aes: Buffer.concat([x.update(process.argv[1], "utf8"), x.final()]).toString("base64"),'
    'hmac: c.createHmac("sha256", "key").update("message").digest("hex"),'
    'md5: c.createHash("md5").update("taro").digest("hex") }))'
)
NODE_VECTORS = {
    "aes": "O8LIuyIp5YUW9Ik3JjAp5IiSCY7cVPfdObIeCjLl+f8=",
    "hmac": "6e9ef29b75fffc5b7abae527d58fdadb2fe42e7219011976917343065f58ed4a",
    "md5": "3886bc9c9655241c5737d45eec5447bb",
}
# What npm says when it cannot reach its registry (then the test is skipped, not failed).
_OFFLINE = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ENETUNREACH", "network")


@pytest.fixture(scope="session")
def npm_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder with ``crypto-js`` installed by npm (made once per session)."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the real crypto-js package cannot be fetched")
    root = tmp_path_factory.mktemp("npm_project")
    (root / "package.json").write_text('{"name": "gateway", "private": true}\n')
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", CRYPTO_JS],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        if any(word in done.stderr for word in _OFFLINE):
            pytest.skip(f"npm cannot reach its registry: {done.stderr.strip()[-300:]}")
        pytest.fail(f"npm install {CRYPTO_JS} failed:\n{done.stderr}")
    return root


def _node_vectors() -> Dict[str, str]:
    node = shutil.which("node")
    if node is None:
        return NODE_VECTORS
    done = subprocess.run(
        [node, "-e", NODE_SCRIPT, PLAIN], capture_output=True, text=True, timeout=60, check=True
    )
    vectors: Dict[str, str] = json.loads(done.stdout)
    assert vectors == NODE_VECTORS  # the recorded values are node's
    return vectors


GATEWAY_TS = """\
import CryptoJS from 'crypto-js'

export interface WifiConfig { ssid: string; pwd: string }

export function encryptConfig(config: WifiConfig, key: string, iv: string): string {
  const encrypted = CryptoJS.AES.encrypt(
    JSON.stringify(config),
    CryptoJS.enc.Utf8.parse(key),
    { iv: CryptoJS.enc.Utf8.parse(iv), mode: CryptoJS.mode.CBC, padding: CryptoJS.pad.Pkcs7 },
  )
  return encrypted.toString()
}

export function decryptConfig(text: string, key: string, iv: string): WifiConfig {
  const bytes = CryptoJS.AES.decrypt(text, CryptoJS.enc.Utf8.parse(key),
                                     { iv: CryptoJS.enc.Utf8.parse(iv) })
  return JSON.parse(bytes.toString(CryptoJS.enc.Utf8)) as WifiConfig
}

export const digests = (): string[] => [
  CryptoJS.HmacSHA256('message', 'key').toString(),
  CryptoJS.MD5('taro').toString(CryptoJS.enc.Hex),
]
"""


def test_npm_crypto_js_encrypts_as_node_crypto_does(
    npm_project: Path, js_runtime: JSRuntimeFactory
) -> None:
    (npm_project / "src").mkdir(exist_ok=True)
    (npm_project / "src" / "gateway.ts").write_text(GATEWAY_TS, encoding="utf-8")
    expected = _node_vectors()
    runtime = js_runtime(npm_project)
    runtime.eval(f"globalThis.gw = require('src/gateway'); globalThis.config = {PLAIN}")
    assert runtime.eval(f"gw.encryptConfig(config, '{KEY}', '{IV}')") == expected["aes"]
    assert runtime.eval(f"gw.decryptConfig('{expected['aes']}', '{KEY}', '{IV}')") == json.loads(
        PLAIN
    )
    assert runtime.eval("gw.digests()") == [expected["hmac"], expected["md5"]]


def test_npm_crypto_js_subpath_modules_load_on_their_own(
    npm_project: Path, js_runtime: JSRuntimeFactory
) -> None:
    expected = _node_vectors()
    runtime = js_runtime(npm_project)
    out = runtime.eval(
        f"""
        const AES = require('crypto-js/aes')
        const Utf8 = require('crypto-js/enc-utf8')
        const opts = {{ iv: Utf8.parse('{IV}') }}
        ;[AES.encrypt('{PLAIN}', Utf8.parse('{KEY}'), opts).toString(),
          require('crypto-js/md5')('taro').toString()]
        """
    )
    assert out == [expected["aes"], expected["md5"]]


# -- a Taro-style module and a Python device, under virtual time ---------------------------

ROBOT_LINK_TS = """\
import Taro, { type UDPSocket } from '@tarojs/taro'

export enum LinkState {
  Idle = 'idle',
  Connecting = 'connecting',
  Connected = 'connected',
  Lost = 'lost',
}

interface Reply { seq: number; ok: boolean; state?: string }

export class RobotLink {
  #socket: UDPSocket = Taro.createUDPSocket()
  #pending = new Map<number, (reply: Reply) => void>()
  #seq = 0
  private attempts: number = 0
  state: LinkState = LinkState.Idle

  constructor(private readonly address: string, private readonly port: number,
              public timeout: number = 200) {
    this.#socket.bind()
    this.#socket.onMessage((res) => this.#receive(res))
  }

  #receive(res: UDPSocket.onMessage.CallbackResult): void {
    const reply = JSON.parse(new TextDecoder().decode(res.message)) as Reply
    this.#pending.get(reply.seq)?.(reply)
  }

  #once(cmd: string): Promise<Reply | null> {
    const seq = ++this.#seq
    this.attempts++
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.#pending.delete(seq); resolve(null) }, this.timeout)
      this.#pending.set(seq, (reply) => {
        clearTimeout(timer)
        this.#pending.delete(seq)
        resolve(reply)
      })
      this.#socket.send({ address: this.address, port: this.port,
                          message: JSON.stringify({ seq, cmd }) })
    })
  }

  async request(cmd: string, retries = 3): Promise<Reply> {
    for (let i = 0; i <= retries; i++) {
      const reply = await this.#once(cmd)
      if (reply !== null) return reply
    }
    this.state = LinkState.Lost
    throw new Error(`${cmd}: no reply after ${retries + 1} attempts`)
  }

  async connect(): Promise<LinkState> {
    this.state = LinkState.Connecting
    const reply = await this.request('hello')
    this.state = reply.ok ? LinkState.Connected : LinkState.Lost
    return this.state
  }

  get tries(): number { return this.attempts }

  close(): void { this.#socket.close() }
}
"""


class _Robot:
    """The device: answers ``{seq, cmd}`` with ``{seq, ok, state}``; ignores the first
    ``drop`` requests (lost on the way, as far as the link can tell)."""

    def __init__(self, drop: int) -> None:
        self.drop = drop
        self.requests: List[Dict[str, Any]] = []
        self.sock = taro_udp.create_udp_socket()
        self.sock.onMessage(self._answer)
        self.port = self.sock.bind(address="127.0.0.2")

    def _answer(self, res: taro_udp.OnMessageCallbackResult) -> None:
        request = json.loads(res["message"])
        self.requests.append(request)
        if len(self.requests) <= self.drop:
            return
        info = res["remoteInfo"]
        reply = {"seq": request["seq"], "ok": True, "state": "ready"}
        self.sock.send(
            {"address": info["address"], "port": info["port"], "message": json.dumps(reply)}
        )


@pytest.fixture
def robot_project(tmp_path: Path) -> Path:
    (tmp_path / "src" / "link").mkdir(parents=True)
    (tmp_path / "src" / "link" / "robot.ts").write_text(ROBOT_LINK_TS, encoding="utf-8")
    return tmp_path


@pytest.fixture
def robot() -> Iterator[_Robot]:
    device = _Robot(drop=2)
    try:
        yield device
    finally:
        device.sock.close()


@pytest.mark.parametrize("simulated_network", [{"seed": 3, "virtual_time": True}], indirect=True)
def test_a_taro_module_connects_to_a_python_device_after_two_timeouts(
    simulated_network: SimulatedNetwork,
    js_runtime: JSRuntimeFactory,
    robot_project: Path,
    robot: _Robot,
) -> None:
    clock = simulated_network.clock
    assert clock is not None
    runtime = js_runtime(robot_project)
    started = clock.now_ms()
    runtime.eval(
        "const { RobotLink, LinkState } = require('src/link/robot');"
        f"globalThis.link = new RobotLink('127.0.0.2', {robot.port});"
        "globalThis.result = null;"
        "link.connect().then((s) => { result = s }, (e) => { result = 'error ' + e.message })"
    )
    runtime.run_until(lambda: runtime.eval("result !== null"), timeout=WAIT)
    assert runtime.eval("[result, link.state, link.tries]") == ["connected", "connected", 3]
    assert [request["cmd"] for request in robot.requests] == ["hello"] * 3
    # Two 200 ms timeouts of virtual time went by before the third attempt's answer.
    assert 400 <= clock.now_ms() - started < 500
    runtime.eval("link.close()")


@pytest.mark.parametrize("simulated_network", [{"seed": 3, "virtual_time": True}], indirect=True)
def test_a_taro_module_gives_up_when_the_device_never_answers(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory, robot_project: Path
) -> None:
    device = _Robot(drop=100)
    try:
        runtime = js_runtime(robot_project)
        runtime.eval(
            "const { RobotLink } = require('src/link/robot');"
            f"globalThis.link = new RobotLink('127.0.0.2', {device.port}, 50);"
            "globalThis.result = null;"
            "link.request('status', 2).then((r) => { result = r }, (e) => { result = e.message })"
        )
        runtime.run_until(lambda: runtime.eval("result !== null"), timeout=WAIT)
        assert runtime.eval("[result, link.state]") == ["status: no reply after 3 attempts", "lost"]
        assert len(device.requests) == 3
        runtime.eval("link.close()")
    finally:
        device.sock.close()


# -- the shapes of real Taro UDP modules ---------------------------------------------------
# Written for this test after the forms that public Taro projects' UDP modules use (the
# search index shows seven such files, but names none of their repositories, so none is
# copied here): a socket made at module load, `bind(undefined as unknown as number)` in a
# `setTimeout`, a `static` port, a template literal type, an emitter and a codec in local
# modules (`../shared/emitter`, `./shared`), and `export default new UdpChannel().listen()`.

CHANNEL_FILES = {
    "src/libs/shared/emitter.ts": """\
export class Emitter<T extends (...args: any[]) => any> {
  private listeners: T[] = [];
  on(listener: T): () => void {
    this.listeners.push(listener);
    return () => { this.listeners = this.listeners.filter((l) => l !== listener); };
  }
  emitSync(...args: Parameters<T>): void { for (const l of [...this.listeners]) l(...args); }
  emitLifeCycle(...args: Parameters<T>): void { this.emitSync(...args); }
}
""",
    "src/libs/channel/shared.ts": """\
export function toBinary<T>(value: T): ArrayBuffer {
  return new TextEncoder().encode(JSON.stringify(value)).buffer as ArrayBuffer;
}
export function fromBinary<T>(buffer: ArrayBuffer): T {
  return JSON.parse(new TextDecoder().decode(buffer)) as T;
}
""",
    "src/libs/channel/udp.ts": """\
import Taro, { type UDPSocket } from '@tarojs/taro';

import { Emitter } from '../shared/emitter';
import { fromBinary, toBinary } from './shared';

const udp = Taro.createUDPSocket();

export type SocketIP = `${string}:${number}`;
type Hello = { kind: 'hello' | 'welcome'; id: number; seq?: number };

export enum ChannelStatus {
  connecting = 'connecting',
  connected = 'connected',
}

export class UdpChannel {
  static listened = 0;
  connections = new Map<number, { status: ChannelStatus; socketIP: SocketIP }>();
  listenEmitter = new Emitter<(port: number) => any>();
  connectionEmitter = new Emitter<(id: number, ip: SocketIP) => any>();

  listen() {
    if (UdpChannel.listened) {
      return this;
    }
    setTimeout(() => {
      const port = udp.bind(undefined as unknown as number);
      UdpChannel.listened = port;
      this.listenEmitter.emitLifeCycle(port);
      udp.onMessage((res: UDPSocket.onMessage.CallbackResult) => {
        const data = fromBinary<Hello>(res.message);
        const known = this.connections.get(data.id);
        if (data.kind === 'welcome' && known?.status === ChannelStatus.connecting) {
          this.connections.set(data.id, { ...known, status: ChannelStatus.connected });
          this.connectionEmitter.emitSync(data.id, known.socketIP);
        }
      });
    }, 1000);
    return this;
  }

  connect(socketIP: SocketIP, id: number) {
    const [ip, port] = socketIP.split(':');
    this.connections.set(id, { status: ChannelStatus.connecting, socketIP });
    const message = toBinary<Hello>({ kind: 'hello', id });
    udp.send({ address: ip, port: parseInt(port), message });
    return this;
  }
}

export default new UdpChannel().listen();
""",
}


class _Peer:
    """Answers ``hello`` with ``welcome`` (the same id), from Python."""

    def __init__(self) -> None:
        self.seen: List[Dict[str, Any]] = []
        self.sock = taro_udp.create_udp_socket()
        self.sock.onMessage(self._answer)
        self.port = self.sock.bind(address="127.0.0.2")

    def _answer(self, res: taro_udp.OnMessageCallbackResult) -> None:
        hello = json.loads(res["message"])
        self.seen.append(hello)
        info = res["remoteInfo"]
        welcome = json.dumps({"kind": "welcome", "id": hello["id"]})
        self.sock.send({"address": info["address"], "port": info["port"], "message": welcome})


@pytest.mark.parametrize("simulated_network", [{"seed": 5, "virtual_time": True}], indirect=True)
def test_a_module_shaped_like_real_taro_udp_channels_connects(
    simulated_network: SimulatedNetwork, js_runtime: JSRuntimeFactory, tmp_path: Path
) -> None:
    for name, text in CHANNEL_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    peer = _Peer()
    try:
        runtime = js_runtime(tmp_path)
        runtime.eval(
            "globalThis.log = [];"
            "const channel = require('src/libs/channel/udp').default;"
            "channel.listenEmitter.on((port) => log.push(['listening', port > 0]));"
            "channel.connectionEmitter.on((id, ip) => log.push(['connected', id, ip]));"
        )
        assert runtime.eval("log") == []  # the bind waits for the module's 1 s timer
        runtime.run_until(lambda: runtime.eval("log.length") == 1, timeout=WAIT)
        runtime.eval(f"channel.connect('127.0.0.2:{peer.port}', 7)")
        runtime.run_until(lambda: runtime.eval("log.length") == 2, timeout=WAIT)
        assert runtime.eval("log") == [
            ["listening", True],
            ["connected", 7, f"127.0.0.2:{peer.port}"],
        ]
        assert peer.seen == [{"kind": "hello", "id": 7}]
        assert runtime.eval("require('src/libs/channel/udp').UdpChannel.listened > 0") is True
    finally:
        peer.sock.close()
