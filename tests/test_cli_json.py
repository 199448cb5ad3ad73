"""``taro-udp --version``, the ``--json`` summaries of send/echo/ping, and exit code 4.

Loopback only; every wait is bounded (the ``Cli`` helper of test_cli.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import taro_udp
from taro_udp._cli._args import EXIT_CODES
from taro_udp._cli._ping import ping_summary

from .test_cli import WAIT, Cli, run_cli


def test_version_prints_the_package_version() -> None:
    code, out, err = run_cli("--version")
    assert code == 0, err
    assert out == [f"python -m taro_udp {taro_udp.__version__}"]


def test_send_json_prints_the_summary_on_stdout() -> None:
    with Cli("listen", "0", "--address", "127.0.0.1", "--count", "2") as listener:
        port = listener.listening_port()
        code, out, err = run_cli("send", "127.0.0.1", str(port), "hi!", "--count", "2", "--json")
        assert code == 0, err
        assert [json.loads(line) for line in out] == [
            {"command": "send", "host": "127.0.0.1", "port": port, "datagrams": 2, "bytes": 6}
        ]
        assert not any("sent 2 datagrams" in line for line in err)
        assert listener.finish() == 0


def test_echo_and_ping_json_print_their_summaries() -> None:
    with Cli("echo", "0", "--address", "127.0.0.1", "--count", "3", "--json") as echo:
        port = echo.listening_port()
        code, out, err = run_cli("ping", "127.0.0.1", str(port), "--count", "3", "--json")
        assert code == 0, err
        [line] = out
        summary = json.loads(line)
        rtt = summary.pop("rtt_ms")
        assert summary == {
            "command": "ping",
            "host": "127.0.0.1",
            "port": port,
            "type": "udp4",
            "size": 32,
            "sent": 3,
            "received": 3,
            "loss": 0.0,
        }
        assert 0 < rtt["min"] <= rtt["median"] <= rtt["p99"]
        assert echo.finish() == 0
        assert [json.loads(line) for line in echo.lines["stdout"]] == [
            {"command": "echo", "datagrams": 3, "bytes": 96, "peers": 1}
        ]


def test_ping_summary_without_replies_has_no_round_trips() -> None:
    summary = ping_summary("127.0.0.1", 9, "udp4", 32, 4, [])
    assert summary["loss"] == 100.0
    assert summary["rtt_ms"] is None


def test_the_exit_code_table_names_every_code() -> None:
    codes = [line.split()[0] for line in EXIT_CODES.splitlines()[1:] if line[:2] == "  "]
    assert codes == ["0", "1", "2", "3", "4", "130"]


def test_run_without_the_js_engine_exits_4_with_one_line(tmp_path: Path) -> None:
    script = tmp_path / "app.js"
    script.write_text("console.log('never')\n", encoding="utf-8")
    # The engine made unimportable in the child only (a None entry makes import fail).
    child = (
        "import sys; sys.modules['quickjs'] = None; "
        "from taro_udp._cli import main; sys.exit(main(sys.argv[1:]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", child, "run", str(script)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("taro-udp run: error: ")
    assert "taro_udp[js]" in line or "3.10" in line, line
