package pytribes.bench;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.catalina.Context;
import org.apache.catalina.Session;
import org.apache.catalina.ha.ClusterMessage;
import org.apache.catalina.ha.session.ClusterSessionListener;
import org.apache.catalina.ha.session.DeltaManager;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.ha.session.SessionMessage;
import org.apache.catalina.ha.tcp.ReplicationValve;
import org.apache.catalina.ha.tcp.SimpleTcpCluster;
import org.apache.catalina.startup.Tomcat;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.group.GroupChannel;
import org.apache.catalina.tribes.group.interceptors.MessageDispatchInterceptor;
import org.apache.catalina.tribes.group.interceptors.TcpFailureDetector;
import org.apache.catalina.tribes.group.interceptors.TcpPingInterceptor;
import org.apache.catalina.tribes.membership.StaticMember;
import org.apache.catalina.tribes.membership.StaticMembershipService;
import org.apache.catalina.tribes.transport.ReplicationTransmitter;
import org.apache.catalina.tribes.transport.nio.NioReceiver;
import org.apache.catalina.tribes.transport.nio.PooledParallelSender;

/**
 * One Tomcat cluster node (embedded Tomcat: Engine "Catalina", Host "localhost", Context "/jw"
 * with a DeltaManager; SimpleTcpCluster channelSendOptions=6 with GroupChannel +
 * StaticMembershipService + NioReceiver + ReplicationTransmitter/PooledParallelSender +
 * TcpPingInterceptor + TcpFailureDetector + MessageDispatchInterceptor, ReplicationValve,
 * ClusterSessionListener -- the stack of tests/interop's server.xml), driven over stdin/stdout
 * with the same line protocol as benchmarks/repl_worker.py (see there).
 *
 * A "request" is what ReplicationValve + the request life cycle do: findSession, access(),
 * setAttribute, manager.requestCompleted(id) -> cluster.send(msg) (options 6: returns when the
 * peer applied and ACKed it), endAccess().  No HTTP connector, no servlet: the driver calls the
 * same Manager/Cluster methods the valve calls.
 */
public final class ReplicationWorker {

    static final String CONTEXT = "/jw";
    static final String ATTR = "attr";
    static final String VALUE = "v".repeat(100);

    /** DeltaManager that times getAllClusterSessions (GET_ALL_SESSIONS -> transfer complete). */
    public static final class TimedDeltaManager extends DeltaManager {
        volatile long transferStart = -1;
        volatile long transferredAt = -1;
        volatile long waitNanos = -1;

        @Override
        public synchronized void getAllClusterSessions() {
            transferredAt = -1;
            transferStart = System.nanoTime();
            super.getAllClusterSessions();
            waitNanos = System.nanoTime() - transferStart;
        }

        @Override
        protected void handleALL_SESSION_TRANSFERCOMPLETE(SessionMessage msg, Member sender) {
            super.handleALL_SESSION_TRANSFERCOMPLETE(msg, sender);
            if (transferStart >= 0 && transferredAt < 0) {
                transferredAt = System.nanoTime();
            }
        }
    }

    Tomcat tomcat;
    SimpleTcpCluster cluster;
    TimedDeltaManager manager;
    boolean memTracking;
    final File baseRoot;
    final AtomicLong counter = new AtomicLong();

    ReplicationWorker() throws Exception {
        baseRoot = Files.createTempDirectory("pytribes-bench-tomcat").toFile();
        baseRoot.deleteOnExit();
    }

    static String uidText(int n) {
        StringBuilder b = new StringBuilder("{");
        for (int i = 0; i < 15; i++) {
            b.append("0,");
        }
        return b.append(n).append('}').toString();
    }

    static long heapUsed() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    String start(Map<String, String> a) throws Exception {
        if (tomcat != null) {
            throw new IllegalStateException("already started");
        }
        String host = a.get("host");
        int port = Integer.parseInt(a.get("port"));
        boolean mem = "1".equals(a.get("mem"));
        long t0 = System.nanoTime();

        Tomcat t = new Tomcat();
        File base = new File(baseRoot, host + "-" + port);
        base.mkdirs();
        t.setBaseDir(base.getAbsolutePath());
        t.setHostname("localhost");
        t.getEngine().setName("Catalina");

        SimpleTcpCluster c = new SimpleTcpCluster();
        c.setChannelSendOptions(6);
        GroupChannel ch = new GroupChannel();
        StaticMembershipService ms = new StaticMembershipService();
        for (String spec : a.get("members").split(",")) {
            String[] p = spec.split(":");
            StaticMember sm = new StaticMember();
            sm.setHost(p[0]);
            sm.setPort(Integer.parseInt(p[1]));
            sm.setUniqueId(uidText(Integer.parseInt(p[2])));
            ms.addStaticMember(sm);
        }
        ch.setMembershipService(ms);
        NioReceiver r = new NioReceiver();
        r.setAddress(host);
        r.setPort(port);
        r.setAutoBind(1);
        ch.setChannelReceiver(r);
        ReplicationTransmitter tx = new ReplicationTransmitter();
        tx.setTransport(new PooledParallelSender());
        ch.setChannelSender(tx);
        ch.addInterceptor(new TcpPingInterceptor());
        ch.addInterceptor(new TcpFailureDetector());
        ch.addInterceptor(new MessageDispatchInterceptor());
        c.setChannel(ch);
        ReplicationValve valve = new ReplicationValve();
        valve.setFilter("");
        c.addValve(valve);
        c.addClusterListener(new ClusterSessionListener());
        t.getEngine().setCluster(c);

        Context ctx = t.addContext(CONTEXT, null);
        ctx.setDistributable(true);
        TimedDeltaManager m = new TimedDeltaManager();
        m.setExpireSessionsOnShutdown(false);
        m.setNotifyListenersOnReplication(true);
        ctx.setManager(m);

        t.start(); // the cluster starts first, then the context: DeltaManager state transfer
        long joinNanos = System.nanoTime() - t0;
        tomcat = t;
        cluster = c;
        manager = m;
        StringBuilder out = new StringBuilder();
        out.append("\"join_ms\":").append(joinNanos / 1e6);
        // transfer_ms: GET_ALL_SESSIONS sent -> TRANSFERCOMPLETE processed (every session added);
        // transfer_wait_ms: how long getAllClusterSessions blocked the start (it polls every 100 ms)
        out.append(",\"transfer_ms\":").append(m.transferredAt < 0 ? "null"
                : String.valueOf((m.transferredAt - m.transferStart) / 1e6));
        out.append(",\"transfer_wait_ms\":").append(m.waitNanos < 0 ? "null" : String.valueOf(m.waitNanos / 1e6));
        out.append(",\"manager\":\"").append(m.getName()).append('"');
        out.append(",\"sessions\":").append(m.getActiveSessions());
        if (mem) {
            // heap used after GC now; `stop` reports it again once the node is gone
            out.append(",\"mem_bytes\":").append(heapUsed());
            memTracking = true;
        }
        return out.toString();
    }

    String stop() throws Exception {
        if (tomcat == null) {
            return "\"stopped\":false";
        }
        long t0 = System.nanoTime();
        tomcat.stop();
        tomcat.destroy();
        tomcat = null;
        cluster = null;
        manager = null;
        String out = "\"stop_ms\":" + (System.nanoTime() - t0) / 1e6;
        if (memTracking) {
            memTracking = false;
            out += ",\"mem_after_stop\":" + heapUsed();
        }
        return out;
    }

    String waitMembers(Map<String, String> a) throws Exception {
        int n = Integer.parseInt(a.getOrDefault("n", "1"));
        long deadline = System.nanoTime() + (long) (Double.parseDouble(a.getOrDefault("timeout", "30")) * 1e9);
        while (cluster.getMembers().length != n) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("members: " + cluster.getMembers().length + " != " + n);
            }
            Thread.sleep(5);
        }
        return "\"members\":" + n;
    }

    /** One request on session id: what the request life cycle + ReplicationValve do. */
    void request(String id, String value) throws Exception {
        DeltaSession s = (DeltaSession) manager.findSession(id);
        s.access();
        s.setAttribute(ATTR, value);
        ClusterMessage msg = manager.requestCompleted(id);
        if (msg != null) {
            cluster.send(msg);
        }
        s.endAccess();
    }

    String newSession() throws Exception {
        Session s = manager.createSession(null); // sends EVT_SESSION_CREATED (options 6)
        String id = s.getIdInternal();
        request(id, VALUE);
        return id;
    }

    String fill(Map<String, String> a) throws Exception {
        int n = Integer.parseInt(a.get("n"));
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
            newSession();
        }
        return "\"filled\":" + n + ",\"ms\":" + (System.nanoTime() - t0) / 1e6 + ",\"sessions\":"
                + manager.getActiveSessions();
    }

    String delta(Map<String, String> a) throws Exception {
        int conc = Integer.parseInt(a.getOrDefault("conc", "1"));
        double seconds = Double.parseDouble(a.getOrDefault("seconds", "1"));
        if (cluster.getMembers().length == 0) {
            throw new IllegalStateException("no members: nothing would be replicated");
        }
        String[] ids = new String[conc];
        for (int k = 0; k < conc; k++) {
            ids[k] = newSession();
        }
        final long[][] lat = new long[conc][];
        final int[] counts = new int[conc];
        final Throwable[] errors = new Throwable[conc];
        CountDownLatch go = new CountDownLatch(1);
        final long[] deadline = new long[1];
        Thread[] threads = new Thread[conc];
        for (int k = 0; k < conc; k++) {
            final int kk = k;
            threads[k] = new Thread(() -> {
                long[] out = new long[1 << 16];
                int n = 0;
                try {
                    go.await();
                    while (true) {
                        long t = System.nanoTime();
                        if (t >= deadline[0]) {
                            break;
                        }
                        String v = value(counter.incrementAndGet());
                        request(ids[kk], v);
                        if (n == out.length) {
                            out = Arrays.copyOf(out, n * 2);
                        }
                        out[n++] = System.nanoTime() - t;
                    }
                } catch (Throwable e) {
                    errors[kk] = e;
                }
                lat[kk] = out;
                counts[kk] = n;
            }, "bench-request-" + k);
            threads[k].start();
        }
        long t0 = System.nanoTime();
        deadline[0] = t0 + (long) (seconds * 1e9);
        go.countDown();
        for (Thread th : threads) {
            th.join();
        }
        long elapsed = System.nanoTime() - t0;
        for (Throwable e : errors) {
            if (e != null) {
                throw new RuntimeException(e);
            }
        }
        int total = 0;
        for (int c : counts) {
            total += c;
        }
        long[] all = new long[total];
        int off = 0;
        for (int k = 0; k < conc; k++) {
            System.arraycopy(lat[k], 0, all, off, counts[k]);
            off += counts[k];
        }
        Arrays.sort(all);
        StringBuilder out = new StringBuilder();
        out.append("\"count\":").append(total).append(",\"elapsed\":").append(elapsed / 1e9);
        out.append(",\"failures\":0,\"lat_us\":{");
        if (total > 0) {
            double sum = 0;
            for (long x : all) {
                sum += x;
            }
            out.append("\"p50\":").append(pct(all, 0.50)).append(",\"p90\":").append(pct(all, 0.90));
            out.append(",\"p99\":").append(pct(all, 0.99)).append(",\"max\":").append(all[total - 1] / 1e3);
            out.append(",\"mean\":").append(sum / total / 1e3);
        }
        return out.append('}').toString();
    }

    /** A fresh 100-character value: the counter zero-padded to 10 digits, then 90 'v'. */
    static String value(long n) {
        String digits = Long.toString(n);
        return "0000000000".substring(Math.min(10, digits.length())) + digits + VALUE_TAIL;
    }

    static final String VALUE_TAIL = VALUE.substring(0, 90);

    static double pct(long[] sorted, double p) {
        return sorted[Math.min(sorted.length - 1, (int) (p * sorted.length))] / 1e3;
    }

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') {
                b.append('\\').append(ch);
            } else if (ch < 0x20) {
                b.append(String.format("\\u%04x", (int) ch));
            } else {
                b.append(ch);
            }
        }
        return b.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
        System.setOut(System.err); // Tomcat's own output goes to stderr, never into the protocol
        ReplicationWorker w = new ReplicationWorker();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split("\\s+");
            Map<String, String> a = new HashMap<>();
            for (int i = 1; i < parts.length; i++) {
                int eq = parts[i].indexOf('=');
                a.put(parts[i].substring(0, eq), parts[i].substring(eq + 1));
            }
            String reply;
            try {
                String body;
                switch (parts[0]) {
                    case "start": body = w.start(a); break;
                    case "stop": body = w.stop(); break;
                    case "wait_members": body = w.waitMembers(a); break;
                    case "fill": body = w.fill(a); break;
                    case "heap": body = "\"heap_bytes\":" + heapUsed(); break;
                    case "delta": body = w.delta(a); break;
                    case "hello":
                        body = "\"impl\":\"java\",\"tomcat\":" + json(org.apache.catalina.util.ServerInfo.getServerNumber())
                                + ",\"java\":" + json(System.getProperty("java.version"));
                        break;
                    case "quit":
                        w.stop();
                        out.println("{\"ok\":true}");
                        return;
                    default: throw new IllegalArgumentException("unknown command " + parts[0]);
                }
                reply = "{\"ok\":true" + (body.isEmpty() ? "" : "," + body) + "}";
            } catch (Throwable e) {
                Throwable root = e;
                while (root.getCause() != null) {
                    root = root.getCause();
                }
                reply = "{\"ok\":false,\"error\":" + json(e + (root != e ? "; caused by: " + root : "")) + "}";
            }
            out.println(reply);
        }
        w.stop();
    }
}
