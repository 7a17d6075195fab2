"""Class descriptors of the Tomcat classes that travel on the wire (TRIBES.md §7.3).

Built once at import; the writer shares them by identity, so every message reuses the same
descriptor objects instead of rebuilding them.
"""

from __future__ import annotations

from ..jserial import ClassDesc, FieldDesc

SC_SERIALIZABLE = 0x02
SC_EXTERNALIZABLE_BLOCK = 0x0C

STRING_SIG = "Ljava/lang/String;"


def _desc(
    name: str,
    suid: int,
    flags: int,
    fields: tuple[FieldDesc, ...] = (),
    superclass: ClassDesc | None = None,
) -> ClassDesc:
    return ClassDesc(name, suid, flags, fields, superclass, [])


def _signed(hex_suid: str) -> int:
    v = int(hex_suid, 16)
    return v - (1 << 64) if v >= 1 << 63 else v


CLUSTER_MESSAGE_BASE = _desc(
    "org.apache.catalina.ha.ClusterMessageBase",
    1,
    SC_SERIALIZABLE,
    (FieldDesc("J", "timestamp", None),),
)

SESSION_MESSAGE_IMPL = _desc(
    "org.apache.catalina.ha.session.SessionMessageImpl",
    2,
    SC_SERIALIZABLE,
    (
        FieldDesc("I", "mEvtType", None),
        FieldDesc("J", "serializationTimestamp", None),
        FieldDesc("Z", "timestampSet", None),
        FieldDesc("L", "mContextName", STRING_SIG),
        FieldDesc("[", "mSession", "[B"),
        FieldDesc("L", "mSessionID", STRING_SIG),
        FieldDesc("L", "uniqueId", STRING_SIG),
    ),
    CLUSTER_MESSAGE_BASE,
)

RPC_MESSAGE = _desc(
    "org.apache.catalina.tribes.group.RpcMessage",
    _signed("712A750FF274E509"),
    SC_EXTERNALIZABLE_BLOCK,
)

NO_RPC_CHANNEL_REPLY = _desc(
    "org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply",
    _signed("7BAB8FB36A4B5BA6"),
    SC_EXTERNALIZABLE_BLOCK,
    superclass=RPC_MESSAGE,
)

MEMBER_MESSAGE = _desc(
    "org.apache.catalina.tribes.membership.StaticMembershipProvider$MemberMessage",
    1,
    SC_SERIALIZABLE,
    (
        FieldDesc("I", "msgtype", None),
        FieldDesc("L", "member", "Lorg/apache/catalina/tribes/Member;"),
        FieldDesc("[", "membershipId", "[B"),
    ),
)

MEMBER_IMPL_NAME = "org.apache.catalina.tribes.membership.MemberImpl"
STATIC_MEMBER_NAME = "org.apache.catalina.tribes.membership.StaticMember"

#: MemberImpl has no declared serialVersionUID and the computed one changed in 10.1 (§7.4).
MEMBER_IMPL_SUID = {9: _signed("2E21087915506D1C"), 10: _signed("8476F37B32953667")}
TOMCAT_VERSION_BY_SUID = {suid: version for version, suid in MEMBER_IMPL_SUID.items()}

MEMBER_IMPL = {
    v: _desc(MEMBER_IMPL_NAME, suid, SC_EXTERNALIZABLE_BLOCK)
    for v, suid in MEMBER_IMPL_SUID.items()
}
STATIC_MEMBER = {
    v: _desc(STATIC_MEMBER_NAME, _signed("A32603887EB6B8A1"), SC_EXTERNALIZABLE_BLOCK, (), impl)
    for v, impl in MEMBER_IMPL.items()
}

#: Principal written by GenericPrincipal.writeReplace; 9.0 still has the password field.
SERIALIZABLE_PRINCIPAL_NAME = "org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal"
_PRINCIPAL_FIELDS = {
    "attributes": FieldDesc("L", "attributes", "Ljava/util/Map;"),
    "name": FieldDesc("L", "name", STRING_SIG),
    "password": FieldDesc("L", "password", STRING_SIG),
    "principal": FieldDesc("L", "principal", "Ljava/security/Principal;"),
    "roles": FieldDesc("[", "roles", "[Ljava/lang/String;"),
}
SERIALIZABLE_PRINCIPAL = {
    9: _desc(SERIALIZABLE_PRINCIPAL_NAME, 1, SC_SERIALIZABLE, tuple(_PRINCIPAL_FIELDS.values())),
    10: _desc(
        SERIALIZABLE_PRINCIPAL_NAME,
        1,
        SC_SERIALIZABLE,
        tuple(f for n, f in _PRINCIPAL_FIELDS.items() if n != "password"),
    ),
}

#: Classes that may appear in the outer graph of a ChannelData payload (GroupChannel level).
OUTER_CLASSES = frozenset(
    {
        CLUSTER_MESSAGE_BASE.name,
        SESSION_MESSAGE_IMPL.name,
        RPC_MESSAGE.name,
        NO_RPC_CHANNEL_REPLY.name,
        MEMBER_MESSAGE.name,
        MEMBER_IMPL_NAME,
        STATIC_MEMBER_NAME,
        "[B",
        "[Lorg.apache.catalina.tribes.Member;",
        "org.apache.catalina.tribes.tipis.AbstractReplicatedMap$MapMessage",
        "org.apache.catalina.tribes.tipis.AbstractReplicatedMap$State",
        "org.apache.catalina.ha.deploy.FileMessage",
        "org.apache.catalina.ha.deploy.UndeployMessage",
        "org.apache.catalina.tribes.UniqueId",
        "org.apache.catalina.tribes.ByteMessage",
        "java.lang.Enum",
        "java.lang.String",
        "java.lang.Integer",
        "java.lang.Long",
        "java.lang.Boolean",
        "java.lang.Number",
        "java.util.ArrayList",
    }
)
