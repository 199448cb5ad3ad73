"""write_pcap: a standard pcap file, read back by a parser here and by tshark if installed.

The parser below is independent of the library's writer (its own checksum code) and
checks every header field. CI installs tshark with
``apt-get install -y --no-install-recommends tshark``; without it those tests skip.
"""

from __future__ import annotations

import ipaddress
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Tuple

import pytest

import taro_udp
from taro_udp.testing import SimulatedNetwork

TSHARK = shutil.which("tshark")


class Parsed(NamedTuple):
    time: float
    source: Tuple[str, int]
    destination: Tuple[str, int]
    ttl: int
    ident: int  # -1 for IPv6
    payload: bytes
    raw: bytes


def _checksum(data: bytes) -> int:
    # Ones' complement sum written out plainly, byte pair by byte pair.
    if len(data) % 2:
        data += b"\x00"
    total = 0
    for index in range(0, len(data), 2):
        total += (data[index] << 8) | data[index + 1]
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _parse_ip_udp(data: bytes) -> Tuple[Tuple[str, int], Tuple[str, int], int, int, bytes]:
    version = data[0] >> 4
    if version == 4:
        assert data[0] & 0x0F == 5, "IHL: a 20-byte header, no options"
        assert data[1] == 0, "DSCP/ECN"
        assert struct.unpack("!H", data[2:4])[0] == len(data), "IPv4 total length"
        ident = struct.unpack("!H", data[4:6])[0]
        assert struct.unpack("!H", data[6:8])[0] == 0, "flags and fragment offset"
        ttl, protocol = data[8], data[9]
        assert protocol == 17, "protocol UDP"
        assert _checksum(data[:20]) == 0xFFFF, "IPv4 header checksum"
        src, dst = data[12:16], data[16:20]
        udp = data[20:]
        pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
        source_ip: str = str(ipaddress.IPv4Address(src))
        destination_ip: str = str(ipaddress.IPv4Address(dst))
    else:
        assert version == 6, f"IP version {version}"
        first = struct.unpack("!I", data[:4])[0]
        assert first & 0x0FFFFFFF == 0, "traffic class and flow label"
        assert struct.unpack("!H", data[4:6])[0] == len(data) - 40, "IPv6 payload length"
        assert data[6] == 17, "next header UDP"
        ttl, ident = data[7], -1
        src, dst = data[8:24], data[24:40]
        udp = data[40:]
        pseudo = src + dst + struct.pack("!I3xB", len(udp), 17)
        source_ip = str(ipaddress.IPv6Address(src))
        destination_ip = str(ipaddress.IPv6Address(dst))
    source_port, destination_port, length, checksum = struct.unpack("!HHHH", udp[:8])
    assert length == len(udp), "UDP length"
    assert checksum != 0, "UDP checksum present"
    assert _checksum(pseudo + udp) == 0xFFFF, "UDP checksum"
    return (source_ip, source_port), (destination_ip, destination_port), ttl, ident, udp[8:]


def read_pcap(path: Path) -> Iterator[Parsed]:
    """Parse a classic pcap of raw IP packets, checking every header field."""
    data = path.read_bytes()
    magic, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack("<IHHiIII", data[:24])
    assert (magic, major, minor, zone, sigfigs) == (0xA1B2C3D4, 2, 4, 0, 0)
    assert linktype == 101, "LINKTYPE_RAW"
    offset = 24
    while offset < len(data):
        seconds, micros, captured, original = struct.unpack("<IIII", data[offset : offset + 16])
        assert micros < 1_000_000
        assert captured == original <= snaplen, "whole packets"
        raw = data[offset + 16 : offset + 16 + captured]
        assert len(raw) == captured, "truncated file"
        offset += 16 + captured
        source, destination, ttl, ident, payload = _parse_ip_udp(raw)
        yield Parsed(seconds + micros / 1e6, source, destination, ttl, ident, payload, raw)


def _traffic() -> None:
    """IPv4 and IPv6 datagrams of awkward sizes, a TTL, drops and duplicates."""
    with taro_udp.create_udp_socket("udp6") as receiver, taro_udp.create_udp_socket() as v4:
        port = receiver.bind()
        v4.setTTL(3)
        for size in (0, 1, 2, 3, 1472, 65507):
            v4.send({"address": "127.0.0.1", "port": port, "message": b"\xa5" * size})
            v4.send({"address": "127.0.0.5", "port": 9, "message": b"nobody there"})
        with taro_udp.create_udp_socket("udp6") as v6:
            for size in (0, 7, 65527):
                v6.send({"address": "::1", "port": port, "message": b"\x00\xff" * (size // 2)})
            v6.send({"address": "127.0.0.1", "port": port, "message": "mapped"})


def _capture(
    tmp_path: Path, seed: int = 5, view: str = "sent", name: str = "capture"
) -> Tuple[Path, SimulatedNetwork]:
    with SimulatedNetwork(seed, loss=0.2, duplicate=0.3) as network:
        _traffic()
    path = tmp_path / f"{name}-{seed}-{view}.pcap"
    network.write_pcap(path, view=view)
    return path, network


def test_sent_view_holds_every_datagram_with_correct_headers(tmp_path: Path) -> None:
    path, network = _capture(tmp_path)
    packets = list(read_pcap(path))
    records = network.datagrams
    assert {r.fate for r in records} >= {"dropped", "delivered", "duplicated"}
    assert len(packets) == len(records)
    for packet, record in zip(packets, records):
        ident = record.seq if ":" not in record.source[0] else -1
        assert (packet.source, packet.destination, packet.ttl, packet.ident, packet.payload) == (
            record.source,
            record.destination,
            record.ttl,
            ident,
            record.payload,
        )
        assert abs(packet.time - record.time) < 1e-5


def test_udp6_socket_sending_to_ipv4_is_ipv4_on_the_wire(tmp_path: Path) -> None:
    path, _ = _capture(tmp_path)
    last = list(read_pcap(path))[-1]
    assert (last.payload, last.raw[0] >> 4, last.source[0]) == (b"mapped", 4, "127.0.0.1")


def test_delivered_view_shows_each_copy_that_arrived(tmp_path: Path) -> None:
    path, network = _capture(tmp_path, view="delivered")
    arrived = [d for d in network.deliveries if d.outcome == "delivered"]
    packets = list(read_pcap(path))
    assert [p.payload for p in packets] == [network.datagrams[d.seq].payload for d in arrived]
    assert len({d.seq for d in arrived}) < len(arrived), "duplicates appear twice"
    dropped = {r.seq for r in network.datagrams if r.fate == "dropped"}
    assert dropped.isdisjoint(d.seq for d in arrived)


def test_same_seed_writes_an_identical_capture(tmp_path: Path) -> None:
    first, network = _capture(tmp_path, view="delivered", name="first")
    second, again = _capture(tmp_path, view="delivered", name="second")
    # Timestamps are real time; every byte of every packet must be the same.
    assert [p.raw for p in read_pcap(first)] == [p.raw for p in read_pcap(second)]
    assert [r.fate_key() for r in network.datagrams] == [r.fate_key() for r in again.datagrams]
    other, _ = _capture(tmp_path, seed=6, view="delivered")
    assert [p.raw for p in read_pcap(first)] != [p.raw for p in read_pcap(other)]


def test_unknown_view_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="view"):
        SimulatedNetwork().write_pcap(tmp_path / "x.pcap", view="dropped")


_FIELDS = [
    "ip.version",
    "ip.src",
    "ip.dst",
    "ip.ttl",
    "ip.id",
    "ip.checksum.status",
    "ipv6.src",
    "ipv6.dst",
    "ipv6.hlim",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "udp.checksum.status",
    "udp.payload",
]


def _tshark(path: Path) -> List[Dict[str, str]]:
    assert TSHARK is not None
    command = [TSHARK, "-n", "-r", str(path), "-o", "ip.check_checksum:TRUE"]
    command += ["-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=|"]
    for field in _FIELDS:
        command += ["-e", field]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
    return [dict(zip(_FIELDS, line.split("|"))) for line in result.stdout.splitlines()]


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed (apt-get install -y tshark)")
def test_tshark_reads_the_capture_with_good_checksums(tmp_path: Path) -> None:
    path, network = _capture(tmp_path)
    rows = _tshark(path)
    records = network.datagrams
    assert len(rows) == len(records)
    for row, record in zip(rows, records):
        if row["ip.version"] == "4":
            source, destination = row["ip.src"], row["ip.dst"]
            assert row["ip.ttl"] == str(record.ttl)
            assert int(row["ip.id"], 16) == record.seq
            assert row["ip.checksum.status"] == "1", "Good"
        else:
            source, destination = row["ipv6.src"], row["ipv6.dst"]
            assert row["ipv6.hlim"] == str(record.ttl)
        assert (source, int(row["udp.srcport"])) == record.source
        assert (destination, int(row["udp.dstport"])) == record.destination
        assert int(row["udp.length"]) == 8 + len(record.payload)
        assert row["udp.checksum.status"] == "1", "Good"
        assert bytes.fromhex(row["udp.payload"]) == record.payload
