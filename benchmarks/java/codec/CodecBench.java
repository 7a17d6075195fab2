import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

import org.apache.catalina.ha.session.DeltaRequest;
import org.apache.catalina.ha.session.SessionMessage;
import org.apache.catalina.ha.session.SessionMessageImpl;
import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.io.ReplicationStream;
import org.apache.catalina.tribes.io.XByteBuffer;
import org.apache.catalina.tribes.membership.MemberImpl;
import org.apache.catalina.util.ServerInfo;

/**
 * The Java side of benchmarks/bench_codec.py: encode + decode of a whole EVT_SESSION_DELTA message
 * with the real Tomcat classes, the same inputs as the Python benchmark.
 *
 * <pre>
 * java -cp CLASSES:TOMCAT_JARS CodecBench RUNS WARMUP_MS RUN_MS N:HEX [N:HEX ...]
 * </pre>
 *
 * For each N (attributes) and HEX (the frame pytribes encoded for that case) it times, per
 * operation: encode = DeltaRequest.serialize() + XByteBuffer.serialize(SessionMessageImpl) +
 * XByteBuffer.createDataPackage(ChannelData); decode (of pytribes' frame) = XByteBuffer.append +
 * extractPackage (ChannelData.getDataFromPackage) + XByteBuffer.deserialize + DeltaRequest.readExternal
 * via a ReplicationStream (as DeltaManager does); and the round trip decode(encode()). After a
 * warm-up it does RUNS runs of about RUN_MS each and prints one JSON object per case: the µs per
 * operation of every run, plus Java's own frame (hex) so that the caller can check it.
 */
public final class CodecBench {
    static final String SID = "ABCDEF0123456789ABCDEF0123456789";
    static final String CONTEXT = "localhost#/jw";
    static final long TS = 1_700_000_000_000L;
    static final ClassLoader[] LOADERS = {CodecBench.class.getClassLoader()};
    static volatile long sink;

    /** DeltaRequest.serialize() is protected: reach it from a subclass (it writes no class). */
    static final class Delta extends DeltaRequest {
        Delta(String sessionId) {
            super(sessionId, false);
        }

        byte[] bytes() throws IOException {
            return serialize();
        }
    }

    static Delta delta(int n) {
        Delta d = new Delta(SID);
        for (int i = 0; i < n; i++) {
            d.setAttribute("attribute" + i, "v".repeat(99) + i); // distinct String instances
        }
        return d;
    }

    static MemberImpl member() throws IOException {
        MemberImpl m = new MemberImpl("127.0.0.11", 4000, 123456);
        byte[] uid = new byte[16];
        uid[15] = 11;
        m.setUniqueId(uid);
        return m;
    }

    static byte[] encode(Delta d, MemberImpl member) throws IOException {
        SessionMessageImpl msg = new SessionMessageImpl(
                CONTEXT, SessionMessage.EVT_SESSION_DELTA, d.bytes(), SID, SID + "-1700000000000");
        msg.setTimestamp(TS);
        ChannelData cd = new ChannelData(false);
        cd.setOptions(6);
        cd.setTimestamp(TS);
        cd.setUniqueId(new byte[16]);
        cd.setAddress(member);
        cd.setMessage(new XByteBuffer(XByteBuffer.serialize(msg), false));
        return XByteBuffer.createDataPackage(cd);
    }

    static DeltaRequest decode(byte[] frame) throws Exception {
        XByteBuffer buf = new XByteBuffer(frame.length, false);
        buf.append(frame, 0, frame.length);
        ChannelData cd = buf.extractPackage(true);
        XByteBuffer m = cd.getMessage();
        SessionMessage msg = (SessionMessage) XByteBuffer.deserialize(m.getBytesDirect(), 0, m.getLength());
        DeltaRequest dr = new DeltaRequest();
        try (ReplicationStream rs = new ReplicationStream(new ByteArrayInputStream(msg.getSession()), LOADERS)) {
            dr.readExternal(rs);
        }
        return dr;
    }

    // One loop method per operation, so that each is compiled with its own profile.
    static long encodeLoop(Delta d, MemberImpl member, long n) throws Exception {
        long acc = 0;
        for (long i = 0; i < n; i++) {
            acc += encode(d, member).length;
        }
        return acc;
    }

    static long decodeLoop(byte[] frame, long n) throws Exception {
        long acc = 0;
        for (long i = 0; i < n; i++) {
            acc += decode(frame).getSize();
        }
        return acc;
    }

    static long roundTripLoop(Delta d, MemberImpl member, long n) throws Exception {
        long acc = 0;
        for (long i = 0; i < n; i++) {
            acc += decode(encode(d, member)).getSize();
        }
        return acc;
    }

    interface Loop {
        long run(long n) throws Exception;
    }

    /**
     * µs per call of each of `runs` runs of about `runMs` ms, after `warmupMs` ms of batches of
     * 1000 calls (long enough for the JIT to compile the loop and everything it calls).
     */
    static List<Double> time(Loop loop, int runs, long warmupMs, long runMs) throws Exception {
        long acc = 0;
        long t0 = System.nanoTime();
        long end = t0 + warmupMs * 1_000_000L;
        long calls = 0;
        while (System.nanoTime() < end) {
            acc += loop.run(1000);
            calls += 1000;
        }
        long perRun = Math.max(1000, calls * runMs * 1_000_000L / (System.nanoTime() - t0));
        List<Double> out = new ArrayList<>();
        for (int r = 0; r < runs; r++) {
            long s = System.nanoTime();
            acc += loop.run(perRun);
            out.add((System.nanoTime() - s) / 1000.0 / perRun);
        }
        sink += acc;
        return out;
    }

    static String json(List<Double> xs) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < xs.size(); i++) {
            sb.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.4f", xs.get(i)));
        }
        return sb.append("]").toString();
    }

    public static void main(String[] args) throws Exception {
        int runs = Integer.parseInt(args[0]);
        long warmupMs = Long.parseLong(args[1]);
        long runMs = Long.parseLong(args[2]);
        MemberImpl member = member();
        for (int a = 3; a < args.length; a++) {
            String[] parts = args[a].split(":", 2);
            int n = Integer.parseInt(parts[0]);
            byte[] pyFrame = HexFormat.of().parseHex(parts[1]);
            Delta d = delta(n);
            // What pytribes wrote must read back right before it is timed.
            DeltaRequest check = decode(pyFrame);
            if (check.getSize() != n || !SID.equals(check.getSessionId())) {
                throw new IllegalStateException("pytribes frame does not decode to the delta");
            }
            byte[] javaFrame = encode(d, member);
            List<Double> enc = time(k -> encodeLoop(d, member, k), runs, warmupMs, runMs);
            List<Double> dec = time(k -> decodeLoop(pyFrame, k), runs, warmupMs, runMs);
            List<Double> both = time(k -> roundTripLoop(d, member, k), runs, warmupMs, runMs);
            System.out.println("{\"attributes\": " + n + ", \"encode_us\": " + json(enc) + ", \"decode_us\": "
                    + json(dec) + ", \"round_trip_us\": " + json(both) + ", \"frame\": \""
                    + HexFormat.of().formatHex(javaFrame) + "\", \"tomcat\": \"" + ServerInfo.getServerNumber()
                    + "\", \"java\": \"" + System.getProperty("java.vm.name") + " "
                    + System.getProperty("java.version") + "\"}");
        }
    }
}
