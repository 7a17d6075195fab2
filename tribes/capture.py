"""TCP byte streams out of pcap / pcapng captures, for `pytribes decode --pcap FILE`.

Three sans-io layers -- bytes in, values out, no file, socket or clock -- and one I/O shell:

* `CaptureParser`: feed it a capture file's bytes in chunks of any size; it detects pcap (either
  byte order, microsecond or nanosecond, and the "modified" variant) or pcapng from the magic
  bytes and returns `RawPacket`s (timestamp, link type, frame).  dpkt parses the file, record and
  block headers; the parser only frames records, so it can bound every length before buffering.
* `decode_frame`: one link-layer frame (Ethernet, Linux cooked SLL / SLL2, BSD NULL / LOOP, raw
  IPv4 / IPv6) to a `TcpSegment`, or the reason it was skipped (non-TCP, IP fragment, malformed,
  unsupported link type).  dpkt parses the link, IP and TCP headers; the type fields are read
  first so that only TCP over IP reaches dpkt's eager (and, for some nestings, costly) decoders.
* `FlowAssembler`: feed it segments; it reassembles both directions of every TCP connection.
* `read_capture` / `read_flows`: open a file and run the three.

Reassembly, per direction of a connection:

* Sequence numbers are taken relative to the SYN's (data starts at ISN + 1) or, when the capture
  started mid-connection, to the first segment that carries data.  They are unwrapped to 64-bit
  stream offsets around the current position, so the 32-bit wrap-around is invisible.  Bytes
  before that anchor (a mid-stream capture's late retransmission of older data) are dropped.
* Bytes already held win: a retransmission adds nothing, an overlapping segment contributes only
  the bytes nobody had yet (the newest bytes that do not conflict with what is kept).  Overlapping
  bytes that differ from the kept ones are counted in `CaptureStats.conflicts`.
* Out-of-order segments wait in a bounded pending list until the hole before them fills.  A hole
  that never fills is skipped -- when the capture ends, or early when more than
  `max_pending_segments` segments wait -- and counted in `TcpFlow.gaps`; so is a missing tail
  before a seen FIN.  A mid-stream start is not a gap, but the data then need not begin at a
  message boundary.
* A SYN on a 4-tuple whose connection was closed (FIN both ways, or RST), whose SYN had another
  ISN, or that was already seen mid-stream, starts a new connection.  A retransmitted SYN does not.
* At most `max_bytes_per_flow` bytes are kept (delivered plus pending) per direction; what lies
  beyond is dropped and `TcpFlow.truncated` set.  At most `max_connections` connections are
  tracked; segments of further connections are counted in `CaptureStats.dropped` and ignored.

Damaged files: a capture whose last record is cut short (tcpdump killed mid-write, a copy of a
file still being written) is NOT an error -- the complete records are used, the partial one is
dropped and `CaptureStats.truncated_file` is set.  `ProtocolError` is raised for files that are
unreadable, empty, not pcap / pcapng, cut inside the file header, or structurally impossible
(a record or block longer than `MAX_RECORD_BYTES`, pcapng length fields that disagree), and when
no packet at all uses a supported link type.
"""

from __future__ import annotations

import socket
import struct
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple, cast

import dpkt

from tribes.errors import ProtocolError

__all__ = [
    "DEFAULT_MAX_BYTES_PER_FLOW",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_PENDING_SEGMENTS",
    "MAX_RECORD_BYTES",
    "SUPPORTED_LINKTYPES",
    "Capture",
    "CaptureParser",
    "CaptureStats",
    "Endpoint",
    "FlowAssembler",
    "PortFilter",
    "RawPacket",
    "SkipReason",
    "TcpFlow",
    "TcpSegment",
    "decode_frame",
    "read_capture",
    "read_flows",
]

PortFilter = Callable[[int, int], bool]
SkipReason = Literal["non_tcp", "fragment", "malformed", "unsupported_link"]

DEFAULT_MAX_BYTES_PER_FLOW: Final = 256 << 20
DEFAULT_MAX_CONNECTIONS: Final = 10_000
DEFAULT_MAX_PENDING_SEGMENTS: Final = 4096
#: Longest packet record or pcapng block accepted; anything longer is a corrupt file.
MAX_RECORD_BYTES: Final = 16 << 20

LINKTYPE_NULL: Final = 0
LINKTYPE_ETHERNET: Final = 1
LINKTYPE_RAW_BSD: Final = 12
LINKTYPE_RAW: Final = 101
LINKTYPE_LOOP: Final = 108
LINKTYPE_LINUX_SLL: Final = 113
LINKTYPE_IPV4: Final = 228
LINKTYPE_IPV6: Final = 229
LINKTYPE_LINUX_SLL2: Final = 276
SUPPORTED_LINKTYPES: Final = frozenset(
    {
        LINKTYPE_NULL,
        LINKTYPE_ETHERNET,
        LINKTYPE_RAW_BSD,
        LINKTYPE_RAW,
        LINKTYPE_LOOP,
        LINKTYPE_LINUX_SLL,
        LINKTYPE_IPV4,
        LINKTYPE_IPV6,
        LINKTYPE_LINUX_SLL2,
    }
)

_READ_CHUNK: Final = 1 << 20
_SEQ_MASK: Final = 0xFFFFFFFF
_HALF_SEQ: Final = 1 << 31
_FIN: Final = 0x01
_SYN: Final = 0x02
_RST: Final = 0x04
_ACK: Final = 0x10
_IPPROTO_TCP: Final = 6
_IPV6_FRAGMENT_HEADER: Final = 44
_IPV6_AH: Final = 51
# hop-by-hop, routing, fragment, AH, destination options (ESP ends the readable chain)
_IPV6_EXTENSION_HEADERS: Final = frozenset({0, 43, 44, 51, 60})
_MAX_IPV6_EXTENSION_HEADERS: Final = 8
_ETH_IPV4: Final = b"\x08\x00"
_ETH_IPV6: Final = b"\x86\xdd"
_ETH_VLAN: Final = frozenset({b"\x81\x00", b"\x88\xa8", b"\x91\x00", b"\x92\x00"})
_AF_INET_VALUES: Final = frozenset({2})
_AF_INET6_VALUES: Final = frozenset({10, 24, 28, 30})  # Linux, BSDs, Darwin / FreeBSD

# Everything dpkt is known to raise on hostile bytes (NeedData and UnpackError are dpkt.Error;
# a short MPLS stack indexes past the end; Cisco ISL tags recurse once per tag).
_DPKT_ERRORS: Final = (
    dpkt.Error,
    struct.error,
    IndexError,
    KeyError,
    ValueError,
    RecursionError,
)


# --------------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One end of a TCP connection; `host` is the textual IPv4 / IPv6 address."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(slots=True)
class TcpFlow:
    """One direction of one TCP connection, reassembled."""

    src: Endpoint
    dst: Endpoint
    connection: int  # index of the connection in capture order; both directions share it
    data: bytes  # payload in sequence order, holes skipped
    first_ts: float
    last_ts: float
    gaps: int  # holes (missing segments) skipped
    truncated: bool  # hit max_bytes_per_flow


@dataclass(slots=True)
class CaptureStats:
    """What was read and what was skipped, for diagnostics."""

    format: str = ""  # "pcap" or "pcapng"
    packets: int = 0  # packet records read
    tcp_segments: int = 0
    non_tcp: int = 0  # not IP, or IP but not TCP
    fragments: int = 0  # IPv4 / IPv6 fragments (not reassembled)
    malformed: int = 0  # broken link / IP / TCP headers, undecodable pcapng blocks
    unsupported_link: int = 0  # packets on a link type this reader does not decode
    snapped: int = 0  # segments whose payload the snap length cut short
    filtered: int = 0  # segments rejected by port_filter
    stray: int = 0  # RSTs of connections never seen
    dropped: int = 0  # segments of connections beyond max_connections
    retransmissions: int = 0  # data segments that brought no new byte
    overlaps: int = 0  # data segments that brought some new and some known bytes
    conflicts: int = 0  # overlapping bytes that differed from the bytes kept
    forced_skips: int = 0  # holes skipped early because too many segments were pending
    connections: int = 0
    truncated_file: bool = False  # the last record was cut short; it was dropped
    link_types: set[int] = field(default_factory=set)


@dataclass(slots=True)
class Capture:
    flows: list[TcpFlow]
    stats: CaptureStats


# ---------------------------------------------------------------------------- container parsing


class RawPacket(NamedTuple):
    ts: float
    linktype: int
    data: bytes


@dataclass(slots=True)
class _Interface:
    linktype: int
    divisor: float  # timestamp units per second
    offset: float  # seconds added to every timestamp


_PCAPNG_SHB: Final = b"\x0a\x0d\x0d\x0a"
_PCAPNG_BOM_BE: Final = b"\x1a\x2b\x3c\x4d"
_PCAPNG_BOM_LE: Final = b"\x4d\x3c\x2b\x1a"
_PCAPNG_IDB: Final = 1
_PCAPNG_PB: Final = 2
_PCAPNG_SPB: Final = 3
_PCAPNG_EPB: Final = 6
_PCAPNG_SHB_TYPE: Final = 0x0A0D0D0A
_PCAPNG_OPT_TSRESOL: Final = 9
_PCAPNG_OPT_TSOFFSET: Final = 14

# magic bytes -> (big endian, nanosecond timestamps, "modified" record header)
_PCAP_MAGICS: Final[dict[bytes, tuple[bool, bool, bool]]] = {
    b"\xa1\xb2\xc3\xd4": (True, False, False),
    b"\xd4\xc3\xb2\xa1": (False, False, False),
    b"\xa1\xb2\x3c\x4d": (True, True, False),
    b"\x4d\x3c\xb2\xa1": (False, True, False),
    b"\xa1\xb2\xcd\x34": (True, False, True),
    b"\x34\xcd\xb2\xa1": (False, False, True),
}

_State = Literal["magic", "pcap_header", "pcap_record", "pcapng_block"]


class CaptureParser:
    """Sans-io pcap / pcapng reader: `feed` bytes, get `RawPacket`s, then `close`.

    Raises `ProtocolError` for input that is not a capture or is structurally impossible.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # file offset of _buf[0]
        self._state: _State = "magic"
        self._header_done = False
        self.format = ""  # "pcap" / "pcapng" once known
        self.truncated = False  # set by close() when a partial record was left over
        self.skipped_blocks = 0  # pcapng blocks dpkt could not decode, unknown interfaces
        # pcap
        self._pcap_big = False
        self._pcap_nano = False
        self._pcap_modified = False
        self._pcap_record_cls: Any = None
        self._pcap_record_len = 0
        self._pcap_linktype = 0
        # pcapng
        self._big = False
        self._interfaces: list[_Interface | None] = []
        self._last_ts = 0.0

    def feed(self, data: bytes) -> list[RawPacket]:
        """Consume `data`; return every packet whose record is now complete."""
        self._buf += data
        out: list[RawPacket] = []
        pos = 0
        while True:
            used = self._step(pos, out)
            if not used:
                break
            pos += used
        if pos:
            del self._buf[:pos]
            self._offset += pos
        return out

    def close(self) -> None:
        """End of input: a missing header is an error, a partial record only sets `truncated`."""
        if not self._header_done:
            if self._offset == 0 and not self._buf:
                raise ProtocolError("the capture is empty")
            raise ProtocolError("the capture ends inside its file header", len(self._buf))
        if self._buf:
            self.truncated = True

    # -- framing

    def _step(self, pos: int, out: list[RawPacket]) -> int:
        avail = len(self._buf) - pos
        match self._state:
            case "magic":
                return self._magic(pos, avail, out)
            case "pcap_header":
                return self._pcap_header(pos, avail)
            case "pcap_record":
                return self._pcap_record(pos, avail, out)
            case "pcapng_block":
                return self._pcapng_block(pos, avail, out)

    def _magic(self, pos: int, avail: int, out: list[RawPacket]) -> int:
        if avail < 4:
            return 0
        magic = bytes(self._buf[pos : pos + 4])
        if magic == _PCAPNG_SHB:
            self.format = "pcapng"
            self._state = "pcapng_block"
        elif magic in _PCAP_MAGICS:
            self.format = "pcap"
            self._pcap_big, self._pcap_nano, self._pcap_modified = _PCAP_MAGICS[magic]
            self._state = "pcap_header"
        else:
            hint = " (gzip-compressed? decompress it first)" if magic[:2] == b"\x1f\x8b" else ""
            raise ProtocolError(f"not a pcap or pcapng capture: magic bytes {magic.hex()}{hint}", 0)
        # Returning 0 would end the feed loop; go on in the new state instead.
        return self._step(pos, out)

    def _pcap_header(self, pos: int, avail: int) -> int:
        size = int(dpkt.pcap.FileHdr.__hdr_len__)
        if avail < size:
            return 0
        cls = dpkt.pcap.FileHdr if self._pcap_big else dpkt.pcap.LEFileHdr
        header = cls(bytes(self._buf[pos : pos + size]))
        self._pcap_linktype = int(header.linktype) & 0xFFFF  # upper bits: FCS length flags
        if self._pcap_modified:
            rec: Any = dpkt.pcap.PktModHdr if self._pcap_big else dpkt.pcap.LEPktModHdr
        else:
            rec = dpkt.pcap.PktHdr if self._pcap_big else dpkt.pcap.LEPktHdr
        self._pcap_record_cls = rec
        self._pcap_record_len = int(rec.__hdr_len__)
        self._header_done = True
        self._state = "pcap_record"
        return size

    def _pcap_record(self, pos: int, avail: int, out: list[RawPacket]) -> int:
        hlen = self._pcap_record_len
        if avail < hlen:
            return 0
        header = self._pcap_record_cls(bytes(self._buf[pos : pos + hlen]))
        caplen = int(header.caplen)
        if caplen > MAX_RECORD_BYTES:
            raise ProtocolError(
                f"pcap record claims {caplen} captured bytes (corrupt file?)", self._offset + pos
            )
        if avail < hlen + caplen:
            return 0
        divisor = 1e9 if self._pcap_nano else 1e6
        ts = int(header.tv_sec) + int(header.tv_usec) / divisor
        frame = bytes(self._buf[pos + hlen : pos + hlen + caplen])
        out.append(RawPacket(ts, self._pcap_linktype, frame))
        return hlen + caplen

    def _pcapng_block(self, pos: int, avail: int, out: list[RawPacket]) -> int:
        if avail < 12:
            return 0
        buf = self._buf
        offset = self._offset + pos
        if bytes(buf[pos : pos + 4]) == _PCAPNG_SHB:
            bom = bytes(buf[pos + 8 : pos + 12])
            if bom == _PCAPNG_BOM_BE:
                self._big = True
            elif bom == _PCAPNG_BOM_LE:
                self._big = False
            else:
                raise ProtocolError("pcapng section header with a bad byte-order magic", offset)
        elif not self._header_done:
            raise ProtocolError("pcapng file does not start with a section header", offset)
        order = ">" if self._big else "<"
        block_type, length = struct.unpack_from(order + "II", buf, pos)
        if length < 12 or length % 4 or length > MAX_RECORD_BYTES + 64:
            raise ProtocolError(f"pcapng block with impossible length {length}", offset)
        if avail < length:
            return 0
        length = int(length)
        block = bytes(buf[pos : pos + length])
        (trailer,) = struct.unpack_from(order + "I", block, length - 4)
        if trailer != length:
            raise ProtocolError(
                f"pcapng block length fields disagree ({length} != {trailer})", offset
            )
        self._pcapng_dispatch(block_type, block, offset, out)
        return length

    def _pcapng_dispatch(
        self, block_type: int, block: bytes, offset: int, out: list[RawPacket]
    ) -> None:
        ng = dpkt.pcapng
        big = self._big
        if block_type == _PCAPNG_SHB_TYPE:
            try:
                shb = (ng.SectionHeaderBlock if big else ng.SectionHeaderBlockLE)(block)
                major = int(shb.v_major)
            except _DPKT_ERRORS as exc:
                raise ProtocolError(f"unreadable pcapng section header: {exc}", offset) from exc
            if major != 1:
                raise ProtocolError(f"unsupported pcapng version {major}", offset)
            self._interfaces = []
            self._header_done = True
        elif block_type == _PCAPNG_IDB:
            try:
                idb = (ng.InterfaceDescriptionBlock if big else ng.InterfaceDescriptionBlockLE)(
                    block
                )
                self._interfaces.append(_interface(idb, big))
            except _DPKT_ERRORS:
                self.skipped_blocks += 1
                self._interfaces.append(None)  # keeps the numbering of later interfaces
        elif block_type in (_PCAPNG_EPB, _PCAPNG_PB):
            if block_type == _PCAPNG_EPB:
                cls: Any = ng.EnhancedPacketBlock if big else ng.EnhancedPacketBlockLE
            else:
                cls = ng.PacketBlock if big else ng.PacketBlockLE
            try:
                epb = cls(block)
                iface_id = int(epb.iface_id)
                ticks = (int(epb.ts_high) << 32) | int(epb.ts_low)
                frame = bytes(epb.pkt_data)
            except _DPKT_ERRORS:
                self.skipped_blocks += 1
                return
            iface = self._interfaces[iface_id] if iface_id < len(self._interfaces) else None
            if iface is None:
                self.skipped_blocks += 1
                return
            self._last_ts = iface.offset + ticks / iface.divisor
            out.append(RawPacket(self._last_ts, iface.linktype, frame))
        elif block_type == _PCAPNG_SPB:
            # Simple Packet Block: interface 0, no timestamp; dpkt has no class for it.
            iface = self._interfaces[0] if self._interfaces else None
            if iface is None or len(block) < 16:
                self.skipped_blocks += 1
                return
            (orig_len,) = struct.unpack_from(">I" if big else "<I", block, 8)
            frame = block[12 : min(len(block) - 4, 12 + orig_len)]
            out.append(RawPacket(self._last_ts, iface.linktype, frame))
        # other blocks (name resolution, statistics, journal, ...) carry no packets


def _interface(idb: Any, big: bool) -> _Interface:
    divisor = 1e6
    offset = 0.0
    for opt in idb.opts:
        code = int(opt.code)
        data = bytes(opt.data)
        if code == _PCAPNG_OPT_TSRESOL and data:
            value = data[0]
            divisor = float(2 ** (value & 0x7F) if value & 0x80 else 10 ** (value & 0x7F))
        elif code == _PCAPNG_OPT_TSOFFSET and len(data) >= 8:
            (offset_int,) = struct.unpack(">q" if big else "<q", data[:8])
            offset = float(offset_int)
    return _Interface(int(idb.linktype), divisor, offset)


# ------------------------------------------------------------------------------ packet decoding


class TcpSegment(NamedTuple):
    src_ip: bytes  # 4 or 16 bytes
    src_port: int
    dst_ip: bytes
    dst_port: int
    seq: int
    ack: int
    flags: int
    payload: bytes  # as captured; shorter than wire_len when the snap length cut it
    wire_len: int  # payload length according to the IP header


def decode_frame(linktype: int, frame: bytes) -> TcpSegment | SkipReason:
    """Decode one link-layer frame to its TCP segment, or say why there is none."""
    if linktype not in SUPPORTED_LINKTYPES:
        return "unsupported_link"
    try:
        net = _network_layer(linktype, frame)
        if isinstance(net, str):
            return cast(SkipReason, net)
        return _tcp_segment(net)
    except _DPKT_ERRORS:
        return "malformed"


def _network_layer(linktype: int, frame: bytes) -> Any:
    """The dpkt IP / IP6 packet inside `frame`, or a SkipReason.

    dpkt decodes eagerly whatever it recognises, and some of its decoders recurse or copy once per
    nested header (Cisco ISL tags, ICMP / IP-in-IP nesting, IPv6 extension headers, CDP TLVs), so
    a hostile frame could cost time quadratic in its length.  The type fields are therefore
    checked first (`_ip_gate`), and only frames that carry TCP over IP reach dpkt's decoders.
    """
    if linktype == LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return "malformed"
        ethertype, at = frame[12:14], 14
        if ethertype in _ETH_VLAN:  # the tags dpkt understands: one, or two with 8100 inside
            ethertype, at = frame[16:18], 18
            if ethertype == b"\x81\x00":
                ethertype, at = frame[20:22], 22
        return _ip_gate(ethertype, frame, at) or dpkt.ethernet.Ethernet(frame).data
    if linktype == LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return "malformed"
        return _ip_gate(frame[14:16], frame, 16) or dpkt.sll.SLL(frame).data
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return "malformed"
        return _ip_gate(frame[0:2], frame, 20) or dpkt.sll2.SLL2(frame).data
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        # A 4-byte address family: host order for NULL, network order for LOOP; accept both.
        if len(frame) < 4:
            return "malformed"
        families = {int.from_bytes(frame[:4], "little"), int.from_bytes(frame[:4], "big")}
        if families & _AF_INET_VALUES:
            return _ip_gate(_ETH_IPV4, frame, 4) or dpkt.ip.IP(frame[4:])
        if families & _AF_INET6_VALUES:
            return _ip_gate(_ETH_IPV6, frame, 4) or dpkt.ip6.IP6(frame[4:])
        return "non_tcp"
    if linktype == LINKTYPE_IPV4:
        return _ip_gate(_ETH_IPV4, frame, 0) or dpkt.ip.IP(frame)
    if linktype == LINKTYPE_IPV6:
        return _ip_gate(_ETH_IPV6, frame, 0) or dpkt.ip6.IP6(frame)
    # LINKTYPE_RAW and the BSD raw DLT: the version nibble tells
    version = frame[0] >> 4 if frame else 0
    if version == 4:
        return _ip_gate(_ETH_IPV4, frame, 0) or dpkt.ip.IP(frame)
    if version == 6:
        return _ip_gate(_ETH_IPV6, frame, 0) or dpkt.ip6.IP6(frame)
    return "malformed"


def _ip_gate(ethertype: bytes, frame: bytes, at: int) -> SkipReason | None:
    """None when `frame[at:]` may be TCP over IP (dpkt then decodes it), else why it is not.

    Reads only the type fields: the IPv4 protocol byte and the IPv6 next-header chain.
    """
    if ethertype == _ETH_IPV4:
        if len(frame) < at + 20:
            return "malformed"
        return None if frame[at + 9] == _IPPROTO_TCP else "non_tcp"
    if ethertype != _ETH_IPV6:
        return "non_tcp"
    if len(frame) < at + 40:
        return "malformed"
    nxt, pos = frame[at + 6], at + 40
    for _ in range(_MAX_IPV6_EXTENSION_HEADERS):
        if nxt not in _IPV6_EXTENSION_HEADERS:
            return None if nxt == _IPPROTO_TCP else "non_tcp"
        if len(frame) < pos + 2:
            return "malformed"
        if nxt == _IPV6_FRAGMENT_HEADER:
            size = 8
        elif nxt == _IPV6_AH:
            size = (frame[pos + 1] + 2) * 4
        else:
            size = (frame[pos + 1] + 1) * 8
        nxt, pos = frame[pos], pos + size
    return "malformed"  # more extension headers than RFC 8200 allows a packet to carry


def _tcp_segment(net: Any) -> TcpSegment | SkipReason:
    if isinstance(net, dpkt.ip.IP):
        if int(net.v) != 4:
            return "malformed"
        if net.mf or net.offset:
            return "fragment"
        if int(net.p) != _IPPROTO_TCP:
            return "non_tcp"
        tcp = net.data
        if not isinstance(tcp, dpkt.tcp.TCP):
            return "malformed"
        header_len = int(net.hl) * 4 + int(tcp.off) * 4
        ip_len = int(net.len)
        wire_len = ip_len - header_len if ip_len else len(tcp.data)
    elif isinstance(net, dpkt.ip6.IP6):
        fragment = net.extension_hdrs.get(_IPV6_FRAGMENT_HEADER)
        if fragment is not None and (fragment.frag_off or fragment.m_flag):
            return "fragment"
        if getattr(net, "p", None) != _IPPROTO_TCP:
            return "non_tcp"
        tcp = net.data
        if not isinstance(tcp, dpkt.tcp.TCP):
            return "malformed"
        ext_len = sum(int(ext.length) for ext in net.all_extension_headers)
        plen = int(net.plen)
        wire_len = plen - ext_len - int(tcp.off) * 4 if plen else len(tcp.data)
    else:
        return "non_tcp"  # ARP, IPX, LLC, an unknown ethertype, ...
    payload = bytes(tcp.data)
    return TcpSegment(
        src_ip=bytes(net.src),
        src_port=int(tcp.sport),
        dst_ip=bytes(net.dst),
        dst_port=int(tcp.dport),
        seq=int(tcp.seq),
        ack=int(tcp.ack),
        flags=int(tcp.flags),
        payload=payload,
        wire_len=max(wire_len, len(payload)),
    )


def _host(ip: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6 if len(ip) == 16 else socket.AF_INET, ip)


# ---------------------------------------------------------------------------------- reassembly


class _Half:
    """Reassembly state of one direction of one connection."""

    __slots__ = (
        "base",
        "cap",
        "chunks",
        "data",
        "dst",
        "fin_end",
        "first_ts",
        "gaps",
        "last_ts",
        "next",
        "order",
        "pending_bytes",
        "region_abs",
        "region_idx",
        "src",
        "starts",
        "syn_seq",
        "truncated",
    )

    def __init__(self, src: Endpoint, dst: Endpoint, ts: float, order: int, cap: int) -> None:
        self.src = src
        self.dst = dst
        self.first_ts = ts
        self.last_ts = ts
        self.order = order  # capture order of the first packet, to break timestamp ties
        self.cap = cap
        self.base: int | None = None  # sequence number of stream offset 0
        self.syn_seq: int | None = None
        self.next = 0  # stream offset of the next byte expected
        self.data = bytearray()  # delivered bytes, holes skipped
        self.starts: list[int] = []  # pending out-of-order pieces: sorted, non-overlapping,
        self.chunks: list[bytes] = []  # all beyond `next`
        self.pending_bytes = 0
        self.gaps = 0
        self.truncated = False
        self.fin_end: int | None = None  # stream offset of the FIN
        # data[region_idx:] holds stream offsets region_abs.. (moves at every skipped hole)
        self.region_abs = 0
        self.region_idx = 0

    def offset(self, seq: int) -> int:
        """Stream offset of sequence number `seq`, unwrapped around the current position."""
        assert self.base is not None
        delta = ((seq - self.base) - self.next) & _SEQ_MASK
        if delta >= _HALF_SEQ:
            delta -= 1 << 32
        return self.next + delta

    def add(self, start: int, payload: bytes, stats: CaptureStats, max_pending: int) -> None:
        end = start + len(payload)
        if len(self.data) >= self.cap:
            if end > self.next:
                self.truncated = True  # new bytes, and no room for them
            return
        if end <= self.next:
            # Everything already delivered.  A keepalive probe (one byte just before `next`)
            # is not a conflict even though its byte is garbage.
            stats.retransmissions += 1
            if not (len(payload) == 1 and end == self.next):
                self._compare_delivered(start, payload, stats)
            return
        if start < self.next:
            stats.overlaps += 1
            self._compare_delivered(start, payload, stats)
            payload = payload[self.next - start :]
            start = self.next
        if start == self.next:
            self._deliver(payload)
            self._drain()
        else:
            self._stash(start, payload, stats)
            while len(self.starts) > max_pending:
                stats.forced_skips += 1
                self._skip_hole()
                self._drain()
        self._enforce_cap()

    def _compare_delivered(self, start: int, payload: bytes, stats: CaptureStats) -> None:
        lo = max(start, self.region_abs)
        hi = min(start + len(payload), self.next)
        if lo >= hi:
            return
        shift = self.region_idx - self.region_abs
        if self.data[lo + shift : hi + shift] != payload[lo - start : hi - start]:
            stats.conflicts += 1

    def _deliver(self, payload: bytes) -> None:
        room = self.cap - len(self.data)
        if len(payload) > room:
            payload = payload[:room]
            self.truncated = True
        self.data += payload
        self.next += len(payload)

    def _drain(self) -> None:
        """Deliver the pending pieces the stream has now reached."""
        starts, chunks = self.starts, self.chunks
        used = 0
        while used < len(starts) and starts[used] <= self.next:
            start, chunk = starts[used], chunks[used]
            self.pending_bytes -= len(chunk)
            used += 1
            if start + len(chunk) > self.next:
                self._deliver(chunk[self.next - start :])
        del starts[:used]
        del chunks[:used]

    def _stash(self, start: int, payload: bytes, stats: CaptureStats) -> None:
        """Keep the bytes of an out-of-order segment that no pending piece holds yet."""
        starts, chunks = self.starts, self.chunks
        end = start + len(payload)
        i = bisect_right(starts, start) - 1
        cur = start
        new: list[tuple[int, bytes]] = []
        overlapped = False
        j = i if i >= 0 else 0
        while j < len(starts) and starts[j] < end:
            p_start, p_chunk = starts[j], chunks[j]
            p_end = p_start + len(p_chunk)
            if p_end > cur:
                if p_start > cur:
                    new.append((cur, payload[cur - start : p_start - start]))
                lo, hi = max(p_start, start), min(p_end, end)
                overlapped = True
                if p_chunk[lo - p_start : hi - p_start] != payload[lo - start : hi - start]:
                    stats.conflicts += 1
                cur = min(max(cur, p_end), end)
            j += 1
        if cur < end:
            new.append((cur, payload[cur - start :]))
        if not new:
            stats.retransmissions += 1
            return
        if overlapped:
            stats.overlaps += 1
        for piece_start, piece in new:
            k = bisect_right(starts, piece_start)
            starts.insert(k, piece_start)
            chunks.insert(k, piece)
            self.pending_bytes += len(piece)

    def _skip_hole(self) -> None:
        self.gaps += 1
        self.next = self.starts[0]
        self.region_abs = self.next
        self.region_idx = len(self.data)

    def _enforce_cap(self) -> None:
        """Delivered plus pending bytes never exceed `cap`: drop the highest stream offsets."""
        excess = len(self.data) + self.pending_bytes - self.cap
        while excess > 0 and self.chunks:
            self.truncated = True
            last = self.chunks[-1]
            if len(last) <= excess:
                self.chunks.pop()
                self.starts.pop()
                self.pending_bytes -= len(last)
                excess -= len(last)
            else:
                self.chunks[-1] = last[: len(last) - excess]
                self.pending_bytes -= excess
                excess = 0

    def result(self, connection: int) -> TcpFlow:
        """The flow as it stands, pending pieces delivered across their holes (non-mutating)."""
        gaps = self.gaps
        end = self.next
        for start, chunk in zip(self.starts, self.chunks, strict=True):
            if start > end:
                gaps += 1
            end = start + len(chunk)
        if self.fin_end is not None and not self.truncated and self.fin_end > end:
            gaps += 1  # the tail before the FIN is missing
        return TcpFlow(
            src=self.src,
            dst=self.dst,
            connection=connection,
            data=b"".join([self.data, *self.chunks]),
            first_ts=self.first_ts,
            last_ts=self.last_ts,
            gaps=gaps,
            truncated=self.truncated,
        )


_Key = tuple[bytes, int, bytes, int]


class _Connection:
    __slots__ = ("client", "closed", "halves", "index")

    def __init__(self, index: int, client: int) -> None:
        self.index = index
        self.client = client  # direction (0 / 1) of the client -> server half
        self.closed = False  # RST seen, or FIN in both directions
        self.halves: list[_Half | None] = [None, None]


class FlowAssembler:
    """Sans-io TCP reassembly: `feed_frame` / `feed_segment` in capture order, then `flows()`."""

    def __init__(
        self,
        *,
        max_bytes_per_flow: int = DEFAULT_MAX_BYTES_PER_FLOW,
        port_filter: PortFilter | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_pending_segments: int = DEFAULT_MAX_PENDING_SEGMENTS,
        stats: CaptureStats | None = None,
    ) -> None:
        if max_bytes_per_flow < 0 or max_connections < 0 or max_pending_segments < 0:
            raise ValueError("limits must not be negative")
        self.max_bytes_per_flow = max_bytes_per_flow
        self.port_filter = port_filter
        self.max_connections = max_connections
        self.max_pending_segments = max_pending_segments
        self.stats = stats if stats is not None else CaptureStats()
        self._live: dict[_Key, _Connection] = {}
        self._connections: list[_Connection] = []
        self._halves = 0  # number of halves created, for capture order

    def feed_frame(self, ts: float, linktype: int, frame: bytes) -> None:
        stats = self.stats
        stats.packets += 1
        stats.link_types.add(linktype)
        segment = decode_frame(linktype, frame)
        match segment:
            case TcpSegment():
                self.feed_segment(ts, segment)
            case "non_tcp":
                stats.non_tcp += 1
            case "fragment":
                stats.fragments += 1
            case "malformed":
                stats.malformed += 1
            case "unsupported_link":
                stats.unsupported_link += 1

    def feed_segment(self, ts: float, seg: TcpSegment) -> None:
        stats = self.stats
        stats.tcp_segments += 1
        if len(seg.payload) < seg.wire_len:
            stats.snapped += 1
        pf = self.port_filter
        if pf is not None and not (
            pf(seg.src_port, seg.dst_port) or pf(seg.dst_port, seg.src_port)
        ):
            stats.filtered += 1
            return
        here, there = (seg.src_ip, seg.src_port), (seg.dst_ip, seg.dst_port)
        if here <= there:
            key: _Key = (*here, *there)
            direction = 0
        else:
            key = (*there, *here)
            direction = 1
        flags = seg.flags
        conn = self._live.get(key)
        if conn is not None and flags & _SYN and self._opens_new(conn, direction, seg.seq):
            conn = None
        if conn is None:
            if flags & _RST and not flags & _SYN:
                stats.stray += 1
                return
            if len(self._connections) >= self.max_connections:
                self._live.pop(key, None)
                stats.dropped += 1
                return
            conn = _Connection(len(self._connections), self._client(direction, seg))
            self._connections.append(conn)
            self._live[key] = conn
            stats.connections += 1

        half = conn.halves[direction]
        if half is None:
            src = Endpoint(_host(seg.src_ip), seg.src_port)
            dst = Endpoint(_host(seg.dst_ip), seg.dst_port)
            half = _Half(src, dst, ts, self._halves, self.max_bytes_per_flow)
            self._halves += 1
            conn.halves[direction] = half
        else:
            half.first_ts = min(half.first_ts, ts)
            half.last_ts = max(half.last_ts, ts)

        if flags & _RST:
            conn.closed = True
            return  # an RST's payload is a diagnostic, not stream data
        data_seq = seg.seq
        if flags & _SYN:
            data_seq = (seg.seq + 1) & _SEQ_MASK
            if half.syn_seq is None:
                half.syn_seq = seg.seq
                if half.base is None:
                    half.base = data_seq
        if half.base is None:
            if not seg.payload:
                return  # mid-stream and nothing to anchor the stream to yet
            half.base = data_seq
        start = half.offset(data_seq)
        if seg.payload:
            half.add(start, seg.payload, stats, self.max_pending_segments)
        if flags & _FIN:
            half.fin_end = start + seg.wire_len
            other = conn.halves[1 - direction]
            if other is not None and other.fin_end is not None:
                conn.closed = True

    @staticmethod
    def _opens_new(conn: _Connection, direction: int, seq: int) -> bool:
        """Does a SYN (or SYN-ACK) with `seq` in `direction` open a new connection?"""
        half = conn.halves[direction]
        if half is None:
            # e.g. the SYN-ACK was captured first: this SYN belongs to the same connection
            return conn.closed
        if half.syn_seq is None:
            return True  # this direction was seen mid-stream: a SYN now is a new connection
        return conn.closed or half.syn_seq != seq

    @staticmethod
    def _client(direction: int, seg: TcpSegment) -> int:
        if seg.flags & _SYN:
            return direction if not seg.flags & _ACK else 1 - direction
        # Mid-stream: the ephemeral (higher) port is most likely the client's.
        if seg.src_port < seg.dst_port:
            return 1 - direction
        return direction

    def flows(self) -> list[TcpFlow]:
        """Every direction seen so far, ordered by first packet time, client side first on ties.

        Pending out-of-order bytes are included across their holes (counted in `gaps`).  Does not
        change the state: feeding may go on afterwards.
        """
        keyed: list[tuple[tuple[float, int, int, int], TcpFlow]] = []
        for conn in self._connections:
            for direction, half in enumerate(conn.halves):
                if half is None:
                    continue
                role = 0 if direction == conn.client else 1
                keyed.append(
                    ((half.first_ts, conn.index, role, half.order), half.result(conn.index))
                )
        keyed.sort(key=lambda item: item[0])
        return [flow for _, flow in keyed]


# ------------------------------------------------------------------------------------- I/O shell


def read_capture(
    path: str | Path,
    *,
    max_bytes_per_flow: int = DEFAULT_MAX_BYTES_PER_FLOW,
    port_filter: PortFilter | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_pending_segments: int = DEFAULT_MAX_PENDING_SEGMENTS,
) -> Capture:
    """Read a pcap / pcapng file; return every TCP flow and the reader's statistics.

    `port_filter(a, b)` is asked about each segment's ports, in both orders: the segment is kept
    when either answer is true, so both directions of a connection stand or fall together
    (``lambda a, b: a == 4000`` keeps every connection with port 4000 at either end).
    """
    stats = CaptureStats()
    parser = CaptureParser()
    assembler = FlowAssembler(
        max_bytes_per_flow=max_bytes_per_flow,
        port_filter=port_filter,
        max_connections=max_connections,
        max_pending_segments=max_pending_segments,
        stats=stats,
    )
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_READ_CHUNK):
                for packet in parser.feed(chunk):
                    assembler.feed_frame(packet.ts, packet.linktype, packet.data)
        parser.close()
    except OSError as exc:
        raise ProtocolError(f"cannot read capture {str(path)!r}: {exc}") from exc
    except ProtocolError as exc:
        error = ProtocolError(f"{str(path)!r}: {exc}")
        error.offset = exc.offset
        raise error from exc
    stats.format = parser.format
    stats.truncated_file = parser.truncated
    stats.malformed += parser.skipped_blocks
    if stats.packets and stats.unsupported_link == stats.packets:
        types = ", ".join(str(t) for t in sorted(stats.link_types))
        raise ProtocolError(f"no packet in {str(path)!r} uses a supported link type ({types})")
    return Capture(assembler.flows(), stats)


def read_flows(
    path: str | Path,
    *,
    max_bytes_per_flow: int = DEFAULT_MAX_BYTES_PER_FLOW,
    port_filter: PortFilter | None = None,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
    max_pending_segments: int = DEFAULT_MAX_PENDING_SEGMENTS,
) -> list[TcpFlow]:
    """The TCP flows of a capture file; see `read_capture` and the module docstring."""
    return read_capture(
        path,
        max_bytes_per_flow=max_bytes_per_flow,
        port_filter=port_filter,
        max_connections=max_connections,
        max_pending_segments=max_pending_segments,
    ).flows
