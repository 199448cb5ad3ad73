"""pcap: write captured datagrams as a classic libpcap file that Wireshark and tshark open.

Each packet is a raw IP packet (link type 101, ``LINKTYPE_RAW``: no Ethernet header),
IPv4 or IPv6 by the addresses, with a UDP header whose checksum is computed, so
Wireshark shows no "bad checksum" warnings. Microsecond timestamps, little-endian.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import BinaryIO, Iterable, NamedTuple, Union

__all__ = ["LINKTYPE_RAW", "Packet", "build_ip_udp", "internet_checksum", "write_pcap_file"]

LINKTYPE_RAW = 101
PCAP_MAGIC = 0xA1B2C3D4
# Large enough for the biggest IPv6 packet we build (40 + 8 + 65,527 bytes).
SNAPLEN = 262144
IPPROTO_UDP = 17

_IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class Packet(NamedTuple):
    """One UDP datagram on the wire: the fields of its IP and UDP headers."""

    time: float  # seconds since the epoch
    source: _IPAddress
    source_port: int
    destination: _IPAddress
    destination_port: int
    payload: bytes
    ttl: int
    ident: int  # IPv4 Identification (ignored for IPv6)


def internet_checksum(data: bytes) -> int:
    """RFC 1071 ones' complement sum of 16-bit big-endian words, complemented."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _udp(packet: Packet, pseudo_header: bytes) -> bytes:
    length = 8 + len(packet.payload)
    header = struct.pack("!HHHH", packet.source_port, packet.destination_port, length, 0)
    checksum = internet_checksum(pseudo_header + header + packet.payload)
    # A computed 0 is sent as 0xFFFF: 0 means "no checksum" (and is not allowed on IPv6).
    return header[:6] + struct.pack("!H", checksum or 0xFFFF) + packet.payload


def build_ip_udp(packet: Packet) -> bytes:
    """The raw IPv4 or IPv6 packet carrying ``packet``, checksums filled in."""
    src, dst = packet.source, packet.destination
    udp_length = 8 + len(packet.payload)
    if src.version == 4 and dst.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, IPPROTO_UDP, udp_length)
        udp = _udp(packet, pseudo)
        header = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,  # version 4, header length 5 words
            0,  # DSCP/ECN
            20 + udp_length,  # total length
            packet.ident & 0xFFFF,
            0,  # flags/fragment offset: never fragmented
            packet.ttl,
            IPPROTO_UDP,
            0,  # header checksum, filled in below
            src.packed,
            dst.packed,
        )
        checksum = internet_checksum(header)
        return header[:10] + struct.pack("!H", checksum) + header[12:] + udp
    src6 = _as_ipv6(src)
    dst6 = _as_ipv6(dst)
    pseudo = src6.packed + dst6.packed + struct.pack("!I3xB", udp_length, IPPROTO_UDP)
    udp = _udp(packet, pseudo)
    header = struct.pack(
        "!IHBB16s16s",
        6 << 28,  # version 6, traffic class 0, flow label 0
        udp_length,  # payload length
        IPPROTO_UDP,  # next header
        packet.ttl,  # hop limit
        src6.packed,
        dst6.packed,
    )
    return header + udp


def _as_ipv6(address: _IPAddress) -> ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv6Address):
        return address
    return ipaddress.IPv6Address("::ffff:" + str(address))


def write_pcap_file(stream: BinaryIO, packets: Iterable[Packet]) -> int:
    """Write a pcap file of ``packets`` to ``stream``; return the number written."""
    stream.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_RAW))
    count = 0
    for packet in packets:
        data = build_ip_udp(packet)
        micros = round(packet.time * 1_000_000)
        seconds, micros = divmod(micros, 1_000_000)
        stream.write(struct.pack("<IIII", seconds, micros, len(data), len(data)))
        stream.write(data)
        count += 1
    return count
