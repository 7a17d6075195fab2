"""tribes.config: the model's defaults, the TOML and server.xml sources, CLI overrides, errors."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support import ROOT
from tribes.config import (
    DEFAULT_MEMBERSHIP_NAME,
    MAX_CONFIG_BYTES,
    ConfigError,
    DispatchConfig,
    FailureDetectorConfig,
    ManagerConfig,
    MembershipConfig,
    NodeConfig,
    PingConfig,
    ReceiverConfig,
    SenderConfig,
    StaticMemberConfig,
    apply_overrides,
    load,
    load_server_xml,
    load_toml,
    normalize_context_path,
    parse_address,
    parse_member_arg,
    parse_unique_id_arg,
)
from tribes.errors import TribesError
from tribes.wire import Member, format_unique_id
from tribes.wire.framing import DEFAULT_MAX_PACKAGE

EXAMPLES = ROOT / "examples"


def uid(n: int) -> bytes:
    return bytes(15) + bytes([n])


def uid_text(n: int) -> str:
    return "{" + "0," * 15 + str(n) + "}"


# ------------------------------------------------------------------------------------------------
# Model defaults (TRIBES.md §4.1, §4.3, §5.2-§5.4, §6.1, §8.4)
# ------------------------------------------------------------------------------------------------


def test_defaults_are_tomcats() -> None:
    c = NodeConfig()
    assert c.unique_id == bytes(16)
    assert c.tomcat_version == 10
    assert c.receiver == ReceiverConfig("auto", 4000, DEFAULT_MAX_PACKAGE, None, None)
    assert c.sender == SenderConfig(3.0, 1, 25)
    m = c.membership
    assert (m.expiration_time, m.connect_timeout, m.rpc_timeout, m.ping_interval) == (
        5.0,
        0.5,
        3.0,
        5.0,
    )
    assert m.members == ()
    assert m.membership_name == DEFAULT_MEMBERSHIP_NAME == "Catalina-Channel-StaticMembership"
    assert m.membership_id == b"Catalina-Channel-StaticMembership"
    assert c.failure_detector == FailureDetectorConfig(True, 1.0, True, True, 5.0, 300.0)
    assert c.ping == PingConfig(True, 1.0, False)
    assert c.dispatch == DispatchConfig(True, 64 << 20, True, 10)
    mg = c.manager
    assert mg.host == "localhost" and mg.prefix_host and mg.contexts == ("/jw",)
    assert mg.channel_send_options == 6
    assert mg.expire_sessions_on_shutdown is False
    assert mg.notify_listeners_on_replication and mg.notify_session_listeners_on_replication
    assert mg.state_transfer_timeout == 60
    assert mg.send_all_sessions and mg.send_all_sessions_size == 1000
    assert mg.send_all_sessions_wait_time == 2.0
    assert mg.state_timestamp_drop and not mg.record_all_actions
    assert mg.session_timeout_minutes == 30
    assert mg.manager_names == ("localhost#/jw",)
    assert (c.http, c.db, c.log_format, c.warnings) == (None, None, "text", ())


def test_model_is_frozen_and_validated() -> None:
    c = NodeConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.tomcat_version = 9  # type: ignore[misc]
    with pytest.raises(ConfigError, match=r"receiver\.port"):
        ReceiverConfig(port=70000)
    with pytest.raises(ConfigError, match=r"sender\.timeout"):
        SenderConfig(timeout=0)
    with pytest.raises(ConfigError, match="tomcat_version"):
        NodeConfig(tomcat_version=8)
    with pytest.raises(ConfigError, match="16 bytes"):
        StaticMemberConfig("127.0.0.1", 4000, b"short")
    with pytest.raises(ConfigError, match="context path"):
        ManagerConfig(contexts=("jw",))
    with pytest.raises(ConfigError, match="ISO-8859-1"):
        MembershipConfig(membership_name="Caté-€")
    assert issubclass(ConfigError, TribesError)


def test_manager_names() -> None:
    for path, name in (
        ("/jw", "localhost#/jw"),
        ("", "localhost#"),
        ("/a/b##v2", "localhost#/a/b##v2"),
    ):
        assert ManagerConfig(contexts=(path,)).manager_names == (name,)
    assert [normalize_context_path(p) for p in ("/", "ROOT", "")] == ["", "", ""]
    assert ManagerConfig(host="example.org").manager_names == ("example.org#/jw",)
    assert normalize_context_path("jw") == "/jw"
    with pytest.raises(ConfigError):
        normalize_context_path("/jw/")
    assert ManagerConfig(contexts=("", "/jw")).manager_names == ("localhost#", "localhost#/jw")
    assert ManagerConfig(prefix_host=False, contexts=("", "/jw")).manager_names == ("", "/jw")


def test_member_helpers() -> None:
    m = StaticMemberConfig("::1", 4000, uid(3), secure_port=4443, domain=b"d")
    assert m.name == "tcp://[::1]:4000"
    wire = m.to_member()
    assert wire == Member.at("::1", 4000, uid(3), secure_port=4443, domain=b"d")
    with pytest.raises(ConfigError, match="not an IP address"):
        StaticMemberConfig("node1.example", 4000).to_member()
    c = NodeConfig(unique_id=uid(9), receiver=ReceiverConfig("127.0.0.9", 4001))
    assert c.local_name == "tcp://127.0.0.9:4001"
    assert c.local_member().key == (bytes([127, 0, 0, 9]), 4001, uid(9))
    with pytest.raises(ConfigError, match="auto"):
        NodeConfig().local_member()


# ------------------------------------------------------------------------------------------------
# CLI syntax
# ------------------------------------------------------------------------------------------------


def test_parse_unique_id_arg_forms() -> None:
    assert parse_unique_id_arg("11") == uid(11)
    assert parse_unique_id_arg("0") == bytes(16)
    assert parse_unique_id_arg("255") == uid(255)
    assert parse_unique_id_arg(uid_text(11)) == uid(11)
    assert parse_unique_id_arg("{0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,-1}") == uid(255)
    assert parse_unique_id_arg("0000000000000000000000000000000B") == uid(11)
    for bad in ("256", "-1", "{1,2,3}", "abc", "0b", "{" + "0," * 15 + "128}", ""):
        with pytest.raises(ConfigError, match="uniqueId"):
            parse_unique_id_arg(bad)


@given(st.binary(min_size=16, max_size=16))
def test_unique_id_round_trips(raw: bytes) -> None:
    assert parse_unique_id_arg(format_unique_id(raw)) == raw
    assert parse_unique_id_arg(raw.hex()) == raw


def test_parse_member_arg() -> None:
    assert parse_member_arg("127.0.0.11:4000") == StaticMemberConfig("127.0.0.11", 4000)
    assert parse_member_arg("127.0.0.11:4000:11") == StaticMemberConfig("127.0.0.11", 4000, uid(11))
    assert parse_member_arg(f"10.0.0.1:4001:{uid_text(7)}").unique_id == uid(7)
    assert parse_member_arg("node-a:4000:" + "ab" * 16).unique_id == bytes([0xAB] * 16)
    assert parse_member_arg("node-a:4000").host == "node-a"
    v6 = parse_member_arg("[::1]:4000:12")
    assert (v6.host, v6.port, v6.unique_id) == ("::1", 4000, uid(12))
    assert parse_member_arg("[0:0::1]:4000").host == "::1"  # canonical form
    assert parse_member_arg("{127,0,0,1}:4000").host == "127.0.0.1"  # Tomcat's byte syntax
    for bad, why in [
        ("127.0.0.11", "HOST:PORT"),
        ("127.0.0.11:x", "port"),
        ("127.0.0.11:70000", "port"),
        ("127.0.0.11:0", "port 0"),
        ("127.0.0.11:4000:999", "uniqueId"),
        ("127.0.0.11:4000:1:2", "too many"),
        ("fe80::1:4000", "brackets"),
        ("::1:4000", "brackets"),
        ("[::1]4000", "':PORT'"),
        ("[nope]:4000", "IPv6"),
        (":4000", "HOST:PORT"),
    ]:
        with pytest.raises(ConfigError, match=why):
            parse_member_arg(bad)


def test_parse_address() -> None:
    assert parse_address("127.0.0.12:4000") == ("127.0.0.12", 4000)
    assert parse_address("[::1]:8080") == ("::1", 8080)
    assert parse_address("0.0.0.0:0") == ("0.0.0.0", 0)
    for bad in ("127.0.0.1", "127.0.0.1:1:2", "::1:80"):
        with pytest.raises(ConfigError):
            parse_address(bad)


# ------------------------------------------------------------------------------------------------
# server.xml
# ------------------------------------------------------------------------------------------------


def test_example_server_xml() -> None:
    c = load_server_xml(EXAMPLES / "server.xml")
    assert c.warnings == ()
    assert c.receiver.address == "127.0.0.11" and c.receiver.port == 4000
    assert c.unique_id == uid(11)
    assert c.membership.members == (StaticMemberConfig("127.0.0.12", 4000, uid(12)),)
    assert c.membership.membership_name == "Catalina-Channel-StaticMembership"
    assert c.membership.ping_interval == 5.0
    assert c.manager.channel_send_options == 6
    assert c.manager.manager_names == ("localhost#/jw",)
    assert c.ping.enabled and c.failure_detector.enabled and c.dispatch.enabled
    # Everything not in the file has Tomcat's defaults.
    d = NodeConfig()
    assert c.sender == d.sender
    assert c.failure_detector == d.failure_detector
    assert c.ping == d.ping and c.dispatch == d.dispatch
    assert dataclasses.replace(c.manager, channel_send_options=6) == d.manager
    assert c.tomcat_version == 10


def test_example_server_xml_bind_picks_the_other_node() -> None:
    c = load_server_xml(EXAMPLES / "server.xml", bind=("127.0.0.12", 4000))
    assert (c.receiver.address, c.receiver.port, c.unique_id) == ("127.0.0.12", 4000, uid(12))
    assert c.membership.members == (StaticMemberConfig("127.0.0.11", 4000, uid(11)),)
    assert c.local_name == "tcp://127.0.0.12:4000"


def test_example_server_xml_bind_elsewhere_has_no_local_member() -> None:
    with pytest.raises(ConfigError, match="no local member") as e:
        load_server_xml(EXAMPLES / "server.xml", bind=("127.0.0.13", 4000))
    msg = str(e.value)
    assert "server.xml" in msg and "127.0.0.13:4000" in msg
    assert "tcp://127.0.0.11:4000" in msg and "tcp://127.0.0.12:4000" in msg


_ICPT = "org.apache.catalina.tribes.group.interceptors."
_MEMBERS = f"""
    <Member className="org.apache.catalina.tribes.membership.StaticMember"
            host="10.0.0.1" port="4000" uniqueId="{uid_text(1)}"/>
    <Member className="org.apache.catalina.tribes.membership.StaticMember"
            host="10.0.0.2" port="4000" uniqueId="{uid_text(2)}"/>"""


def server_xml(
    tmp_path: Path,
    *,
    cluster_attrs: str = "",
    manager: str = "",
    channel_attrs: str = "",
    membership_attrs: str = "",
    members: str = _MEMBERS,
    receiver: str = '<Receiver className="org.apache.catalina.tribes.transport.nio.NioReceiver"'
    ' address="10.0.0.1" port="4000"/>',
    sender: str = "",
    interceptors: str = (
        f'<Interceptor className="{_ICPT}TcpPingInterceptor"/>'
        f'<Interceptor className="{_ICPT}TcpFailureDetector"/>'
        f'<Interceptor className="{_ICPT}MessageDispatchInterceptor"/>'
    ),
    cluster_extra: str = "",
    host_body: str = "",
    in_host: bool = False,
    engine_attrs: str = "",
) -> Path:
    cluster = f"""
  <Cluster className="org.apache.catalina.ha.tcp.SimpleTcpCluster" {cluster_attrs}>
    {manager}
    <Channel className="org.apache.catalina.tribes.group.GroupChannel" {channel_attrs}>
      <Membership className="org.apache.catalina.tribes.membership.StaticMembershipService"
                  {membership_attrs}>{members}
      </Membership>
      {receiver}
      {sender}
      {interceptors}
    </Channel>
    {cluster_extra}
  </Cluster>"""
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
<Server port="8005" shutdown="SHUTDOWN">
 <Service name="Catalina">
  <Engine name="Catalina" defaultHost="localhost" {engine_attrs}>
  {"" if in_host else cluster}
   <Host name="localhost" appBase="webapps">{cluster if in_host else ""}{host_body}</Host>
  </Engine>
 </Service>
</Server>
"""
    p = tmp_path / "server.xml"
    p.write_text(text)
    return p


def test_server_xml_every_attribute(tmp_path: Path) -> None:
    p = server_xml(
        tmp_path,
        cluster_attrs='channelSendOptions="use_ack,sync" clusterName="jwcluster"',
        manager="""<Manager className="org.apache.catalina.ha.session.DeltaManager"
            expireSessionsOnShutdown="true" notifyListenersOnReplication="false"
            notifySessionListenersOnReplication="false"
            notifyContainerListenersOnReplication="FALSE"
            stateTransferTimeout="-1" sendAllSessions="false" sendAllSessionsSize="50"
            sendAllSessionsWaitTime="250" stateTimestampDrop="false" recordAllActions="true"
            enableStatistics="false" name="ignored" maxActiveSessions="500"
            persistAuthenticationNotes="true" processExpiresFrequency="3"/>""",
        engine_attrs='jvmRoute="node1" backgroundProcessorDelay="5"',
        channel_attrs='heartbeatSleeptime="2500"',
        membership_attrs='expirationTime="9000" connectTimeout="700" rpcTimeout="4000"',
        members=f"""
            <Member host="10.0.0.1" port="4000" uniqueId="{uid_text(1)}" domain="dom"
                    securePort="4443"/>
            <Member host="{{10,0,0,2}}" port="4001" uniqueId="{{-1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2}}"
                    domain="{{1,2,-3}}"/>""",
        sender="""<Sender className="org.apache.catalina.tribes.transport.ReplicationTransmitter">
            <Transport className="org.apache.catalina.tribes.transport.nio.PooledParallelSender"
                timeout="6000" maxRetryAttempts="3" poolSize="10" maxWait="1000"/></Sender>""",
        interceptors=f"""
            <Interceptor className="{_ICPT}TcpPingInterceptor" interval="2000" useThread="true"/>
            <Interceptor className="{_ICPT}TcpFailureDetector" connectTimeout="1500"
                performSendTest="false" performReadTest="true" readTestTimeout="2500"
                removeSuspectsTimeout="60"/>
            <Interceptor className="{_ICPT}MessageDispatchInterceptor" maxQueueSize="1024"
                alwaysSend="false" maxThreads="4" maxSpareThreads="1"/>""",
        host_body='<Context path="/app" docBase="app"/><Context path="" docBase="ROOT"/>',
    )
    c = load_server_xml(p)
    assert c.warnings == ()
    assert c.unique_id == uid(1) and c.domain == b"dom"
    mg = c.manager
    assert mg.channel_send_options == 6
    assert mg.expire_sessions_on_shutdown is True
    assert mg.notify_listeners_on_replication is False
    assert mg.notify_session_listeners_on_replication is False
    assert mg.notify_container_listeners_on_replication is False
    assert mg.state_transfer_timeout == -1
    assert (mg.send_all_sessions, mg.send_all_sessions_size) == (False, 50)
    assert mg.send_all_sessions_wait_time == 0.25
    assert mg.state_timestamp_drop is False and mg.record_all_actions is True
    assert mg.manager_names == ("localhost#/app", "localhost#")
    assert (mg.jvm_route, mg.max_active_sessions, mg.persist_authentication_notes) == (
        "node1",
        500,
        True,
    )
    assert mg.expire_interval == 15.0  # processExpiresFrequency x backgroundProcessorDelay
    m = c.membership
    assert m.membership_name == "jwcluster-Channel-StaticMembership"
    assert (m.expiration_time, m.connect_timeout, m.rpc_timeout) == (9.0, 0.7, 4.0)
    assert m.ping_interval == 2.5  # the channel heartbeat
    (peer,) = m.members
    assert (peer.host, peer.port, peer.domain) == ("10.0.0.2", 4001, bytes([1, 2, 253]))
    assert peer.unique_id == bytes([255]) + uid(2)[1:]
    assert c.sender == SenderConfig(6.0, 3, 10)
    assert c.ping == PingConfig(True, 2.0, True)
    assert c.failure_detector == FailureDetectorConfig(True, 1.5, False, True, 2.5, 60.0)
    assert c.dispatch == DispatchConfig(True, 1024, False, 4)


def test_server_xml_tomcat_defaults_when_attributes_are_absent(tmp_path: Path) -> None:
    c = load_server_xml(server_xml(tmp_path))
    # No channelSendOptions: Tomcat's default 8, not the model's 6.
    assert c.manager.channel_send_options == 8
    assert (c.manager.jvm_route, c.manager.max_active_sessions) == (None, -1)
    assert c.manager.expire_interval == 60.0
    assert c.membership.membership_name == "Catalina-Channel-StaticMembership"
    assert c.sender == SenderConfig()


def test_server_xml_membership_use_thread(tmp_path: Path) -> None:
    c = load_server_xml(server_xml(tmp_path, membership_attrs='useThread="true"'))
    assert c.membership.ping_interval == 1.0
    c = load_server_xml(
        server_xml(tmp_path, membership_attrs='useThread="true" pingInterval="1500"')
    )
    assert c.membership.ping_interval == 1.5


def test_server_xml_heartbeat_in_background(tmp_path: Path) -> None:
    p = server_xml(tmp_path, cluster_attrs='heartbeatBackgroundEnabled="true"')
    assert load_server_xml(p).membership.ping_interval == 10.0
    p = server_xml(
        tmp_path,
        cluster_attrs='heartbeatBackgroundEnabled="true"',
        engine_attrs='backgroundProcessorDelay="3"',
    )
    assert load_server_xml(p).membership.ping_interval == 3.0


def test_server_xml_cluster_in_host(tmp_path: Path) -> None:
    c = load_server_xml(server_xml(tmp_path, in_host=True))
    assert c.membership.membership_name == "localhost-Channel-StaticMembership"
    assert c.manager.prefix_host is False
    assert c.manager.manager_names == ("/jw",)


def test_server_xml_absent_interceptors_are_disabled(tmp_path: Path) -> None:
    c = load_server_xml(
        server_xml(tmp_path, interceptors=f'<Interceptor className="{_ICPT}TcpFailureDetector"/>')
    )
    assert c.failure_detector.enabled
    assert not c.ping.enabled and not c.dispatch.enabled


def test_server_xml_no_interceptors_gets_tomcats_default_stack(tmp_path: Path) -> None:
    # SimpleTcpCluster.checkDefaults adds MessageDispatchInterceptor + TcpFailureDetector.
    c = load_server_xml(server_xml(tmp_path, interceptors=""))
    assert c.failure_detector.enabled and c.dispatch.enabled
    assert not c.ping.enabled


def test_server_xml_local_member_element(tmp_path: Path) -> None:
    members = f"""
        <LocalMember className="org.apache.catalina.tribes.membership.StaticMember"
                     uniqueId="{uid_text(9)}" domain="d"/>
        <Member host="10.0.0.2" port="4000" uniqueId="{uid_text(2)}"/>"""
    receiver = '<Receiver address="10.0.0.9" port="4100"/>'
    c = load_server_xml(server_xml(tmp_path, members=members, receiver=receiver))
    assert (c.receiver.address, c.receiver.port, c.unique_id, c.domain) == (
        "10.0.0.9",
        4100,
        uid(9),
        b"d",
    )
    assert [m.host for m in c.membership.members] == ["10.0.0.2"]
    # A LocalMember works even with the receiver at "auto".
    c = load_server_xml(server_xml(tmp_path, members=members, receiver=""))
    assert c.receiver.address == "auto" and c.unique_id == uid(9)


def test_server_xml_local_member_also_listed(tmp_path: Path) -> None:
    members = f'<LocalMember uniqueId="{uid_text(1)}"/>' + _MEMBERS
    c = load_server_xml(server_xml(tmp_path, members=members))
    assert [m.host for m in c.membership.members] == ["10.0.0.2"]
    assert any("this node too" in w for w in c.warnings)
    members = f'<LocalMember uniqueId="{uid_text(5)}"/>' + _MEMBERS
    with pytest.raises(ConfigError, match="disagrees"):
        load_server_xml(server_xml(tmp_path, members=members))


def test_server_xml_missing_local_member(tmp_path: Path) -> None:
    p = server_xml(tmp_path, receiver='<Receiver address="10.0.0.3" port="4000"/>')
    with pytest.raises(ConfigError, match=r"no local member.*10\.0\.0\.3:4000"):
        load_server_xml(p)
    with pytest.raises(ConfigError, match='"auto"'):
        load_server_xml(server_xml(tmp_path, receiver=""))
    # Same host, other port: not the local member either.
    with pytest.raises(ConfigError, match="no local member"):
        load_server_xml(server_xml(tmp_path), bind=("10.0.0.1", 4001))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("{0,0,0,0,0,0,0,0,0,0,0,0,0,0,11}", "15 values"),
        ("{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,11}", "17 values"),
        ("{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,128}", "outside -128..127"),
        ("{0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,11}", "no spaces"),
        ("{0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,x}", "not a byte"),
        ("0000000000000000000000000000000b", "braces"),
    ],
)
def test_server_xml_bad_unique_id(tmp_path: Path, value: str, why: str) -> None:
    members = f'<Member host="10.0.0.1" port="4000" uniqueId="{value}"/>'
    with pytest.raises(ConfigError, match=why) as e:
        load_server_xml(server_xml(tmp_path, members=members))
    assert (
        "server.xml:" in str(e.value) and "<Member" in str(e.value) and "uniqueId" in str(e.value)
    )


def test_server_xml_error_names_file_line_element_attribute(tmp_path: Path) -> None:
    p = server_xml(tmp_path, receiver='<Receiver address="10.0.0.1"\n port="forty"/>')
    with pytest.raises(ConfigError) as e:
        load_server_xml(p)
    msg = str(e.value)
    line = next(i for i, t in enumerate(p.read_text().splitlines(), 1) if "<Receiver" in t)
    assert msg.startswith(f"{p}:{line}: <Receiver> port: ")
    assert "expected an integer" in msg


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"membership_attrs": 'expirationTime="0"'}, "greater than 0"),
        ({"membership_attrs": 'expirationTime="1.5"'}, "integer"),
        ({"membership_attrs": 'useThread="yes"'}, "true or false"),
        ({"receiver": '<Receiver address="10.0.0.1" port="99999"/>'}, "at most 65535"),
        ({"cluster_attrs": 'channelSendOptions="fast"'}, "unknown send option"),
        ({"members": '<Member host="10.0.0.1"/>'}, "no port"),
        ({"members": '<Member port="4000"/>'}, "no host"),
        ({"members": _MEMBERS + '<Member host="10.0.0.2" port="4000"/>'}, "listed twice"),
        ({"members": '<Member host="{1,2,3}" port="4000"/>'}, "4 or 16 bytes"),
    ],
)
def test_server_xml_bad_values(tmp_path: Path, kw: dict[str, str], why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        load_server_xml(server_xml(tmp_path, **kw))  # type: ignore[arg-type]


def test_server_xml_property_references(tmp_path: Path) -> None:
    # In text fields they stay as text ...
    members = '<Member host="${node.a}" port="4000"/><Member host="10.0.0.2" port="4000"/>'
    c = load_server_xml(
        server_xml(
            tmp_path,
            members=members,
            receiver='<Receiver address="${node.a}" port="4000"/>',
        )
    )
    assert c.receiver.address == "${node.a}"
    assert [m.host for m in c.membership.members] == ["10.0.0.2"]
    # ... in numeric ones they are an error naming the attribute.
    p = server_xml(tmp_path, receiver='<Receiver address="10.0.0.1" port="${tribes.port}"/>')
    with pytest.raises(ConfigError, match=r"<Receiver> port: .*property reference \(\$\{tribes"):
        load_server_xml(p)
    p = server_xml(tmp_path, membership_attrs='useThread="${x}"')
    with pytest.raises(ConfigError, match="property reference"):
        load_server_xml(p)


def test_server_xml_encrypt_interceptor_refused(tmp_path: Path) -> None:
    p = server_xml(
        tmp_path,
        interceptors=f"""
            <Interceptor className="{_ICPT}TcpFailureDetector"/>
            <Interceptor className="{_ICPT}EncryptInterceptor"
                         encryptionKey="cafebabedeadbeefcafebabedeadbeef"/>""",
    )
    with pytest.raises(ConfigError, match="EncryptInterceptor is not supported yet") as e:
        load_server_xml(p)
    assert "payload" in str(e.value)


@pytest.mark.parametrize(
    "name", ["GzipInterceptor", "FragmentationInterceptor", "OrderInterceptor"]
)
def test_server_xml_payload_changing_interceptors_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} is not supported"):
        load_server_xml(
            server_xml(tmp_path, interceptors=f'<Interceptor className="{_ICPT}{name}"/>')
        )


def test_server_xml_unknown_things_are_warnings(tmp_path: Path) -> None:
    p = server_xml(
        tmp_path,
        interceptors=f"""
            <Interceptor className="{_ICPT}TcpFailureDetector" bogus="1"/>
            <Interceptor className="{_ICPT}ThroughputInterceptor"/>
            <Interceptor className="com.example.MyInterceptor"/>""",
        cluster_extra='<Deployer className="org.apache.catalina.ha.deploy.FarmWarDeployer"/>',
    )
    c = load_server_xml(p)
    text = "\n".join(c.warnings)
    assert "bogus" in text
    assert "ThroughputInterceptor" in text
    assert "MyInterceptor" in text and "unknown interceptor" in text
    assert "Deployer" in text
    assert all(w.startswith(f"{p}:") for w in c.warnings)
    assert c.failure_detector.enabled


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("<Server/>", "no <Cluster>"),
        ("<Server><Engine name='E'/></Server>", "no <Cluster>"),
        (
            "<Server><Engine name='E'><Cluster/></Engine></Server>",
            "no <Channel>.*McastService",
        ),
        (
            "<Server><Engine name='E'><Cluster><Channel/></Cluster></Engine></Server>",
            "no <Membership>",
        ),
        (
            "<Server><Engine name='E'><Cluster><Channel><Membership className="
            "'org.apache.catalina.tribes.membership.McastService'/></Channel></Cluster>"
            "</Engine></Server>",
            "McastService is not supported",
        ),
        (
            "<Server><Engine name='E'><Cluster><Manager className="
            "'org.apache.catalina.ha.session.BackupManager'/></Cluster></Engine></Server>",
            "BackupManager is not supported",
        ),
        ("<Server><Engine name='E'><Cluster/><Cluster/></Engine></Server>", "more than one"),
        ("<Server><Cluster/></Server>", "in an <Engine> or a <Host>"),
        ("<Server><Engine><Cluster/></Engine></Server>", "has no name"),
        (
            "<Server><Engine name='E'>\n<Cluster></Engine></Server>",
            r"server\.xml:2: not well-formed XML: mismatched tag",
        ),
        ("<Server>&undefined;</Server>", "undefined entity"),
    ],
)
def test_server_xml_structural_errors(tmp_path: Path, text: str, why: str) -> None:
    p = tmp_path / "server.xml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=why):
        load_server_xml(p)


@pytest.mark.parametrize(
    "prolog",
    [
        '<!DOCTYPE Server SYSTEM "http://example.invalid/x.dtd">',
        '<!DOCTYPE Server [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE Server [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
        "<!doctype Server>",
    ],
)
def test_server_xml_dtd_refused(tmp_path: Path, prolog: str) -> None:
    p = tmp_path / "server.xml"
    p.write_text(f'<?xml version="1.0"?>\n{prolog}\n<Server>&b;</Server>\n')
    with pytest.raises(ConfigError, match="DTD") as e:
        load_server_xml(p)
    assert str(p) in str(e.value)


def test_server_xml_dtd_refused_by_the_parser_too(tmp_path: Path) -> None:
    # UTF-16 hides the text from the byte scan; the expat handlers still refuse it.
    p = tmp_path / "server.xml"
    p.write_bytes('<!DOCTYPE Server [<!ENTITY a "x">]><Server>&a;</Server>'.encode("utf-16"))
    with pytest.raises(ConfigError, match="DTD"):
        load_server_xml(p)


def test_server_xml_size_cap(tmp_path: Path) -> None:
    p = tmp_path / "server.xml"
    p.write_bytes(b"<Server>" + b" " * MAX_CONFIG_BYTES + b"</Server>")
    with pytest.raises(ConfigError, match="larger than"):
        load_server_xml(p)


def test_server_xml_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_server_xml(tmp_path / "nope.xml")


# ------------------------------------------------------------------------------------------------
# TOML
# ------------------------------------------------------------------------------------------------


def test_example_node_toml() -> None:
    c = load_toml(EXAMPLES / "node.toml")
    assert c.warnings == ()
    assert c.unique_id == uid(13) and c.tomcat_version == 10
    assert (c.receiver.address, c.receiver.port) == ("127.0.0.13", 4000)
    assert c.http == ("127.0.0.13", 8080) and c.db is None
    assert c.membership.members == (
        StaticMemberConfig("127.0.0.11", 4000, uid(11), tomcat_version=10),
        StaticMemberConfig("127.0.0.12", 4000, uid(12)),
    )
    assert c.manager.manager_names == ("localhost#/jw",)
    # The example spells out the defaults; apart from identity and members they are the model's.
    d = NodeConfig()
    for section in ("sender", "failure_detector", "ping", "dispatch", "manager"):
        assert getattr(c, section) == getattr(d, section), section
    assert dataclasses.replace(c.membership, members=()) == d.membership


def write_toml(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "node.toml"
    p.write_text(text)
    return p


def test_toml_minimal_and_empty(tmp_path: Path) -> None:
    assert load_toml(write_toml(tmp_path, "")) == NodeConfig()
    c = load_toml(write_toml(tmp_path, 'unique_id = "' + "ab" * 16 + '"\n'))
    assert c.unique_id == bytes([0xAB] * 16)


def test_toml_members_as_strings_and_local_pick(tmp_path: Path) -> None:
    p = write_toml(
        tmp_path,
        """
[receiver]
address = "127.0.0.12"
[membership]
members = ["127.0.0.11:4000:11", "127.0.0.12:4000:12", "[::1]:4000"]
""",
    )
    c = load_toml(p)
    assert c.unique_id == uid(12)
    assert [m.name for m in c.membership.members] == ["tcp://127.0.0.11:4000", "tcp://[::1]:4000"]
    c = load_toml(p, bind=("127.0.0.11", 4000))
    assert c.unique_id == uid(11)
    assert [m.host for m in c.membership.members] == ["127.0.0.12", "::1"]


def test_toml_unique_id_disagreeing_with_own_entry(tmp_path: Path) -> None:
    p = write_toml(
        tmp_path,
        """
unique_id = 5
[receiver]
address = "127.0.0.12"
[[membership.members]]
host = "127.0.0.12"
port = 4000
unique_id = 12
""",
    )
    with pytest.raises(ConfigError, match="disagrees"):
        load_toml(p)


def test_toml_other_values(tmp_path: Path) -> None:
    p = write_toml(
        tmp_path,
        """
domain = "{1,2}"
db = "sqlite:///x.db"
log_format = "json"
[receiver]
address = "::1"
idle_timeout = 30
max_connections = 100
[manager]
contexts = ["ROOT", "/jw", "app"]
channel_send_options = "async"
send_all_sessions_wait_time = 1
""",
    )
    c = load_toml(p)
    assert c.domain == b"\x01\x02" and c.db == "sqlite:///x.db" and c.log_format == "json"
    assert c.receiver.idle_timeout == 30.0 and isinstance(c.receiver.idle_timeout, float)
    assert c.receiver.max_connections == 100
    assert c.manager.contexts == ("", "/jw", "/app")
    assert c.manager.channel_send_options == 8
    assert c.manager.send_all_sessions_wait_time == 1.0


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("prot = 1", "'prot'"),
        ("[receiver]\nprot = 1", "'receiver.prot'; did you mean 'port'"),
        ("[membership]\n[[membership.members]]\nhost='h'\nport=1\nuid=3", "members[0].uid"),
        ("[nonsense]\nx = 1", "'nonsense'"),
        ("warnings = []", "'warnings'"),
    ],
)
def test_toml_unknown_key(tmp_path: Path, text: str, key: str) -> None:
    p = write_toml(tmp_path, text)
    with pytest.raises(ConfigError, match="unknown key") as e:
        load_toml(p)
    assert str(p) in str(e.value) and key in str(e.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[receiver]\nport = "4000"', "receiver.port: expected an integer, got a string"),
        ("[receiver]\nport = true", "receiver.port: expected an integer, got a boolean"),
        ("[receiver]\nport = 4000.0", "receiver.port: expected an integer, got a float"),
        ("[receiver]\nport = 70000", "receiver.port: must be at most 65535"),
        ('[sender]\ntimeout = "3s"', "sender.timeout: expected a number of seconds"),
        ("[sender]\ntimeout = 0", "sender.timeout: must be greater than 0"),
        ("[ping]\nenabled = 1", "ping.enabled: expected true or false"),
        ("receiver = 5", "receiver: expected a table"),
        ("tomcat_version = 11", "tomcat_version: must be one of 9, 10"),
        ("unique_id = 300", "unique_id: bad uniqueId"),
        ('unique_id = "{1,2}"', "unique_id: a uniqueId needs 16"),
        ("unique_id = true", "unique_id: expected a uniqueId"),
        ('log_format = "xml"', "log_format: must be one of"),
        ('http = "localhost"', "http: bad address"),
        ("[membership]\nmembers = 3", "membership.members: expected"),
        ('[membership]\nmembers = ["x"]', "membership.members[0]: bad member"),
        ("[membership]\nmembers = [{host = 'h'}]", "membership.members[0]: missing key 'port'"),
        ("[membership]\nmembers = [{host = 'h', port = 0}]", "members[0].port: must be at least"),
        (
            "[membership]\nmembers = [{host = 'h', port = 1, tomcat_version = 8}]",
            "members[0].tomcat_version",
        ),
        ('[manager]\ncontexts = "/jw"', "manager.contexts: expected an array"),
        ('[manager]\ncontexts = ["/jw/"]', "manager.contexts[0]: context path"),
        ('[manager]\ncontexts = ["/a", "a"]', "manager.contexts: a context path is listed twice"),
        ('[manager]\nchannel_send_options = "fast"', "manager.channel_send_options: unknown"),
        ('[receiver]\naddress = ""', "receiver.address: must not be empty"),
        ("[membership]\nmembers = ['h:1:1', 'h:1:2']", "listed twice"),
        ("x = [", "not valid TOML"),
    ],
)
def test_toml_bad_values(tmp_path: Path, text: str, message: str) -> None:
    p = write_toml(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        load_toml(p)
    assert str(e.value).startswith(f"{p}:")


def test_toml_not_utf8(tmp_path: Path) -> None:
    p = tmp_path / "node.toml"
    p.write_bytes(b'db = "\xff"\n')
    with pytest.raises(ConfigError, match="UTF-8"):
        load_toml(p)


def test_load_dispatches_on_suffix_and_content(tmp_path: Path) -> None:
    assert load(EXAMPLES / "node.toml").unique_id == uid(13)
    assert load(EXAMPLES / "server.xml", bind=("127.0.0.12", 4000)).unique_id == uid(12)
    odd = tmp_path / "cluster.conf"
    odd.write_bytes((EXAMPLES / "server.xml").read_bytes())
    assert load(odd).unique_id == uid(11)
    odd.write_text("unique_id = 4\n")
    assert load(odd).unique_id == uid(4)


# ------------------------------------------------------------------------------------------------
# Overrides
# ------------------------------------------------------------------------------------------------


def test_overrides_replace_values() -> None:
    base = load_toml(EXAMPLES / "node.toml")
    c = apply_overrides(
        base,
        bind=("127.0.0.14", 4001),
        unique_id=uid(14),
        tomcat_version=9,
        http=("0.0.0.0", 8081),
        db="sqlite://",
        contexts=["/", "/jw"],
        log_format="json",
    )
    assert (c.receiver.address, c.receiver.port, c.unique_id) == ("127.0.0.14", 4001, uid(14))
    assert (c.tomcat_version, c.http, c.db, c.log_format) == (
        9,
        ("0.0.0.0", 8081),
        "sqlite://",
        "json",
    )
    assert c.manager.contexts == ("", "/jw")
    assert c.membership.members == base.membership.members
    assert apply_overrides(base) == base


def test_overrides_members_pick_the_local_one() -> None:
    base = load_server_xml(EXAMPLES / "server.xml", bind=("127.0.0.12", 4000))
    members = [parse_member_arg(f"127.0.0.1{i}:4000:1{i}") for i in (1, 2, 3)]
    c = apply_overrides(base, members=members)
    assert c.unique_id == uid(12)
    assert [m.host for m in c.membership.members] == ["127.0.0.11", "127.0.0.13"]
    c = apply_overrides(base, bind=("127.0.0.13", 4000), members=members)
    assert c.unique_id == uid(13)
    with pytest.raises(ConfigError, match="disagrees"):
        apply_overrides(base, members=members, unique_id=uid(99))


def test_overrides_bind_onto_a_loaded_peer_is_refused() -> None:
    base = load_server_xml(EXAMPLES / "server.xml")
    with pytest.raises(ConfigError, match="load the file with this bind"):
        apply_overrides(base, bind=("127.0.0.12", 4000))
    # The CLI's way: the same bind at load time and again as an override is fine.
    loaded = load_server_xml(EXAMPLES / "server.xml", bind=("127.0.0.12", 4000))
    assert apply_overrides(loaded, bind=("127.0.0.12", 4000)) == loaded


def test_overrides_are_validated() -> None:
    with pytest.raises(ConfigError, match="tomcat-version"):
        apply_overrides(NodeConfig(), tomcat_version=8)
    with pytest.raises(ConfigError, match=r"receiver\.port"):
        apply_overrides(NodeConfig(), bind=("127.0.0.1", 65536))
    with pytest.raises(ConfigError, match="context path"):
        apply_overrides(NodeConfig(), contexts=["/a/"])
