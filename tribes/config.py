"""Node configuration: the model (frozen dataclasses, Tomcat's defaults) and its sources.

Three sources feed one `NodeConfig`:

* `load_toml(path)`: pytribes' own TOML layout.  The keys are the dataclass field names, times are
  seconds (int or float), unknown keys are errors.  See `docs/config.md` and `examples/node.toml`.
* `load_server_xml(path, bind=...)`: the `<Cluster>` of a real Tomcat `server.xml`, read as it is.
  Times there are milliseconds and are converted to seconds.  Like StaticMembershipService, the
  local member is the `<LocalMember>` or the `<Member>` whose host and port equal the receiver's
  (TRIBES.md §6.1), and it is taken out of the static list; `bind` replaces the receiver address
  first, so one file can describe a whole cluster and each node picks itself.
* `apply_overrides(cfg, ...)`: command-line flags on top of either.

Every problem is a `ConfigError` naming the file, the key or element (with its line), and what is
wrong.  Things that are ignored but worth knowing (unknown attributes, interceptors that do not
change message bytes) are collected in `NodeConfig.warnings`; the caller logs them once logging is
set up.  Host names are kept as text and never resolved here; IP literals are normalised.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import re
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final
from xml.etree import ElementTree as ET
from xml.parsers import expat

from .errors import TribesError
from .session.config import manager_name
from .wire.framing import DEFAULT_MAX_PACKAGE
from .wire.member import Member, format_unique_id, parse_unique_id, pytribes_payload
from .wire.options import parse_send_options

__all__ = [
    "DEFAULT_MEMBERSHIP_NAME",
    "LOG_FORMATS",
    "MAX_CONFIG_BYTES",
    "TOMCAT_VERSIONS",
    "ConfigError",
    "DispatchConfig",
    "FailureDetectorConfig",
    "ManagerConfig",
    "MembershipConfig",
    "NodeConfig",
    "PingConfig",
    "ReceiverConfig",
    "SenderConfig",
    "StaticMemberConfig",
    "apply_overrides",
    "load",
    "load_server_xml",
    "load_toml",
    "manager_name",
    "normalize_context_path",
    "parse_address",
    "parse_member_arg",
    "parse_unique_id_arg",
]

#: `<Engine name="Catalina">` + "-Channel" + "-StaticMembership" (TRIBES.md §6.1).
DEFAULT_MEMBERSHIP_NAME: Final = "Catalina-Channel-StaticMembership"
#: Which MemberImpl serialVersionUID flavour a node speaks (TRIBES.md §7.4); 11.0 speaks 10's.
TOMCAT_VERSIONS: Final = (9, 10)
LOG_FORMATS: Final = ("text", "json")
#: Neither a server.xml nor a node.toml is anywhere near this; bigger files are refused unread.
MAX_CONFIG_BYTES: Final = 1 << 20

_MIB: Final = 1 << 20
_INT32_MAX: Final = 2**31 - 1
_INT64_MAX: Final = 2**63 - 1


class ConfigError(TribesError):
    """A configuration that cannot be used: the message names the file, the key and the problem."""


class _FieldError(ConfigError):
    """A dataclass field failed its check; loaders re-raise it with the file and the key."""

    def __init__(self, section: str, name: str, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(f"{section}.{name}: {problem}" if section else f"{name}: {problem}")


# ------------------------------------------------------------------------------------------------
# Model
# ------------------------------------------------------------------------------------------------


def _opt(default: Any, **checks: Any) -> Any:
    """A field with a default and range checks (min, max, above, choices) in its metadata."""
    return field(default=default, metadata=checks)


def _check_value(value: object, checks: Mapping[str, Any]) -> str | None:
    """What is wrong with `value` under `checks`, or None."""
    if value is None or not checks:
        return None
    choices = checks.get("choices")
    if choices is not None and value not in choices:
        return f"must be one of {', '.join(map(repr, choices))}, got {value!r}"
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    if "above" in checks and not value > checks["above"]:
        return f"must be greater than {checks['above']}, got {value!r}"
    if "min" in checks and value < checks["min"]:
        return f"must be at least {checks['min']}, got {value!r}"
    if "max" in checks and value > checks["max"]:
        return f"must be at most {checks['max']}, got {value!r}"
    return None


def _validate(obj: Any, section: str) -> None:
    for f in dataclasses.fields(obj):
        problem = _check_value(getattr(obj, f.name), f.metadata)
        if problem is not None:
            raise _FieldError(section, f.name, problem)


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """NioReceiver (TRIBES.md §4.1) plus pytribes' own limits."""

    #: Tomcat's "auto" means InetAddress.getLocalHost(); give an explicit address in practice.
    address: str = "auto"
    port: int = _opt(4000, min=0, max=65535)
    #: Our cap on one package (Tomcat has none).
    max_package: int = _opt(DEFAULT_MAX_PACKAGE, min=1, max=_INT32_MAX)
    #: None = never close idle connections, as Tomcat; closing them can cause duplicates (§4.4).
    idle_timeout: float | None = _opt(None, above=0)
    #: None = unlimited, as Tomcat (a Tomcat peer may open poolSize 25 connections plus probes).
    max_connections: int | None = _opt(None, min=1)

    def __post_init__(self) -> None:
        _validate(self, "receiver")
        if not self.address.strip():
            raise _FieldError("receiver", "address", "must not be empty")


@dataclass(frozen=True, slots=True)
class SenderConfig:
    """PooledParallelSender (TRIBES.md §4.3)."""

    #: Seconds for one send to all destinations, connect + write + ack.
    timeout: float = _opt(3.0, above=0)
    max_retry_attempts: int = _opt(1, min=0, max=_INT32_MAX)
    pool_size: int = _opt(25, min=1, max=_INT32_MAX)

    def __post_init__(self) -> None:
        _validate(self, "sender")


@dataclass(frozen=True, slots=True)
class StaticMemberConfig:
    """One `<Member>` of StaticMembershipService; identity is host + port + unique_id (§3.4)."""

    host: str
    port: int = field(metadata={"min": 1, "max": 65535})
    #: Tomcat's default when `uniqueId` is not configured: 16 zero bytes.
    unique_id: bytes = bytes(16)
    #: Which MemberImpl serialVersionUID the peer speaks; None = learn it from the peer.
    tomcat_version: int | None = _opt(None, choices=TOMCAT_VERSIONS)
    secure_port: int = _opt(-1, min=-1, max=65535)
    domain: bytes = b""

    def __post_init__(self) -> None:
        _validate(self, "member")
        if len(self.unique_id) != 16:
            raise _FieldError("member", "unique_id", "a uniqueId is exactly 16 bytes")
        if not self.host.strip():
            raise _FieldError("member", "host", "must not be empty")

    @property
    def name(self) -> str:
        """`tcp://host:port` as Tomcat's logs name members."""
        return f"tcp://{_bracket(self.host)}:{self.port}"

    def to_member(self, **kw: Any) -> Member:
        """The wire `Member` (the host must be an IP literal: config never resolves names)."""
        try:
            packed = ipaddress.ip_address(self.host).packed
        except ValueError:
            raise ConfigError(
                f"member {self.name}: host {self.host!r} is not an IP address; resolve it first"
            ) from None
        return Member(
            packed,
            self.port,
            self.unique_id,
            secure_port=self.secure_port,
            domain=self.domain,
            **kw,
        )


@dataclass(frozen=True, slots=True)
class MembershipConfig:
    """StaticMembershipService (TRIBES.md §6.1); times in seconds."""

    expiration_time: float = _opt(5.0, above=0)
    connect_timeout: float = _opt(0.5, above=0)
    rpc_timeout: float = _opt(3.0, above=0)
    #: How often we ping: the channel heartbeat (GroupChannel heartbeatSleeptime, 5 s), or the
    #: service's own pingInterval when it runs with useThread="true".
    ping_interval: float = _opt(5.0, above=0)
    #: The peers; the local member is never in this list.
    members: tuple[StaticMemberConfig, ...] = ()
    #: `<clusterName or container name>-Channel-StaticMembership`; every node must agree.
    membership_name: str = DEFAULT_MEMBERSHIP_NAME

    def __post_init__(self) -> None:
        _validate(self, "membership")
        if not self.membership_name:
            raise _FieldError("membership", "membership_name", "must not be empty")
        try:
            self.membership_name.encode("iso-8859-1")
        except UnicodeEncodeError:
            raise _FieldError(
                "membership", "membership_name", "must be ISO-8859-1 text (it is sent as bytes)"
            ) from None

    @property
    def membership_id(self) -> bytes:
        """The RpcChannel id and MemberMessage id: the name in ISO-8859-1."""
        return self.membership_name.encode("iso-8859-1")


@dataclass(frozen=True, slots=True)
class FailureDetectorConfig:
    """TcpFailureDetector (TRIBES.md §5.3); times in seconds.

    One deliberate difference from Tomcat: `perform_read_test` defaults to True.  Every probe
    then waits for the peer's ACK (USE_ACK set, up to `read_test_timeout`), which only a running
    JVM sends; with Tomcat's default (False) a connect + write is enough, and the kernel
    completes both for a stopped (SIGSTOP, hung) JVM, which therefore stays a member for minutes.
    Tomcat's receiver answers the read test, so the peers see no difference.
    """

    enabled: bool = True
    connect_timeout: float = _opt(1.0, above=0)
    perform_send_test: bool = True
    #: pytribes' default; Tomcat's is False (see the class docstring).
    perform_read_test: bool = True
    read_test_timeout: float = _opt(5.0, above=0)
    remove_suspects_timeout: float = _opt(300.0, min=0)

    def __post_init__(self) -> None:
        _validate(self, "failure_detector")


@dataclass(frozen=True, slots=True)
class PingConfig:
    """TcpPingInterceptor (TRIBES.md §5.2)."""

    enabled: bool = True
    #: Seconds; only used with use_thread (otherwise pings go out on the heartbeat).
    interval: float = _opt(1.0, above=0)
    use_thread: bool = False

    def __post_init__(self) -> None:
        _validate(self, "ping")


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """MessageDispatchInterceptor (TRIBES.md §5.4): asynchronous sends of option-8 messages."""

    enabled: bool = True
    #: Sum of queued payload bytes.
    max_queue_bytes: int = _opt(64 * _MIB, min=0, max=_INT64_MAX)
    #: Queue full: send in the caller instead of failing.
    always_send: bool = True
    max_threads: int = _opt(10, min=1, max=_INT32_MAX)

    def __post_init__(self) -> None:
        _validate(self, "dispatch")


@dataclass(frozen=True, slots=True)
class ManagerConfig:
    """DeltaManager (TRIBES.md §8.4) and the names of the managers (§8.2)."""

    #: The Host of the contexts; with prefix_host the manager names are "<host>#<path>".
    host: str = "localhost"
    #: True when the Cluster sits in the Engine (the usual case); False when it sits in a Host,
    #: where Tomcat uses the bare context path as the manager name.
    prefix_host: bool = True
    #: Context paths we replicate ("" is ROOT).  Tomcat has no default; this is the seed's app.
    contexts: tuple[str, ...] = ("/jw",)
    #: SimpleTcpCluster channelSendOptions.  6 (USE_ACK|SYNCHRONIZED_ACK) is the seed's value;
    #: Tomcat's own default is 8 (ASYNCHRONOUS), which is what a server.xml without the
    #: attribute gets.
    channel_send_options: int = _opt(6, min=0, max=_INT32_MAX)
    expire_sessions_on_shutdown: bool = False
    notify_listeners_on_replication: bool = True
    notify_session_listeners_on_replication: bool = True
    notify_container_listeners_on_replication: bool = True
    #: Seconds to wait for the state transfer: >0 wait, -1 for ever, 0 or other negative: no wait.
    state_transfer_timeout: int = _opt(60, min=-(2**31), max=_INT32_MAX)
    send_all_sessions: bool = True
    send_all_sessions_size: int = _opt(1000, min=1, max=_INT32_MAX)
    #: Seconds between chunks when send_all_sessions is false.
    send_all_sessions_wait_time: float = _opt(2.0, min=0)
    state_timestamp_drop: bool = True
    record_all_actions: bool = False
    #: The web.xml session-timeout (Tomcat's conf/web.xml: 30); <= 0 means never.
    session_timeout_minutes: int = _opt(30, min=-(2**31), max=_INT32_MAX)
    #: Ours (Tomcat has no such thing): when a member that kept running comes back after a
    #: partition, fetch its sessions (GET_ALL_SESSIONS) and merge them, newest copy wins.
    catch_up: bool = True
    #: Ours: after such a merge, send the member our newer copies and the sessions created
    #: while it was away (an unsolicited ALL_SESSION_DATA, which Tomcat applies).
    catch_up_push: bool = True
    #: `<Engine jvmRoute>`: appended to new session ids as ".route"; ids of another route are
    #: rebound on first use, as JvmRouteBinderValve does.
    jvm_route: str | None = None
    #: ManagerBase maxActiveSessions: new sessions beyond it are refused (-1: no limit).
    max_active_sessions: int = _opt(-1, min=-1, max=_INT32_MAX)
    #: Replicate session notes (the FORM-auth notes of a full session too). Unset: the Tomcat
    #: line's default (always on 10.1; persistAuthenticationNotes=false on 9.0).
    persist_authentication_notes: bool | None = None
    #: Seconds between expiry sweeps: processExpiresFrequency x backgroundProcessorDelay (6 x 10).
    expire_interval: float = _opt(60.0, above=0)

    def __post_init__(self) -> None:
        _validate(self, "manager")
        if not self.host.strip():
            raise _FieldError("manager", "host", "must not be empty")
        for path in self.contexts:
            problem = _context_problem(path)
            if problem is not None:
                raise _FieldError("manager", "contexts", problem)
        if len(set(self.contexts)) != len(self.contexts):
            raise _FieldError("manager", "contexts", "a context path is listed twice")

    @property
    def manager_names(self) -> tuple[str, ...]:
        """The SessionMessage context names of our contexts, e.g. ("localhost#/jw",)."""
        host = self.host if self.prefix_host else None
        return tuple(manager_name(c, host) for c in self.contexts)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything a pytribes node needs; the local member is unique_id + receiver address/port."""

    #: Our member uniqueId (identity with host + port; must be constant for the node's life).
    unique_id: bytes = bytes(16)
    #: The MemberImpl SUID flavour we write by default (9 or 10; 10 also covers 11.0).
    tomcat_version: int = _opt(10, choices=TOMCAT_VERSIONS)
    receiver: ReceiverConfig = field(default_factory=ReceiverConfig)
    sender: SenderConfig = field(default_factory=SenderConfig)
    membership: MembershipConfig = field(default_factory=MembershipConfig)
    failure_detector: FailureDetectorConfig = field(default_factory=FailureDetectorConfig)
    ping: PingConfig = field(default_factory=PingConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    manager: ManagerConfig = field(default_factory=ManagerConfig)
    #: Our member domain (`<LocalMember domain>`; DomainFilterInterceptor clusters need it).
    domain: bytes = b""
    #: The HTTP listener (host, port), or None for none.
    http: tuple[str, int] | None = None
    #: The database URL, or None.
    db: str | None = None
    log_format: str = _opt("text", choices=LOG_FORMATS)
    #: Put `pytribes/<version>` in our member payload, so pytribes peers (and the monitor page)
    #: can tell each other from Tomcat.  Off by default: Tomcat prints member payloads in its
    #: log, and in a Tomcat cluster a pytribes node must be indistinguishable from Tomcat.
    advertise: bool = False
    #: Things the source ignored; log them once logging is configured.
    warnings: tuple[str, ...] = field(default=(), compare=False, metadata={"toml": False})

    def __post_init__(self) -> None:
        _validate(self, "")
        if len(self.unique_id) != 16:
            raise _FieldError("", "unique_id", "a uniqueId is exactly 16 bytes")
        if self.http is not None and not 0 <= self.http[1] <= 65535:
            raise _FieldError("", "http", f"port must be 0..65535, got {self.http[1]}")
        if self.db is not None and not self.db.strip():
            raise _FieldError("", "db", "must not be empty")

    @property
    def local_name(self) -> str:
        """`tcp://address:port` of this node."""
        return f"tcp://{_bracket(self.receiver.address)}:{self.receiver.port}"

    def local_member(self, **kw: Any) -> Member:
        """Our wire `Member` (the receiver address must be an IP literal, not "auto"); with
        `advertise` its payload says ``pytribes/<version>`` unless `payload` is given."""
        try:
            packed = ipaddress.ip_address(self.receiver.address).packed
        except ValueError:
            raise ConfigError(
                f"receiver.address {self.receiver.address!r} is not an IP address; resolve it first"
            ) from None
        if self.advertise:
            kw.setdefault("payload", pytribes_payload())
        return Member(packed, self.receiver.port, self.unique_id, domain=self.domain, **kw)


# ------------------------------------------------------------------------------------------------
# Small parsers shared by the sources and the CLI
# ------------------------------------------------------------------------------------------------


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _context_problem(path: str) -> str | None:
    if path == "":
        return None
    if not path.startswith("/"):
        return f"context path {path!r} must start with '/' (ROOT is \"\")"
    if path.endswith("/"):
        return f"context path {path!r} must not end with '/'"
    if any(ch.isspace() for ch in path):
        return f"context path {path!r} contains white space"
    return None


def normalize_context_path(text: str) -> str:
    """A context path as Tomcat's ContextName names it: "/jw"; ROOT ("", "/" or "ROOT") is ""."""
    t = text.strip()
    if t in ("", "/", "ROOT"):
        return ""
    if not t.startswith("/"):
        t = "/" + t
    problem = _context_problem(t)
    if problem is not None:
        raise ConfigError(problem)
    return t


def _same_host(a: str, b: str) -> bool:
    """Equal addresses (by bytes) or, for names, equal text ignoring case; nothing is resolved."""
    try:
        return ipaddress.ip_address(a).packed == ipaddress.ip_address(b).packed
    except ValueError:
        return a.lower() == b.lower()


def _norm_host(text: str) -> str:
    """An IP literal in canonical form; `{a,b,c,d}` bytes as Tomcat's setHost takes; names as-is."""
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    if t.startswith("{") and t.endswith("}"):
        raw = _signed_bytes(t, "host")
        if len(raw) not in (4, 16):
            raise ConfigError(f"host {text!r}: byte syntax needs 4 or 16 bytes, got {len(raw)}")
        return str(ipaddress.ip_address(raw))
    try:
        return str(ipaddress.ip_address(t))
    except ValueError:
        return t


def _signed_bytes(text: str, what: str) -> bytes:
    """`{1,-2,3}` as Tomcat's Arrays.fromString: signed decimal bytes, no spaces."""
    inner = text[1:-1]
    if inner == "":
        return b""
    if any(ch.isspace() for ch in inner):
        raise ConfigError(f"{what} {text!r}: no spaces are allowed (Tomcat does not trim them)")
    out = bytearray()
    for part in inner.split(","):
        if not re.fullmatch(r"[+-]?\d{1,4}", part):
            raise ConfigError(f"{what} {text!r}: {part!r} is not a byte value")
        value = int(part)
        if not -128 <= value <= 127:
            raise ConfigError(f"{what} {text!r}: {value} is outside -128..127")
        out.append(value & 0xFF)
    return bytes(out)


def _domain_bytes(text: str) -> bytes:
    """StaticMember.setDomain: `{..}` bytes or ISO-8859-1 text."""
    if text.startswith("{") and text.endswith("}"):
        return _signed_bytes(text, "domain")
    try:
        return text.encode("iso-8859-1")
    except UnicodeEncodeError:
        raise ConfigError(f"domain {text!r} is not ISO-8859-1 text") from None


def parse_unique_id_arg(text: str) -> bytes:
    """A uniqueId as the CLI and TOML take it.

    * `{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,11}`: 16 signed bytes, Tomcat's syntax (spaces tolerated);
    * `0000000000000000000000000000000b`: 32 hex digits;
    * `11`: a number N in 0..255, short for `{0,...,0,N}` (N > 127 is negative in Tomcat syntax).
    """
    t = text.strip()
    if re.fullmatch(r"\d{1,3}", t):
        n = int(t)
        if n > 255:
            raise ConfigError(f"bad uniqueId {text!r}: a short uniqueId N must be 0..255")
        return bytes(15) + bytes([n])
    if re.fullmatch(r"[0-9a-fA-F]{32}", t) or (t.startswith("{") and t.endswith("}")):
        try:
            return parse_unique_id(t)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    raise ConfigError(
        f"bad uniqueId {text!r}: expected {{b0,...,b15}} (16 signed bytes), 32 hex digits, "
        "or a number N in 0..255 meaning {0,...,0,N}"
    )


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _split_host(text: str, what: str) -> tuple[str, list[str]]:
    """`HOST:REST...` or `[V6]:REST...` → (host, the colon-separated rest)."""
    t = text.strip()
    if t.startswith("["):
        end = t.find("]")
        if end < 0:
            raise ConfigError(f"bad {what} {text!r}: missing ']'")
        host, rest = t[1:end], t[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(f"bad {what} {text!r}: {host!r} is not an IPv6 address") from None
        if not rest.startswith(":"):
            raise ConfigError(f"bad {what} {text!r}: expected ':PORT' after ']'")
        return _norm_host(host), rest[1:].split(":")
    if t.count(":") > 2 or "::" in t:
        if "::" in t or any(_is_ipv6(t.rsplit(":", n)[0]) for n in (0, 1, 2)):
            raise ConfigError(
                f"bad {what} {text!r}: write IPv6 addresses in brackets, e.g. [::1]:4000"
            )
        raise ConfigError(f"bad {what} {text!r}: too many ':'")
    host, sep, rest = t.partition(":")
    if not sep or not host:
        raise ConfigError(f"bad {what} {text!r}: expected HOST:PORT")
    return _norm_host(host), rest.split(":")


def _port(text: str, whole: str, what: str) -> int:
    if not re.fullmatch(r"\d{1,5}", text) or int(text) > 65535:
        raise ConfigError(f"bad {what} {whole!r}: port {text!r} is not 0..65535")
    return int(text)


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` or `[V6]:PORT` (for --bind and --http)."""
    host, rest = _split_host(text, "address")
    if len(rest) != 1:
        raise ConfigError(f"bad address {text!r}: expected HOST:PORT")
    return host, _port(rest[0], text, "address")


def parse_member_arg(text: str) -> StaticMemberConfig:
    """`HOST:PORT[:UNIQUEID]` (IPv6 as `[::1]:4000:11`); UNIQUEID as in `parse_unique_id_arg`."""
    host, rest = _split_host(text, "member")
    if len(rest) not in (1, 2):
        raise ConfigError(f"bad member {text!r}: expected HOST:PORT[:UNIQUEID]")
    port = _port(rest[0], text, "member")
    if port == 0:
        raise ConfigError(f"bad member {text!r}: port 0 is not a member port")
    uid = bytes(16)
    if len(rest) == 2:
        try:
            uid = parse_unique_id_arg(rest[1])
        except ConfigError as e:
            raise ConfigError(f"bad member {text!r}: {e}") from None
    return StaticMemberConfig(host, port, uid)


# ------------------------------------------------------------------------------------------------
# Local member selection (shared by all sources)
# ------------------------------------------------------------------------------------------------


def _pick_local(
    members: tuple[StaticMemberConfig, ...], address: str, port: int
) -> tuple[StaticMemberConfig | None, tuple[StaticMemberConfig, ...]]:
    """The member at address:port and the list without it (StaticMembershipService's rule)."""
    for i, m in enumerate(members):
        if m.port == port and _same_host(m.host, address):
            return m, members[:i] + members[i + 1 :]
    return None, members


def _member_checks(members: Sequence[StaticMemberConfig], unique_id: bytes) -> list[str]:
    """Refuse a host:port listed twice; return warnings about shared uniqueIds."""
    seen: dict[tuple[bytes | str, int], StaticMemberConfig] = {}
    for m in members:
        try:
            key: tuple[bytes | str, int] = (ipaddress.ip_address(m.host).packed, m.port)
        except ValueError:
            key = (m.host.lower(), m.port)
        if key in seen:
            raise ConfigError(f"static member {m.name} is listed twice")
        seen[key] = m
    warnings = []
    uids: dict[bytes, str] = {} if unique_id == bytes(16) else {unique_id: "this node"}
    for m in members:
        if m.unique_id == bytes(16):
            continue
        if m.unique_id in uids:
            warnings.append(
                f"static member {m.name} has the same uniqueId {format_unique_id(m.unique_id)} "
                f"as {uids[m.unique_id]}"
            )
        uids.setdefault(m.unique_id, m.name)
    return warnings


def _settle_local(cfg: NodeConfig, *, uid_given: bool, origin: str) -> NodeConfig:
    """Take our own entry out of the static list; its uniqueId is ours unless one was given."""
    r = cfg.receiver
    local, peers = _pick_local(cfg.membership.members, r.address, r.port)
    unique_id, domain = cfg.unique_id, cfg.domain
    if local is not None:
        if uid_given and local.unique_id != unique_id:
            raise ConfigError(
                f"{origin}: unique_id {format_unique_id(unique_id)} disagrees with the static "
                f"member {local.name}, which is this node ({format_unique_id(local.unique_id)})"
            )
        unique_id = local.unique_id
        domain = domain or local.domain
    try:
        warnings = _member_checks(peers, unique_id)
    except ConfigError as e:
        raise ConfigError(f"{origin}: {e}") from None
    return replace(
        cfg,
        unique_id=unique_id,
        domain=domain,
        membership=replace(cfg.membership, members=peers),
        warnings=cfg.warnings + tuple(f"{origin}: {w}" for w in warnings),
    )


def _read_capped(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; refusing to parse it")
    return data


def _bound(cfg: NodeConfig, bind: tuple[str, int] | None) -> NodeConfig:
    if bind is None:
        return cfg
    try:
        return replace(
            cfg, receiver=replace(cfg.receiver, address=_norm_host(bind[0]), port=bind[1])
        )
    except ConfigError as e:
        raise ConfigError(f"bind {bind[0]}:{bind[1]}: {e}") from None


# ------------------------------------------------------------------------------------------------
# TOML
# ------------------------------------------------------------------------------------------------


class _Toml:
    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key}: {problem}")


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}.get(
        type(value),
        "a table"
        if isinstance(value, dict)
        else "an array"
        if isinstance(value, list)
        else type(value).__name__,
    )


def _toml_scalar(value: object, hint: Any, key: str, t: _Toml) -> Any:
    base = hint
    args = typing.get_args(hint)
    if args and type(None) in args:
        base = next(a for a in args if a is not type(None))
    if base is bool:
        if isinstance(value, bool):
            return value
        raise t.error(key, f"expected true or false, got {_type_name(value)}")
    if base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise t.error(key, f"expected an integer, got {_type_name(value)}")
    if base is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise t.error(key, f"expected a number of seconds, got {_type_name(value)}")
    if base is str:
        if isinstance(value, str):
            return value
        raise t.error(key, f"expected a string, got {_type_name(value)}")
    raise t.error(key, f"cannot be set from TOML ({hint})")  # pragma: no cover


def _toml_uid(value: object, key: str, t: _Toml) -> bytes:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise t.error(
            key, f"expected a uniqueId string or a number 0..255, got {_type_name(value)}"
        )
    try:
        return parse_unique_id_arg(value)
    except ConfigError as e:
        raise t.error(key, str(e)) from None


def _toml_str(value: object, key: str, t: _Toml) -> str:
    if not isinstance(value, str):
        raise t.error(key, f"expected a string, got {_type_name(value)}")
    return value


def _toml_host(value: object, key: str, t: _Toml) -> str:
    try:
        return _norm_host(_toml_str(value, key, t))
    except ConfigError as e:
        raise t.error(key, str(e)) from None


def _toml_domain(value: object, key: str, t: _Toml) -> bytes:
    try:
        return _domain_bytes(_toml_str(value, key, t))
    except ConfigError as e:
        raise t.error(key, str(e)) from None


def _toml_send_options(value: object, key: str, t: _Toml) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return parse_send_options(_toml_str(value, key, t))
    except ValueError as e:
        raise t.error(key, str(e)) from None


def _toml_http(value: object, key: str, t: _Toml) -> tuple[str, int]:
    try:
        return parse_address(_toml_str(value, key, t))
    except ConfigError as e:
        raise t.error(key, str(e)) from None


def _toml_contexts(value: object, key: str, t: _Toml) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise t.error(key, f"expected an array of context paths, got {_type_name(value)}")
    out = []
    for i, item in enumerate(value):
        try:
            out.append(normalize_context_path(_toml_str(item, f"{key}[{i}]", t)))
        except ConfigError as e:
            raise t.error(f"{key}[{i}]", str(e)) from None
    return tuple(out)


def _toml_members(value: object, key: str, t: _Toml) -> tuple[StaticMemberConfig, ...]:
    if not isinstance(value, list):
        raise t.error(
            key,
            f'expected [[{key}]] tables or "HOST:PORT[:UNIQUEID]" strings, got {_type_name(value)}',
        )
    out = []
    for i, item in enumerate(value):
        k = f"{key}[{i}]"
        if isinstance(item, str):
            try:
                out.append(parse_member_arg(item))
            except ConfigError as e:
                raise t.error(k, str(e)) from None
        elif isinstance(item, dict):
            out.append(_from_table(StaticMemberConfig, item, k, t))
        else:
            raise t.error(
                k, f'expected a table or a "HOST:PORT[:UNIQUEID]" string, got {_type_name(item)}'
            )
    return tuple(out)


_TOML_SPECIAL: Final[dict[str, Callable[[object, str, _Toml], Any]]] = {
    "NodeConfig.unique_id": _toml_uid,
    "NodeConfig.domain": _toml_domain,
    "NodeConfig.http": _toml_http,
    "ReceiverConfig.address": _toml_host,
    "StaticMemberConfig.host": _toml_host,
    "StaticMemberConfig.unique_id": _toml_uid,
    "StaticMemberConfig.domain": _toml_domain,
    "MembershipConfig.members": _toml_members,
    "ManagerConfig.contexts": _toml_contexts,
    "ManagerConfig.channel_send_options": _toml_send_options,
}


def _from_table[T](cls: type[T], table: Mapping[str, object], where: str, t: _Toml) -> T:
    hints = typing.get_type_hints(cls)
    known = {
        f.name: f
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.metadata.get("toml", True)
    }
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        keypath = f"{where}.{key}" if where else key
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            section = f"[{where}]" if where else "the top level"
            raise ConfigError(
                f"{t.path}: unknown key {keypath!r}{hint} (known in {section}: {', '.join(known)})"
            )
        f = known[key]
        special = _TOML_SPECIAL.get(f"{cls.__name__}.{key}")
        target = hints[key]
        if special is not None:
            converted = special(value, keypath, t)
        elif dataclasses.is_dataclass(target):
            if not isinstance(value, dict):
                raise t.error(keypath, f"expected a table [{keypath}], got {_type_name(value)}")
            converted = _from_table(target, value, keypath, t)  # type: ignore[arg-type]
        else:
            converted = _toml_scalar(value, target, keypath, t)
        problem = _check_value(converted, f.metadata)
        if problem is not None:
            raise t.error(keypath, problem)
        kwargs[key] = converted
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if (
            f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in kwargs
        ):
            raise t.error(where or "top level", f"missing key {f.name!r}")
    try:
        return cls(**kwargs)
    except _FieldError as e:
        raise t.error(f"{where}.{e.name}" if where else e.name, e.problem) from None


def load_toml(path: str | Path, *, bind: tuple[str, int] | None = None) -> NodeConfig:
    """Read pytribes' TOML layout (docs/config.md).

    The static member list may include this node (the entry at the receiver address and port):
    it is taken out, and its uniqueId is ours unless `unique_id` is set (then they must agree).
    `bind` replaces the receiver address and port first.
    """
    p = Path(path)
    raw = _read_capped(p)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    t = _Toml(str(p))
    cfg = _bound(_from_table(NodeConfig, data, "", t), bind)
    return _settle_local(cfg, uid_given="unique_id" in data, origin=str(p))


# ------------------------------------------------------------------------------------------------
# server.xml
# ------------------------------------------------------------------------------------------------

_HA: Final = "org.apache.catalina.ha."
_TRIBES: Final = "org.apache.catalina.tribes."
_ICPT: Final = _TRIBES + "group.interceptors."

_CLUSTER_CLASS: Final = _HA + "tcp.SimpleTcpCluster"
_DELTA_MANAGER: Final = _HA + "session.DeltaManager"
_BACKUP_MANAGER: Final = _HA + "session.BackupManager"
_CHANNEL_CLASS: Final = _TRIBES + "group.GroupChannel"
_STATIC_MEMBERSHIP: Final = _TRIBES + "membership.StaticMembershipService"
_STATIC_MEMBER: Final = _TRIBES + "membership.StaticMember"
_RECEIVERS: Final = (_TRIBES + "transport.nio.NioReceiver", _TRIBES + "transport.bio.BioReceiver")
_SENDER_CLASS: Final = _TRIBES + "transport.ReplicationTransmitter"
_TRANSPORTS: Final = (
    _TRIBES + "transport.nio.PooledParallelSender",
    _TRIBES + "transport.bio.PooledMultiSender",
)
_PING: Final = _ICPT + "TcpPingInterceptor"
_DETECTOR: Final = _ICPT + "TcpFailureDetector"
_DISPATCH: Final = (_ICPT + "MessageDispatchInterceptor", _ICPT + "MessageDispatch15Interceptor")

#: Interceptors that change the payload bytes: a node without them cannot talk to the cluster.
_PAYLOAD_INTERCEPTORS: Final = {
    _ICPT + "EncryptInterceptor": "it encrypts every message payload (TRIBES.md §9.1)",
    _ICPT + "GzipInterceptor": "it gzips every message payload (TRIBES.md §9.2)",
    _ICPT + "FragmentationInterceptor": "it appends a flag byte to every payload (TRIBES.md §9.3)",
    _ICPT + "OrderInterceptor": "it appends a sequence number to every payload (TRIBES.md §9.5)",
    _ICPT + "TwoPhaseCommitInterceptor": "it wraps messages in its own markers (TRIBES.md §9.5)",
}
#: Interceptors without wire changes that pytribes does not implement.
_HARMLESS_INTERCEPTORS: Final = {
    _ICPT + "ThroughputInterceptor": "statistics only",
    _ICPT + "DomainFilterInterceptor": "pytribes does not filter members by domain",
    _ICPT + "StaticMembershipInterceptor": "use StaticMembershipService for static members",
    _ICPT + "NonBlockingCoordinator": "catalina-ha does not use leader election",
    _ICPT + "SimpleCoordinator": "catalina-ha does not use leader election",
}

#: Tomcat attributes we read nowhere because they do not change what goes over the wire.
_RECEIVER_IGNORED: Final = frozenset(
    [
        "autoBind",
        "securePort",
        "udpPort",
        "selectorTimeout",
        "maxThreads",
        "minThreads",
        "maxIdleTime",
        "rxBufSize",
        "txBufSize",
        "udpRxBufSize",
        "udpTxBufSize",
        "tcpNoDelay",
        "soKeepAlive",
        "ooBInline",
        "soReuseAddress",
        "soLingerOn",
        "soLingerTime",
        "soTrafficClass",
        "timeout",
        "useBufferPool",
        "direct",
        "maxTasks",
        "executor",
        "daemon",
    ]
)
_TRANSPORT_IGNORED: Final = frozenset(
    [
        "keepAliveCount",
        "keepAliveTime",
        "maxWait",
        "rxBufSize",
        "txBufSize",
        "directBuffer",
        "throwOnFailedAck",
        "tcpNoDelay",
        "soKeepAlive",
        "ooBInline",
        "soReuseAddress",
        "soLingerOn",
        "soLingerTime",
        "soTrafficClass",
        "udpBased",
        "udpRxBufSize",
        "udpTxBufSize",
    ]
)
_MANAGER_IGNORED: Final = frozenset(
    [
        "name",
        "enableStatistics",
        "sessionAttributeNameFilter",
        "sessionAttributeValueClassNameFilter",
        "warnOnSessionAttributeFilterFailure",
        "secureRandomClass",
        "secureRandomAlgorithm",
        "secureRandomProvider",
        "persistAuthentication",
        "duplicates",
    ]
)

# attribute -> (field, kind); a field starting with "_" is read but not stored directly.
_Table = Mapping[str, tuple[str, str]]
_CLUSTER_ATTRS: Final[_Table] = {
    "channelSendOptions": ("channel_send_options", "options"),
    "clusterName": ("_cluster_name", "text"),
    "channelStartOptions": ("_start_options", "int"),
    "heartbeatBackgroundEnabled": ("_heartbeat_background", "bool"),
    "notifyLifecycleListenerOnFailure": ("_ignored", "bool"),
}
_MANAGER_ATTRS: Final[_Table] = {
    "expireSessionsOnShutdown": ("expire_sessions_on_shutdown", "bool"),
    "notifyListenersOnReplication": ("notify_listeners_on_replication", "bool"),
    "notifySessionListenersOnReplication": ("notify_session_listeners_on_replication", "bool"),
    "notifyContainerListenersOnReplication": ("notify_container_listeners_on_replication", "bool"),
    "stateTransferTimeout": ("state_transfer_timeout", "int"),
    "sendAllSessions": ("send_all_sessions", "bool"),
    "sendAllSessionsSize": ("send_all_sessions_size", "int"),
    "sendAllSessionsWaitTime": ("send_all_sessions_wait_time", "ms"),
    "stateTimestampDrop": ("state_timestamp_drop", "bool"),
    "recordAllActions": ("record_all_actions", "bool"),
    "maxActiveSessions": ("max_active_sessions", "int"),
    "persistAuthenticationNotes": ("persist_authentication_notes", "bool"),
    "processExpiresFrequency": ("_process_expires_frequency", "int"),
}
_CHANNEL_ATTRS: Final[_Table] = {
    "heartbeatSleeptime": ("_heartbeat_sleeptime", "ms"),
    "heartbeat": ("_ignored", "bool"),
    "optionCheck": ("_ignored", "bool"),
    "name": ("_ignored", "text"),
    "jmxEnabled": ("_ignored", "bool"),
    "jmxPrefix": ("_ignored", "text"),
    "jmxDomain": ("_ignored", "text"),
}
_MEMBERSHIP_ATTRS: Final[_Table] = {
    "expirationTime": ("expiration_time", "ms"),
    "connectTimeout": ("connect_timeout", "ms"),
    "rpcTimeout": ("rpc_timeout", "ms"),
    "useThread": ("_use_thread", "bool"),
    "pingInterval": ("_ping_interval", "ms"),
}
_MEMBER_ATTRS: Final[_Table] = {
    "host": ("host", "host"),
    "port": ("port", "int"),
    "uniqueId": ("unique_id", "uid"),
    "domain": ("domain", "domain"),
    "securePort": ("secure_port", "int"),
}
_LOCAL_MEMBER_ATTRS: Final[_Table] = {
    "uniqueId": ("unique_id", "uid"),
    "domain": ("domain", "domain"),
    # StaticMembershipService copies the receiver's address and ports into the local member.
    "host": ("_ignored", "text"),
    "port": ("_ignored", "text"),
    "securePort": ("_ignored", "text"),
}
_RECEIVER_ATTRS: Final[_Table] = {"address": ("address", "host"), "port": ("port", "int")}
_TRANSPORT_ATTRS: Final[_Table] = {
    "timeout": ("timeout", "ms"),
    "maxRetryAttempts": ("max_retry_attempts", "int"),
    "poolSize": ("pool_size", "int"),
}
_PING_ATTRS: Final[_Table] = {
    "interval": ("interval", "ms"),
    "useThread": ("use_thread", "bool"),
    "staticOnly": ("_ignored", "bool"),
    "optionFlag": ("_option_flag", "int"),
}
_DETECTOR_ATTRS: Final[_Table] = {
    "connectTimeout": ("connect_timeout", "ms"),
    "performSendTest": ("perform_send_test", "bool"),
    "performReadTest": ("perform_read_test", "bool"),
    "readTestTimeout": ("read_test_timeout", "ms"),
    "removeSuspectsTimeout": ("remove_suspects_timeout", "s"),
    "optionFlag": ("_option_flag", "int"),
}
_DISPATCH_ATTRS: Final[_Table] = {
    "maxQueueSize": ("max_queue_bytes", "long"),
    "alwaysSend": ("always_send", "bool"),
    "maxThreads": ("max_threads", "int"),
    "maxSpareThreads": ("_ignored", "int"),
    "keepAliveTime": ("_ignored", "long"),
    "useDeepClone": ("_ignored", "bool"),
    "optionFlag": ("_option_flag", "int"),
}


class _Xml:
    """A parsed server.xml: the tree, each element's line, and the warnings found so far."""

    def __init__(self, path: str, root: ET.Element, lines: dict[int, int]) -> None:
        self.path = path
        self.root = root
        self._lines = lines
        self.warnings: list[str] = []

    def where(self, el: ET.Element, attr: str | None = None) -> str:
        line = self._lines.get(id(el))
        loc = f"{self.path}:{line}" if line is not None else self.path
        cls = el.get("className")
        tag = f"<{el.tag} className={cls.rsplit('.', 1)[-1]}>" if cls else f"<{el.tag}>"
        return f"{loc}: {tag}" + (f" {attr}" if attr else "")

    def error(self, el: ET.Element, problem: str, attr: str | None = None) -> ConfigError:
        return ConfigError(f"{self.where(el, attr)}: {problem}")

    def warn(self, el: ET.Element, problem: str) -> None:
        self.warnings.append(f"{self.where(el)}: {problem}")


def _refuse(*_: object) -> None:
    raise ConfigError("DTD")


def _parse_xml(data: bytes, path: str) -> _Xml:
    """Parse with expat, refusing any DTD, entity or notation declaration (no XXE, no bombs)."""
    lowered = data.lower()
    for needle in (b"<!doctype", b"<!entity"):
        if needle in lowered:
            raise ConfigError(
                f"{path}: refusing a document with a DTD or entity declaration "
                f"({needle.decode().upper()}); server.xml needs neither"
            )
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    lines: dict[int, int] = {}
    elements: list[ET.Element] = []  # keeps every element alive so its id() stays unique

    def start(tag: str, attrs: dict[str, str]) -> None:
        el = builder.start(tag, attrs)
        elements.append(el)
        lines[id(el)] = parser.CurrentLineNumber

    def end(tag: str) -> None:
        builder.end(tag)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.NotationDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        msg = expat.errors.messages[e.code]
        raise ConfigError(f"{path}:{e.lineno}: not well-formed XML: {msg}") from None
    except ConfigError:
        raise ConfigError(
            f"{path}:{parser.CurrentLineNumber}: refusing a document with a DTD or entity "
            "declaration; server.xml needs neither"
        ) from None
    return _Xml(path, builder.close(), lines)


_PROPERTY_REF: Final = re.compile(r"\$\{[^}]*\}")


def _xml_value(x: _Xml, el: ET.Element, attr: str, raw: str, kind: str) -> Any:
    """Convert one attribute value the way Tomcat's setters would (strictly)."""
    if kind == "text":
        return raw
    ref = _PROPERTY_REF.search(raw)
    if ref is not None and kind not in ("host", "domain"):
        raise x.error(
            el,
            f"{raw!r} is a property reference ({ref.group()}); pytribes does not expand "
            "Tomcat properties here: write the value itself",
            attr,
        )
    try:
        if kind == "host":
            return _norm_host(raw)
        if kind == "domain":
            return _domain_bytes(raw)
        if kind == "uid":
            return _xml_uid(raw)
        if kind == "options":
            try:
                return parse_send_options(raw)
            except ValueError as e:
                raise ConfigError(f"{raw!r}: {e}") from None
        if kind == "bool":
            if raw.strip().lower() not in ("true", "false"):
                raise ConfigError(f"expected true or false, got {raw!r}")
            return raw.strip().lower() == "true"
        # integers: int/long/ms/s
        text = raw.strip()
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ConfigError(f"expected an integer, got {raw!r}")
        value = int(text)
        limit = _INT32_MAX if kind in ("int", "s") else _INT64_MAX
        if not -limit - 1 <= value <= limit:
            raise ConfigError(
                f"{raw!r} is out of range for a Java {'int' if limit == _INT32_MAX else 'long'}"
            )
        if kind == "ms":
            return value / 1000.0
        if kind == "s":
            return float(value)
        return value
    except ConfigError as e:
        raise x.error(el, str(e), attr) from None


def _xml_uid(raw: str) -> bytes:
    if not (raw.startswith("{") and raw.endswith("}")):
        raise ConfigError(
            f"{raw!r} is not Tomcat's uniqueId syntax: 16 signed bytes in braces, "
            "e.g. {0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,11}"
        )
    uid = _signed_bytes(raw, "uniqueId")
    if len(uid) != 16:
        raise ConfigError(f"uniqueId {raw!r} has {len(uid)} values; Tomcat needs exactly 16")
    return uid


def _read_attrs(
    x: _Xml,
    el: ET.Element,
    table: _Table,
    cls: type[Any] | None = None,
    ignored: frozenset[str] = frozenset(),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(dataclass kwargs, extras) from an element's attributes; unknown ones become warnings."""
    checks = {f.name: f.metadata for f in dataclasses.fields(cls)} if cls is not None else {}
    kwargs: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    for attr, raw in el.attrib.items():
        if attr in table:
            name, kind = table[attr]
            value = _xml_value(x, el, attr, raw, kind)
            if name.startswith("_"):
                extras[name[1:]] = value
                continue
            problem = _check_value(value, checks.get(name, {}))
            if problem is not None:
                raise x.error(el, f"{raw!r}: {problem}", attr)
            kwargs[name] = value
        elif attr != "className" and attr not in ignored:
            x.warn(el, f"attribute {attr}={raw!r} is not one pytribes knows; ignored")
    return kwargs, extras


def _one(x: _Xml, parent: ET.Element, tag: str) -> ET.Element | None:
    found = [c for c in parent if c.tag == tag]
    if len(found) > 1:
        raise x.error(found[1], f"more than one <{tag}> in {x.where(parent)}")
    return found[0] if found else None


def _build[T](x: _Xml, el: ET.Element, cls: type[T], kwargs: dict[str, Any]) -> T:
    try:
        return cls(**kwargs)
    except _FieldError as e:
        raise x.error(el, e.problem, e.name) from None


def _class_of(el: ET.Element, default: str) -> str:
    return (el.get("className") or default).strip()


def load_server_xml(path: str | Path, *, bind: tuple[str, int] | None = None) -> NodeConfig:
    """Read the `<Cluster>` of a Tomcat server.xml as it is (see the module docstring).

    `bind` = (address, port) replaces the `<Receiver>`'s before the local member is looked up.
    """
    p = Path(path)
    x = _parse_xml(_read_capped(p), str(p))
    parents = {child: parent for parent in x.root.iter() for child in parent}

    clusters = list(x.root.iter("Cluster"))
    if not clusters:
        raise ConfigError(f"{p}: no <Cluster> element: this server.xml does not enable clustering")
    if len(clusters) > 1:
        raise x.error(clusters[1], f"more than one <Cluster> (the first is {x.where(clusters[0])})")
    cluster = clusters[0]
    if _class_of(cluster, _CLUSTER_CLASS) != _CLUSTER_CLASS:
        raise x.error(cluster, "only org.apache.catalina.ha.tcp.SimpleTcpCluster is supported")
    container = parents.get(cluster)
    if container is None or container.tag not in ("Engine", "Host"):
        raise x.error(cluster, "a <Cluster> must sit in an <Engine> or a <Host>")
    engine = container if container.tag == "Engine" else parents.get(container)
    container_name = container.get("name")
    if not container_name:
        raise x.error(container, "has no name (Tomcat needs one; it names the cluster)")

    cluster_kw, cluster_extra = _read_attrs(x, cluster, _CLUSTER_ATTRS, ManagerConfig)
    cluster_name = cluster_extra.get("cluster_name") or container_name
    if cluster_extra.get("start_options", 15) != 15:
        x.warn(cluster, "channelStartOptions is not 15; StaticMembershipService needs 15")

    manager = _xml_manager(x, cluster, container, engine, cluster_kw)

    channel = _one(x, cluster, "Channel")
    if channel is None:
        raise x.error(
            cluster,
            "has no <Channel>, so Tomcat uses multicast membership (McastService); pytribes "
            'needs a <Channel> with <Membership className="' + _STATIC_MEMBERSHIP + '">',
        )
    if _class_of(channel, _CHANNEL_CLASS) != _CHANNEL_CLASS:
        raise x.error(channel, f"only {_CHANNEL_CLASS} is supported")
    _, channel_extra = _read_attrs(x, channel, _CHANNEL_ATTRS)
    heartbeat = channel_extra.get("heartbeat_sleeptime", 5.0)
    if cluster_extra.get("heartbeat_background"):
        # The container's background thread drives the heartbeat (Engine default: every 10 s).
        delay = engine.get("backgroundProcessorDelay", "10") if engine is not None else "10"
        heartbeat = float(
            _xml_value(
                x,
                engine if engine is not None else cluster,
                "backgroundProcessorDelay",
                delay,
                "int",
            )
        )
        if heartbeat <= 0:
            raise x.error(cluster, "heartbeatBackgroundEnabled needs backgroundProcessorDelay > 0")
    if heartbeat <= 0:
        raise x.error(channel, "must be greater than 0", "heartbeatSleeptime")

    receiver = ReceiverConfig()
    rx_el = _one(x, channel, "Receiver")
    if rx_el is not None:
        if _class_of(rx_el, _RECEIVERS[0]) not in _RECEIVERS:
            x.warn(rx_el, "unknown receiver class; reading address and port only")
        kw, _ = _read_attrs(x, rx_el, _RECEIVER_ATTRS, ReceiverConfig, _RECEIVER_IGNORED)
        receiver = _build(x, rx_el, ReceiverConfig, kw)

    sender = _xml_sender(x, channel)
    membership, local_el = _xml_membership(x, channel, heartbeat, cluster_name)
    ping, detector, dispatch = _xml_interceptors(x, channel)

    for child in channel:
        if child.tag not in ("Membership", "Receiver", "Sender", "Interceptor"):
            x.warn(child, "not used by pytribes; ignored")
    for child in cluster:
        if child.tag in ("Valve", "ClusterListener"):
            continue
        if child.tag == "Deployer":
            x.warn(child, "pytribes deploys no web applications; ignored")
        elif child.tag not in ("Manager", "Channel"):
            x.warn(child, "not used by pytribes; ignored")

    cfg = NodeConfig(
        receiver=receiver,
        sender=sender,
        membership=membership,
        failure_detector=detector,
        ping=ping,
        dispatch=dispatch,
        manager=manager,
    )
    cfg = _bound(cfg, bind)
    cfg = _xml_local(x, cfg, local_el, bind)
    return replace(cfg, warnings=tuple(x.warnings) + cfg.warnings)


def _xml_manager(
    x: _Xml,
    cluster: ET.Element,
    container: ET.Element,
    engine: ET.Element | None,
    cluster_kw: dict[str, Any],
) -> ManagerConfig:
    kw: dict[str, Any] = {"channel_send_options": cluster_kw.get("channel_send_options", 8)}
    frequency = 6  # ManagerBase processExpiresFrequency
    el = _one(x, cluster, "Manager")
    if el is not None:
        cls = _class_of(el, _DELTA_MANAGER)
        if cls == _BACKUP_MANAGER:
            raise x.error(el, "BackupManager is not supported yet; use DeltaManager")
        if cls != _DELTA_MANAGER:
            raise x.error(el, f"only {_DELTA_MANAGER} is supported")
        manager_kw, extra = _read_attrs(x, el, _MANAGER_ATTRS, ManagerConfig, _MANAGER_IGNORED)
        kw.update(manager_kw)
        frequency = extra.get("process_expires_frequency", frequency)
    if engine is not None:
        if engine.get("jvmRoute"):
            kw["jvm_route"] = engine.get("jvmRoute")
        delay = _xml_value(
            x,
            engine,
            "backgroundProcessorDelay",
            engine.get("backgroundProcessorDelay", "10"),
            "int",
        )
        if frequency > 0 and delay > 0:
            kw["expire_interval"] = float(frequency * delay)
    if container.tag == "Host":
        host_el: ET.Element | None = container
        kw["prefix_host"] = False
    else:
        hosts = [h for h in container if h.tag == "Host"]
        default = container.get("defaultHost")
        named = [h for h in hosts if h.get("name") == default]
        host_el = named[0] if named else hosts[0] if len(hosts) == 1 else None
        if len(hosts) > 1:
            used = host_el.get("name") if host_el is not None else "localhost"
            x.warn(container, f"has {len(hosts)} <Host>s; only the contexts of {used!r} are used")
    if host_el is not None:
        kw["host"] = host_el.get("name") or "localhost"
        contexts = []
        for ctx in (c for c in host_el if c.tag == "Context"):
            path = ctx.get("path")
            if path is None:
                continue
            try:
                name = normalize_context_path(path)
            except ConfigError as e:
                raise x.error(ctx, str(e), "path") from None
            version = ctx.get("version")
            contexts.append(f"{name}##{version}" if version else name)
        if contexts:
            kw["contexts"] = tuple(contexts)
    return _build(x, el if el is not None else cluster, ManagerConfig, kw)


def _xml_sender(x: _Xml, channel: ET.Element) -> SenderConfig:
    el = _one(x, channel, "Sender")
    if el is None:
        return SenderConfig()
    if _class_of(el, _SENDER_CLASS) != _SENDER_CLASS:
        x.warn(el, "unknown sender class; reading its <Transport> only")
    _read_attrs(x, el, {})
    transport = _one(x, el, "Transport")
    if transport is None:
        return SenderConfig()
    if _class_of(transport, _TRANSPORTS[0]) not in _TRANSPORTS:
        x.warn(transport, "unknown transport class; reading timeout/maxRetryAttempts/poolSize")
    kw, _ = _read_attrs(x, transport, _TRANSPORT_ATTRS, SenderConfig, _TRANSPORT_IGNORED)
    return _build(x, transport, SenderConfig, kw)


def _xml_membership(
    x: _Xml, channel: ET.Element, heartbeat: float, cluster_name: str
) -> tuple[MembershipConfig, ET.Element | None]:
    el = _one(x, channel, "Membership")
    if el is None:
        raise x.error(
            channel,
            "has no <Membership>, so Tomcat uses multicast (McastService); pytribes needs "
            f'<Membership className="{_STATIC_MEMBERSHIP}">',
        )
    cls = _class_of(el, "")
    if cls != _STATIC_MEMBERSHIP:
        raise x.error(
            el,
            f"{cls or 'McastService (the default)'} is not supported; pytribes needs "
            f"{_STATIC_MEMBERSHIP}",
        )
    kw, extra = _read_attrs(x, el, _MEMBERSHIP_ATTRS, MembershipConfig)
    ping_interval = extra.get("ping_interval", 1.0) if extra.get("use_thread") else heartbeat
    if ping_interval <= 0:
        raise x.error(el, "must be greater than 0", "pingInterval")
    members = []
    local_el: ET.Element | None = None
    for child in el:
        if child.tag == "Member":
            if _class_of(child, _STATIC_MEMBER) != _STATIC_MEMBER:
                x.warn(child, "unknown member class; read as a StaticMember")
            mkw, _ = _read_attrs(x, child, _MEMBER_ATTRS, StaticMemberConfig)
            for need in ("host", "port"):
                if need not in mkw:
                    raise x.error(child, f"has no {need} attribute")
            members.append(_build(x, child, StaticMemberConfig, mkw))
        elif child.tag == "LocalMember":
            if local_el is not None:
                raise x.error(child, "more than one <LocalMember>")
            local_el = child
        else:
            x.warn(child, "not used by pytribes; ignored")
    kw.update(
        members=tuple(members),
        ping_interval=ping_interval,
        membership_name=f"{cluster_name}-Channel-StaticMembership",
    )
    return _build(x, el, MembershipConfig, kw), local_el


def _xml_interceptors(
    x: _Xml, channel: ET.Element
) -> tuple[PingConfig, FailureDetectorConfig, DispatchConfig]:
    interceptors = [c for c in channel if c.tag == "Interceptor"]
    if not interceptors:
        # SimpleTcpCluster.checkDefaults: a channel without interceptors gets
        # MessageDispatchInterceptor + TcpFailureDetector (no TcpPingInterceptor).
        return PingConfig(enabled=False), FailureDetectorConfig(), DispatchConfig()
    found: dict[str, ET.Element] = {}
    ping = PingConfig(enabled=False)
    detector = FailureDetectorConfig(enabled=False)
    dispatch = DispatchConfig(enabled=False)
    for el in interceptors:
        cls = _class_of(el, "")
        if not cls:
            raise x.error(el, "has no className")
        if cls in _PAYLOAD_INTERCEPTORS:
            simple = cls.rsplit(".", 1)[-1]
            raise x.error(
                el,
                f"{simple} is not supported yet: {_PAYLOAD_INTERCEPTORS[cls]}, so pytribes could "
                "neither read nor write this cluster's messages",
            )
        if cls in _HARMLESS_INTERCEPTORS:
            x.warn(el, f"not implemented by pytribes ({_HARMLESS_INTERCEPTORS[cls]}); ignored")
            continue
        if cls != _PING and cls != _DETECTOR and cls not in _DISPATCH:
            x.warn(
                el,
                "unknown interceptor; ignored.  If it changes message bytes, this node cannot "
                "talk to the cluster",
            )
            continue
        kind = "dispatch" if cls in _DISPATCH else cls
        if kind in found:
            x.warn(el, f"repeats the interceptor of {x.where(found[kind])}; the last one is used")
        found[kind] = el
        if cls == _PING:
            kw, extra = _read_attrs(x, el, _PING_ATTRS, PingConfig)
            ping = _build(x, el, PingConfig, kw)
        elif cls == _DETECTOR:
            kw, extra = _read_attrs(x, el, _DETECTOR_ATTRS, FailureDetectorConfig)
            detector = _build(x, el, FailureDetectorConfig, kw)
        else:
            kw, extra = _read_attrs(x, el, _DISPATCH_ATTRS, DispatchConfig)
            dispatch = _build(x, el, DispatchConfig, kw)
        flag = extra.get("option_flag")
        if flag:
            x.warn(el, f"optionFlag={flag} is ignored; pytribes uses the default")
    return ping, detector, dispatch


def _xml_local(
    x: _Xml, cfg: NodeConfig, local_el: ET.Element | None, bind: tuple[str, int] | None
) -> NodeConfig:
    """StaticMembershipService's local member: <LocalMember>, else the member at the receiver."""
    r = cfg.receiver
    local, peers = _pick_local(cfg.membership.members, r.address, r.port)
    unique_id, domain = bytes(16), b""
    if local_el is not None:
        kw, _ = _read_attrs(x, local_el, _LOCAL_MEMBER_ATTRS)
        unique_id = kw.get("unique_id", unique_id)
        domain = kw.get("domain", domain)
        if local is not None:
            # Tomcat would keep it in the static list and ping itself; we take it out.
            x.warn(local_el, f"the static member {local.name} is this node too; it is not a peer")
            if local.unique_id != unique_id:
                raise x.error(
                    local_el,
                    f"uniqueId {format_unique_id(unique_id)} disagrees with the <Member> "
                    f"{local.name} ({format_unique_id(local.unique_id)}) at this node's address",
                )
    elif local is not None:
        unique_id, domain = local.unique_id, local.domain
    else:
        listed = ", ".join(m.name for m in cfg.membership.members) or "none"
        source = f"bind {r.address}:{r.port}" if bind else f"<Receiver> {r.address}:{r.port}"
        hint = ""
        if r.address == "auto":
            hint = ' (the receiver address is "auto": give an explicit address= or a bind)'
        elif _PROPERTY_REF.search(r.address):
            hint = " (the receiver address is a property reference pytribes does not expand)"
        raise ConfigError(
            f"{x.path}: no local member: no <Member> has the address and port of the "
            f"{source}{hint}, and there is no <LocalMember> (members: {listed}); pick this node "
            "with bind=/--bind HOST:PORT"
        )
    try:
        warnings = _member_checks(peers, unique_id)
    except ConfigError as e:
        raise ConfigError(f"{x.path}: {e}") from None
    return replace(
        cfg,
        unique_id=unique_id,
        domain=domain,
        membership=replace(cfg.membership, members=peers),
        warnings=tuple(f"{x.path}: {w}" for w in warnings),
    )


# ------------------------------------------------------------------------------------------------
# Either file, and the command line on top
# ------------------------------------------------------------------------------------------------


def load(path: str | Path, *, bind: tuple[str, int] | None = None) -> NodeConfig:
    """`load_toml` for *.toml, `load_server_xml` for *.xml (otherwise by the first character)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".toml":
        return load_toml(p, bind=bind)
    if suffix == ".xml":
        return load_server_xml(p, bind=bind)
    head = _read_capped(p).lstrip()
    if head.startswith((b"<", b"\xef\xbb\xbf<")):
        return load_server_xml(p, bind=bind)
    return load_toml(p, bind=bind)


def apply_overrides(
    cfg: NodeConfig,
    *,
    bind: tuple[str, int] | None = None,
    members: Sequence[StaticMemberConfig] | None = None,
    unique_id: bytes | None = None,
    tomcat_version: int | None = None,
    http: tuple[str, int] | None = None,
    db: str | None = None,
    contexts: Sequence[str] | None = None,
    log_format: str | None = None,
    advertise: bool | None = None,
) -> NodeConfig:
    """Command-line values over the file's (None = keep the file's).

    `members` replaces the static list; if it contains this node (the entry at the receiver
    address and port) that entry is taken out and its uniqueId is ours unless `unique_id` is
    given.  A `bind` that lands on a member still in the loaded list is refused: pass it to
    `load*(..., bind=)` instead, so the file's own local member stays a peer.
    """
    try:
        out = _bound(cfg, bind)
        changes: dict[str, Any] = {}
        if unique_id is not None:
            changes["unique_id"] = unique_id
        if tomcat_version is not None:
            changes["tomcat_version"] = tomcat_version
        if http is not None:
            changes["http"] = (_norm_host(http[0]), http[1])
        if db is not None:
            changes["db"] = db
        if log_format is not None:
            changes["log_format"] = log_format
        if advertise is not None:
            changes["advertise"] = advertise
        if contexts is not None:
            changes["manager"] = replace(
                out.manager, contexts=tuple(normalize_context_path(c) for c in contexts)
            )
        if members is not None:
            changes["membership"] = replace(out.membership, members=tuple(members))
        out = replace(out, **changes)
    except _FieldError as e:
        raise ConfigError(f"command line: --{e.name.replace('_', '-')}: {e.problem}") from None
    except ConfigError as e:
        raise ConfigError(f"command line: {e}") from None
    if members is not None:
        return _settle_local(out, uid_given=unique_id is not None, origin="command line")
    if bind is not None:
        hit, _ = _pick_local(out.membership.members, out.receiver.address, out.receiver.port)
        if hit is not None:
            raise ConfigError(
                f"command line: --bind {_bracket(out.receiver.address)}:{out.receiver.port} is the "
                f"static member {hit.name} of the loaded file; load the file with this bind so "
                "that it picks this node (and keeps its old local member as a peer)"
            )
    return out
