package pytribes.interop;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.catalina.tribes.ByteMessage;
import org.apache.catalina.tribes.Channel;
import org.apache.catalina.tribes.ChannelException;
import org.apache.catalina.tribes.ChannelListener;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.MembershipListener;
import org.apache.catalina.tribes.group.GroupChannel;
import org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor;
import org.apache.catalina.tribes.group.interceptors.TcpFailureDetector;
import org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor;
import org.apache.catalina.tribes.membership.StaticMember;
import org.apache.catalina.tribes.membership.StaticMembershipService;
import org.apache.catalina.tribes.transport.ReceiverBase;

/**
 * A real Tribes {@link GroupChannel} driven over stdin/stdout, for the interop tests and the
 * channel benchmarks (tests/interop/javapeer.py has the Python client; tests/interop/pypeer.py
 * is the pytribes program speaking the same protocol).
 *
 * <p>The channel is the seed's stack, built in code: StaticMembershipService (this node and the
 * given members), NioReceiver, ReplicationTransmitter + PooledParallelSender, then
 * TcpPingInterceptor, TcpFailureDetector, MessageDispatchInterceptor. The channel is named
 * "Catalina-Channel" so that the membership id is "Catalina-Channel-StaticMembership", as in a
 * Tomcat whose Engine is "Catalina".
 *
 * <p>Arguments: {@code --bind HOST:PORT --unique-id N --member HOST:PORT:N ...} and optionally
 * {@code --heartbeat MS --expiration MS --rpc-timeout MS --read-test true|false
 * --read-test-timeout MS --channel-name NAME}.
 *
 * <p>Commands (one per line, {@code name key=value ...}); each gets one JSON line with "ok":
 * <ul>
 * <li>{@code members} / {@code wait_members n=N timeout=MS}: the current members;</li>
 * <li>{@code send tag=T count=N size=S options=O concurrency=C}: N ByteMessages to every member,
 * from C threads, each {@code channel.send(members, new ByteMessage(b), O)}: counts errors and
 * the latency of every send call;</li>
 * <li>{@code stats tag=T} / {@code wait tag=T count=N timeout=MS}: what was received;</li>
 * <li>{@code fail tag=T} makes the listener throw for that tag (a FAIL_ACK under
 * SYNCHRONIZED_ACK);</li>
 * <li>{@code quit}: channel.stop(), then exit.</li>
 * </ul>
 * Membership changes are printed as {@code {"event": ...}} lines.
 *
 * <p>Payload (big-endian): int magic 0x5054424D ("PTBM"), int tag, long seq, int options, long
 * sender nanoTime, then filler up to the size.
 */
public final class ChannelPeer {

    static final int MAGIC = 0x5054424D;
    static final int HEADER = 28;

    static final PrintStream OUT = new PrintStream(System.out, true, StandardCharsets.UTF_8);

    static synchronized void emit(String json) {
        OUT.println(json);
        OUT.flush();
    }

    static String esc(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    static String name(Member m) {
        byte[] h = m.getHost();
        StringBuilder b = new StringBuilder("tcp://");
        for (int i = 0; i < h.length; i++) {
            if (i > 0) {
                b.append('.');
            }
            b.append(h[i] & 0xFF);
        }
        return b.append(':').append(m.getPort()).toString();
    }

    /** What one tag received. */
    static final class Stats {
        final BitSet seen = new BitSet();
        long received;
        long unique;
        long duplicates;
        long bad;
        long bytes;
        long firstNs;
        long lastNs;
        final Map<Integer, Long> byOptions = new TreeMap<>();

        synchronized void add(long seq, int options, int size, long now) {
            received++;
            bytes += size;
            if (firstNs == 0) {
                firstNs = now;
            }
            lastNs = now;
            byOptions.merge(options, 1L, Long::sum);
            if (seq < 0 || seq > Integer.MAX_VALUE) {
                bad++;
            } else if (seen.get((int) seq)) {
                duplicates++;
            } else {
                seen.set((int) seq);
                unique++;
            }
            notifyAll();
        }

        synchronized String json(int tag) {
            StringBuilder b = new StringBuilder();
            b.append("{\"ok\":true,\"tag\":").append(tag);
            b.append(",\"received\":").append(received);
            b.append(",\"unique\":").append(unique);
            b.append(",\"duplicates\":").append(duplicates);
            b.append(",\"bad\":").append(bad);
            b.append(",\"bytes\":").append(bytes);
            b.append(",\"first_ns\":").append(firstNs);
            b.append(",\"last_ns\":").append(lastNs);
            b.append(",\"by_options\":{");
            boolean first = true;
            for (Map.Entry<Integer, Long> e : byOptions.entrySet()) {
                if (!first) {
                    b.append(',');
                }
                first = false;
                b.append('"').append(e.getKey()).append("\":").append(e.getValue());
            }
            return b.append("}}").toString();
        }
    }

    final Map<Integer, Stats> stats = new HashMap<>();
    final AtomicLong badMessages = new AtomicLong();
    volatile int failTag = Integer.MIN_VALUE;
    final GroupChannel channel = new GroupChannel();

    synchronized Stats statsFor(int tag) {
        return stats.computeIfAbsent(tag, t -> new Stats());
    }

    final class Listener implements ChannelListener, MembershipListener {
        @Override
        public boolean accept(Serializable msg, Member sender) {
            return msg instanceof ByteMessage;
        }

        @Override
        public void messageReceived(Serializable msg, Member sender) {
            long now = System.nanoTime();
            byte[] data = ((ByteMessage) msg).getMessage();
            if (data.length < HEADER) {
                badMessages.incrementAndGet();
                return;
            }
            ByteBuffer bb = ByteBuffer.wrap(data);
            if (bb.getInt() != MAGIC) {
                badMessages.incrementAndGet();
                return;
            }
            int tag = bb.getInt();
            long seq = bb.getLong();
            int options = bb.getInt();
            if (tag == failTag) {
                throw new IllegalStateException("listener told to fail for tag " + tag);
            }
            statsFor(tag).add(seq, options, data.length, now);
        }

        @Override
        public void memberAdded(Member member) {
            emit("{\"event\":\"member_added\",\"member\":" + esc(name(member)) + "}");
        }

        @Override
        public void memberDisappeared(Member member) {
            emit("{\"event\":\"member_disappeared\",\"member\":" + esc(name(member)) + "}");
        }
    }

    /**
     * The filler of sequence number 0 plus 256 bytes. Byte i of a payload is (byte) (i * 31 + seq)
     * = (byte) ((i + 223 * seq) * 31) (223 = 31^-1 mod 256), so the filler of seq is this pattern
     * from offset (223 * seq) & 0xFF: one arraycopy per message, as cheap as javapeer.py's slice.
     */
    static byte[] pattern(int size) {
        byte[] p = new byte[Math.max(size, HEADER) - HEADER + 256];
        for (int t = 0; t < p.length; t++) {
            p[t] = (byte) ((HEADER + t) * 31);
        }
        return p;
    }

    static byte[] payload(byte[] pattern, int tag, long seq, int options, int size) {
        byte[] b = new byte[Math.max(size, HEADER)];
        ByteBuffer bb = ByteBuffer.wrap(b);
        bb.putInt(MAGIC).putInt(tag).putLong(seq).putInt(options).putLong(System.nanoTime());
        System.arraycopy(pattern, (int) ((223 * seq) & 0xFF), b, HEADER, b.length - HEADER);
        return b;
    }

    static long arg(Map<String, String> kv, String key, long dflt) {
        String v = kv.get(key);
        return v == null ? dflt : Long.parseLong(v);
    }

    String send(Map<String, String> kv) throws InterruptedException {
        final int tag = (int) arg(kv, "tag", 0);
        final int count = (int) arg(kv, "count", 1);
        final int size = (int) arg(kv, "size", 64);
        final int options = (int) arg(kv, "options", 0);
        final int concurrency = (int) Math.max(1, arg(kv, "concurrency", 1));
        final Member[] to = channel.getMembers();
        if (to.length == 0) {
            return "{\"ok\":false,\"error\":\"no members\"}";
        }
        final byte[] filler = pattern(size);
        final long[] latencies = new long[count];
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger errors = new AtomicInteger();
        final AtomicReference<String> firstError = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        long start = System.nanoTime();
        for (int t = 0; t < concurrency; t++) {
            Thread th = new Thread(() -> {
                int seq;
                while ((seq = next.getAndIncrement()) < count) {
                    byte[] data = payload(filler, tag, seq, options, size);
                    long t0 = System.nanoTime();
                    try {
                        channel.send(to, new ByteMessage(data), options);
                    } catch (ChannelException e) {
                        errors.incrementAndGet();
                        StringBuilder text = new StringBuilder(e.toString());
                        for (ChannelException.FaultyMember f : e.getFaultyMembers()) {
                            text.append(" | cause: ").append(f.getCause());
                        }
                        firstError.compareAndSet(null, text.toString());
                    }
                    latencies[seq] = System.nanoTime() - t0;
                }
            }, "peer-send-" + t);
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) {
            th.join();
        }
        long end = System.nanoTime();
        long[] sorted = latencies.clone();
        Arrays.sort(sorted);
        double sum = 0;
        for (long l : sorted) {
            sum += l;
        }
        StringBuilder b = new StringBuilder();
        b.append("{\"ok\":true,\"cmd\":\"send\",\"tag\":").append(tag);
        b.append(",\"count\":").append(count).append(",\"size\":").append(size);
        b.append(",\"options\":").append(options).append(",\"concurrency\":").append(concurrency);
        b.append(",\"members\":").append(to.length);
        b.append(",\"errors\":").append(errors.get());
        if (firstError.get() != null) {
            b.append(",\"error\":").append(esc(firstError.get()));
        }
        b.append(",\"start_ns\":").append(start).append(",\"end_ns\":").append(end);
        b.append(",\"seconds\":").append((end - start) / 1e9);
        b.append(",\"lat_us\":{\"mean\":").append(sum / count / 1e3);
        b.append(",\"p50\":").append(sorted[count / 2] / 1e3);
        b.append(",\"p90\":").append(sorted[(int) (count * 0.9)] / 1e3);
        b.append(",\"p99\":").append(sorted[Math.min(count - 1, (int) (count * 0.99))] / 1e3);
        b.append(",\"p999\":").append(sorted[Math.min(count - 1, (int) (count * 0.999))] / 1e3);
        b.append(",\"max\":").append(sorted[count - 1] / 1e3).append("}}");
        return b.toString();
    }

    String members() {
        StringBuilder b = new StringBuilder("{\"ok\":true,\"members\":[");
        Member[] ms = channel.getMembers();
        for (int i = 0; i < ms.length; i++) {
            if (i > 0) {
                b.append(',');
            }
            b.append(esc(name(ms[i])));
        }
        return b.append("]}").toString();
    }

    String command(String line) throws Exception {
        String[] parts = line.trim().split("\\s+");
        Map<String, String> kv = new HashMap<>();
        for (int i = 1; i < parts.length; i++) {
            int eq = parts[i].indexOf('=');
            if (eq < 0) {
                return "{\"ok\":false,\"error\":" + esc("bad argument " + parts[i]) + "}";
            }
            kv.put(parts[i].substring(0, eq), parts[i].substring(eq + 1));
        }
        switch (parts[0]) {
            case "members":
                return members();
            case "wait_members": {
                long n = arg(kv, "n", 1);
                long deadline = System.currentTimeMillis() + arg(kv, "timeout", 10000);
                while (channel.getMembers().length < n && System.currentTimeMillis() < deadline) {
                    Thread.sleep(10);
                }
                return members();
            }
            case "send":
                return send(kv);
            case "stats":
                return statsFor((int) arg(kv, "tag", 0)).json((int) arg(kv, "tag", 0));
            case "wait": {
                int tag = (int) arg(kv, "tag", 0);
                long n = arg(kv, "count", 1);
                long deadline = System.currentTimeMillis() + arg(kv, "timeout", 10000);
                Stats s = statsFor(tag);
                synchronized (s) {
                    long left;
                    while (s.unique < n && (left = deadline - System.currentTimeMillis()) > 0) {
                        s.wait(left);
                    }
                }
                return s.json(tag);
            }
            case "fail":
                failTag = (int) arg(kv, "tag", 0);
                return "{\"ok\":true}";
            case "bad":
                return "{\"ok\":true,\"bad\":" + badMessages.get() + "}";
            default:
                return "{\"ok\":false,\"error\":" + esc("unknown command " + parts[0]) + "}";
        }
    }

    static StaticMember member(String host, int port, int n) throws Exception {
        StaticMember m = new StaticMember();
        m.setHost(host);
        m.setPort(port);
        byte[] uid = new byte[16];
        uid[15] = (byte) n;
        m.setUniqueId("{" + String.join(",", Arrays.stream(toInts(uid))
                .mapToObj(Integer::toString).toArray(String[]::new)) + "}");
        return m;
    }

    static int[] toInts(byte[] b) {
        int[] out = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = b[i];
        }
        return out;
    }

    void start(String[] args) throws Exception {
        String bind = null;
        int uid = 0;
        List<String> members = new ArrayList<>();
        long heartbeat = 5000;
        long expiration = 5000;
        long rpcTimeout = 3000;
        boolean readTest = false;
        long readTestTimeout = 5000;
        String channelName = "Catalina-Channel";
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--bind": bind = v; break;
                case "--unique-id": uid = Integer.parseInt(v); break;
                case "--member": members.add(v); break;
                case "--heartbeat": heartbeat = Long.parseLong(v); break;
                case "--expiration": expiration = Long.parseLong(v); break;
                case "--rpc-timeout": rpcTimeout = Long.parseLong(v); break;
                case "--read-test": readTest = Boolean.parseBoolean(v); break;
                case "--read-test-timeout": readTestTimeout = Long.parseLong(v); break;
                case "--channel-name": channelName = v; break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (bind == null) {
            throw new IllegalArgumentException("--bind HOST:PORT is required");
        }
        String host = bind.substring(0, bind.lastIndexOf(':'));
        int port = Integer.parseInt(bind.substring(bind.lastIndexOf(':') + 1));

        channel.setName(channelName);
        channel.setJmxEnabled(false);
        channel.setHeartbeatSleeptime(heartbeat);
        StaticMembershipService membership = new StaticMembershipService();
        membership.setExpirationTime(expiration);
        membership.setRpcTimeout(rpcTimeout);
        membership.addStaticMember(member(host, port, uid));
        for (String m : members) {
            String[] p = m.split(":");
            membership.addStaticMember(member(p[0], Integer.parseInt(p[1]), Integer.parseInt(p[2])));
        }
        channel.setMembershipService(membership);
        ReceiverBase receiver = (ReceiverBase) channel.getChannelReceiver();
        receiver.setAddress(host);
        receiver.setPort(port);
        receiver.setAutoBind(1);
        channel.addInterceptor(new TcpPingInterceptor());
        TcpFailureDetector detector = new TcpFailureDetector();
        detector.setPerformReadTest(readTest);
        detector.setReadTestTimeout(readTestTimeout);
        channel.addInterceptor(detector);
        channel.addInterceptor(new MessageDispatchInterceptor());
        Listener listener = new Listener();
        channel.addChannelListener(listener);
        channel.addMembershipListener(listener);
        channel.start(Channel.DEFAULT);
        emit("{\"event\":\"started\",\"local\":" + esc(name(channel.getLocalMember(false)))
                + ",\"members\":" + channel.getMembers().length + "}");
    }

    public static void main(String[] args) throws Exception {
        ChannelPeer peer = new ChannelPeer();
        try {
            peer.start(args);
        } catch (Exception e) {
            emit("{\"event\":\"failed\",\"error\":" + esc(e.toString()) + "}");
            System.exit(2);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            if (line.trim().equals("quit")) {
                break;
            }
            String answer;
            try {
                answer = peer.command(line);
            } catch (Exception e) {
                answer = "{\"ok\":false,\"error\":" + esc(e.toString()) + "}";
            }
            emit(answer);
        }
        peer.channel.stop(Channel.DEFAULT);
        emit("{\"ok\":true,\"cmd\":\"quit\"}");
        System.exit(0);
    }
}
