"""tribes.capture: pcap / pcapng reading and TCP reassembly.

Captures are built with dpkt's writers (and dpkt's header classes for the big-endian variants),
one test records a real exchange on the loopback interface with tcpdump.
"""

from __future__ import annotations

import io
import os
import random
import selectors
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import dpkt
import pytest

from tests.support import require, require_tool
from tribes.capture import (
    CaptureParser,
    Endpoint,
    FlowAssembler,
    TcpFlow,
    TcpSegment,
    decode_frame,
    read_capture,
    read_flows,
)
from tribes.errors import ProtocolError

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MASK = 0xFFFFFFFF

Addr = tuple[str, int]
CLIENT: Addr = ("127.0.0.1", 40001)
SERVER: Addr = ("127.0.0.1", 4000)
CLIENT6: Addr = ("::1", 40001)
SERVER6: Addr = ("::1", 4000)


# ------------------------------------------------------------------------------ packet building


@dataclass
class Seg:
    src: Addr
    dst: Addr
    seq: int
    flags: int = PSH | ACK
    payload: bytes = b""
    ack: int = 0


def _ip(host: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)


def ip_packet(s: Seg) -> bytes:
    tcp = dpkt.tcp.TCP(
        sport=s.src[1],
        dport=s.dst[1],
        seq=s.seq & MASK,
        ack=s.ack & MASK,
        flags=s.flags,
        win=65535,
        data=s.payload,
    )
    if ":" in s.src[0]:
        body = bytes(tcp)
        ip6 = dpkt.ip6.IP6(
            src=_ip(s.src[0]), dst=_ip(s.dst[0]), nxt=6, hlim=64, plen=len(body), data=tcp
        )
        return bytes(ip6)
    return bytes(dpkt.ip.IP(src=_ip(s.src[0]), dst=_ip(s.dst[0]), p=6, ttl=64, data=tcp))


def link_frame(linktype: int, ip: bytes) -> bytes:
    """Wrap an IP packet in the link-layer header of `linktype`."""
    v6 = ip[0] >> 4 == 6
    ethertype = 0x86DD if v6 else 0x0800
    if linktype == 1:
        mac_a, mac_b = b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
        return bytes(dpkt.ethernet.Ethernet(src=mac_a, dst=mac_b, type=ethertype, data=ip))
    if linktype == 113:
        return bytes(dpkt.sll.SLL(type=4, hrd=772, hlen=6, hdr=b"\x00" * 8, ethtype=ethertype)) + ip
    if linktype == 276:
        return bytes(dpkt.sll2.SLL2(ethtype=ethertype, intindex=1, hrd=772)) + ip
    if linktype == 0:  # BSD NULL: family in the capturing host's byte order
        return struct.pack("<I", 24 if v6 else 2) + ip
    if linktype == 108:  # OpenBSD LOOP: family in network order
        return struct.pack(">I", 24 if v6 else 2) + ip
    assert linktype in (12, 101, 228, 229)
    return ip


def frames(segs: Iterable[Seg], linktype: int = 1) -> list[bytes]:
    return [link_frame(linktype, ip_packet(s)) for s in segs]


def stamp(items: Sequence[bytes], t0: float = 1_700_000_000.0) -> list[tuple[float, bytes]]:
    return [(t0 + i * 0.001, f) for i, f in enumerate(items)]


# ----------------------------------------------------------------------------- capture writing


def write_pcap(
    path: Path,
    items: Sequence[bytes | tuple[float, bytes]],
    linktype: int = 1,
    *,
    nano: bool = False,
    big_endian: bool = False,
) -> Path:
    packets = [it if isinstance(it, tuple) else (0.0, it) for it in items]
    if not any(ts for ts, _ in packets):
        packets = stamp([f for _, f in packets])
    with path.open("wb") as fh:
        if not big_endian:
            writer = dpkt.pcap.Writer(fh, snaplen=262144, linktype=linktype, nano=nano)
            for ts, frame in packets:
                writer.writepkt(frame, ts=ts)
        else:  # dpkt's writer uses the host byte order; build the big-endian file from its headers
            magic = dpkt.pcap.TCPDUMP_MAGIC_NANO if nano else dpkt.pcap.TCPDUMP_MAGIC
            fh.write(bytes(dpkt.pcap.FileHdr(magic=magic, snaplen=262144, linktype=linktype)))
            scale = 10**9 if nano else 10**6
            for ts, frame in packets:
                sec, frac = int(ts), round((ts - int(ts)) * scale)
                n = len(frame)
                fh.write(bytes(dpkt.pcap.PktHdr(tv_sec=sec, tv_usec=frac, caplen=n, len=n)))
                fh.write(frame)
    return path


def write_pcapng(
    path: Path,
    items: Sequence[bytes | tuple[float, bytes]],
    linktype: int = 1,
    *,
    big_endian: bool = False,
) -> Path:
    packets = [it if isinstance(it, tuple) else (0.0, it) for it in items]
    if not any(ts for ts, _ in packets):
        packets = stamp([f for _, f in packets])
    ng = dpkt.pcapng
    with path.open("wb") as fh:
        if not big_endian:
            writer = ng.Writer(fh, snaplen=262144, linktype=linktype)
            for ts, frame in packets:
                writer.writepkt(frame, ts=ts)
        else:
            fh.write(bytes(ng.SectionHeaderBlock()))
            fh.write(bytes(ng.InterfaceDescriptionBlock(snaplen=262144, linktype=linktype)))
            for ts, frame in packets:
                us = round(ts * 1e6)
                epb = ng.EnhancedPacketBlock(ts_high=us >> 32, ts_low=us & MASK, pkt_data=frame)
                fh.write(bytes(epb))
    return path


# ------------------------------------------------------------------------------- conversations


def conversation(
    requests: Sequence[bytes],
    replies: Sequence[bytes],
    *,
    client: Addr = CLIENT,
    server: Addr = SERVER,
    c_isn: int = 1000,
    s_isn: int = 900_000,
    handshake: bool = True,
    close: bool = True,
) -> list[Seg]:
    """Handshake, the client's segments, the server's segments, FIN both ways."""
    segs: list[Seg] = []
    c, s = c_isn, s_isn
    if handshake:
        segs.append(Seg(client, server, c, SYN))
        segs.append(Seg(server, client, s, SYN | ACK, ack=c + 1))
        c, s = c + 1, s + 1
        segs.append(Seg(client, server, c, ACK, ack=s))
    for chunk in requests:
        segs.append(Seg(client, server, c, PSH | ACK, chunk, ack=s))
        c += len(chunk)
    for chunk in replies:
        segs.append(Seg(server, client, s, PSH | ACK, chunk, ack=c))
        s += len(chunk)
    if close:
        segs.append(Seg(client, server, c, FIN | ACK, ack=s))
        segs.append(Seg(server, client, s, FIN | ACK, ack=c + 1))
        segs.append(Seg(client, server, c + 1, ACK, ack=s + 1))
    return segs


def data_segs(src: Addr, dst: Addr, seq: int, chunks: Sequence[bytes]) -> list[Seg]:
    out = []
    for chunk in chunks:
        out.append(Seg(src, dst, seq, PSH | ACK, chunk))
        seq += len(chunk)
    return out


def by_direction(flows: Sequence[TcpFlow]) -> dict[tuple[int, int], TcpFlow]:
    return {(f.src.port, f.dst.port): f for f in flows}


def capture_flows(tmp_path: Path, segs: Sequence[Seg], **kwargs: object) -> list[TcpFlow]:
    path = write_pcap(tmp_path / "c.pcap", frames(segs))
    return read_flows(path, **kwargs)  # type: ignore[arg-type]


REQUEST = [b"FLT2002" + bytes(range(200)), b"second request chunk", b"x" * 1000]
REPLY = [b"reply one", b"TLF2003" * 50]


# ------------------------------------------------------------------------------------- basics


def test_two_directions(tmp_path: Path) -> None:
    flows = capture_flows(tmp_path, conversation(REQUEST, REPLY))
    assert len(flows) == 2
    c2s, s2c = flows  # client first: its SYN is the first packet
    assert c2s.src == Endpoint("127.0.0.1", 40001) and c2s.dst == Endpoint("127.0.0.1", 4000)
    assert (s2c.src, s2c.dst) == (c2s.dst, c2s.src)
    assert c2s.data == b"".join(REQUEST)
    assert s2c.data == b"".join(REPLY)
    assert c2s.connection == s2c.connection == 0
    assert (c2s.gaps, s2c.gaps, c2s.truncated, s2c.truncated) == (0, 0, False, False)
    assert c2s.first_ts == pytest.approx(1_700_000_000.0)
    assert s2c.first_ts == pytest.approx(1_700_000_000.001)
    assert c2s.last_ts == pytest.approx(1_700_000_000.010)
    assert c2s.first_ts <= c2s.last_ts


CONTAINERS: list[tuple[str, Callable[[Path, list[bytes], int], Path]]] = [
    ("pcap-le-us", lambda p, f, lt: write_pcap(p, f, lt)),
    ("pcap-le-ns", lambda p, f, lt: write_pcap(p, f, lt, nano=True)),
    ("pcap-be-us", lambda p, f, lt: write_pcap(p, f, lt, big_endian=True)),
    ("pcap-be-ns", lambda p, f, lt: write_pcap(p, f, lt, nano=True, big_endian=True)),
    ("pcapng-le", lambda p, f, lt: write_pcapng(p, f, lt)),
    ("pcapng-be", lambda p, f, lt: write_pcapng(p, f, lt, big_endian=True)),
]


@pytest.mark.parametrize(("name", "write"), CONTAINERS, ids=[n for n, _ in CONTAINERS])
@pytest.mark.parametrize("linktype", [1, 113, 276, 0, 108, 101, 12])
@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_containers_and_link_types(
    tmp_path: Path,
    name: str,
    write: Callable[[Path, list[bytes], int], Path],
    linktype: int,
    v6: bool,
) -> None:
    client, server = (CLIENT6, SERVER6) if v6 else (CLIENT, SERVER)
    segs = conversation(REQUEST, REPLY, client=client, server=server)
    path = write(tmp_path / name, frames(segs, linktype), linktype)
    capture = read_capture(path)
    assert capture.stats.format == name.split("-")[0]
    assert capture.stats.link_types == {linktype}
    c2s, s2c = capture.flows
    assert c2s.src == Endpoint(client[0], client[1])
    assert (c2s.data, s2c.data) == (b"".join(REQUEST), b"".join(REPLY))
    assert c2s.first_ts == pytest.approx(1_700_000_000.0, abs=1e-6)
    assert capture.stats.tcp_segments == len(segs)


def test_modified_pcap_records(tmp_path: Path) -> None:
    """The "modified" (Kuznetzov) pcap variant has 24-byte record headers."""
    path = tmp_path / "mod.pcap"
    with path.open("wb") as fh:
        fh.write(bytes(dpkt.pcap.FileHdr(magic=dpkt.pcap.MODPCAP_MAGIC, linktype=1)))
        for ts, frame in stamp(frames(conversation(REQUEST, REPLY))):
            n = len(frame)
            usec = round((ts % 1) * 1e6)
            fh.write(bytes(dpkt.pcap.PktModHdr(tv_sec=int(ts), tv_usec=usec, caplen=n, len=n)))
            fh.write(frame)
    assert [f.data for f in read_flows(path)] == [b"".join(REQUEST), b"".join(REPLY)]


def test_pcapng_sections_of_both_byte_orders(tmp_path: Path) -> None:
    """Concatenated pcapng files are one file of several sections, each with its own interfaces."""
    first = conversation([b"little"], [], client=("127.0.0.1", 40001))
    second = conversation([b"big"], [], client=("127.0.0.1", 40002))
    le = write_pcapng(tmp_path / "le", stamp(frames(first), 1.0), 1).read_bytes()
    be = write_pcapng(tmp_path / "be", stamp(frames(second, 113), 2.0), 113, big_endian=True)
    path = tmp_path / "both.pcapng"
    path.write_bytes(le + be.read_bytes())
    capture = read_capture(path)
    assert [f.data for f in capture.flows] == [b"little", b"", b"big", b""]
    assert capture.stats.link_types == {1, 113}


@pytest.mark.parametrize(("linktype", "v6"), [(228, False), (229, True)])
def test_raw_ipv4_and_ipv6_link_types(tmp_path: Path, linktype: int, v6: bool) -> None:
    client, server = (CLIENT6, SERVER6) if v6 else (CLIENT, SERVER)
    segs = conversation(REQUEST, REPLY, client=client, server=server)
    flows = read_flows(write_pcapng(tmp_path / "raw.pcapng", frames(segs, linktype), linktype))
    assert [f.data for f in flows] == [b"".join(REQUEST), b"".join(REPLY)]


def test_pcapng_interfaces_with_their_own_link_type_and_time_resolution(tmp_path: Path) -> None:
    """Interface 0 is Ethernet in microseconds, interface 1 is SLL in nanoseconds + 100 s."""
    ng = dpkt.pcapng
    tsresol_ns = ng.PcapngOptionLE(code=9, data=b"\x09")
    tsoffset = ng.PcapngOptionLE(code=14, data=struct.pack("<q", 100))
    end = ng.PcapngOptionLE(code=0)
    idbs = [
        ng.InterfaceDescriptionBlockLE(linktype=1, snaplen=65535),
        ng.InterfaceDescriptionBlockLE(
            linktype=113, snaplen=65535, opts=[tsresol_ns, tsoffset, end]
        ),
    ]
    eth = conversation([b"on ethernet"], [b"reply"], client=("127.0.0.1", 40001))
    sll = conversation([b"on sll"], [b"reply too"], client=("127.0.0.1", 40002))
    path = tmp_path / "multi.pcapng"
    with path.open("wb") as fh:
        writer = ng.Writer(fh, idb=idbs)
        for i, (a, b) in enumerate(zip(eth, sll, strict=True)):
            writer.writepkt(
                ng.EnhancedPacketBlockLE(iface_id=0, pkt_data=frames([a])[0]), ts=10 + i
            )
            ticks = (20 + i) * 10**9
            writer.writepkt(
                ng.EnhancedPacketBlockLE(
                    iface_id=1,
                    pkt_data=frames([b], 113)[0],
                    ts_high=ticks >> 32,
                    ts_low=ticks & MASK,
                )
            )
    capture = read_capture(path)
    assert capture.stats.link_types == {1, 113}
    flows = capture.flows
    assert [f.data for f in flows] == [b"on ethernet", b"reply", b"on sll", b"reply too"]
    assert [f.first_ts for f in flows] == [10.0, 11.0, 120.0, 121.0]
    assert [f.connection for f in flows] == [0, 0, 1, 1]


# -------------------------------------------------------------------------------- reassembly


def test_out_of_order_segments_are_put_in_place(tmp_path: Path) -> None:
    chunks = [b"aaaa", b"bbbbbb", b"cc", b"dddddddd", b"e"]
    segs = conversation(chunks, [b"ok"])
    data = segs[3:8]  # the five client data segments
    segs[3:8] = [data[2], data[4], data[0], data[3], data[1]]
    c2s, s2c = capture_flows(tmp_path, segs)
    assert c2s.data == b"".join(chunks)
    assert c2s.gaps == 0
    assert s2c.data == b"ok"


def test_retransmissions_are_ignored(tmp_path: Path) -> None:
    chunks = [b"first|", b"second|", b"third|"]
    segs = conversation(chunks, [b"ok"])
    segs.insert(5, segs[4])  # second, twice in a row
    segs.insert(8, segs[3])  # first again, late
    capture = read_capture(write_pcap(tmp_path / "r.pcap", frames(segs)))
    assert capture.flows[0].data == b"first|second|third|"
    assert capture.flows[0].gaps == 0
    assert capture.stats.retransmissions == 2


def test_retransmitted_out_of_order_segment_is_kept_once(tmp_path: Path) -> None:
    segs = conversation([b"11", b"22", b"33"], [])
    one, two, three = segs[3:6]
    segs[3:6] = [three, three, one, two]
    c2s = capture_flows(tmp_path, segs)[0]
    assert c2s.data == b"112233"


def test_overlapping_segments_keep_held_bytes_and_add_new_ones(tmp_path: Path) -> None:
    seq = 1001
    segs = conversation([], [], close=False)
    segs += [
        Seg(CLIENT, SERVER, seq, payload=b"0123456789"),
        # overlaps the delivered bytes, brings 5 new ones; its overlap differs -> conflict
        Seg(CLIENT, SERVER, seq + 5, payload=b"XXXXXabcde"),
        # out of order pieces that overlap each other
        Seg(CLIENT, SERVER, seq + 20, payload=b"klmno"),
        Seg(CLIENT, SERVER, seq + 18, payload=b"ijKLMNOpq"),
        # fills the hole, overlapping the pending piece at both ends
        Seg(CLIENT, SERVER, seq + 14, payload=b"efghij"),
    ]
    capture = read_capture(write_pcap(tmp_path / "o.pcap", frames(segs)))
    c2s = capture.flows[0]
    assert c2s.data == b"0123456789abcdefghijklmnopq"
    assert c2s.gaps == 0
    assert capture.stats.conflicts == 2  # XXXXX vs 56789, KLMNO vs klmno
    assert capture.stats.overlaps == 3


def test_hole_is_skipped_and_counted(tmp_path: Path) -> None:
    segs = conversation([b"aaa", b"bbb", b"ccc", b"ddd"], [b"ok"])
    del segs[4]  # "bbb" never captured
    c2s, s2c = capture_flows(tmp_path, segs)
    assert c2s.data == b"aaacccddd"
    assert c2s.gaps == 1
    assert s2c.gaps == 0


def test_missing_first_segment_and_missing_tail_are_holes(tmp_path: Path) -> None:
    segs = conversation([b"aaa", b"bbb", b"ccc"], [b"ok"])
    del segs[5]  # "ccc": the FIN then says 3 bytes are missing
    del segs[3]  # "aaa": the SYN says the stream starts 3 bytes earlier
    c2s = capture_flows(tmp_path, segs)[0]
    assert c2s.data == b"bbb"
    assert c2s.gaps == 2


def test_capture_starting_mid_connection(tmp_path: Path) -> None:
    segs = conversation([b"tail of an earlier message", b"FLT2002 next"], [b"answer"])
    segs = segs[4:]  # no handshake, and the first data segment is gone too
    # the server speaks first in this capture; the client is still its own direction
    segs.insert(0, segs.pop(1))
    flows = capture_flows(tmp_path, segs)
    assert [f.data for f in flows] == [b"answer", b"FLT2002 next"]
    assert [f.gaps for f in flows] == [0, 0]
    assert flows[0].src == Endpoint("127.0.0.1", 4000)


def test_sequence_numbers_wrap_around(tmp_path: Path) -> None:
    chunks = [bytes([i]) * 7 for i in range(10)]  # 70 bytes across 2**32
    segs = conversation(chunks, [b"x" * 30], c_isn=MASK - 30, s_isn=MASK)
    segs[5], segs[9] = segs[9], segs[5]  # out of order across the wrap too
    c2s, s2c = capture_flows(tmp_path, segs)
    assert c2s.data == b"".join(chunks)
    assert s2c.data == b"x" * 30
    assert c2s.gaps == s2c.gaps == 0


def test_same_timestamp_puts_client_direction_first(tmp_path: Path) -> None:
    segs = data_segs(SERVER, CLIENT, 5, [b"from server"]) + data_segs(CLIENT, SERVER, 9, [b"hi"])
    path = write_pcap(tmp_path / "t.pcap", [(5.0, f) for f in frames(segs)])
    flows = read_flows(path)
    assert [f.data for f in flows] == [b"hi", b"from server"]


def test_flows_ordered_by_first_packet_time(tmp_path: Path) -> None:
    a = conversation([b"a"], [b"A"], client=("127.0.0.1", 50001))
    b = conversation([b"b"], [b"B"], client=("127.0.0.1", 50002))
    interleaved = [a[0], b[0], b[1], a[1], *a[2:], *b[2:]]
    flows = capture_flows(tmp_path, interleaved)
    assert [(f.connection, f.data) for f in flows] == [(0, b"a"), (1, b"b"), (1, b"B"), (0, b"A")]


def test_reused_four_tuple_after_close_is_a_new_connection(tmp_path: Path) -> None:
    first = conversation([b"one"], [b"1"], c_isn=100, s_isn=200)
    second = conversation([b"two"], [b"2"], c_isn=7_000_000, s_isn=8_000_000)
    flows = capture_flows(tmp_path, first + second)
    assert [(f.connection, f.data) for f in flows] == [
        (0, b"one"),
        (0, b"1"),
        (1, b"two"),
        (1, b"2"),
    ]


def test_reused_four_tuple_after_rst_is_a_new_connection(tmp_path: Path) -> None:
    first = conversation([b"one"], [], c_isn=100, s_isn=200, close=False)
    first.append(Seg(SERVER, CLIENT, 201, RST | ACK))
    second = conversation([b"two"], [], c_isn=100, s_isn=300)  # even the same ISN
    flows = capture_flows(tmp_path, first + second)
    assert [(f.connection, f.data) for f in flows] == [(0, b"one"), (0, b""), (1, b"two"), (1, b"")]


def test_retransmitted_syn_is_the_same_connection(tmp_path: Path) -> None:
    segs = conversation([b"hello"], [b"world"])
    segs.insert(1, segs[0])
    segs.insert(3, segs[2])  # and the SYN-ACK
    flows = capture_flows(tmp_path, segs)
    assert [(f.connection, f.data) for f in flows] == [(0, b"hello"), (0, b"world")]


def test_syn_ack_captured_before_syn_is_the_same_connection(tmp_path: Path) -> None:
    segs = conversation([b"hello"], [b"world"])
    segs[0], segs[1] = segs[1], segs[0]
    path = write_pcap(tmp_path / "x.pcap", [(1.0, f) for f in frames(segs)])  # one timestamp
    flows = read_flows(path)
    assert [(f.connection, f.src.port, f.data) for f in flows] == [
        (0, 40001, b"hello"),
        (0, 4000, b"world"),
    ]


def test_ipv6_extension_headers_before_tcp() -> None:
    tcp = bytes(dpkt.tcp.TCP(sport=40001, dport=4000, seq=7, flags=PSH | ACK, data=b"v6 data"))
    hop_by_hop = bytes([44, 0, 1, 4, 0, 0, 0, 0])  # next: fragment; PadN
    atomic_fragment = bytes([6, 0, 0, 0, 0, 0, 0, 9])  # offset 0, no more fragments
    body = hop_by_hop + atomic_fragment + tcp
    ip6 = dpkt.ip6.IP6(src=_ip("::1"), dst=_ip("::2"), nxt=0, hlim=64, plen=len(body))
    segment = decode_frame(229, bytes(ip6)[:40] + body)
    assert isinstance(segment, TcpSegment)
    assert (segment.payload, segment.wire_len, segment.seq) == (b"v6 data", 7, 7)
    assert (segment.src_ip, segment.dst_ip) == (_ip("::1"), _ip("::2"))


def test_port_filter_keeps_both_directions_of_matching_connections(tmp_path: Path) -> None:
    tribes = conversation([b"tribes"], [b"ack"], client=("127.0.0.1", 40001))
    other = conversation([b"http"], [b"200"], server=("127.0.0.1", 8080))
    capture = read_capture(
        write_pcap(tmp_path / "p.pcap", frames(tribes + other)), port_filter=lambda a, b: a == 4000
    )
    assert [f.data for f in capture.flows] == [b"tribes", b"ack"]
    assert capture.stats.filtered == len(other)
    assert capture.stats.connections == 1


def test_non_tcp_noise_is_skipped_and_counted(tmp_path: Path) -> None:
    segs = conversation(REQUEST, REPLY)
    good = frames(segs)
    src, dst = _ip("127.0.0.1"), _ip("127.0.0.1")
    udp = dpkt.ip.IP(src=src, dst=dst, p=17, data=dpkt.udp.UDP(sport=1, dport=2, data=b"dns?"))
    icmp = dpkt.ip.IP(src=src, dst=dst, p=1, data=dpkt.icmp.ICMP(type=8, data=b"ping"))
    tcp_part = bytes(dpkt.tcp.TCP(sport=40001, dport=4000, seq=1001, flags=ACK, data=b"zz"))
    frag_first = dpkt.ip.IP(src=src, dst=dst, p=6, mf=1, data=tcp_part)
    frag_later = dpkt.ip.IP(src=src, dst=dst, p=6, offset=3, data=b"yyyyyyyy")
    frag6 = dpkt.ip6.IP6(src=_ip("::1"), dst=_ip("::1"), nxt=44, hlim=64, plen=16)
    frag6_bytes = bytes(frag6) + bytes([6, 0, 0, 8, 0, 0, 0, 1]) + b"zzzzzzzz"
    arp = dpkt.ethernet.Ethernet(type=0x0806, data=dpkt.arp.ARP())
    noise = [
        bytes(arp),
        link_frame(1, bytes(udp)),
        link_frame(1, bytes(icmp)),
        link_frame(1, bytes(frag_first)),
        link_frame(1, bytes(frag_later)),
        link_frame(1, frag6_bytes),
        b"\x00" * 14 + b"\x45garbage",  # unknown ethertype 0
        b"\x00" * 12 + b"\x08\x00" + b"\x45" + b"\x00" * 8 + b"\x06",  # cut-off IPv4 header
        b"short",
    ]
    mixed = []
    for i, frame in enumerate(good):
        mixed.append(frame)
        if i < len(noise):
            mixed.append(noise[i])
    capture = read_capture(write_pcap(tmp_path / "n.pcap", mixed))
    assert [f.data for f in capture.flows] == [b"".join(REQUEST), b"".join(REPLY)]
    stats = capture.stats
    assert stats.packets == len(mixed)
    assert stats.tcp_segments == len(good)
    assert stats.non_tcp == 4  # ARP, UDP, ICMP, ethertype 0
    assert stats.fragments == 3
    assert stats.malformed == 2


# ----------------------------------------------------------------------------- limits and damage


def test_byte_cap_truncates_the_flow(tmp_path: Path) -> None:
    chunks = [bytes([65 + i]) * 100 for i in range(10)]
    segs = conversation(chunks, [b"short reply"])
    segs[4], segs[6] = segs[6], segs[4]  # some of it out of order
    c2s, s2c = capture_flows(tmp_path, segs, max_bytes_per_flow=250)
    assert c2s.data == b"".join(chunks)[:250]
    assert c2s.truncated
    assert s2c.data == b"short reply" and not s2c.truncated


def test_byte_cap_bounds_pending_bytes_too() -> None:
    assembler = FlowAssembler(max_bytes_per_flow=10)
    seg = TcpSegment(b"\x7f\0\0\1", 40001, b"\x7f\0\0\1", 4000, 0, 0, ACK, b"", 0)
    assembler.feed_segment(0.0, seg._replace(seq=100, payload=b"ab", wire_len=2))
    # far beyond a hole: only what fits the cap may wait
    assembler.feed_segment(0.1, seg._replace(seq=110, payload=b"0123456789", wire_len=10))
    flow = assembler.flows()[0]
    assert flow.data == b"ab01234567" and flow.truncated and flow.gaps == 1
    # the hole fills: its bytes come first, pending bytes beyond the cap are dropped
    assembler.feed_segment(0.2, seg._replace(seq=102, payload=b"cdefghij", wire_len=8))
    flow = assembler.flows()[0]
    assert flow.data == b"abcdefghij" and flow.truncated and flow.gaps == 0


def test_exact_fit_is_not_truncated(tmp_path: Path) -> None:
    c2s = capture_flows(tmp_path, conversation([b"12345", b"67890"], []), max_bytes_per_flow=10)[0]
    assert c2s.data == b"1234567890" and not c2s.truncated


def test_connection_cap(tmp_path: Path) -> None:
    segs: list[Seg] = []
    for port in range(50000, 50005):
        segs += conversation([b"req%d" % port], [], client=("127.0.0.1", port))
    capture = read_capture(write_pcap(tmp_path / "m.pcap", frames(segs)), max_connections=3)
    assert {f.connection for f in capture.flows} == {0, 1, 2}
    assert capture.stats.connections == 3
    assert capture.stats.dropped == 2 * len(segs) // 5


def test_pending_cap_skips_the_hole_early(tmp_path: Path) -> None:
    chunks = [bytes([48 + i]) * 3 for i in range(10)]
    segs = conversation(chunks, [])
    del segs[3]  # the first data segment is lost: everything after it waits
    capture = read_capture(write_pcap(tmp_path / "q.pcap", frames(segs)), max_pending_segments=4)
    c2s = capture.flows[0]
    assert c2s.data == b"".join(chunks[1:])
    assert c2s.gaps == 1
    assert capture.stats.forced_skips == 1


def test_snap_length_cut_payload_leaves_a_hole(tmp_path: Path) -> None:
    segs = conversation([b"A" * 100, b"B" * 100, b"C" * 100], [])
    cut = frames(segs)
    cut[4] = cut[4][: len(cut[4]) - 60]  # caplen < len: the last 60 bytes of "B" not captured
    capture = read_capture(write_pcap(tmp_path / "s.pcap", cut))
    c2s = capture.flows[0]
    assert c2s.data == b"A" * 100 + b"B" * 40 + b"C" * 100
    assert c2s.gaps == 1
    assert capture.stats.snapped == 1


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_truncated_file_gives_partial_result(tmp_path: Path, fmt: str) -> None:
    """A file cut inside its last record is read up to that record; the stats say so."""
    segs = conversation([b"complete", b"cut short"], [])
    write = write_pcap if fmt == "pcap" else write_pcapng
    path = write(tmp_path / f"t.{fmt}", frames(segs))
    whole = path.read_bytes()
    records = len(frames(segs)[-1])
    path.write_bytes(whole[:-records])  # the FIN's ACK record (and more) lost, mid-record
    capture = read_capture(path)
    assert capture.stats.truncated_file
    assert capture.flows[0].data == b"completecut short"
    assert capture.stats.packets < len(segs)
    assert not read_capture(write(tmp_path / f"ok.{fmt}", frames(segs))).stats.truncated_file


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\xd4\xc3\xb2\xa1\x02\x00", "inside its file header"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00", "inside its file header"),
        (b"GET / HTTP/1.1\r\n\r\n", "not a pcap or pcapng"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 30, "gzip"),
    ],
)
def test_unreadable_files_raise_protocol_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(ProtocolError, match=message):
        read_flows(path)


def test_missing_file_raises_protocol_error(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError, match="cannot read"):
        read_flows(tmp_path / "nope.pcap")


def test_impossible_lengths_raise_protocol_error(tmp_path: Path) -> None:
    good = write_pcap(tmp_path / "g.pcap", frames(conversation([b"x"], []))).read_bytes()
    # first record header: caplen of 2 GiB
    bad = bytearray(good)
    bad[24 + 8 : 24 + 12] = struct.pack("<I", 1 << 31)
    (tmp_path / "b.pcap").write_bytes(bad)
    with pytest.raises(ProtocolError, match="claims") as info:
        read_flows(tmp_path / "b.pcap")
    assert info.value.offset == 24

    ng = write_pcapng(tmp_path / "g.pcapng", frames(conversation([b"x"], []))).read_bytes()
    shb_len = struct.unpack_from("<I", ng, 4)[0]
    for patched in (struct.pack("<I", 7), struct.pack("<I", 1 << 30)):
        bad = bytearray(ng)
        bad[shb_len + 4 : shb_len + 8] = patched
        (tmp_path / "b.pcapng").write_bytes(bad)
        with pytest.raises(ProtocolError, match="impossible length"):
            read_flows(tmp_path / "b.pcapng")
    bad = bytearray(ng)
    bad[shb_len - 4 : shb_len] = struct.pack("<I", shb_len + 4)  # trailing length disagrees
    (tmp_path / "b.pcapng").write_bytes(bad)
    with pytest.raises(ProtocolError, match="disagree"):
        read_flows(tmp_path / "b.pcapng")


def test_only_unsupported_link_types_is_an_error(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "u.pcap", [b"\x00" * 40], linktype=105)  # 802.11
    with pytest.raises(ProtocolError, match="supported link type"):
        read_flows(path)


def test_no_packets_is_an_empty_result(tmp_path: Path) -> None:
    capture = read_capture(write_pcap(tmp_path / "e.pcap", []))
    assert capture.flows == [] and capture.stats.packets == 0


# --------------------------------------------------------------------------------- sans-io


def test_parser_accepts_any_chunking(tmp_path: Path) -> None:
    segs = conversation(REQUEST, REPLY)
    for write in (write_pcap, write_pcapng):
        blob = write(tmp_path / "x", frames(segs)).read_bytes()
        whole = CaptureParser()
        expected = whole.feed(blob)
        whole.close()
        assert len(expected) == len(segs)
        rng = random.Random(5)
        parser = CaptureParser()
        got = []
        pos = 0
        while pos < len(blob):
            step = rng.choice([1, 2, 3, 7, 100])
            got += parser.feed(blob[pos : pos + step])
            pos += step
        parser.close()
        assert got == expected and not parser.truncated


def test_assembler_is_usable_without_files() -> None:
    assembler = FlowAssembler()
    for i, frame in enumerate(frames(conversation([b"hello"], [b"world"]))):
        assembler.feed_frame(float(i), 1, frame)
    assert [f.data for f in assembler.flows()] == [b"hello", b"world"]
    assert assembler.flows() == assembler.flows()  # reading does not consume


def test_hostile_frames_never_raise() -> None:
    rng = random.Random(1234)
    ips = [ip_packet(s) for s in conversation([b"payload" * 3], [b"x"])[2:5]]
    ips += [ip_packet(s) for s in conversation([b"p6"], [], client=CLIENT6, server=SERVER6)[2:4]]
    outcomes: set[str] = set()
    for _ in range(20_000):
        linktype = rng.choice([0, 1, 12, 101, 108, 113, 228, 229, 276])
        if rng.random() < 0.1:
            frame = rng.randbytes(rng.randrange(80))
        else:
            mutable = bytearray(link_frame(linktype, rng.choice(ips)))
            for _ in range(rng.randrange(0, 4)):
                mutable[rng.randrange(min(len(mutable), 90))] = rng.randrange(256)
            if rng.random() < 0.3:
                del mutable[rng.randrange(len(mutable) + 1) :]
            frame = bytes(mutable)
        result = decode_frame(linktype, frame)
        assert isinstance(result, (str, TcpSegment))
        outcomes.add(result if isinstance(result, str) else "segment")
    assert outcomes == {"segment", "non_tcp", "malformed", "fragment"}


def test_deeply_nested_headers_are_cheap() -> None:
    """Frames dpkt would decode with one copy per nested header are refused up front."""
    isl = (b"\x01\x00\x0c\x00\x00" + b"\x00" * 21) * 40_000  # ~1 MB of Cisco ISL tags
    ip6 = dpkt.ip6.IP6(src=_ip("::1"), dst=_ip("::1"), nxt=60, hlim=64)
    dstopts = bytes(ip6) + bytes([60, 0, 1, 4, 0, 0, 0, 0]) * 100_000
    ipip = bytes(dpkt.ip.IP(src=b"\0" * 4, dst=b"\0" * 4, p=4)) * 40_000
    start = time.perf_counter()
    assert decode_frame(1, isl) == "non_tcp"
    assert decode_frame(229, dstopts) == "malformed"
    assert decode_frame(228, ipip) == "non_tcp"
    assert time.perf_counter() - start < 1.0


def test_parser_reports_offsets() -> None:
    parser = CaptureParser()
    header = io.BytesIO()
    dpkt.pcap.Writer(header, linktype=1)
    parser.feed(header.getvalue())
    record = bytes(dpkt.pcap.LEPktHdr(caplen=MASK, len=MASK))
    with pytest.raises(ProtocolError) as info:
        parser.feed(record)
    assert info.value.offset == 24


# ------------------------------------------------------------------------------ real capture


def _wait_for_line(stream: io.BufferedReader, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        while needle not in seen and time.monotonic() < deadline:
            if sel.select(timeout=0.1):
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
    return seen


def test_real_loopback_capture_with_tcpdump(tmp_path: Path) -> None:
    tcpdump = require_tool("tcpdump")
    rng = random.Random(42)
    request = b"FLT2002" + rng.randbytes(300_000) + b"TLF2003"  # several segments even on lo
    reply_small, reply_large = b"ACK", rng.randbytes(200_000)

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    path = tmp_path / "lo.pcap"
    cmd = [tcpdump, "-i", "lo", "-n", "-U", "--immediate-mode", "-s", "0", "-w", str(path)]
    if os.geteuid() == 0:
        cmd += ["-Z", "root"]  # keep the right to write into pytest's private tmp dir
    cmd += ["tcp", "port", str(port), "and", "host", "127.0.0.1"]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        assert proc.stderr is not None
        banner = _wait_for_line(proc.stderr, b"listening on", 10.0)  # type: ignore[arg-type]
        require(
            b"listening on" in banner, f"packet capture on lo ({banner.decode(errors='replace')!r})"
        )

        received: list[bytes] = []

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
                received.append(b"".join(chunks))
                conn.sendall(reply_small)
                time.sleep(0.01)
                conn.sendall(reply_large)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(request)
            client.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
        thread.join(10)
        assert received == [request]
        assert answer == reply_small + reply_large

        # tcpdump writes each packet as it comes (-U); read until both FINs are in the file
        deadline = time.monotonic() + 15
        while True:
            capture = read_capture(path)
            datas = [f.data for f in capture.flows]
            if datas == [request, answer] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)
        server.close()

    capture = read_capture(path)
    c2s, s2c = capture.flows
    assert c2s.data == request and s2c.data == answer
    assert c2s.dst == Endpoint("127.0.0.1", port) and s2c.src == Endpoint("127.0.0.1", port)
    assert c2s.connection == s2c.connection == 0
    assert (c2s.gaps, s2c.gaps, c2s.truncated, s2c.truncated) == (0, 0, False, False)
    assert c2s.first_ts <= s2c.first_ts <= s2c.last_ts
    assert capture.stats.link_types == {1}  # Linux lo is captured as Ethernet
    assert capture.stats.tcp_segments > 8  # the large writes spanned several segments
