"""The ``taro-udp`` command line, driven as a subprocess (``python -m taro_udp``).

Every test talks to 127.0.0.1 or ::1 only, waits on output lines (never sleeps), and
bounds each wait. Subprocesses bind loopback through ``TARO_UDP_BIND_ADDRESS``.
"""

from __future__ import annotations

import errno
import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from taro_udp import LocalInfo, RemoteInfo
from taro_udp._cli import main as cli_main
from taro_udp._cli._common import Inbox, message_record
from taro_udp._cli._ping import Progress, format_statistics, nearest_rank

from ._helpers import has_ipv6_loopback

# Generous: a loaded CI machine may take seconds to start an interpreter.
WAIT = 20.0
LISTENING = re.compile(r"listening on (\S+) port (\d+) \((udp[46])\)")
PROG = "python -m taro_udp"


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback")


class Cli:
    """A ``python -m taro_udp`` subprocess; two threads read its stdout and stderr lines."""

    def __init__(self, *args: str, bind: str = "127.0.0.1") -> None:
        env = dict(os.environ, TARO_UDP_BIND_ADDRESS=bind)
        self.args = args
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taro_udp", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            encoding="utf-8",
            errors="replace",
        )
        self.lines: Dict[str, List[str]] = {"stdout": [], "stderr": []}
        self._queues: Dict[str, queue.Queue[Optional[str]]] = {}
        self._threads: List[threading.Thread] = []
        for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            assert stream is not None
            lines: queue.Queue[Optional[str]] = queue.Queue()
            thread = threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            thread.start()
            self._queues[name] = lines
            self._threads.append(thread)

    @staticmethod
    def _read(stream: IO[str], lines: queue.Queue[Optional[str]]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def __enter__(self) -> Cli:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def next_line(self, stream: str = "stdout", timeout: float = WAIT) -> str:
        """The next line of ``stream``; fails the test after ``timeout`` or at EOF."""
        try:
            line = self._queues[stream].get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"{self.args}: no {stream} line within {timeout}s; got {self.lines}")
        if line is None:
            self._queues[stream].put(None)  # keep EOF visible to later calls
            pytest.fail(f"{self.args}: {stream} ended early; got {self.lines}")
        self.lines[stream].append(line)
        return line

    def listening_port(self) -> int:
        """Wait for the ``listening on ... port N`` status line and return N."""
        line = self.next_line("stderr")
        match = LISTENING.search(line)
        assert match, f"expected a listening line first, got {line!r}"
        return int(match.group(2))

    def finish(self, timeout: float = WAIT) -> int:
        """Wait for exit, collect the rest of the output, and return the exit code."""
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.close()
            pytest.fail(f"{self.args} did not exit within {timeout}s; output {self.lines}")
        self._drain()
        return code

    def _drain(self) -> None:
        for thread in self._threads:
            thread.join(WAIT)
        for name, lines in self._queues.items():
            while True:
                try:
                    line = lines.get_nowait()
                except queue.Empty:
                    break
                if line is not None:
                    self.lines[name].append(line)

    def close(self) -> None:
        """Kill the process if it still runs; join the readers; close the pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        self._drain()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def run_cli(*args: str, bind: str = "127.0.0.1") -> Tuple[int, List[str], List[str]]:
    """Run a command to completion: (exit code, stdout lines, stderr lines)."""
    with Cli(*args, bind=bind) as cli:
        code = cli.finish()
        return code, cli.lines["stdout"], cli.lines["stderr"]


@pytest.fixture
def listener() -> Iterator[Cli]:
    """A ``listen 0`` process on 127.0.0.1 that stops after one datagram."""
    with Cli("listen", "0", "--address", "127.0.0.1", "--count", "1") as cli:
        yield cli


# -- listen + send ------------------------------------------------------------------------


def test_listen_prints_a_text_datagram_as_json_fields(listener: Cli) -> None:
    port = listener.listening_port()
    code, out, err = run_cli("send", "127.0.0.1", str(port), "hello, how are you")
    assert (code, out) == (0, [])
    assert err == [f"{PROG} send: sent 1 datagram (18 bytes) to 127.0.0.1 port {port}"]

    record = json.loads(listener.next_line())
    assert list(record) == ["remoteInfo", "localInfo", "size", "encoding", "message"]
    remote = record["remoteInfo"]
    assert remote["address"] == "127.0.0.1"
    assert remote["family"] == "IPv4"
    assert isinstance(remote["port"], int)
    assert 1 <= remote["port"] <= 65535
    assert remote["port"] != port
    assert remote["size"] == 18
    assert record["localInfo"] == {"address": "127.0.0.1", "family": "IPv4", "port": port}
    assert record["size"] == 18
    assert record["encoding"] == "utf-8"
    assert record["message"] == "hello, how are you"
    assert listener.finish() == 0
    assert listener.lines["stderr"][-1] == (
        f"{PROG} listen: received 1 datagram (18 bytes) from 1 peer"
    )


def test_listen_prints_binary_as_base64(listener: Cli) -> None:
    port = listener.listening_port()
    code, _out, _err = run_cli("send", "127.0.0.1", str(port), "--hex", "00 ff fe 80")
    assert code == 0
    record = json.loads(listener.next_line())
    assert record["encoding"] == "base64"
    assert record["message"] == "AP/+gA=="
    assert record["size"] == record["remoteInfo"]["size"] == 4
    assert listener.finish() == 0


def test_send_file_sends_its_bytes(listener: Cli, tmp_path: Path) -> None:
    path = tmp_path / "datagram.bin"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    port = listener.listening_port()
    code, _out, _err = run_cli("send", "127.0.0.1", str(port), "--file", str(path))
    assert code == 0
    record = json.loads(listener.next_line())
    assert (record["encoding"], record["message"]) == ("base64", "iVBORw0KGgo=")
    assert listener.finish() == 0


def test_send_count_sends_that_many_datagrams() -> None:
    with Cli("listen", "0", "--address", "127.0.0.1", "--count", "3") as cli:
        port = cli.listening_port()
        code, _out, err = run_cli(
            "send", "127.0.0.1", str(port), "ping", "--count", "3", "--interval", "0.01"
        )
        assert code == 0
        assert err[-1].endswith(f"sent 3 datagrams (12 bytes) to 127.0.0.1 port {port}")
        messages = [json.loads(cli.next_line())["message"] for _ in range(3)]
        assert messages == ["ping"] * 3
        assert cli.finish() == 0
        assert cli.lines["stderr"][-1].endswith("received 3 datagrams (12 bytes) from 1 peer")


@needs_ipv6
def test_listen_and_send_over_udp6() -> None:
    with Cli("listen", "0", "--address", "::1", "--count", "1", bind="::1") as cli:
        port = cli.listening_port()
        assert cli.lines["stderr"][0].endswith(
            f"listening on ::1 port {port} (udp6); Ctrl-C to stop"
        )
        code, _out, _err = run_cli("send", "::1", str(port), "six", bind="::1")
        assert code == 0
        record = json.loads(cli.next_line())
        assert record["remoteInfo"]["address"] == "::1"
        assert record["remoteInfo"]["family"] == "IPv6"
        assert record["localInfo"] == {"address": "::1", "family": "IPv6", "port": port}
        assert cli.finish() == 0


# -- echo + ping --------------------------------------------------------------------------


def test_ping_measures_round_trips_to_echo() -> None:
    with Cli("echo", "0", "--address", "127.0.0.1") as echo:
        port = echo.listening_port()
        code, out, err = run_cli("ping", "127.0.0.1", str(port), "--count", "20", "--size", "100")
        assert code == 0, err
        assert out[0] == f"ping 127.0.0.1 port {port} (udp4): 20 probes of 100 bytes"
        assert out[1] == "20 sent, 20 received, 0.0% loss"
        match = re.fullmatch(r"rtt min/median/p99 = ([\d.]+)/([\d.]+)/([\d.]+) ms", out[2])
        assert match, out
        low, median, p99 = (float(value) for value in match.groups())
        assert 0 < low <= median <= p99
        assert not any("\r" in line for line in err), "no progress bar when piped"
        echo.proc.send_signal(signal.SIGINT)
        assert echo.finish() == 0
        assert echo.lines["stderr"][-1] == (
            f"{PROG} echo: echoed 20 datagrams (2000 bytes) to 1 peer"
        )


def test_echo_count_stops_after_n_datagrams() -> None:
    with Cli("echo", "0", "--address", "127.0.0.1", "--count", "3") as echo:
        port = echo.listening_port()
        code, out, _err = run_cli("ping", "127.0.0.1", str(port), "--count", "3")
        assert code == 0
        assert out[1] == "3 sent, 3 received, 0.0% loss"
        assert echo.finish() == 0
        assert echo.lines["stderr"][-1].endswith("echoed 3 datagrams (96 bytes) to 1 peer")


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_ping_without_an_echo_peer_reports_loss_and_exits_1() -> None:
    code, out, err = run_cli(
        "ping", "127.0.0.1", str(_closed_port()), "--count", "2", "--timeout", "0.5"
    )
    assert code == 1
    assert out[1] == "2 sent, 0 received, 100.0% loss"
    assert out[2] == "rtt min/median/p99 = -/-/- ms (no replies)"
    assert all("Traceback" not in line for line in err)


# -- Ctrl-C -------------------------------------------------------------------------------


def test_sigint_stops_listen_with_exit_0_and_a_summary() -> None:
    with Cli("listen", "0", "--address", "127.0.0.1") as cli:
        cli.listening_port()
        cli.proc.send_signal(signal.SIGINT)
        assert cli.finish() == 0
        assert cli.lines["stdout"] == []
        assert cli.lines["stderr"][1:] == [
            f"{PROG} listen: received 0 datagrams (0 bytes) from 0 peers"
        ]


def test_sigint_stops_ping_with_exit_0_and_its_statistics() -> None:
    # A listen peer never answers, so the first probe waits: the moment listen prints it,
    # ping is inside its loop with its Ctrl-C handler installed.
    with Cli("listen", "0", "--address", "127.0.0.1") as peer:
        port = peer.listening_port()
        with Cli("ping", "127.0.0.1", str(port), "--count", "1000", "--timeout", "30") as ping:
            assert json.loads(peer.next_line())["size"] == 32
            ping.proc.send_signal(signal.SIGINT)
            assert ping.finish() == 0
            # The probe in flight when Ctrl-C came is neither received nor lost.
            assert ping.lines["stdout"][:2] == [
                f"ping 127.0.0.1 port {port} (udp4): 0 probes of 32 bytes",
                "0 sent, 0 received, 0.0% loss",
            ]
        peer.proc.send_signal(signal.SIGINT)
        assert peer.finish() == 0


def test_sigint_stops_a_send_loop_with_exit_0_and_a_summary() -> None:
    with Cli("listen", "0", "--address", "127.0.0.1") as peer:
        port = peer.listening_port()
        args = ("send", "127.0.0.1", str(port), "x", "--count", "1000", "--interval", "30")
        with Cli(*args) as send:
            assert json.loads(peer.next_line())["message"] == "x"
            send.proc.send_signal(signal.SIGINT)
            assert send.finish() == 0
            assert send.lines["stderr"] == [
                f"{PROG} send: sent 1 datagram (1 byte) to 127.0.0.1 port {port}"
            ]
        peer.proc.send_signal(signal.SIGINT)
        assert peer.finish() == 0


def _blocked_in_inbox_get(thread: threading.Thread) -> bool:
    """Whether ``thread`` sleeps inside ``Inbox.get`` (its wait, not on its way there)."""
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None and frame.f_code is not Inbox.get.__code__:
        frame = frame.f_back
    if frame is None:
        return False
    try:
        with open(f"/proc/self/task/{thread.native_id}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "S"
    except OSError:  # no /proc: the frame is the best evidence there is
        return True


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_ctrl_c_taken_by_another_thread_still_wakes_a_command_waiting_for_its_next_item() -> None:
    # The kernel hands a process's SIGINT to any of its threads, and Python runs the
    # handler on the main thread only when that thread next runs: a command asleep in its
    # wait (listen between datagrams, send between --interval ticks) must still wake at
    # once. Here the signal lands on a helper thread while the main thread waits.
    main = threading.main_thread()
    assert threading.current_thread() is main, "pytest runs tests on the main thread"
    interrupted = threading.Event()

    def interrupt() -> None:
        for _ in range(int(WAIT / 0.001)):  # bounded: WAIT seconds at most
            if _blocked_in_inbox_get(main):
                break
            interrupted.wait(0.001)
        signal.pthread_kill(threading.get_ident(), signal.SIGINT)
        interrupted.set()

    with Inbox() as inbox, inbox.stop_on_sigint():
        helper = threading.Thread(target=interrupt, daemon=True)
        helper.start()
        item = inbox.get(5.0)
        helper.join(WAIT)
        assert interrupted.is_set(), "the helper never sent its SIGINT"
        assert item == ("stop", None), f"the wait missed the Ctrl-C and returned {item!r}"


@contextmanager
def fd_table_filled(soft_limit: int, up_to: Optional[int] = None) -> Iterator[None]:
    """With the soft RLIMIT_NOFILE at ``soft_limit``, hold every free descriptor below
    ``up_to`` (default: all, until EMFILE) open on /dev/null; both undone afterwards."""
    resource = pytest.importorskip("resource")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < soft_limit:
        pytest.skip(f"the hard limit on open files is {hard}")
    filler: List[int] = []
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft_limit, hard))
        try:
            while up_to is None or not filler or filler[-1] < up_to:  # bounded by the limit
                filler.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            if up_to is not None or exc.errno != errno.EMFILE:
                raise
        yield
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_inbox_waits_on_descriptors_above_select_s_limit_of_1024() -> None:
    # A command that opened many sockets still waits on its inbox (select() would refuse).
    with fd_table_filled(1100, up_to=1030), Inbox() as inbox:
        assert inbox._wake_r.fileno() > 1024
        assert inbox.get(0.01) is None  # a wait that times out
        poster = threading.Thread(target=inbox.put, args=("result", 7))
        poster.start()
        assert inbox.get(WAIT) == ("result", 7)
        poster.join(WAIT)


def test_a_command_with_no_fd_left_exits_1_with_one_line(capsys: Any) -> None:
    with fd_table_filled(512):
        code = cli_main(["listen", "0"], prog="taro-udp")
    err = capsys.readouterr().err.splitlines()
    assert (code, err) == (1, ["taro-udp listen: error: cannot start: Too many open files"])


# -- errors: one line, non-zero exit, never a traceback -------------------------------------

LONG_LABEL = "x" * 64 + ".example"  # a label over 63 characters: refused before any DNS query

BAD_ARGUMENTS = [
    ([], "required: COMMAND"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["listen"], "required: PORT"),
    (["listen", "70000"], "'70000' is not a port (0-65535)"),
    (["listen", "abc"], "'abc' is not a port"),
    (["listen", "-1"], "'-1' is not a port"),
    (["listen", "0", "--bogus"], "unrecognized arguments: --bogus"),
    (["listen", "0", "--count", "0"], "'0' is not a count (1 or more)"),
    (["listen", "0", "--address", "a..b"], "invalid address 'a..b'"),
    (["echo", "0", "--address", LONG_LABEL], "invalid address"),
    (["send", "127.0.0.1"], "required: PORT"),
    (["send", "127.0.0.1", "0", "x"], "'0' is not a port (1-65535)"),
    (["send", "127.0.0.1", "9"], "MESSAGE is required"),
    (["send", "127.0.0.1", "9", "--hex", "zz"], "is not hex digits"),
    (["send", "127.0.0.1", "9", "--file", "/nonexistent/x"], "No such file or directory"),
    (["send", "127.0.0.1", "9", "x", "--file", "/etc/hostname"], "either MESSAGE or --file"),
    (["send", "127.0.0.1", "9", "--hex", "--file", "f"], "not allowed with argument"),
    (["send", "127.0.0.1", "9", "x", "--interval", "-1"], "is not a number of seconds"),
    (["send", "127.0.0.1", "9", "x", "--interval", "nan"], "is not a number of seconds"),
    (["send", "127.0.0.1", "9", "x", "y"], "unrecognized arguments: y"),
    (["send", "a..b", "9", "x"], "cannot resolve host 'a..b'"),
    (["send", LONG_LABEL, "9", "x"], "cannot resolve host"),
    (["ping", "127.0.0.1", "9", "--size", "7"], "'7' is not a probe size (8-65507)"),
    (["ping", "127.0.0.1", "9", "--size", "65508"], "is not a probe size"),
    (["ping", "127.0.0.1", "9", "--timeout", "0"], "is not a positive number of seconds"),
    (["ping", "a..b", "9"], "cannot resolve host 'a..b'"),
    (["demo", "extra"], "unrecognized arguments: extra"),
]


@pytest.mark.parametrize(("args", "reason"), BAD_ARGUMENTS, ids=lambda value: repr(value))
def test_bad_argument_gives_one_line_and_exit_2(args: Sequence[str], reason: str) -> None:
    code, out, err = run_cli(*args)
    assert code == 2
    assert out == []
    assert len(err) == 1, err
    assert err[0].startswith(PROG), err
    assert ": error: " in err[0], err
    assert reason in err[0], err


def test_port_in_use_gives_one_line_and_exit_3() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        code, out, err = run_cli("listen", str(port), "--address", "127.0.0.1")
    assert (code, out) == (3, [])
    assert err == [
        f"{PROG} listen: error: cannot bind 127.0.0.1 port {port}: Address already in use"
    ]


# -- demo and the console script -------------------------------------------------------------


def test_demo_shows_every_payload_kind() -> None:
    code, out, err = run_cli("demo")
    assert (code, err) == (0, [])
    text = "\n".join(out)
    for line in [
        "[server] onListening   {'errMsg': 'bind:ok'}",
        "[client] onListening   {'errMsg': 'bind:ok'}",
        "[client] send success  {'errMsg': 'send:ok'}",
        "[client] send fail     {'errMsg': 'send:fail invalid port', 'errCode': 2}",
        "[client] onError       {'errMsg': 'send:fail invalid port', 'errCode': 2}",
        "[client] onClose       {'errMsg': 'close:ok'}",
        "[server] onClose       {'errMsg': 'close:ok'}",
    ]:
        assert line in out, f"missing {line!r} in:\n{text}"
    assert "[server] onMessage     {'message': b'hello, how are you'" in text
    assert "[client] onMessage     {'message': b'fine, thanks: hello, how are you'" in text
    assert out[-1] == (
        "demo: done; shown: onListening, onMessage, send success, send fail, onError, onClose"
    )


def test_console_script_runs() -> None:
    script = Path(sys.executable).with_name("taro-udp")
    if not script.exists():
        pytest.skip("the taro-udp console script is not installed next to this interpreter")
    result = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("usage: taro-udp")
    assert "exit codes:" in result.stdout


# -- pieces, in-process --------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_bar_waits_then_draws_then_erases_on_a_terminal() -> None:
    screen, clock = _Terminal(), _Clock()
    bar = Progress(screen, total=100, clock=clock)
    bar.update(1, 1)
    assert screen.getvalue() == "", "short runs show no bar"
    clock.now += Progress.DELAY
    bar.update(50, 49)
    drawn = screen.getvalue()
    assert drawn == "\r[" + "#" * 15 + "." * 15 + "] 50/100 2.0% loss"
    bar.close()
    assert screen.getvalue() == drawn + "\r" + " " * (len(drawn) - 1) + "\r"


def test_progress_bar_is_silent_when_piped() -> None:
    pipe, clock = io.StringIO(), _Clock()
    bar = Progress(pipe, total=10, clock=clock)
    clock.now += 10
    bar.update(10, 10)
    bar.close()
    assert pipe.getvalue() == ""


def test_p99_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 201)]
    assert nearest_rank(values, 0.99) == 198.0
    assert nearest_rank([5.0], 0.99) == 5.0


def test_statistics_lines() -> None:
    text = format_statistics("::1 port 7", "udp6", 8, 4, [0.002, 0.001, 0.003])
    assert text.splitlines() == [
        "ping ::1 port 7 (udp6): 4 probes of 8 bytes",
        "4 sent, 3 received, 25.0% loss",
        "rtt min/median/p99 = 1.000/2.000/3.000 ms",
    ]


def test_message_record_says_which_encoding() -> None:
    remote: RemoteInfo = {"address": "127.0.0.1", "family": "IPv4", "port": 1, "size": 2}
    local: LocalInfo = {"address": "127.0.0.1", "family": "IPv4", "port": 2}
    text = message_record({"message": b"hi", "remoteInfo": remote, "localInfo": local})
    assert (text["encoding"], text["message"]) == ("utf-8", "hi")
    binary = message_record({"message": b"\xff\x00", "remoteInfo": remote, "localInfo": local})
    assert (binary["encoding"], binary["message"]) == ("base64", "/wA=")
