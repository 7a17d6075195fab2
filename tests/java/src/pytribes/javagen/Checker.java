package pytribes.javagen;

import java.io.BufferedReader;
import java.io.ByteArrayInputStream;
import java.io.InputStreamReader;
import java.io.ObjectInputStream;
import java.io.PrintStream;
import java.io.Serializable;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.apache.catalina.core.StandardContext;
import org.apache.catalina.ha.session.DeltaManager;
import org.apache.catalina.ha.session.DeltaRequest;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.ha.session.SessionMessage;
import org.apache.catalina.tribes.group.interceptors.TcpFailureDetector;
import org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor;
import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.io.ReplicationStream;
import org.apache.catalina.tribes.io.XByteBuffer;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.tribes.transport.Constants;
import org.apache.catalina.util.ServerInfo;

/**
 * Parses bytes with the real Tomcat classes and describes the result ({@link Describe}).
 * {@code serve} mode: one JSON request per stdin line, one JSON answer per stdout line.
 */
public final class Checker {

    /** Kinds accepted by {@link #check(String, byte[])}. */
    public static final List<String> KINDS = Arrays.asList(
            "frame", "channel_data", "member", "object", "delta", "sessions", "utf", "version");

    static final byte[] TCP_FAIL_DETECT = staticBytes(TcpFailureDetector.class, "TCP_FAIL_DETECT");
    static final byte[] TCP_PING_DATA = staticBytes(TcpPingInterceptor.class, "TCP_PING_DATA");

    private static DeltaManager manager;

    private Checker() {
    }

    static byte[] staticBytes(Class<?> c, String name) {
        try {
            Field f = c.getDeclaredField(name);
            f.setAccessible(true);
            return ((byte[]) f.get(null)).clone();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A DeltaManager on an unstarted StandardContext, used to read sessions like DeltaManager does. */
    static synchronized DeltaManager manager() {
        if (manager == null) {
            manager = newManager(false);
        }
        return manager;
    }

    static DeltaManager newManager(boolean persistAuthenticationNotes) {
        DeltaManager m = new DeltaManager();
        StandardContext ctx = new StandardContext();
        ctx.setName("/jw");
        ctx.setPath("/jw");
        m.setContext(ctx);
        m.setName("localhost#/jw");
        if (persistAuthenticationNotes) {
            try {
                m.getClass().getMethod("setPersistAuthenticationNotes", boolean.class).invoke(m, Boolean.TRUE);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("setPersistAuthenticationNotes", e);
            }
        }
        return m;
    }

    public static int major() {
        String v = ServerInfo.getServerNumber();
        return Integer.parseInt(v.substring(0, v.indexOf('.')));
    }

    // ------------------------------------------------------------------ decoding

    /** Wraps checked exceptions thrown while decoding a nested payload. */
    static final class DecodeException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DecodeException(String what, Throwable cause) {
            super(what, cause);
        }
    }

    static String probeName(byte[] msg) {
        if (Arrays.equals(msg, TCP_FAIL_DETECT)) {
            return "TCP_FAIL_DETECT";
        }
        if (Arrays.equals(msg, TCP_PING_DATA)) {
            return "TCP_PING_DATA";
        }
        return null;
    }

    static boolean isJavaStream(byte[] b) {
        return b != null && b.length >= 4 && (b[0] & 0xFF) == 0xAC && (b[1] & 0xFF) == 0xED;
    }

    /** Like GroupChannel.messageReceived: raw bytes if BYTE_MESSAGE, else Java-deserialized. */
    static Object decodeChannelPayload(int options, byte[] msg) {
        if (probeName(msg) != null || (options & 1) != 0 || !isJavaStream(msg)) {
            return null;
        }
        try {
            return readObject(msg);
        } catch (Exception e) {
            throw new DecodeException("ChannelData payload", e);
        }
    }

    static Object decodeSessionPayload(int evt, byte[] data) {
        if (data == null) {
            return null;
        }
        try {
            switch (evt) {
                case SessionMessage.EVT_ALL_SESSION_DATA:
                    return readSessions(data);
                case SessionMessage.EVT_SESSION_DELTA:
                    return readDelta(data);
                case SessionMessage.EVT_CHANGE_SESSION_ID:
                    return readUtf(data);
                default:
                    return null;
            }
        } catch (Exception e) {
            throw new DecodeException("SessionMessageImpl payload (event " + evt + ")", e);
        }
    }

    static int trailing(ByteArrayInputStream in, ObjectInputStream ois) throws java.io.IOException {
        return in.available() + ois.available();
    }

    static void noTrailing(int n) {
        if (n != 0) {
            throw new IllegalArgumentException(n + " trailing bytes after the parsed data");
        }
    }

    /** A ChannelData payload: XByteBuffer.deserialize (plain ObjectInputStream), one object. */
    static Object readObject(byte[] data) throws Exception {
        Serializable s = XByteBuffer.deserialize(data);
        // second pass only to make sure that nothing follows the object
        ByteArrayInputStream in = new ByteArrayInputStream(data);
        try (ObjectInputStream ois = new ObjectInputStream(in)) {
            ois.readObject();
            noTrailing(trailing(in, ois));
        }
        return Describe.value(s);
    }

    static ReplicationStream replicationStream(ByteArrayInputStream in) throws java.io.IOException {
        return new ReplicationStream(in, manager().getClassLoaders());
    }

    /** DeltaRequest bytes: readExternal via a ReplicationStream (as DeltaManager.handleSESSION_DELTA). */
    static Object readDelta(byte[] data) throws Exception {
        ByteArrayInputStream in = new ByteArrayInputStream(data);
        try (ReplicationStream rs = replicationStream(in)) {
            DeltaRequest dr = new DeltaRequest();
            dr.readExternal(rs);
            noTrailing(trailing(in, rs));
            return Describe.value(dr);
        }
    }

    /** ALL_SESSION_DATA payload, read like DeltaManager.deserializeSessions (without adding). */
    static Object readSessions(byte[] data) throws Exception {
        ByteArrayInputStream in = new ByteArrayInputStream(data);
        try (ReplicationStream rs = replicationStream(in)) {
            Integer count = (Integer) rs.readObject();
            List<Object> sessions = new ArrayList<>();
            for (int i = 0; i < count.intValue(); i++) {
                DeltaSession s = (DeltaSession) manager().createEmptySession();
                s.readObjectData(rs);
                sessions.add(Describe.value(s));
            }
            noTrailing(trailing(in, rs));
            return Describe.obj("count", Long.valueOf(count.longValue()), "sessions", sessions);
        }
    }

    /** CHANGE_SESSION_ID payload: readUTF via a ReplicationStream (DeltaManager.deserializeSessionId). */
    static Object readUtf(byte[] data) throws Exception {
        ByteArrayInputStream in = new ByteArrayInputStream(data);
        try (ReplicationStream rs = replicationStream(in)) {
            String s = rs.readUTF();
            noTrailing(trailing(in, rs));
            return Describe.obj("utf", s);
        }
    }

    static Object readMember(byte[] data) {
        MemberImpl m = new MemberImpl();
        MemberImpl.getMember(data, m);
        int expected = m.getDataLength();
        if (expected != data.length) {
            throw new IllegalArgumentException("member is " + expected + " bytes, input has " + data.length);
        }
        return Describe.value(m);
    }

    static Object readChannelData(byte[] data) {
        ChannelData cd = ChannelData.getDataFromPackage(data);
        if (cd.getDataPackageLength() != data.length) {
            throw new IllegalArgumentException("ChannelData is " + cd.getDataPackageLength()
                    + " bytes, input has " + data.length);
        }
        return Describe.channelData(cd, null, true);
    }

    /** One XByteBuffer package (as ObjectReader / NioSender see it): a ChannelData, ACK or FAIL_ACK. */
    static Object readFrame(byte[] data) {
        XByteBuffer xb = new XByteBuffer(data.length + 16, true);
        xb.append(data, 0, data.length);
        int n = xb.countPackages();
        if (n != 1) {
            throw new IllegalArgumentException("countPackages() = " + n + " (expected exactly one complete package)");
        }
        XByteBuffer pkg = xb.extractDataPackage(true);
        if (xb.getLength() != 0) {
            throw new IllegalArgumentException(xb.getLength() + " bytes left after the package");
        }
        byte[] d = pkg.getBytes();
        if (Arrays.equals(d, Constants.ACK_DATA)) {
            return Describe.obj("ack", "ACK", "data", Describe.hex(d));
        }
        if (Arrays.equals(d, Constants.FAIL_ACK_DATA)) {
            return Describe.obj("ack", "FAIL_ACK", "data", Describe.hex(d));
        }
        ChannelData cd = ChannelData.getDataFromPackage(pkg);
        if (cd.getDataPackageLength() != d.length) {
            throw new IllegalArgumentException("ChannelData is " + cd.getDataPackageLength()
                    + " bytes, package has " + d.length);
        }
        return Describe.channelData(cd, null, true);
    }

    public static Object check(String kind, byte[] data) throws Exception {
        if (kind == null) {
            throw new IllegalArgumentException("no kind; known: " + KINDS);
        }
        switch (kind) {
            case "frame":
                return readFrame(data);
            case "channel_data":
                return readChannelData(data);
            case "member":
                return readMember(data);
            case "object":
                return readObject(data);
            case "delta":
                return readDelta(data);
            case "sessions":
                return readSessions(data);
            case "utf":
                return readUtf(data);
            case "version":
                return Describe.obj("tomcat", ServerInfo.getServerNumber(), "major", Long.valueOf(major()),
                        "java", System.getProperty("java.version"));
            default:
                throw new IllegalArgumentException("unknown kind " + kind + "; known: " + KINDS);
        }
    }

    /** Exception text with its causes: "java.io.X: msg; caused by: ...". */
    static String errorText(Throwable t) {
        StringBuilder sb = new StringBuilder();
        Throwable c = t;
        int guard = 0;
        while (c != null && guard++ < 10) {
            if (sb.length() > 0) {
                sb.append("; caused by: ");
            }
            if (c instanceof DecodeException) {
                sb.append("while decoding ").append(c.getMessage());
            } else {
                sb.append(c.toString());
            }
            c = c.getCause() == c ? null : c.getCause();
        }
        return sb.toString();
    }

    static List<Object> trace(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        List<Object> l = new ArrayList<>();
        StackTraceElement[] st = root.getStackTrace();
        for (int i = 0; i < Math.min(8, st.length); i++) {
            l.add(st[i].toString());
        }
        return l;
    }

    @SuppressWarnings("unchecked")
    public static void serve() throws Exception {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false,
                StandardCharsets.UTF_8);
        System.setOut(System.err); // anything else printed goes to stderr
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = r.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            Object id = null;
            Map<String, Object> resp;
            try {
                Map<String, Object> req = (Map<String, Object>) Json.parse(line);
                id = req.get("id");
                String kind = (String) req.get("kind");
                String hex = (String) req.get("hex");
                byte[] data = Describe.unhex(hex == null ? "" : hex);
                Object value = Describe.strip(check(kind, data));
                resp = Describe.obj("id", id, "ok", Boolean.TRUE, "value", value);
            } catch (Throwable t) {
                resp = Describe.obj("id", id, "ok", Boolean.FALSE, "error", errorText(t), "trace", trace(t));
            }
            out.println(Json.write(resp));
            out.flush();
        }
    }
}
