package pytribes.javagen;

import java.io.NotSerializableException;
import java.io.ObjectOutputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.catalina.SessionListener;
import org.apache.catalina.ha.session.DeltaRequest;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.ha.session.ReplicatedSessionListener;
import org.apache.catalina.ha.session.SessionMessageImpl;
import org.apache.catalina.realm.GenericPrincipal;
import org.apache.catalina.session.StandardSession;
import org.apache.catalina.tribes.ByteMessage;
import org.apache.catalina.tribes.Member;
import org.apache.catalina.tribes.group.RpcMessage;
import org.apache.catalina.tribes.io.ChannelData;
import org.apache.catalina.tribes.membership.StaticMembershipProvider;

/**
 * Generic JSON description of Java values (see tests/java/README.md for the format).
 *
 * <ul>
 * <li>null → JSON null</li>
 * <li>boxes and strings → {"java": class, "value": scalar} (Float/Double add "bits")</li>
 * <li>byte[] → {"java": "[B", "hex": ...}; other arrays → {"java": class, "value": [...]}</li>
 * <li>collections and maps → {"java": class, "value": [...]} (maps: [[key, value], ...]);
 *     unordered ones (HashMap, HashSet, ...) are sorted canonically and carry "_order", the
 *     iteration (= written) order as indexes into "value"</li>
 * <li>enums → {"java": class, "enum": name}; java.util.Date → {"java", "value": millis}</li>
 * <li>Tomcat protocol objects → {"java": class, "value": {meaningful properties}}</li>
 * <li>other objects → {"java": class, "fields": {name: description}}, primitive fields as
 *     {"java": "int", "value": 1}</li>
 * </ul>
 * Keys starting with "_" are writer-side hints (iteration order, HashMap capacity, ...) that do not
 * survive a parse; {@link #strip(Object)} removes them before comparing.
 */
public final class Describe {

    public static final String SESSION_ID_NOTE = "org.apache.catalina.authenticator.SESSION_ID";
    public static final String FORM_REQUEST_NOTE = "org.apache.catalina.authenticator.REQUEST";

    private static final int MAX_DEPTH = 48;

    private Describe() {
    }

    // ------------------------------------------------------------------ helpers

    public static Map<String, Object> obj(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    public static String hex(byte[] b) {
        if (b == null) {
            return null;
        }
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(Character.forDigit((x >> 4) & 0xF, 16)).append(Character.forDigit(x & 0xF, 16));
        }
        return sb.toString();
    }

    public static byte[] unhex(String s) {
        if (s.length() % 2 != 0) {
            throw new IllegalArgumentException("odd hex length");
        }
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            int hi = Character.digit(s.charAt(2 * i), 16);
            int lo = Character.digit(s.charAt(2 * i + 1), 16);
            if (hi < 0 || lo < 0) {
                throw new IllegalArgumentException("bad hex digit near offset " + (2 * i));
            }
            b[i] = (byte) ((hi << 4) | lo);
        }
        return b;
    }

    static Object field(Object target, Class<?> declaring, String name) {
        try {
            Field f = declaring.getDeclaredField(name);
            f.setAccessible(true);
            return f.get(target);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("reflection " + declaring.getName() + "." + name, e);
        }
    }

    static boolean hasField(Class<?> declaring, String name) {
        try {
            declaring.getDeclaredField(name);
            return true;
        } catch (NoSuchFieldException e) {
            return false;
        }
    }

    static Object call(Object target, Class<?> declaring, String name, Class<?>[] types, Object... args)
            throws Exception {
        Method m = declaring.getDeclaredMethod(name, types);
        m.setAccessible(true);
        try {
            return m.invoke(target, args);
        } catch (java.lang.reflect.InvocationTargetException e) {
            Throwable t = e.getCause();
            if (t instanceof Exception) {
                throw (Exception) t;
            }
            throw e;
        }
    }

    /** Remove every "_"-prefixed key, recursively. */
    @SuppressWarnings("unchecked")
    public static Object strip(Object v) {
        if (v instanceof Map) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                if (!e.getKey().startsWith("_")) {
                    out.put(e.getKey(), strip(e.getValue()));
                }
            }
            return out;
        }
        if (v instanceof List) {
            List<Object> out = new ArrayList<>();
            for (Object o : (List<Object>) v) {
                out.add(strip(o));
            }
            return out;
        }
        return v;
    }

    // ------------------------------------------------------------------ scalars

    static Object scalar(Object boxed) {
        if (boxed instanceof Double || boxed instanceof Float) {
            double d = ((Number) boxed).doubleValue();
            if (Double.isNaN(d)) {
                return "NaN";
            }
            if (Double.isInfinite(d)) {
                return d > 0 ? "Infinity" : "-Infinity";
            }
            return Double.valueOf(d);
        }
        if (boxed instanceof Number) {
            return Long.valueOf(((Number) boxed).longValue());
        }
        if (boxed instanceof Character) {
            return String.valueOf(boxed);
        }
        return boxed; // Boolean, String
    }

    static Map<String, Object> prim(String javaName, Object boxed) {
        Map<String, Object> m = obj("java", javaName, "value", scalar(boxed));
        if (boxed instanceof Double) {
            m.put("bits", String.format("%016x", Double.doubleToRawLongBits((Double) boxed)));
        } else if (boxed instanceof Float) {
            m.put("bits", String.format("%08x", Float.floatToRawIntBits((Float) boxed)));
        }
        return m;
    }

    // ------------------------------------------------------------------ generic

    public static Object value(Object x) {
        return value(x, 0);
    }

    static Object value(Object x, int depth) {
        if (x == null) {
            return null;
        }
        Class<?> c = x.getClass();
        String n = c.getName();
        if (depth > MAX_DEPTH) {
            return obj("java", n, "truncated", Boolean.TRUE);
        }
        if (x instanceof String) {
            return obj("java", n, "value", x);
        }
        if (x instanceof Integer || x instanceof Long || x instanceof Short || x instanceof Byte
                || x instanceof Boolean || x instanceof Character || x instanceof Double
                || x instanceof Float) {
            return prim(n, x);
        }
        if (x instanceof byte[]) {
            return obj("java", "[B", "hex", hex((byte[]) x));
        }
        if (c.isArray()) {
            List<Object> items = new ArrayList<>();
            int len = Array.getLength(x);
            boolean primitive = c.getComponentType().isPrimitive();
            for (int i = 0; i < len; i++) {
                Object e = Array.get(x, i);
                items.add(primitive ? scalar(e) : value(e, depth + 1));
            }
            return obj("java", n, "value", items);
        }
        if (x instanceof Enum) {
            return obj("java", ((Enum<?>) x).getDeclaringClass().getName(), "enum", ((Enum<?>) x).name());
        }
        if (c == Date.class) {
            return obj("java", n, "value", Long.valueOf(((Date) x).getTime()));
        }
        // Tomcat protocol objects
        if (x instanceof Member) {
            return obj("java", n, "value", member((Member) x));
        }
        if (x instanceof ChannelData) {
            return obj("java", n, "value", channelData((ChannelData) x, null, true));
        }
        if (x instanceof SessionMessageImpl) {
            return obj("java", n, "value", sessionMessage((SessionMessageImpl) x, null, true));
        }
        if (x instanceof RpcMessage) {
            return obj("java", n, "value", rpc((RpcMessage) x, depth));
        }
        if (x instanceof StaticMembershipProvider.MemberMessage) {
            return obj("java", n, "value", memberMessage((StaticMembershipProvider.MemberMessage) x, depth));
        }
        if (x instanceof DeltaRequest) {
            return obj("java", n, "value", deltaRequest((DeltaRequest) x, depth));
        }
        if (x instanceof DeltaSession) {
            return obj("java", n, "value", session((DeltaSession) x, false, depth));
        }
        if (x instanceof GenericPrincipal) {
            return obj("java", n, "value", principal((GenericPrincipal) x, depth));
        }
        if (x instanceof ByteMessage) {
            return obj("java", n, "value", obj("message", hex(((ByteMessage) x).getMessage())));
        }
        if (x instanceof Map) {
            return map((Map<?, ?>) x, depth);
        }
        if (x instanceof Collection) {
            return collection((Collection<?>) x, depth);
        }
        return fields(x, depth);
    }

    static boolean ordered(Object x) {
        return x instanceof List || x instanceof LinkedHashMap || x instanceof LinkedHashSet
                || x instanceof SortedMap || x instanceof SortedSet || x instanceof ArrayDeque
                || x instanceof java.util.Queue;
    }

    /** Sort canonically; "_order" lists the iteration order as indexes into the sorted list. */
    static void canonical(Map<String, Object> d, List<Object> items) {
        List<Integer> idx = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            idx.add(Integer.valueOf(i));
            Object it = items.get(i);
            Object k = (it instanceof List && !((List<?>) it).isEmpty()) ? ((List<?>) it).get(0) : it;
            keys.add(Json.write(strip(k)));
        }
        idx.sort((a, b) -> keys.get(a).compareTo(keys.get(b)));
        List<Object> sorted = new ArrayList<>();
        long[] order = new long[items.size()];
        for (int pos = 0; pos < idx.size(); pos++) {
            sorted.add(items.get(idx.get(pos)));
            order[idx.get(pos)] = pos;
        }
        List<Object> orderList = new ArrayList<>();
        for (long o : order) {
            orderList.add(Long.valueOf(o));
        }
        d.put("value", sorted);
        if (items.size() > 1) {
            d.put("_order", orderList);
        }
    }

    static void hashMeta(Map<String, Object> d, HashMap<?, ?> hm) {
        try {
            Object[] table = (Object[]) field(hm, HashMap.class, "table");
            int threshold = ((Integer) field(hm, HashMap.class, "threshold")).intValue();
            float lf = ((Float) field(hm, HashMap.class, "loadFactor")).floatValue();
            int buckets = table != null ? table.length : (threshold > 0 ? threshold : 16);
            d.put("_loadFactor", Double.valueOf(lf));
            d.put("_threshold", Long.valueOf(threshold));
            d.put("_buckets", Long.valueOf(buckets));
        } catch (RuntimeException e) {
            d.put("_meta", "unavailable: " + e);
        }
    }

    static Object map(Map<?, ?> m, int depth) {
        Map<String, Object> d = obj("java", m.getClass().getName());
        List<Object> items = new ArrayList<>();
        for (Map.Entry<?, ?> e : m.entrySet()) {
            List<Object> pair = new ArrayList<>();
            pair.add(value(e.getKey(), depth + 1));
            pair.add(value(e.getValue(), depth + 1));
            items.add(pair);
        }
        if (ordered(m)) {
            d.put("value", items);
        } else {
            canonical(d, items);
        }
        if (m.getClass() == HashMap.class || m.getClass() == LinkedHashMap.class) {
            hashMeta(d, (HashMap<?, ?>) m);
        }
        if (m.getClass() == LinkedHashMap.class) {
            d.put("accessOrder", field(m, LinkedHashMap.class, "accessOrder"));
        }
        wrapperFields(d, m, depth);
        if (m instanceof TreeMap && ((TreeMap<?, ?>) m).comparator() != null) {
            d.put("comparator", value(((TreeMap<?, ?>) m).comparator(), depth + 1));
        }
        return d;
    }

    static Object collection(Collection<?> c, int depth) {
        Map<String, Object> d = obj("java", c.getClass().getName());
        List<Object> items = new ArrayList<>();
        for (Object o : c) {
            items.add(value(o, depth + 1));
        }
        if (ordered(c)) {
            d.put("value", items);
        } else {
            canonical(d, items);
        }
        if (c.getClass() == HashSet.class || c.getClass() == LinkedHashSet.class) {
            hashMeta(d, (HashMap<?, ?>) field(c, HashSet.class, "map"));
        }
        wrapperFields(d, c, depth);
        if (c instanceof TreeSet && ((TreeSet<?>) c).comparator() != null) {
            d.put("comparator", value(((TreeSet<?>) c).comparator(), depth + 1));
        }
        return d;
    }

    /** Collections$UnmodifiableMap and friends: their serialized fields (the wrapped collection). */
    @SuppressWarnings("unchecked")
    static void wrapperFields(Map<String, Object> d, Object x, int depth) {
        if (x.getClass().getName().startsWith("java.util.Collections$")) {
            Object f = fields(x, depth);
            if (f instanceof Map && ((Map<String, Object>) f).containsKey("fields")) {
                d.put("_fields", ((Map<String, Object>) f).get("fields"));
            }
        }
    }

    static Object fields(Object x, int depth) {
        Class<?> c = x.getClass();
        List<Class<?>> chain = new ArrayList<>();
        for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
            chain.add(0, k);
        }
        Map<String, Object> fs = new LinkedHashMap<>();
        try {
            for (Class<?> k : chain) {
                for (Field f : k.getDeclaredFields()) {
                    int mod = f.getModifiers();
                    if (Modifier.isStatic(mod) || Modifier.isTransient(mod)) {
                        continue;
                    }
                    f.setAccessible(true);
                    Object v = f.get(x);
                    String key = fs.containsKey(f.getName()) ? k.getName() + "." + f.getName() : f.getName();
                    if (f.getType().isPrimitive()) {
                        fs.put(key, prim(f.getType().getName(), v));
                    } else {
                        fs.put(key, value(v, depth + 1));
                    }
                }
            }
        } catch (RuntimeException | IllegalAccessException e) {
            return obj("java", c.getName(), "string", String.valueOf(x));
        }
        return obj("java", c.getName(), "fields", fs);
    }

    // ------------------------------------------------------------------ Tomcat objects

    public static Map<String, Object> member(Member m) {
        return obj(
                "alive", Long.valueOf(m.getMemberAliveTime()),
                "port", Long.valueOf(m.getPort()),
                "securePort", Long.valueOf(m.getSecurePort()),
                "udpPort", Long.valueOf(m.getUdpPort()),
                "host", hex(m.getHost()),
                "command", hex(m.getCommand()),
                "domain", hex(m.getDomain()),
                "uniqueId", hex(m.getUniqueId()),
                "payload", hex(m.getPayload()));
    }

    /**
     * @param payloadDesc description of the payload object (used by the generator, which knows the
     *                    input object); ignored when {@code decode} is true
     */
    public static Map<String, Object> channelData(ChannelData cd, Object payloadDesc, boolean decode) {
        byte[] msg = cd.getMessage().getBytes();
        Map<String, Object> d = obj(
                "options", Long.valueOf(cd.getOptions()),
                "timestamp", Long.valueOf(cd.getTimestamp()),
                "uniqueId", hex(cd.getUniqueId()),
                "address", value(cd.getAddress()),
                "message", hex(msg));
        String probe = Checker.probeName(msg);
        if (probe != null) {
            d.put("probe", probe);
        }
        if (decode) {
            d.put("payload", Checker.decodeChannelPayload(cd.getOptions(), msg));
        } else {
            d.put("payload", payloadDesc);
        }
        return d;
    }

    public static Map<String, Object> sessionMessage(SessionMessageImpl m, Object payloadDesc, boolean decode) {
        Map<String, Object> d = obj(
                "eventType", Long.valueOf(m.getEventType()),
                "eventTypeString", m.getEventTypeString(),
                "contextName", m.getContextName(),
                "sessionId", m.getSessionID(),
                "uniqueId", m.getUniqueId(),
                "timestamp", Long.valueOf(m.getTimestamp()),
                "timestampSet", field(m, SessionMessageImpl.class, "timestampSet"),
                "clusterMessageTimestamp",
                field(m, org.apache.catalina.ha.ClusterMessageBase.class, "timestamp"),
                "session", hex(m.getSession()));
        if (decode) {
            d.put("payload", Checker.decodeSessionPayload(m.getEventType(), m.getSession()));
        } else {
            d.put("payload", payloadDesc);
        }
        return d;
    }

    static Map<String, Object> rpc(RpcMessage r, int depth) {
        byte[] rpcId = (byte[]) field(r, RpcMessage.class, "rpcId");
        return obj(
                "reply", field(r, RpcMessage.class, "reply"),
                "uuid", hex((byte[]) field(r, RpcMessage.class, "uuid")),
                "rpcId", hex(rpcId),
                "rpcIdString", rpcId == null ? null : new String(rpcId, StandardCharsets.ISO_8859_1),
                "message", value(field(r, RpcMessage.class, "message"), depth + 1));
    }

    static Map<String, Object> memberMessage(StaticMembershipProvider.MemberMessage mm, int depth) {
        byte[] id = mm.getMembershipId();
        return obj(
                "msgtype", Long.valueOf(mm.getMsgtype()),
                "membershipId", hex(id),
                "membershipIdString", id == null ? null : new String(id, StandardCharsets.ISO_8859_1),
                "member", value(mm.getMember(), depth + 1));
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> deltaRequest(DeltaRequest dr, int depth) {
        Collection<Object> actions = (Collection<Object>) field(dr, DeltaRequest.class, "actions");
        List<Object> list = new ArrayList<>();
        for (Object info : actions) {
            Class<?> ic = info.getClass();
            list.add(obj(
                    "type", Long.valueOf(((Integer) field(info, ic, "type")).longValue()),
                    "action", Long.valueOf(((Integer) field(info, ic, "action")).longValue()),
                    "name", field(info, ic, "name"),
                    "value", value(field(info, ic, "value"), depth + 1)));
        }
        return obj(
                "sessionId", dr.getSessionId(),
                "recordAllActions", field(dr, DeltaRequest.class, "recordAllActions"),
                "actions", list);
    }

    static Map<String, Object> principal(GenericPrincipal p, int depth) {
        List<Object> roles = new ArrayList<>();
        for (String r : p.getRoles()) {
            roles.add(r);
        }
        Map<String, Object> d = obj("name", p.getName(), "roles", roles);
        if (hasField(GenericPrincipal.class, "password")) {
            d.put("password", field(p, GenericPrincipal.class, "password"));
        }
        d.put("userPrincipal", value(field(p, GenericPrincipal.class, "userPrincipal"), depth + 1));
        d.put("attributes", value(field(p, GenericPrincipal.class, "attributes"), depth + 1));
        d.put("_wireClass", "org.apache.catalina.realm.GenericPrincipal$SerializablePrincipal");
        return d;
    }

    /**
     * A DeltaSession as written by writeObjectData / read by readObjectData.
     *
     * @param writerMeta add "_attributeOrder", "_authNotesWritten", "_notSerializable" (generator)
     */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> session(DeltaSession s, boolean writerMeta, int depth) {
        Class<StandardSession> ss = StandardSession.class;
        Map<String, Object> notes = (Map<String, Object>) field(s, ss, "notes");
        Map<String, Object> attrs = (Map<String, Object>) field(s, ss, "attributes");
        List<SessionListener> listeners = (List<SessionListener>) field(s, ss, "listeners");
        Object principal = field(s, ss, "principal");

        Map<String, Object> noteDesc = new LinkedHashMap<>();
        for (String k : new String[] {SESSION_ID_NOTE, FORM_REQUEST_NOTE}) {
            Object v = notes == null ? null : notes.get(k);
            if (v != null) {
                noteDesc.put(k, value(v, depth + 1));
            }
        }
        Map<String, Object> attrDesc = new LinkedHashMap<>();
        Map<String, Object> notSer = new LinkedHashMap<>();
        List<Object> order = new ArrayList<>();
        List<String> names = new ArrayList<>();
        if (writerMeta) {
            try {
                for (String k : (String[]) call(s, ss, "keys", new Class<?>[0])) {
                    names.add(k);
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        } else {
            names.addAll(new TreeMap<>(attrs).keySet());
        }
        for (String k : names) {
            Object v = attrs.get(k);
            if (writerMeta) {
                boolean written;
                try {
                    written = v != null
                            && !((Boolean) call(s, ss, "exclude", new Class<?>[] {String.class, Object.class}, k, v))
                            && ((Boolean) call(s, ss, "isAttributeDistributable",
                                    new Class<?>[] {String.class, Object.class}, k, v));
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                if (!written) {
                    continue;
                }
                order.add(k);
                if (!serializable(v)) {
                    notSer.put(k, value(v, depth + 1));
                    continue;
                }
            }
            attrDesc.put(k, value(v, depth + 1));
        }
        List<Object> listenerDesc = new ArrayList<>();
        if (listeners != null) {
            for (SessionListener l : listeners) {
                if (l instanceof ReplicatedSessionListener) {
                    listenerDesc.add(value(l, depth + 1));
                }
            }
        }
        Map<String, Object> d = obj(
                "id", field(s, ss, "id"),
                "creationTime", field(s, ss, "creationTime"),
                "lastAccessedTime", field(s, ss, "lastAccessedTime"),
                "thisAccessedTime", field(s, ss, "thisAccessedTime"),
                "maxInactiveInterval", Long.valueOf(((Integer) field(s, ss, "maxInactiveInterval")).longValue()),
                "isNew", field(s, ss, "isNew"),
                "isValid", field(s, ss, "isValid"),
                "version", field(s, DeltaSession.class, "version"),
                "principal", principal instanceof Serializable ? value(principal, depth + 1) : null,
                "notes", noteDesc,
                "attributes", attrDesc,
                "listeners", listenerDesc);
        if (writerMeta) {
            d.put("_attributeOrder", order);
            if (!notSer.isEmpty()) {
                d.put("_notSerializable", notSer);
            }
        }
        return d;
    }

    static boolean serializable(Object v) {
        try (ObjectOutputStream oos = new ObjectOutputStream(OutputStream.nullOutputStream())) {
            oos.writeObject(v);
            return true;
        } catch (NotSerializableException e) {
            return false;
        } catch (java.io.IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
