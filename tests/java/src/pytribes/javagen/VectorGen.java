package pytribes.javagen;

import java.io.ObjectStreamClass;
import java.io.Serializable;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.Principal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.catalina.Session;
import org.apache.catalina.authenticator.SavedRequest;
import org.apache.catalina.ha.session.DeltaManager;
import org.apache.catalina.ha.session.DeltaRequest;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.ha.session.SessionMessage;
import org.apache.catalina.ha.session.SessionMessageImpl;
import org.apache.catalina.realm.GenericPrincipal;
import org.apache.catalina.session.StandardSession;
import org.apache.catalina.tribes.Channel;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.group.RpcMessage;
import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.io.XByteBuffer;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.membership.StaticMember;
import org.apache.catalina.tribes.membership.StaticMembershipProvider.MemberMessage;
import org.apache.catalina.tribes.transport.Constants;
import org.apache.catalina.util.ServerInfo;

import lab.Color;
import lab.Ext;
import lab.Listener;
import lab.Opaque;
import lab.GenPojo;
import lab.UserPrincipal;

/**
 * Test-vector generator and checker for pytribes, run against the real Tomcat jars.
 *
 * <pre>
 *   java -cp CLASSES:JARS pytribes.javagen.VectorGen gen OUTDIR   # manifest.json + NAME.bin
 *   java -cp CLASSES:JARS pytribes.javagen.VectorGen serve        # JSON lines on stdin/stdout
 * </pre>
 * See tests/java/README.md.
 */
public final class VectorGen {

    // ------------------------------------------------------------------ fixed inputs

    static final byte[] MEMBER_UID = seq(0x10, 16);
    static final byte[] MSG_UID = seq(0xA0, 16);
    static final long TS = 0x0000018C2B3C4D5EL;
    static final long ALIVE = 0x1234L;
    static final String CTX = "localhost#/jw";
    static final String SID = "ABCDEF0123456789ABCDEF0123456789.node1";
    static final String NEW_ID = "NEWID.node2";
    static final byte[] RPC_ID = "Catalina-Channel-StaticMembership".getBytes(StandardCharsets.ISO_8859_1);
    static final byte[] IPV4 = {127, 0, 0, 1};
    static final byte[] IPV4_B = {10, 0, 0, 2};
    static final byte[] SHUTDOWN = "BABY-ALEX".getBytes(StandardCharsets.ISO_8859_1);
    static final long CREATED = 1700000000000L;

    static final byte[] MBR_BEGIN = {84, 82, 73, 66, 69, 83, 45, 66, 1, 0};

    final int major;
    final Path out;
    final List<Object> entries = new ArrayList<>();
    final List<String> failures = new ArrayList<>();
    final DeltaManager mgr = Checker.newManager(false);

    VectorGen(Path out) {
        this.out = out;
        this.major = Checker.major();
    }

    static byte[] seq(int start, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (start + i);
        }
        return b;
    }

    static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    static Map<String, Object> obj(Object... kv) {
        return Describe.obj(kv);
    }

    // ------------------------------------------------------------------ recording

    Map<String, Object> add(String name, String kind, String check, byte[] data, Object fields, String notes)
            throws Exception {
        return add(name, kind, check, data, fields, notes, null);
    }

    /**
     * @param expectError non-null: the real classes must FAIL to read these bytes with an error
     *                    containing this text (recorded as "expectError")
     */
    Map<String, Object> add(String name, String kind, String check, byte[] data, Object fields, String notes,
            String expectError) throws Exception {
        List<Object> patched = patchAlive(data);
        Files.write(out.resolve(name + ".bin"), data);
        Map<String, Object> e = obj(
                "name", name,
                "kind", kind,
                "version", Long.valueOf(major),
                "file", name + ".bin",
                "check", check,
                "size", Long.valueOf(data.length),
                "fields", fields,
                "mask", new ArrayList<>(),
                "patched", patched);
        if (notes != null) {
            e.put("notes", notes);
        }
        if (expectError != null) {
            e.put("expectError", expectError);
        }
        entries.add(e);
        // Self check: the real classes must read the bytes back to exactly the input description.
        Object expected = Describe.strip(fields);
        Object actual;
        try {
            actual = Describe.strip(Checker.check(check, data));
        } catch (Exception ex) {
            String text = Checker.errorText(ex);
            if (expectError == null || !text.contains(expectError)) {
                failures.add(name + ": checker failed: " + text);
                ex.printStackTrace();
            }
            return e;
        }
        if (expectError != null) {
            failures.add(name + ": expected an error containing " + expectError + ", but the bytes were read");
        } else if (!java.util.Objects.equals(expected, actual)) {
            failures.add(name + ": round trip differs\n  expected " + Json.write(expected) + "\n  actual   "
                    + Json.write(actual));
        }
        return e;
    }

    static int indexOf(byte[] hay, byte[] needle, int from) {
        outer:
        for (int i = Math.max(0, from); i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) {
            b.write(p, 0, p.length);
        }
        return b.toByteArray();
    }

    /** Bytes of one object written into a fresh stream, without the 4-byte stream header. */
    static byte[] freshObject(Object o) throws java.io.IOException {
        byte[] b = XByteBuffer.serialize((Serializable) o);
        return Arrays.copyOfRange(b, 4, b.length);
    }

    /**
     * Mask of the TC_EXCEPTION record (0x7B + the NotSerializableException with its stack trace,
     * which depends on the generator's code) written for a non-serializable attribute.
     *
     * @param next the bytes the writer emits right after the record
     */
    static List<Object> exceptionMask(byte[] data, byte[] next) {
        byte[] start = concat(new byte[] {0x7B, 0x73, 0x72, 0x00, 0x20},
                ascii("java.io.NotSerializableException"));
        int from = indexOf(data, start, 0);
        int to = from < 0 ? -1 : indexOf(data, next, from);
        if (from < 0 || to < 0) {
            throw new IllegalStateException("TC_EXCEPTION record not found");
        }
        List<Object> r = new ArrayList<>();
        r.add(Long.valueOf(from));
        r.add(Long.valueOf(to - from));
        List<Object> l = new ArrayList<>();
        l.add(r);
        return l;
    }

    /**
     * Overwrite the alive field (offset 14 of every "TRIBES-B\1\0" member inside the bytes) with
     * ALIVE. Java recomputes it in getData(true) (serialization). Returns the changed ranges.
     */
    static List<Object> patchAlive(byte[] data) {
        List<Object> ranges = new ArrayList<>();
        for (int p = 0; p + MBR_BEGIN.length + 12 <= data.length; p++) {
            boolean match = true;
            for (int i = 0; i < MBR_BEGIN.length && match; i++) {
                match = data[p + i] == MBR_BEGIN[i];
            }
            if (!match) {
                continue;
            }
            int off = p + 14;
            byte[] want = new byte[8];
            XByteBuffer.toBytes(ALIVE, want, 0);
            if (!Arrays.equals(Arrays.copyOfRange(data, off, off + 8), want)) {
                System.arraycopy(want, 0, data, off, 8);
                List<Object> r = new ArrayList<>();
                r.add(Long.valueOf(off));
                r.add(Long.valueOf(8));
                ranges.add(r);
            }
        }
        return ranges;
    }

    // ------------------------------------------------------------------ members

    /** A member whose cached bytes carry alive = ALIVE (built, patched, re-parsed). */
    static <T extends MemberImpl> T member(Class<T> cls, byte[] host, int port, int securePort, int udpPort,
            byte[] command, byte[] domain, byte[] payload) throws Exception {
        T m = cls.getConstructor().newInstance();
        m.setHost(host.clone());
        m.setPort(port);
        m.setSecurePort(securePort);
        m.setUdpPort(udpPort);
        m.setCommand(command);
        m.setDomain(domain);
        m.setPayload(payload);
        m.setUniqueId(MEMBER_UID.clone());
        byte[] d = m.getData(false, true).clone();
        XByteBuffer.toBytes(ALIVE, d, 14);
        T fixed = cls.getConstructor().newInstance();
        MemberImpl.getMember(d, fixed);
        return fixed;
    }

    static StaticMember local() throws Exception {
        return member(StaticMember.class, IPV4, 4000, -1, -1, new byte[0], new byte[0], new byte[0]);
    }

    void members() throws Exception {
        MemberImpl a = member(MemberImpl.class, IPV4, 4000, -1, -1, new byte[0], new byte[0], new byte[0]);
        add("member_ipv4", "member", "member", a.getData(false, false).clone(), Describe.value(a),
                "127.0.0.1:4000, no command/domain/payload (TRIBES.md A.1)");
        MemberImpl b = member(MemberImpl.class, IPV4_B, 4001, 4443, 4002, SHUTDOWN, ascii("dom"),
                new byte[] {1, 2, 3});
        add("member_command_domain_payload", "member", "member", b.getData(false, false).clone(),
                Describe.value(b), "10.0.0.2:4001, securePort 4443, udpPort 4002, command BABY-ALEX, "
                        + "domain \"dom\", payload 01 02 03");
        byte[] v6 = InetAddress.getByName("2001:db8::1").getAddress();
        MemberImpl c = member(MemberImpl.class, v6, 4000, -1, -1, new byte[0], new byte[0], new byte[0]);
        add("member_ipv6", "member", "member", c.getData(false, false).clone(), Describe.value(c),
                "[2001:db8::1]:4000 (16 host bytes)");
    }

    // ------------------------------------------------------------------ ChannelData / frames

    static ChannelData channelData(int options, byte[] message, Member address) {
        ChannelData cd = new ChannelData(false);
        cd.setOptions(options);
        cd.setTimestamp(TS);
        cd.setUniqueId(MSG_UID.clone());
        cd.setAddress(address);
        cd.setMessage(new XByteBuffer(message, false));
        return cd;
    }

    void frames() throws Exception {
        MemberImpl addr = member(MemberImpl.class, IPV4, 4000, -1, -1, new byte[0], new byte[0], new byte[0]);
        for (int opt : new int[] {0, 1, 2, 3, 6, 8}) {
            boolean raw = (opt & Channel.SEND_OPTIONS_BYTE_MESSAGE) != 0;
            byte[] msg = raw ? ascii("hello") : XByteBuffer.serialize("hello");
            Object payload = raw ? null : Describe.value("hello");
            ChannelData cd = channelData(opt, msg, addr);
            String what = "options " + opt + ", timestamp 0x18C2B3C4D5E, uniqueId A0..AF, address member_ipv4, message "
                    + (raw ? "raw \"hello\"" : "XByteBuffer.serialize(\"hello\")");
            add("channel_data_opt" + opt, "channel_data", "channel_data", cd.getDataPackage(),
                    Describe.channelData(cd, payload, false), "ChannelData.getDataPackage(): " + what);
            add("frame_opt" + opt, "frame", "frame", XByteBuffer.createDataPackage(cd),
                    Describe.channelData(cd, payload, false), "XByteBuffer.createDataPackage: " + what);
        }
        byte[] big = new byte[100000];
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) (i * 7 + (i >> 8));
        }
        ChannelData large = channelData(Channel.SEND_OPTIONS_BYTE_MESSAGE, big, addr);
        add("frame_opt1_large", "frame", "frame", XByteBuffer.createDataPackage(large),
                Describe.channelData(large, null, false),
                "100000-byte raw message, byte i = (i*7 + (i>>8)) & 0xFF, options 1");

        add("ack", "ack", "frame", Constants.ACK_COMMAND.clone(),
                obj("ack", "ACK", "data", Describe.hex(Constants.ACK_DATA)), "transport.Constants.ACK_COMMAND");
        add("fail_ack", "ack", "frame", Constants.FAIL_ACK_COMMAND.clone(),
                obj("ack", "FAIL_ACK", "data", Describe.hex(Constants.FAIL_ACK_DATA)),
                "transport.Constants.FAIL_ACK_COMMAND");

        // TcpFailureDetector.memberAlive probe: optionFlag 0 | BYTE_MESSAGE, USE_ACK cleared
        int probeOpts = (0 | Channel.SEND_OPTIONS_BYTE_MESSAGE) & ~Channel.SEND_OPTIONS_USE_ACK;
        ChannelData fd = channelData(probeOpts, Checker.TCP_FAIL_DETECT.clone(), addr);
        add("frame_tcp_fail_detect", "frame", "frame", XByteBuffer.createDataPackage(fd),
                Describe.channelData(fd, null, false),
                "TcpFailureDetector probe: options 1, payload TcpFailureDetector.TCP_FAIL_DETECT (read by reflection)");
        // TcpPingInterceptor.sendPing without a failure detector: options = optionFlag (0)
        ChannelData ping = channelData(0, Checker.TCP_PING_DATA.clone(), addr);
        add("frame_tcp_ping", "frame", "frame", XByteBuffer.createDataPackage(ping),
                Describe.channelData(ping, null, false),
                "TcpPingInterceptor ping: options 0, payload TcpPingInterceptor.TCP_PING_DATA (read by reflection)");
    }

    // ------------------------------------------------------------------ RPC / membership

    static void setReply(RpcMessage m, boolean reply) throws Exception {
        java.lang.reflect.Field f = RpcMessage.class.getDeclaredField("reply");
        f.setAccessible(true);
        f.setBoolean(m, reply);
    }

    /** Serialize, patch member alive fields, record; returns the (patched) bytes. */
    byte[] stream(String name, Serializable o, String notes) throws Exception {
        byte[] data = XByteBuffer.serialize(o);
        add(name, "stream", "object", data, Describe.value(o), notes); // patches data in place
        return data;
    }

    void frameOf(String name, int options, byte[] payload, Object payloadDesc, String notes) throws Exception {
        frameOf(name, options, payload, payloadDesc, notes, new byte[0]);
    }

    void frameOf(String name, int options, byte[] payload, Object payloadDesc, String notes, byte[] command)
            throws Exception {
        // ChannelData.getDataFromPackage always rebuilds the address as a MemberImpl
        MemberImpl address = member(MemberImpl.class, IPV4, 4000, -1, -1, command, new byte[0], new byte[0]);
        ChannelData cd = channelData(options, payload, address);
        add(name, "frame", "frame", XByteBuffer.createDataPackage(cd), Describe.channelData(cd, payloadDesc, false),
                notes);
    }

    void rpc() throws Exception {
        String memberNote = "StaticMember 127.0.0.1:4000 uniqueId 10..1F alive 0x1234 (patched)";
        for (int type : new int[] {MemberMessage.MSG_START, MemberMessage.MSG_PING}) {
            String t = type == MemberMessage.MSG_START ? "start" : "ping";
            for (boolean reply : new boolean[] {false, true}) {
                RpcMessage r = new RpcMessage(RPC_ID.clone(), MSG_UID.clone(), new MemberMessage(RPC_ID.clone(), type,
                        local()));
                setReply(r, reply);
                String name = "rpc_" + t + "_" + (reply ? "reply" : "request");
                byte[] data = stream(name, r, "RpcMessage(rpcId \"Catalina-Channel-StaticMembership\", uuid A0..AF, reply "
                        + reply + ") around MemberMessage(" + (type == 1 ? "MSG_START" : "MSG_PING") + ", "
                        + memberNote + ")");
                if (type == MemberMessage.MSG_PING) {
                    frameOf("frame_" + name, reply ? 0 : Channel.SEND_OPTIONS_ASYNCHRONOUS, data, Describe.value(r),
                            "full frame of " + name + " as StaticMembershipProvider sends it (options "
                                    + (reply ? 0 : 8) + "), address = the same StaticMember");
                }
            }
        }
        StaticMember stopping = member(StaticMember.class, IPV4, 4000, -1, -1, SHUTDOWN, new byte[0], new byte[0]);
        MemberMessage stop = new MemberMessage(RPC_ID.clone(), MemberMessage.MSG_STOP, stopping);
        byte[] stopData = stream("member_message_stop", stop,
                "bare MemberMessage(MSG_STOP), StaticMember with command BABY-ALEX (not an RpcMessage)");
        frameOf("frame_member_message_stop", Channel.SEND_OPTIONS_ASYNCHRONOUS, stopData, Describe.value(stop),
                "full frame of member_message_stop, options 8; the ChannelData address (the local member) "
                        + "carries command BABY-ALEX too, as in a real shutdown", SHUTDOWN);
        MemberImpl plain = member(MemberImpl.class, IPV4, 4000, -1, -1, new byte[0], new byte[0], new byte[0]);
        stream("member_message_memberimpl", new MemberMessage(RPC_ID.clone(), MemberMessage.MSG_PING, plain),
                "MemberMessage(MSG_PING) holding a plain MemberImpl (single class descriptor, version-specific SUID)");
        stream("rpc_noreply", new RpcMessage.NoRpcChannelReply(RPC_ID.clone(), MSG_UID.clone()),
                "RpcMessage$NoRpcChannelReply(rpcId, uuid A0..AF)");
    }

    // ------------------------------------------------------------------ values

    static String repeat(String s, int n) {
        StringBuilder sb = new StringBuilder(s.length() * n);
        for (int i = 0; i < n; i++) {
            sb.append(s);
        }
        return sb.toString();
    }

    static String ascii100(int i) {
        String base = "value-" + i + "-";
        StringBuilder sb = new StringBuilder(base);
        while (sb.length() < 100) {
            sb.append((char) ('a' + (sb.length() % 26)));
        }
        return sb.toString();
    }

    /** Attribute values: name → value (insertion order). */
    static Map<String, Object> values() {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("string", "hello");
        v.put("string_empty", "");
        v.put("string_nul", "a\u0000b");
        v.put("string_nonbmp", "caf\u00e9 \u20ac \ud83d\ude00 \u4e2d");
        v.put("string_max_short", repeat("x", 65535));
        v.put("string_min_long", repeat("y", 65536));
        v.put("string_long_multibyte", repeat("\u00e9", 40000));
        v.put("integer", Integer.valueOf(7));
        v.put("integer_min", Integer.valueOf(Integer.MIN_VALUE));
        v.put("long", Long.valueOf(1234567890123L));
        v.put("long_neg", Long.valueOf(-1L));
        v.put("short", Short.valueOf((short) -1234));
        v.put("byte", Byte.valueOf((byte) -7));
        v.put("char", Character.valueOf('Z'));
        v.put("char_nonascii", Character.valueOf('\u20ac'));
        v.put("boolean_true", Boolean.TRUE);
        v.put("boolean_false", Boolean.FALSE);
        v.put("double", Double.valueOf(Math.PI));
        v.put("double_nan", Double.valueOf(Double.NaN));
        v.put("float", Float.valueOf(3.14f));
        v.put("bytes", new byte[] {0, 1, 2, 127, -128, -1, 16, 32});
        v.put("bytes_empty", new byte[0]);
        v.put("string_array", new String[] {"a", "b", null, "a"});
        v.put("int_array", new int[] {1, -1, Integer.MAX_VALUE});
        v.put("object_array", new Object[] {"s", Integer.valueOf(1), null, new int[] {1, 2}, Color.RED});
        ArrayList<Object> al = new ArrayList<>();
        al.add("x");
        al.add(Integer.valueOf(1));
        al.add(Long.valueOf(2));
        al.add(Boolean.TRUE);
        al.add(null);
        v.put("arraylist", al);
        v.put("linkedlist", new LinkedList<>(Arrays.asList("a", "b")));
        v.put("hashmap_empty", new HashMap<String, Object>());
        HashMap<String, Object> h1 = new HashMap<>();
        h1.put("k", "v");
        v.put("hashmap_1", h1);
        HashMap<String, Object> h20 = new HashMap<>();
        for (int i = 0; i < 20; i++) {
            h20.put(String.format("key%02d", i), Integer.valueOf(i));
        }
        v.put("hashmap_20", h20);
        LinkedHashMap<String, Object> lhm = new LinkedHashMap<>();
        lhm.put("z", Integer.valueOf(1));
        lhm.put("a", Integer.valueOf(2));
        lhm.put("m", Integer.valueOf(3));
        v.put("linkedhashmap", lhm);
        TreeMap<String, Object> tm = new TreeMap<>();
        tm.put("b", Integer.valueOf(2));
        tm.put("a", Integer.valueOf(1));
        tm.put("c", Integer.valueOf(3));
        v.put("treemap", tm);
        v.put("hashset", new HashSet<>(Arrays.asList("x", "y", "z")));
        v.put("date", new Date(CREATED));
        HashMap<String, Object> nested = new HashMap<>();
        ArrayList<Object> inner = new ArrayList<>(Arrays.asList(Integer.valueOf(1), "two"));
        LinkedHashMap<String, Object> innerMap = new LinkedHashMap<>();
        innerMap.put("n", Integer.valueOf(1));
        innerMap.put("list", inner);
        ArrayList<Object> outer = new ArrayList<>();
        outer.add(innerMap);
        outer.add(inner); // the same instance again: a back reference
        outer.add(new HashSet<>(Arrays.asList(Long.valueOf(5))));
        nested.put("outer", outer);
        nested.put("strings", new String[] {"p", "q"});
        v.put("nested", nested);
        v.put("pojo", new GenPojo(1, "base", "pojo-name", 5, CREATED, true, 0.5, Arrays.asList("t1", "t2")));
        v.put("externalizable", new Ext(2, "ext-label", CREATED, "extra-string"));
        v.put("enum", Color.GREEN);
        return v;
    }

    static final String VALUE_NOTES = "lab.* classes are documented in manifest \"classes\"; strings: string_max_short is "
            + "65535 bytes (TC_STRING), string_min_long 65536 (TC_LONGSTRING), string_long_multibyte 80000 bytes";

    void valueVectors() throws Exception {
        for (Map.Entry<String, Object> e : values().entrySet()) {
            stream("value_" + e.getKey(), (Serializable) e.getValue(), "XByteBuffer.serialize(value)");
        }
        stream("value_null", null, "XByteBuffer.serialize(null) = AC ED 00 05 70");
    }

    // ------------------------------------------------------------------ DeltaRequest

    static byte[] serialize(DeltaRequest dr) throws Exception {
        Method m = DeltaRequest.class.getDeclaredMethod("serialize");
        m.setAccessible(true);
        return (byte[]) m.invoke(dr);
    }

    @SuppressWarnings("deprecation")
    GenericPrincipal principal() {
        // 9.0 keeps the password; 10.1's 3-argument constructor ignores it.
        return new GenericPrincipal("alice", major < 10 ? "secret" : null, Arrays.asList("user", "admin"));
    }

    /** GenericPrincipal with a Serializable userPrincipal and attributes (constructor differs by version). */
    GenericPrincipal principalFull() throws Exception {
        Map<String, Object> attrs = new HashMap<>();
        attrs.put("mail", "alice@example.com");
        Principal up = new UserPrincipal("alice@EXAMPLE");
        for (Constructor<?> c : GenericPrincipal.class.getConstructors()) {
            Class<?>[] p = c.getParameterTypes();
            if (p.length > 0 && p[p.length - 1] == Map.class) {
                if (p.length == 7) { // 9.0: name, password, roles, userPrincipal, loginContext, gss, attributes
                    return (GenericPrincipal) c.newInstance("alice", "secret", Arrays.asList("user", "admin"), up,
                            null, null, attrs);
                }
                if (p.length == 6) { // 10.1: name, roles, userPrincipal, loginContext, gss, attributes
                    return (GenericPrincipal) c.newInstance("alice", Arrays.asList("user", "admin"), up, null, null,
                            attrs);
                }
            }
        }
        throw new IllegalStateException("no GenericPrincipal constructor with attributes");
    }

    static SavedRequest savedRequest() throws Exception {
        SavedRequest r = new SavedRequest();
        r.setMethod("GET");
        r.setRequestURI("/jw/secure");
        r.setDecodedRequestURI("/jw/secure");
        r.setQueryString("a=1&b=2");
        r.addHeader("accept", "text/html");
        try { // 10.1 only
            SavedRequest.class.getMethod("setOriginalMaxInactiveInterval", int.class).invoke(r, Integer.valueOf(1800));
        } catch (NoSuchMethodException e) {
            // 9.0
        }
        return r;
    }

    DeltaRequest delta(String name, DeltaRequest dr, String notes) throws Exception {
        add(name, "stream", "delta", serialize(dr), Describe.value(dr), notes);
        return dr;
    }

    DeltaRequest a6() {
        DeltaRequest dr = new DeltaRequest(SID, false);
        dr.setAttribute("counter", Integer.valueOf(7));
        dr.setAttribute("name", "value");
        dr.removeAttribute("gone");
        dr.setMaxInactiveInterval(1800);
        dr.setNew(false);
        dr.setAuthType("FORM");
        return dr;
    }

    DeltaRequest deltas() throws Exception {
        DeltaRequest a6 = delta("delta_a6", a6(), "TRIBES.md A.6: counter=7, name=\"value\", remove gone, "
                + "MAXINTERVAL 1800, ISNEW false, AUTHTYPE FORM");
        DeltaRequest dr;

        dr = new DeltaRequest(SID, false);
        dr.setAttribute("name", "value");
        delta("delta_attr_set", dr, "ATTRIBUTE SET name=\"value\"");
        dr = new DeltaRequest(SID, false);
        dr.removeAttribute("gone");
        delta("delta_attr_remove", dr, "ATTRIBUTE REMOVE gone (no value)");
        dr = new DeltaRequest(SID, false);
        dr.setPrincipal(principal());
        delta("delta_principal_set", dr, "PRINCIPAL SET GenericPrincipal alice roles [admin, user]"
                + (major < 10 ? " password secret" : ""));
        dr = new DeltaRequest(SID, false);
        dr.setPrincipal(principalFull());
        delta("delta_principal_full", dr, "PRINCIPAL SET GenericPrincipal with userPrincipal lab.UserPrincipal and "
                + "attributes {mail}");
        dr = new DeltaRequest(SID, false);
        dr.setPrincipal(null);
        delta("delta_principal_remove", dr, "PRINCIPAL REMOVE (setPrincipal(null))");
        dr = new DeltaRequest(SID, false);
        dr.setPrincipal(new UserPrincipal("bob"));
        delta("delta_principal_foreign", dr, "setPrincipal(non-GenericPrincipal): PRINCIPAL SET without value");
        dr = new DeltaRequest(SID, false);
        dr.setNew(true);
        delta("delta_isnew_true", dr, "ISNEW SET true");
        dr = new DeltaRequest(SID, false);
        dr.setNew(false);
        delta("delta_isnew_false", dr, "ISNEW SET false (10.1.60 sends this on every joining request)");
        dr = new DeltaRequest(SID, false);
        dr.setMaxInactiveInterval(1800);
        delta("delta_maxinterval", dr, "MAXINTERVAL SET 1800");
        dr = new DeltaRequest(SID, false);
        dr.setAuthType("FORM");
        delta("delta_authtype_set", dr, "AUTHTYPE SET FORM");
        dr = new DeltaRequest(SID, false);
        dr.setAuthType(null);
        delta("delta_authtype_remove", dr, "AUTHTYPE REMOVE");
        dr = new DeltaRequest(SID, false);
        dr.setNote(Describe.SESSION_ID_NOTE, "OLDID.node1");
        delta("delta_note_set", dr, "NOTE SET org.apache.catalina.authenticator.SESSION_ID (DeltaSession records "
                + "notes on 10.1; on 9.0 only with persistAuthenticationNotes)");
        dr = new DeltaRequest(SID, false);
        dr.removeNote(Describe.SESSION_ID_NOTE);
        delta("delta_note_remove", dr, "NOTE REMOVE org.apache.catalina.authenticator.SESSION_ID");
        dr = new DeltaRequest(SID, false);
        dr.setNote(Describe.FORM_REQUEST_NOTE, savedRequest());
        delta("delta_note_saved_request", dr, "NOTE SET org.apache.catalina.authenticator.REQUEST = SavedRequest");
        dr = new DeltaRequest(SID, false);
        dr.addSessionListener(new Listener("L1"));
        delta("delta_listener_add", dr, "LISTENER SET lab.Listener(\"L1\")");
        dr = new DeltaRequest(SID, false);
        dr.removeSessionListener(new Listener("L1"));
        delta("delta_listener_remove", dr, "LISTENER REMOVE lab.Listener(\"L1\")");

        dr = new DeltaRequest(SID, false);
        dr.setNew(true);
        dr.setMaxInactiveInterval(1800);
        dr.setAttribute("a", Integer.valueOf(1));
        dr.removeAttribute("b");
        dr.setPrincipal(principal());
        dr.setAuthType("BASIC");
        dr.setNote(Describe.SESSION_ID_NOTE, "OLDID.node1");
        dr.removeNote(Describe.FORM_REQUEST_NOTE);
        dr.addSessionListener(new Listener("L2"));
        delta("delta_all_actions", dr, "every action type in one DeltaRequest");

        dr = new DeltaRequest(SID, false);
        dr.setAttribute("x", "first");
        dr.setAttribute("y", Integer.valueOf(1));
        dr.removeAttribute("x");
        delta("delta_dedup", dr, "set x, set y, remove x with recordAllActions=false: [y SET, x REMOVE]");
        dr = new DeltaRequest(SID, false);
        dr.setAttribute("dup", "attr");
        dr.setNote("dup", "note");
        delta("delta_dedup_cross_type", dr, "ATTRIBUTE dup then NOTE dup: de-duplication by name only keeps the NOTE");
        dr = new DeltaRequest(SID, true);
        dr.setAttribute("x", "first");
        dr.removeAttribute("x");
        delta("delta_record_all", dr, "recordAllActions=true: set x then remove x, both kept");
        delta("delta_empty", new DeltaRequest(SID, false), "no actions");

        dr = new DeltaRequest(SID, false);
        dr.setAttribute("attr0", ascii100(0));
        delta("delta_bench_1attr", dr, "benchmark fixture: one 100-character ASCII String attribute");
        dr = new DeltaRequest(SID, false);
        for (int i = 0; i < 10; i++) {
            dr.setAttribute("attr" + i, ascii100(i));
        }
        delta("delta_bench_10attr", dr, "benchmark fixture: ten 100-character ASCII String attributes attr0..attr9");

        DeltaRequest all = new DeltaRequest(SID, false);
        for (Map.Entry<String, Object> e : values().entrySet()) {
            dr = new DeltaRequest(SID, false);
            dr.setAttribute(e.getKey(), e.getValue());
            delta("delta_value_" + e.getKey(), dr, "ATTRIBUTE SET of value_" + e.getKey());
            all.setAttribute(e.getKey(), e.getValue());
        }
        delta("delta_all_values", all, "ATTRIBUTE SET of every value_* in one delta (shared handle table)");
        return a6;
    }

    // ------------------------------------------------------------------ sessions

    static void setLong(StandardSession s, String field, long v) throws Exception {
        java.lang.reflect.Field f = StandardSession.class.getDeclaredField(field);
        f.setAccessible(true);
        f.setLong(s, v);
    }

    static DeltaSession session(DeltaManager m, String id, long created, long lastAccessed, long thisAccessed,
            int maxInactive, boolean isNew) throws Exception {
        DeltaSession s = (DeltaSession) m.createEmptySession();
        s.setValid(true);
        s.setCreationTime(created);
        setLong(s, "lastAccessedTime", lastAccessed);
        setLong(s, "thisAccessedTime", thisAccessed);
        s.setMaxInactiveInterval(maxInactive, false);
        s.setNew(isNew, false);
        s.setId(id, false);
        return s;
    }

    static byte[] serializeSessions(DeltaManager m, DeltaSession... sessions) throws Exception {
        Method meth = DeltaManager.class.getDeclaredMethod("serializeSessions", Session[].class);
        meth.setAccessible(true);
        return (byte[]) meth.invoke(m, (Object) sessions);
    }

    Map<String, Object> sessionsDesc(boolean notesWritten, DeltaSession... sessions) {
        List<Object> l = new ArrayList<>();
        for (DeltaSession s : sessions) {
            Map<String, Object> v = Describe.session(s, true, 1);
            v.put("_authNotesWritten", Boolean.valueOf(notesWritten));
            l.add(obj("java", s.getClass().getName(), "value", v));
        }
        return obj("count", Long.valueOf(sessions.length), "sessions", l);
    }

    /** Record an ALL_SESSION_DATA payload and its SessionMessageImpl; returns nothing. */
    void sessions(String suffix, DeltaManager m, boolean notesWritten, String notes, DeltaSession... ss)
            throws Exception {
        sessions(suffix, m, notesWritten, null, notes, ss);
    }

    void sessions(String suffix, DeltaManager m, boolean notesWritten, String expectError, String notes,
            DeltaSession... ss) throws Exception {
        byte[] data = serializeSessions(m, ss);
        Map<String, Object> desc = sessionsDesc(notesWritten, ss);
        Map<String, Object> inner = add("sessions_" + suffix, "stream", "sessions", data, desc,
                "DeltaManager.serializeSessions (ALL_SESSION_DATA payload): " + notes, expectError);
        List<Object> mask = new ArrayList<>();
        if (ss.length == 1 && suffix.startsWith("notserializable")) {
            List<Object> order = attributeOrder(ss[0]);
            int bad = order.indexOf("bad");
            // after the record: the next attribute name, or the listener count Integer(0) (fresh
            // class descriptors, because the writer reset its handle table)
            byte[] next = bad + 1 < order.size() ? freshObject(order.get(bad + 1)) : freshObject(Integer.valueOf(0));
            mask = exceptionMask(data, next);
            inner.put("mask", mask);
            inner.put("notes", inner.get("notes") + ". mask = the TC_EXCEPTION record (it holds the generator's "
                    + "stack trace)");
        }
        SessionMessageImpl msg = new SessionMessageImpl(CTX, SessionMessage.EVT_ALL_SESSION_DATA, data,
                "SESSION-STATE", "SESSION-STATE-" + CTX);
        msg.setTimestamp(TS);
        byte[] bytes = XByteBuffer.serialize(msg);
        Map<String, Object> fields = obj("java", msg.getClass().getName(), "value",
                Describe.sessionMessage(msg, desc, false));
        Map<String, Object> outer = add("smsg_all_session_data_" + suffix, "stream", "object", bytes, fields,
                "EVT_ALL_SESSION_DATA (12) wrapping sessions_" + suffix, expectError);
        if (!mask.isEmpty()) {
            int at = indexOf(bytes, data, 0);
            List<Object> r = new ArrayList<>();
            List<?> m0 = (List<?>) mask.get(0);
            r.add(Long.valueOf(at + ((Long) m0.get(0)).longValue()));
            r.add(m0.get(1));
            List<Object> l = new ArrayList<>();
            l.add(r);
            outer.put("mask", l);
        }
        if ("1".equals(suffix)) {
            frameOf("frame_smsg_all_session_data_1", Channel.SEND_OPTIONS_USE_ACK | Channel.SEND_OPTIONS_SYNCHRONIZED_ACK,
                    bytes, fields, "full frame, options 6 as DeltaManager sends state");
        }
    }

    void allSessions() throws Exception {
        boolean notes10 = major >= 10;
        sessions("0", mgr, notes10, "0 sessions");

        DeltaSession s1 = session(mgr, "ABCDEF.node1", CREATED, CREATED + 1000, CREATED + 2000, 1800, false);
        s1.setAttribute("k", "v", false, false);
        sessions("1", mgr, notes10, "one session ABCDEF.node1, k=\"v\" (TRIBES.md A.9)", s1);

        DeltaSession s2 = session(mgr, "0123456789ABCDEF0123456789ABCDEF", CREATED + 5000, CREATED + 6000,
                CREATED + 7000, 60, true);
        s2.setAttribute("counter", Integer.valueOf(7), false, false);
        s2.setAttribute("name", "x", false, false);
        DeltaSession s3 = session(mgr, "S3.node2", CREATED + 10000, CREATED + 10000, CREATED + 10000, -1, false);
        s3.addSessionListener(new Listener("L3"), false);
        sessions("3", mgr, notes10, "three sessions sharing one handle table; the third has no attributes, "
                + "maxInactiveInterval -1 and a replicated lab.Listener", s1, s2, s3);

        DeltaSession sp = session(mgr, "PRINCIPAL.node1", CREATED, CREATED, CREATED, 1800, false);
        sp.setPrincipal(principal(), false);
        sp.setAttribute("k", "v", false, false);
        sessions("principal", mgr, notes10, "GenericPrincipal alice roles [admin, user]"
                + (major < 10 ? " password secret" : ""), sp);

        DeltaSession spf = session(mgr, "PRINCIPALFULL.node1", CREATED, CREATED, CREATED, 1800, false);
        spf.setPrincipal(principalFull(), false);
        sessions("principal_full", mgr, notes10, "GenericPrincipal with userPrincipal and attributes", spf);

        DeltaManager notesMgr = major < 10 ? Checker.newManager(true) : mgr;
        DeltaSession sn = session(notesMgr, "AUTHNOTES.node1", CREATED, CREATED, CREATED, 1800, false);
        sn.setNote(Describe.SESSION_ID_NOTE, "OLDID.node1", false);
        sn.setNote(Describe.FORM_REQUEST_NOTE, savedRequest(), false);
        sn.setAttribute("k", "v", false, false);
        sessions("authnotes", notesMgr, true, "auth notes SESSION_ID=\"OLDID.node1\" and REQUEST=SavedRequest"
                + (major < 10 ? " (9.0: DeltaManager with persistAuthenticationNotes=true)" : ""), sn);

        DeltaSession sa = session(mgr, "ATTRS.node1", CREATED, CREATED, CREATED, 1800, false);
        for (Map.Entry<String, Object> e : values().entrySet()) {
            sa.setAttribute(e.getKey(), e.getValue(), false, false);
        }
        sessions("attrs", mgr, notes10, "every value_* as an attribute (written in ConcurrentHashMap order, see "
                + "_attributeOrder)", sa);

        // "bad" is an ArrayList holding a non-Serializable lab.Opaque. ObjectOutputStream writes
        // TC_EXCEPTION + the NotSerializableException in its place and resets its handle table
        // before and after; ObjectInputStream resets only before reading the exception. So the
        // payload stays readable only if no back reference follows the exception.
        String[] good = {"ok", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "first", "z"};
        DeltaSession last = null;
        for (String g : good) {
            DeltaSession s = notSerializableSession("NOTSER.node1", g, false);
            List<Object> order = attributeOrder(s);
            if (order.size() == 2 && "bad".equals(order.get(1))) {
                last = s;
                break;
            }
        }
        if (last == null) {
            throw new IllegalStateException("no attribute name puts \"bad\" last");
        }
        sessions("notserializable", mgr, notes10, null, "attribute \"bad\" (an ArrayList holding a "
                + "non-Serializable lab.Opaque) is written last: the JDK writes TC_EXCEPTION "
                + "(NotSerializableException) in its place and resets the handle table; the reader skips the "
                + "attribute (WriteAbortedException), see _notSerializable", last);
        DeltaSession mid = notSerializableSession("NOTSER2.node1", "ok", true);
        sessions("notserializable_midstream", mgr, notes10, "java.io.InvalidClassException",
                "like sessions_notserializable, but attributes written after \"bad\" make the writer emit back "
                        + "references numbered from its reset handle table, which the JDK reader (which does not "
                        + "reset after reading the exception) resolves to the exception's class descriptors: "
                        + "the real DeltaManager fails to read this payload", mid);
    }

    DeltaSession notSerializableSession(String id, String goodName, boolean more) throws Exception {
        DeltaSession sx = session(mgr, id, CREATED, CREATED, CREATED, 1800, false);
        sx.setAttribute(goodName, "fine", false, false);
        ArrayList<Object> bad = new ArrayList<>();
        bad.add("before");
        bad.add(new Opaque(42));
        sx.setAttribute("bad", bad, false, false);
        if (more) {
            sx.setAttribute("after", Integer.valueOf(5), false, false);
            sx.setAttribute("later", "x", false, false);
            List<Object> order = attributeOrder(sx);
            if ("bad".equals(order.get(order.size() - 1))) {
                throw new IllegalStateException("midstream vector: bad is last");
            }
        }
        return sx;
    }

    @SuppressWarnings("unchecked")
    static List<Object> attributeOrder(DeltaSession s) {
        return (List<Object>) Describe.session(s, true, 1).get("_attributeOrder");
    }

    // ------------------------------------------------------------------ session messages

    void smsg(String name, SessionMessageImpl m, Object payloadDesc, String notes) throws Exception {
        byte[] bytes = XByteBuffer.serialize(m);
        Map<String, Object> fields = obj("java", m.getClass().getName(), "value",
                Describe.sessionMessage(m, payloadDesc, false));
        add(name, "stream", "object", bytes, fields, notes);
        if ("smsg_get_all_sessions".equals(name)) {
            frameOf("frame_" + name, Channel.SEND_OPTIONS_ASYNCHRONOUS, bytes, fields,
                    "full frame, options 8 as DeltaManager sends GET_ALL_SESSIONS");
        } else if ("smsg_session_delta".equals(name)) {
            frameOf("frame_" + name, Channel.SEND_OPTIONS_USE_ACK | Channel.SEND_OPTIONS_SYNCHRONIZED_ACK, bytes,
                    fields, "full frame, options 6 (channelSendOptions=\"6\")");
        }
    }

    static SessionMessageImpl msg(int evt, byte[] data, String sid, String uid, Long ts) {
        SessionMessageImpl m = new SessionMessageImpl(CTX, evt, data, sid, uid);
        if (ts != null) {
            m.setTimestamp(ts.longValue());
        }
        return m;
    }

    void sessionMessages(DeltaRequest a6) throws Exception {
        Long now = Long.valueOf(TS);
        smsg("smsg_session_created", msg(SessionMessage.EVT_SESSION_CREATED, null, SID, SID + "-" + TS,
                Long.valueOf(CREATED)), null, "EVT_SESSION_CREATED (1): timestamp = creationTime 1700000000000");
        smsg("smsg_session_expired", msg(SessionMessage.EVT_SESSION_EXPIRED, null, SID, SID + "-EXPIRED-MSG", now),
                null, "EVT_SESSION_EXPIRED (2)");
        smsg("smsg_session_accessed", msg(SessionMessage.EVT_SESSION_ACCESSED, null, SID, SID + "-" + TS, now), null,
                "EVT_SESSION_ACCESSED (3)");
        smsg("smsg_get_all_sessions", msg(SessionMessage.EVT_GET_ALL_SESSIONS, null, "GET-ALL", "GET-ALL-" + CTX, now),
                null, "EVT_GET_ALL_SESSIONS (4) (TRIBES.md A.5)");
        byte[] delta = serialize(a6);
        smsg("smsg_session_delta", msg(SessionMessage.EVT_SESSION_DELTA, delta, SID, SID + "-" + TS, now),
                Describe.value(a6), "EVT_SESSION_DELTA (13) wrapping delta_a6");
        smsg("smsg_transfercomplete", msg(SessionMessage.EVT_ALL_SESSION_TRANSFERCOMPLETE, null,
                "SESSION-STATE-TRANSFERRED", "SESSION-STATE-TRANSFERRED" + CTX, now), null,
                "EVT_ALL_SESSION_TRANSFERCOMPLETE (14): uniqueId without a dash");
        Method ser = DeltaManager.class.getDeclaredMethod("serializeSessionId", String.class);
        ser.setAccessible(true);
        byte[] utf = (byte[]) ser.invoke(mgr, NEW_ID);
        add("utf_change_session_id", "stream", "utf", utf, obj("utf", NEW_ID),
                "DeltaManager.serializeSessionId(\"NEWID.node2\") (writeUTF)");
        String odd = "id\u00e9\u0000\ud83d\ude00";
        add("utf_nonascii", "stream", "utf", (byte[]) ser.invoke(mgr, odd), obj("utf", odd),
                "serializeSessionId with e-acute, NUL and U+1F600 (modified UTF-8)");
        smsg("smsg_change_session_id", msg(SessionMessage.EVT_CHANGE_SESSION_ID, utf, SID, SID + "-" + TS, now),
                obj("utf", NEW_ID), "EVT_CHANGE_SESSION_ID (15): sessionId = old id, payload = writeUTF(new id)");
        smsg("smsg_nocontextmanager", msg(SessionMessage.EVT_ALL_SESSION_NOCONTEXTMANAGER, null,
                "NO-CONTEXT-MANAGER", "NO-CONTEXT-MANAGER-" + CTX, null), null,
                "EVT_ALL_SESSION_NOCONTEXTMANAGER (16): timestamp never set (0, timestampSet false)");
    }

    // ------------------------------------------------------------------ manifest

    static String suid(String cls) {
        try {
            ObjectStreamClass d = ObjectStreamClass.lookup(Class.forName(cls));
            return d == null ? null : String.format("%016x", d.getSerialVersionUID());
        } catch (ClassNotFoundException e) {
            return null;
        }
    }

    Map<String, Object> constants() {
        Map<String, Object> suids = new LinkedHashMap<>();
        for (String c : new String[] {
            "org.apache.catalina.tribes.membership.MemberImpl",
            "org.apache.catalina.tribes.membership.StaticMember",
            "org.apache.catalina.tribes.group.RpcMessage",
            "org.apache.catalina.tribes.group.RpcMessage$NoRpcChannelReply",
            "org.apache.catalina.tribes.membership.StaticMembershipProvider$MemberMessage",
            "org.apache.catalina.ha.ClusterMessageBase",
            "org.apache.catalina.ha.session.SessionMessageImpl",
            "org.apache.catalina.ha.session.DeltaSession",
            "org.apache.catalina.session.StandardSession",
            "org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal",
            "org.apache.catalina.authenticator.SavedRequest",
            "org.apache.catalina.tribes.ByteMessage",
            "lab.GenBase", "lab.GenPojo", "lab.Ext", "lab.Color", "lab.Listener", "lab.UserPrincipal",
        }) {
            suids.put(c, suid(c));
        }
        return obj(
                "memberUniqueId", Describe.hex(MEMBER_UID),
                "messageUniqueId", Describe.hex(MSG_UID),
                "timestamp", Long.valueOf(TS),
                "alive", Long.valueOf(ALIVE),
                "creationTime", Long.valueOf(CREATED),
                "contextName", CTX,
                "sessionId", SID,
                "rpcId", new String(RPC_ID, StandardCharsets.ISO_8859_1),
                "ackData", Describe.hex(Constants.ACK_DATA),
                "failAckData", Describe.hex(Constants.FAIL_ACK_DATA),
                "tcpFailDetect", Describe.hex(Checker.TCP_FAIL_DETECT),
                "tcpPingData", Describe.hex(Checker.TCP_PING_DATA),
                "suids", suids);
    }

    static Map<String, Object> classes() {
        return obj(
                "lab.GenBase", "Serializable, SUID 7, fields int baseId, String baseName; no writeObject",
                "lab.GenPojo", "extends lab.GenBase, SUID 42, flags 0x03 (writeObject). Fields in descriptor order: "
                        + "int count, boolean flag, double ratio, long stamp, String name, java.util.List tags "
                        + "(transient int checksum not written). writeObject: defaultWriteObject(); "
                        + "writeInt(count*31); writeUTF(\"pojo-extra\"); writeObject(Integer count); readObject "
                        + "checks all three",
                "lab.Ext", "Externalizable, SUID 3, flags 0x0C. writeExternal: writeInt(version), "
                        + "writeUTF(label), writeLong(when), writeObject(extra)",
                "lab.Color", "enum RED, GREEN, BLUE (SUID 0)",
                "lab.Listener", "implements org.apache.catalina.ha.session.ReplicatedSessionListener, SUID 5, "
                        + "field String tag",
                "lab.UserPrincipal", "java.security.Principal + Serializable (not a GenericPrincipal), SUID 11, "
                        + "field String name",
                "lab.Opaque", "NOT Serializable (field int x)");
    }

    void run() throws Exception {
        Files.createDirectories(out);
        members();
        frames();
        rpc();
        valueVectors();
        DeltaRequest a6 = deltas();
        allSessions();
        sessionMessages(a6);
        Map<String, Object> manifest = obj(
                "format", Long.valueOf(1),
                "version", Long.valueOf(major),
                "tomcat", ServerInfo.getServerNumber(),
                "java", System.getProperty("java.version"),
                "patchedMeaning", "patched = [offset, length] ranges Java varies (the 8-byte alive field of a "
                        + "MemberImpl that getData(true) recomputes); they were overwritten with constants.alive. "
                        + "mask = ranges to ignore (none).",
                "fieldsMeaning", "fields = the checker's description of these bytes, built from the input objects; "
                        + "keys starting with '_' are writer-side hints that a parse does not reproduce",
                "constants", constants(),
                "classes", classes(),
                "vectors", entries);
        Files.write(out.resolve("manifest.json"), Json.writePretty(manifest).getBytes(StandardCharsets.UTF_8));
        if (!failures.isEmpty()) {
            for (String f : failures) {
                System.err.println("SELF-CHECK FAILED: " + f);
            }
            System.exit(2);
        }
        System.err.println("wrote " + entries.size() + " vectors for Tomcat " + ServerInfo.getServerNumber() + " to "
                + out);
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && "gen".equals(args[0])) {
            new VectorGen(Paths.get(args[1])).run();
        } else if (args.length == 1 && "serve".equals(args[0])) {
            Checker.serve();
        } else if (args.length == 3 && "check".equals(args[0])) {
            // one-shot: check KIND FILE
            byte[] data = Files.readAllBytes(Paths.get(args[2]));
            System.out.println(Json.writePretty(Describe.strip(Checker.check(args[1], data))));
        } else {
            System.err.println("usage: VectorGen gen OUTDIR | serve | check KIND FILE");
            System.exit(64);
        }
    }
}
