"""The Java serialization vectors of TRIBES.md Appendix A (real Tomcat 9.0.70 / 10.1.60 output).

Each is parsed and checked field by field against the decoding TRIBES.md gives, then written
back byte for byte: from the parsed items, and from values built in Python the way the message
and session layers build them (A.5 from hand-made descriptors, A.6 through a BlockWriter, A.9
through an ObjectWriter).  The hex is copied verbatim from the Appendix A dumps.
"""

from __future__ import annotations

from tribes.jserial import (
    BlockData,
    BlockReader,
    BlockWriter,
    ClassData,
    ClassDesc,
    FieldDesc,
    JavaObject,
    JInteger,
    JLong,
    ObjectWriter,
    dumps,
    loads,
    read_stream,
    signed_suid,
    write_stream,
)

A5_SESSION_MESSAGE = bytes.fromhex(
    "aced0005737200316f72672e6170616368652e636174616c696e612e68612e73657373696f6e2e5365737369"
    "6f6e4d657373616765496d706c00000000000000020200074900086d457674547970654a001673657269616c"
    "697a6174696f6e54696d657374616d705a000c74696d657374616d705365744c000c6d436f6e746578744e61"
    "6d657400124c6a6176612f6c616e672f537472696e673b5b00086d53657373696f6e7400025b424c000a6d53"
    "657373696f6e494471007e00014c0008756e69717565496471007e0001787200296f72672e6170616368652e"
    "636174616c696e612e68612e436c75737465724d6573736167654261736500000000000000010200014a0009"
    "74696d657374616d7078700000000000000000000000040000018c2b3c4d5e0174000d6c6f63616c686f7374"
    "232f6a77707400074745542d414c4c7400154745542d414c4c2d6c6f63616c686f7374232f6a77"
)
A6_DELTA_REQUEST = bytes.fromhex(
    "aced0005773f002641424344454630313233343536373839414243444546303132333435363738392e6e6f64"
    "6531000000000600000000000000000007636f756e74657201737200116a6176612e6c616e672e496e746567"
    "657212e2a0a4f781873802000149000576616c7565787200106a6176612e6c616e672e4e756d62657286ac95"
    "1d0b94e08b020000787000000007770f000000000000000000046e616d650174000576616c7565772e000000"
    "00000000010004676f6e6500000000030000000000145f5f5345545f5f4d4158494e54455256414c5f5f0173"
    "71007e00000000070877190000000200000000000e5f5f5345545f5f49534e45575f5f01737200116a617661"
    "2e6c616e672e426f6f6c65616ecd207280d59cfaee0200015a000576616c7565787000771c00000004000000"
    "0000115f5f5345545f5f41555448545950455f5f01740004464f524d"
)
A6_CHANGE_SESSION_ID = bytes.fromhex("aced0005770d000b4e455749442e6e6f646532")
A7_RPC_PING_10_1 = bytes.fromhex(
    "aced00057372002b6f72672e6170616368652e636174616c696e612e7472696265732e67726f75702e527063"
    "4d657373616765712a750ff274e5090c00007870773a0000000010101112131415161718191a1b1c1d1e1f00"
    "000021436174616c696e612d4368616e6e656c2d5374617469634d656d626572736869707372004c6f72672e"
    "6170616368652e636174616c696e612e7472696265732e6d656d626572736869702e5374617469634d656d62"
    "65727368697050726f7669646572244d656d6265724d65737361676500000000000000010200034900076d73"
    "67747970654c00066d656d6265727400234c6f72672f6170616368652f636174616c696e612f747269626573"
    "2f4d656d6265723b5b000c6d656d6265727368697049647400025b42787000000003737200326f72672e6170"
    "616368652e636174616c696e612e7472696265732e6d656d626572736869702e5374617469634d656d626572"
    "a32603887eb6b8a10c0000787200306f72672e6170616368652e636174616c696e612e7472696265732e6d65"
    "6d626572736869702e4d656d626572496d706c8476f37b329536670c0000787077510000004d545249424553"
    "2d42010000000035000000000000123400000fa0ffffffffffffffff047f0000010000000000000000101112"
    "131415161718191a1b1c1d1e1f000000005452494245532d45010078757200025b42acf317f8060854e00200"
    "00787000000021436174616c696e612d4368616e6e656c2d5374617469634d656d6265727368697078"
)
A8_NO_RPC_CHANNEL_REPLY = bytes.fromhex(
    "aced00057372003d6f72672e6170616368652e636174616c696e612e7472696265732e67726f75702e527063"
    "4d657373616765244e6f5270634368616e6e656c5265706c797bab8fb36a4b5ba60c00007872002b6f72672e"
    "6170616368652e636174616c696e612e7472696265732e67726f75702e5270634d657373616765712a750ff2"
    "74e5090c00007870773900000010101112131415161718191a1b1c1d1e1f00000021436174616c696e612d43"
    "68616e6e656c2d5374617469634d656d6265727368697078"
)
A9_ALL_SESSION_DATA_10_1 = bytes.fromhex(
    "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565"
    "787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870000000017372000e6a6176"
    "612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c75657871007e00010000018bcfe56800"
    "7371007e00030000018bcfe56be87371007e000000000708737200116a6176612e6c616e672e426f6f6c6561"
    "6ecd207280d59cfaee0200015a000576616c75657870007371007e0007017371007e00030000018bcfe56fd0"
    "7371007e0003000000000000000077010074000c4142434445462e6e6f646531707071007e00027400016b74"
    "0001767371007e000000000000"
)
A9_ALL_SESSION_DATA_9_0 = bytes.fromhex(
    "aced0005737200116a6176612e6c616e672e496e746567657212e2a0a4f781873802000149000576616c7565"
    "787200106a6176612e6c616e672e4e756d62657286ac951d0b94e08b0200007870000000017372000e6a6176"
    "612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c75657871007e00010000018bcfe56800"
    "7371007e00030000018bcfe56be87371007e000000000708737200116a6176612e6c616e672e426f6f6c6561"
    "6ecd207280d59cfaee0200015a000576616c75657870007371007e0007017371007e00030000018bcfe56fd0"
    "7371007e0003000000000000000077010074000c4142434445462e6e6f64653171007e00027400016b740001"
    "767371007e000000000000"
)

# A.7 as written by Tomcat 9.0: only the MemberImpl serialVersionUID differs (offsets 0x19F..).
A7_RPC_PING_9_0 = (
    A7_RPC_PING_10_1[:0x19F] + bytes.fromhex("2e21087915506d1c") + A7_RPC_PING_10_1[0x1A7:]
)

STRING = "Ljava/lang/String;"


def test_a5_session_message_fields() -> None:
    obj = loads(A5_SESSION_MESSAGE)
    assert isinstance(obj, JavaObject)
    assert obj.class_name == "org.apache.catalina.ha.session.SessionMessageImpl"
    desc = obj.desc
    assert isinstance(desc, ClassDesc)
    assert (desc.suid, desc.flags) == (2, 0x02)
    assert [(f.typecode, f.name, f.class_name) for f in desc.fields] == [
        ("I", "mEvtType", None),
        ("J", "serializationTimestamp", None),
        ("Z", "timestampSet", None),
        ("L", "mContextName", STRING),
        ("[", "mSession", "[B"),
        ("L", "mSessionID", STRING),
        ("L", "uniqueId", STRING),
    ]
    # The three String signatures are one string: handle 7E0001, then two back references.
    assert desc.fields[3].class_name is desc.fields[5].class_name is desc.fields[6].class_name
    sup = desc.superclass
    assert isinstance(sup, ClassDesc)
    assert (sup.name, sup.suid, sup.flags, sup.superclass) == (
        "org.apache.catalina.ha.ClusterMessageBase",
        1,
        0x02,
        None,
    )
    assert [cd.desc for cd in obj.class_data] == [sup, desc]
    assert obj.class_data[0].values == {"timestamp": 0}
    assert obj.class_data[1].values == {
        "mEvtType": 4,
        "serializationTimestamp": 0x18C2B3C4D5E,
        "timestampSet": True,
        "mContextName": "localhost#/jw",
        "mSession": None,
        "mSessionID": "GET-ALL",
        "uniqueId": "GET-ALL-localhost#/jw",
    }
    assert dumps(obj) == A5_SESSION_MESSAGE


def _session_message_desc() -> ClassDesc:
    # Separately built signature strings: the writer interns them like the JVM does.
    def sig() -> str:
        return "".join(["Ljava/lang/", "String;"])

    base = ClassDesc(
        "org.apache.catalina.ha.ClusterMessageBase",
        1,
        0x02,
        (FieldDesc("J", "timestamp"),),
        None,
        [],
    )
    return ClassDesc(
        "org.apache.catalina.ha.session.SessionMessageImpl",
        2,
        0x02,
        (
            FieldDesc("I", "mEvtType"),
            FieldDesc("J", "serializationTimestamp"),
            FieldDesc("Z", "timestampSet"),
            FieldDesc("L", "mContextName", sig()),
            FieldDesc("[", "mSession", "[B"),
            FieldDesc("L", "mSessionID", sig()),
            FieldDesc("L", "uniqueId", sig()),
        ),
        base,
        [],
    )


def test_a5_built_from_python_descriptors() -> None:
    desc = _session_message_desc()
    assert desc.fields[3].class_name is not desc.fields[5].class_name
    base = desc.superclass
    assert base is not None
    obj = JavaObject(
        desc,
        [
            ClassData(base, {"timestamp": 0}),
            ClassData(
                desc,
                {
                    "mEvtType": 4,
                    "serializationTimestamp": 0x18C2B3C4D5E,
                    "timestampSet": True,
                    "mContextName": "localhost#/jw",
                    "mSession": None,
                    "mSessionID": "GET-ALL",
                    "uniqueId": "GET-ALL-localhost#/jw",
                },
            ),
        ],
    )
    assert dumps(obj) == A5_SESSION_MESSAGE
    # Again (the writer caches descriptor encodings): still identical.
    assert dumps(obj) == A5_SESSION_MESSAGE


def test_a5_wrapping_a_delta_request() -> None:
    # The SESSION_DELTA message carries A.6 as mSession: 75 72 "[B" ... 78 70 00000150 <bytes>
    desc = _session_message_desc()
    base = desc.superclass
    assert base is not None
    obj = JavaObject(
        desc,
        [
            ClassData(base, {"timestamp": 0}),
            ClassData(
                desc,
                {
                    "mEvtType": 13,
                    "serializationTimestamp": 1,
                    "timestampSet": True,
                    "mContextName": "localhost#/jw",
                    "mSession": A6_DELTA_REQUEST,
                    "mSessionID": "ABCDEF0123456789ABCDEF0123456789.node1",
                    "uniqueId": "u",
                },
            ),
        ],
    )
    data = dumps(obj)
    array_head = bytes.fromhex("757200025b42acf317f8060854e0020000787000000150")
    assert array_head + A6_DELTA_REQUEST in data
    back = loads(data)
    assert isinstance(back, JavaObject)
    assert back.field("mSession") == A6_DELTA_REQUEST
    assert back.field("mEvtType") == 13


def _read_delta_request(
    items: list[object],
) -> tuple[str, bool, list[tuple[int, int, str, object]]]:
    r = BlockReader(items)
    session_id = r.read_utf()
    record_all = r.read_bool()
    actions = []
    for _ in range(r.read_int()):
        typ, action, name, has_value = r.read_int(), r.read_int(), r.read_utf(), r.read_bool()
        actions.append((typ, action, name, r.read_object() if has_value else None))
    assert r.at_end()
    return session_id, record_all, actions


def test_a6_delta_request() -> None:
    items = read_stream(A6_DELTA_REQUEST)
    assert items[0] == BlockData(A6_DELTA_REQUEST[6 : 6 + 0x3F])  # the `77 3F` block
    session_id, record_all, actions = _read_delta_request(items)
    assert session_id == "ABCDEF0123456789ABCDEF0123456789.node1"
    assert record_all is False
    assert actions == [
        (0, 0, "counter", 7),
        (0, 0, "name", "value"),
        (0, 1, "gone", None),
        (3, 0, "__SET__MAXINTERVAL__", 1800),
        (2, 0, "__SET__ISNEW__", False),
        (4, 0, "__SET__AUTHTYPE__", "FORM"),
    ]
    assert type(actions[0][3]) is JInteger and actions[4][3] is False
    assert write_stream(items) == A6_DELTA_REQUEST


def test_a6_built_with_block_writer() -> None:
    w = BlockWriter()
    w.write_utf("ABCDEF0123456789ABCDEF0123456789.node1")
    w.write_bool(False)
    w.write_int(6)
    for typ, action, name, value in [
        (0, 0, "counter", 7),
        (0, 0, "name", "value"),
        (0, 1, "gone", None),
        (3, 0, "__SET__MAXINTERVAL__", 1800),
        (2, 0, "__SET__ISNEW__", False),
        (4, 0, "__SET__AUTHTYPE__", "FORM"),
    ]:
        w.write_int(typ)
        w.write_int(action)
        w.write_utf(name)
        w.write_bool(value is not None)
        if value is not None:
            w.write_object(value)
    assert write_stream(w.items()) == A6_DELTA_REQUEST


def test_change_session_id_payload() -> None:
    items = read_stream(A6_CHANGE_SESSION_ID)
    assert items == [BlockData(bytes.fromhex("000b") + b"NEWID.node2")]
    assert BlockReader(items).read_utf() == "NEWID.node2"
    w = BlockWriter()
    w.write_utf("NEWID.node2")
    assert write_stream(w.items()) == A6_CHANGE_SESSION_ID


def test_a7_rpc_member_message() -> None:
    for data, member_suid in [
        (A7_RPC_PING_10_1, signed_suid(0x8476F37B32953667)),
        (A7_RPC_PING_9_0, 0x2E21087915506D1C),
    ]:
        rpc = loads(data)
        assert isinstance(rpc, JavaObject)
        assert rpc.class_name == "org.apache.catalina.tribes.group.RpcMessage"
        assert rpc.desc.suid == 8154458786660410633 and rpc.desc.flags == 0x0C
        assert rpc.class_data == [] and rpc.external is not None
        r = BlockReader(rpc.external)
        assert r.read_bool() is False  # reply
        assert r.read_bytes(r.read_int()) == bytes(range(0x10, 0x20))
        rpc_id = b"Catalina-Channel-StaticMembership"
        assert r.read_bytes(r.read_int()) == rpc_id
        msg = r.read_object()
        assert r.at_end()
        assert isinstance(msg, JavaObject)
        assert msg.class_name.endswith("StaticMembershipProvider$MemberMessage")
        assert msg.field("msgtype") == 3
        assert msg.field("membershipId") == rpc_id
        member = msg.field("member")
        assert isinstance(member, JavaObject)
        chain = member.desc.hierarchy()
        assert [(d.name.rsplit(".", 1)[1], d.suid, d.flags) for d in chain] == [
            ("MemberImpl", member_suid, 0x0C),
            ("StaticMember", -6690656311635953503, 0x0C),
        ]
        mr = BlockReader(member.external or [])
        member_bytes = mr.read_bytes(mr.read_int())
        assert len(member_bytes) == 77 and member_bytes.startswith(b"TRIBES-B")
        assert mr.at_end()
        assert dumps(rpc) == data


def test_a8_no_rpc_channel_reply() -> None:
    obj = loads(A8_NO_RPC_CHANNEL_REPLY)
    assert isinstance(obj, JavaObject)
    assert [(d.name, d.suid) for d in obj.desc.hierarchy()] == [
        ("org.apache.catalina.tribes.group.RpcMessage", 8154458786660410633),
        ("org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply", 8911374288427899814),
    ]
    r = BlockReader(obj.external or [])
    assert r.read_bytes(r.read_int()) == bytes(range(0x10, 0x20))
    assert r.read_bytes(r.read_int()) == b"Catalina-Channel-StaticMembership"
    assert r.at_end()
    assert dumps(obj) == A8_NO_RPC_CHANNEL_REPLY


def _a9_values(notes: bool) -> list[object]:
    head: list[object] = [
        1,  # session count
        1700000000000,  # creationTime
        1700000001000,  # lastAccessedTime
        1800,  # maxInactiveInterval
        False,  # isNew
        True,  # isValid
        1700000002000,  # thisAccessedTime
        JLong(0),  # version
        BlockData(b"\x00"),  # writeBoolean(principal instanceof Serializable)
        "ABCDEF.node1",
    ]
    return head + ([None, None] if notes else []) + [1, "k", "v", 0]


def test_a9_all_session_data() -> None:
    for data, notes in [(A9_ALL_SESSION_DATA_10_1, True), (A9_ALL_SESSION_DATA_9_0, False)]:
        items = read_stream(data)
        assert items == _a9_values(notes)
        count = items[10 + (2 if notes else 0)]
        assert count is items[0]  # `71 00 7e 00 02`: the same cached Integer 1
        assert [type(x) for x in items[:8]] == [
            JInteger,
            JLong,
            JLong,
            JInteger,
            bool,
            bool,
            JLong,
            JLong,
        ]
        assert write_stream(items) == data


def test_a9_written_by_an_object_writer() -> None:
    for data, notes in [(A9_ALL_SESSION_DATA_10_1, True), (A9_ALL_SESSION_DATA_9_0, False)]:
        w = ObjectWriter()
        for value in _a9_values(notes):
            w.write(value)
        assert w.getvalue() == data
