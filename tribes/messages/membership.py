"""StaticMembershipProvider$MemberMessage and the Member objects it carries (TRIBES.md §6.2)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ProtocolError
from ..jserial import BlockReader, BlockWriter, ClassData, JavaObject
from ..wire.member import Member, decode_member
from .classes import (
    MEMBER_IMPL,
    MEMBER_IMPL_NAME,
    MEMBER_MESSAGE,
    STATIC_MEMBER,
    STATIC_MEMBER_NAME,
    TOMCAT_VERSION_BY_SUID,
)

MSG_START = 1
MSG_STOP = 2
MSG_PING = 3
MSG_NAMES = {MSG_START: "MSG_START", MSG_STOP: "MSG_STOP", MSG_PING: "MSG_PING"}
#: A serialized member is ~100 bytes; refuse anything claiming more than this.
MAX_MEMBER_BYTES = 64 * 1024


def membership_id(name: str = "Catalina-Channel-StaticMembership") -> bytes:
    """`membershipName.getBytes(ISO_8859_1)`: the RpcChannel id and MemberMessage id."""
    return name.encode("latin-1")


@dataclass(slots=True)
class JavaMember:
    """A Member object inside a Java stream: which class and which Tomcat line wrote it."""

    member: Member
    static: bool = True
    #: 9 or 10 (10.1/11.0), read from the MemberImpl serialVersionUID.
    tomcat_version: int = 10


@dataclass(slots=True)
class MemberMessage:
    msgtype: int
    member: JavaMember | None
    membership_id: bytes

    @property
    def type_name(self) -> str:
        return MSG_NAMES.get(self.msgtype, str(self.msgtype))


def member_to_java(m: Member, tomcat_version: int, *, static: bool = True) -> JavaObject:
    """A StaticMember (or MemberImpl) object with the MemberImpl SUID of that Tomcat line."""
    data = m.to_bytes()
    w = BlockWriter()
    w.write_int(len(data))
    w.write_bytes(data)
    desc = (STATIC_MEMBER if static else MEMBER_IMPL)[tomcat_version]
    return JavaObject(desc, [], w.items())


def member_from_java(obj: object) -> JavaMember:
    if not isinstance(obj, JavaObject) or obj.class_name not in (
        STATIC_MEMBER_NAME,
        MEMBER_IMPL_NAME,
    ):
        raise ProtocolError(f"expected a Member object, got {_name(obj)}")
    impl = next((d for d in obj.desc.hierarchy() if d.name == MEMBER_IMPL_NAME), None)
    if impl is None or impl.suid not in TOMCAT_VERSION_BY_SUID:
        suid = None if impl is None else f"{impl.suid & (2**64 - 1):016X}"
        raise ProtocolError(f"MemberImpl with unknown serialVersionUID {suid}")
    if obj.external is None:
        raise ProtocolError("Member object without external data")
    r = BlockReader(obj.external)
    n = r.read_int()
    if not 0 < n <= MAX_MEMBER_BYTES:
        raise ProtocolError(f"Member data length {n} out of range")
    member = decode_member(r.read_bytes(n))
    return JavaMember(
        member, obj.class_name == STATIC_MEMBER_NAME, TOMCAT_VERSION_BY_SUID[impl.suid]
    )


def member_message_to_java(msg: MemberMessage) -> JavaObject:
    member = (
        None
        if msg.member is None
        else member_to_java(msg.member.member, msg.member.tomcat_version, static=msg.member.static)
    )
    values: dict[str, object] = {
        "msgtype": msg.msgtype,
        "member": member,
        "membershipId": msg.membership_id,
    }
    return JavaObject(MEMBER_MESSAGE, [ClassData(MEMBER_MESSAGE, values, None)], None)


def member_message_from_java(obj: JavaObject) -> MemberMessage:
    if obj.class_name != MEMBER_MESSAGE.name:
        raise ProtocolError(f"not a MemberMessage: {obj.class_name}")
    try:
        msgtype = obj.field("msgtype")
        mid = obj.field("membershipId")
        raw = obj.field("member")
    except KeyError as e:  # a descriptor of that name with other fields: a protocol violation
        raise ProtocolError(str(e.args[0])) from None
    if not isinstance(msgtype, int) or not isinstance(mid, bytes):
        raise ProtocolError("MemberMessage fields have the wrong types")
    return MemberMessage(msgtype, None if raw is None else member_from_java(raw), mid)


def _name(obj: object) -> str:
    return obj.class_name if isinstance(obj, JavaObject) else type(obj).__name__


__all__ = [
    "MSG_PING",
    "MSG_START",
    "MSG_STOP",
    "JavaMember",
    "MemberMessage",
    "member_from_java",
    "member_message_from_java",
    "member_message_to_java",
    "member_to_java",
    "membership_id",
]
