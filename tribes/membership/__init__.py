"""Sans-io membership: StaticMembershipService (`static`) and TcpFailureDetector (`detector`);
`rejoin` tells a member back from a partition from a restarted one.

Both are fed `now` (seconds, monotonic) and return events (`events`) and I/O actions; the trio
wiring that runs them is `tribes.net.node`.
"""

from .detector import FailureDetector
from .events import (
    Action,
    CheckReachable,
    Event,
    MemberAdded,
    MemberDisappeared,
    MemberSuspect,
    MemberUpdated,
    MemberVerifiedAlive,
    Probe,
    Purpose,
    Reason,
    RpcKind,
    RpcUnanswered,
    SendRpc,
    SendStop,
    VersionLearned,
)
from .members import MemberList
from .rejoin import Rejoin, RejoinTracker
from .static import StaticMembership, StaticPeer

__all__ = [
    "Action",
    "CheckReachable",
    "Event",
    "FailureDetector",
    "MemberAdded",
    "MemberDisappeared",
    "MemberList",
    "MemberSuspect",
    "MemberUpdated",
    "MemberVerifiedAlive",
    "Probe",
    "Purpose",
    "Reason",
    "Rejoin",
    "RejoinTracker",
    "RpcKind",
    "RpcUnanswered",
    "SendRpc",
    "SendStop",
    "StaticMembership",
    "StaticPeer",
    "VersionLearned",
]
