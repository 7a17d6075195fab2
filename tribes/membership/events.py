"""What the membership state machines report (events) and ask for (actions).

Events are facts for upper layers and the log; actions are I/O requests the trio shell
(`tribes.net.node`) carries out, feeding the results back in.  All of them are small frozen
dataclasses holding `Member` values; times are the caller's `now` (seconds, any monotonic
clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..wire.member import Member


class Reason(StrEnum):
    """Why a member disappeared or became a suspect."""

    #: MSG_STOP / a member whose command is BABY-ALEX: removed at once, never probed.
    SHUTDOWN = "shutdown"
    #: Not heard from (START/PING request, reply or late reply) for more than expirationTime.
    EXPIRED = "expired"
    #: A send to it failed (connect refused, reset, timeout), not a FAIL_ACK.
    SEND_FAILED = "send_failed"
    #: TcpFailureDetector's forced check (TcpPingInterceptor) could not connect to it.
    UNREACHABLE = "unreachable"
    #: A member kept after a successful verification failed a later re-check.
    SUSPECT_UNREACHABLE = "suspect_unreachable"
    #: A new member (memberAdded) whose TCP probe failed: kept as an add-suspect.
    ADD_UNREACHABLE = "add_unreachable"


class Purpose(StrEnum):
    """Why a TCP probe (TcpFailureDetector.memberAlive) is run."""

    #: memberAdded from the membership service: probe before accepting.
    ADD = "add"
    #: memberDisappeared (not a shutdown): verify before removing.
    VERIFY = "verify"
    #: Basic check: a member the membership service knows and the detector does not.
    BASIC = "basic"
    #: Basic check: re-check of a member kept after a successful verification.
    REMOVE_SUSPECT = "remove_suspect"
    #: Basic check: re-check of a static member whose probe failed.
    ADD_SUSPECT = "add_suspect"
    #: Forced check (TcpPingInterceptor present): every member, every heartbeat.
    FORCED = "forced"


class RpcKind(StrEnum):
    """The two StaticMembershipProvider RPCs."""

    START = "start"
    PING = "ping"


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberAdded:
    member: Member
    #: The member object was a StaticMember (TcpFailureDetector keeps add-suspects only for those).
    static: bool = True


@dataclass(frozen=True, slots=True)
class MemberDisappeared:
    member: Member
    reason: Reason


@dataclass(frozen=True, slots=True)
class MemberUpdated:
    """A known member announced a different alive time (payload/command may have changed too)."""

    member: Member
    previous_alive: int

    @property
    def restarted(self) -> bool:
        """The alive time (uptime) went backwards: the member restarted with the same identity
        before anybody noticed it was gone."""
        return self.member.alive < self.previous_alive


@dataclass(frozen=True, slots=True)
class MemberSuspect:
    """TcpFailureDetector doubts a member and probes it ("Will verify")."""

    member: Member
    reason: Reason


@dataclass(frozen=True, slots=True)
class MemberVerifiedAlive:
    """A suspect answered its probe and stays a member ("Member still alive")."""

    member: Member
    reason: Reason


@dataclass(frozen=True, slots=True)
class RpcUnanswered:
    """Reachable static members that did not answer a START/PING RPC within rpcTimeout.

    For START with no reply at all Tomcat warns "Received 0 replies, probably a timeout"."""

    kind: RpcKind
    members: tuple[Member, ...]
    replies: int


@dataclass(frozen=True, slots=True)
class VersionLearned:
    """A peer's own message showed which Tomcat line (MemberImpl serialVersionUID) it speaks,
    and it differs from what we were writing to it."""

    member: Member
    tomcat_version: int
    previous: int


Event = (
    MemberAdded
    | MemberDisappeared
    | MemberUpdated
    | MemberSuspect
    | MemberVerifiedAlive
    | RpcUnanswered
    | VersionLearned
)


# --- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckReachable:
    """StaticMembershipProvider.getAliveMembers: connect (no data) and close, per member.

    Report the members that accepted with `StaticMembership.reachable_done`."""

    kind: RpcKind
    members: tuple[Member, ...]
    timeout: float


@dataclass(frozen=True, slots=True)
class SendRpc:
    """A MemberMessage RPC (ALL_REPLY) to `members`; build each destination's message with
    `StaticMembership.request_for(self, member, now)` (the MemberImpl SUID depends on it).

    Report the replies with `StaticMembership.rpc_done`."""

    kind: RpcKind
    msgtype: int
    members: tuple[Member, ...]
    options: int
    timeout: float


@dataclass(frozen=True, slots=True)
class SendStop:
    """The bare (non-RPC) MSG_STOP to the current members, local member command BABY-ALEX.

    Build each destination's message with `StaticMembership.stop_message_for`."""

    members: tuple[Member, ...]
    options: int


@dataclass(frozen=True, slots=True)
class Probe:
    """A TcpFailureDetector probe; report the result with `FailureDetector.probe_result`."""

    member: Member
    purpose: Purpose


Action = CheckReachable | SendRpc | SendStop | Probe

__all__ = [
    "Action",
    "CheckReachable",
    "Event",
    "MemberAdded",
    "MemberDisappeared",
    "MemberSuspect",
    "MemberUpdated",
    "MemberVerifiedAlive",
    "Probe",
    "Purpose",
    "Reason",
    "RpcKind",
    "RpcUnanswered",
    "SendRpc",
    "SendStop",
    "VersionLearned",
]
