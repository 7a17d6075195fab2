package lab;

import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.Date;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Hashtable;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.LinkedList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.Vector;

/**
 * "Typed JSON" (TJ): every Java value is shown as {"class": javaClassName, "value": ...}.
 *
 * <ul>
 * <li>String, Character: a JSON string; Boolean: a JSON boolean; Integer, Long, Short, Byte,
 *     Double, Float: a JSON number (NaN / Infinity as strings);</li>
 * <li>byte[] ("[B"): a lower-case hex string; other primitive arrays: a list of numbers;</li>
 * <li>Object arrays (e.g. "[Ljava.lang.String;") and Collections: a list of TJ;</li>
 * <li>Maps: a list of [TJ key, TJ value] pairs, in iteration order;</li>
 * <li>java.util.Date: epoch milliseconds; enums: the constant name;</li>
 * <li>any other object (e.g. lab.Pojo): an object {fieldName: TJ}, superclass fields first,
 *     static and transient fields left out; primitive fields have the primitive type name as
 *     class ("int", "long", ...).</li>
 * </ul>
 *
 * Input accepts the same TJ (short class names allowed: "Integer", "byte[]", "String[]",
 * "ArrayList", "Pojo", ...) or plain JSON, converted implicitly: string -> String, integral
 * number -> Integer (Long if it does not fit), other number -> Double, boolean -> Boolean,
 * array -> ArrayList, object -> HashMap with String keys.
 */
public final class Typed {

    private Typed() {
    }

    // ------------------------------------------------------------------ Java -> TJ

    public static Map<String, Object> describe(Object value) {
        return describe(value, new IdentityHashMap<>(), 0);
    }

    private static Map<String, Object> tj(String cls, Object value) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("class", cls);
        m.put("value", value);
        return m;
    }

    private static Map<String, Object> describe(Object v, IdentityHashMap<Object, Boolean> seen, int depth) {
        if (v == null) {
            return tj(null, null);
        }
        Class<?> c = v.getClass();
        String cls = c.getName();
        if (v instanceof String || v instanceof Boolean || v instanceof Character) {
            return tj(cls, v);
        }
        if (v instanceof Number) {
            if (v instanceof BigInteger || v instanceof BigDecimal) {
                return tj(cls, v.toString());
            }
            return tj(cls, v);
        }
        if (v instanceof Date) {
            return tj(cls, ((Date) v).getTime());
        }
        if (v instanceof Enum) {
            return tj(cls, ((Enum<?>) v).name());
        }
        if (v instanceof byte[]) {
            return tj(cls, hex((byte[]) v));
        }
        if (depth > 32) {
            return tj(cls, "<too deep>");
        }
        if (seen.containsKey(v)) {
            Map<String, Object> m = tj(cls, null);
            m.put("cycle", Boolean.TRUE);
            return m;
        }
        seen.put(v, Boolean.TRUE);
        try {
            if (c.isArray()) {
                List<Object> list = new ArrayList<>();
                int n = Array.getLength(v);
                boolean primitive = c.getComponentType().isPrimitive();
                for (int i = 0; i < n; i++) {
                    Object item = Array.get(v, i);
                    list.add(primitive ? item : describe(item, seen, depth + 1));
                }
                return tj(cls, list);
            }
            if (v instanceof Collection) {
                List<Object> list = new ArrayList<>();
                for (Object item : (Collection<?>) v) {
                    list.add(describe(item, seen, depth + 1));
                }
                return tj(cls, list);
            }
            if (v instanceof Map) {
                List<Object> list = new ArrayList<>();
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    List<Object> pair = new ArrayList<>();
                    pair.add(describe(e.getKey(), seen, depth + 1));
                    pair.add(describe(e.getValue(), seen, depth + 1));
                    list.add(pair);
                }
                return tj(cls, list);
            }
            Map<String, Object> fields = new LinkedHashMap<>();
            for (Field f : instanceFields(c)) {
                Object fv;
                try {
                    f.setAccessible(true);
                    fv = f.get(v);
                } catch (ReflectiveOperationException | RuntimeException e) {
                    fields.put(f.getName(), tj(f.getType().getName(), "<unreadable: " + e + ">"));
                    continue;
                }
                if (f.getType().isPrimitive()) {
                    Object shown = fv;
                    if (fv instanceof Double || fv instanceof Float) {
                        double d = ((Number) fv).doubleValue();
                        if (Double.isNaN(d) || Double.isInfinite(d)) {
                            shown = fv.toString();
                        }
                    }
                    fields.put(f.getName(), tj(f.getType().getName(), shown));
                } else {
                    fields.put(f.getName(), describe(fv, seen, depth + 1));
                }
            }
            return tj(cls, fields);
        } finally {
            seen.remove(v);
        }
    }

    /** Non-static, non-transient fields, superclass first (stops at java.* classes). */
    static List<Field> instanceFields(Class<?> c) {
        List<Class<?>> chain = new ArrayList<>();
        for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
            if (k.getName().startsWith("java.")) {
                break;
            }
            chain.add(0, k);
        }
        List<Field> result = new ArrayList<>();
        for (Class<?> k : chain) {
            for (Field f : k.getDeclaredFields()) {
                int mod = f.getModifiers();
                if (Modifier.isStatic(mod) || Modifier.isTransient(mod) || f.isSynthetic()) {
                    continue;
                }
                result.add(f);
            }
        }
        return result;
    }

    public static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length * 2);
        for (byte x : b) {
            sb.append(Character.forDigit((x >> 4) & 0xf, 16));
            sb.append(Character.forDigit(x & 0xf, 16));
        }
        return sb.toString();
    }

    static byte[] unhex(String s) {
        s = s.trim();
        if (s.length() % 2 != 0) {
            throw new IllegalArgumentException("odd-length hex string");
        }
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    // ------------------------------------------------------------------ TJ / JSON -> Java

    /** Canonical class name for a short or full name (as accepted in TJ input). */
    public static String canonical(String cls) {
        switch (cls) {
            case "String": return "java.lang.String";
            case "Integer": case "int": return "java.lang.Integer";
            case "Long": case "long": return "java.lang.Long";
            case "Short": case "short": return "java.lang.Short";
            case "Byte": case "byte": return "java.lang.Byte";
            case "Character": case "char": return "java.lang.Character";
            case "Boolean": case "boolean": return "java.lang.Boolean";
            case "Double": case "double": return "java.lang.Double";
            case "Float": case "float": return "java.lang.Float";
            case "byte[]": case "bytes": return "[B";
            case "String[]": return "[Ljava.lang.String;";
            case "Object[]": return "[Ljava.lang.Object;";
            case "ArrayList": return "java.util.ArrayList";
            case "LinkedList": return "java.util.LinkedList";
            case "Vector": return "java.util.Vector";
            case "HashSet": return "java.util.HashSet";
            case "LinkedHashSet": return "java.util.LinkedHashSet";
            case "TreeSet": return "java.util.TreeSet";
            case "HashMap": return "java.util.HashMap";
            case "LinkedHashMap": return "java.util.LinkedHashMap";
            case "TreeMap": return "java.util.TreeMap";
            case "Hashtable": return "java.util.Hashtable";
            case "Date": return "java.util.Date";
            case "Pojo": return "lab.Pojo";
            case "BasePojo": return "lab.BasePojo";
            default: return cls;
        }
    }

    static boolean isTyped(Object json) {
        return json instanceof Map && ((Map<?, ?>) json).containsKey("class");
    }

    /** Builds a Java value from TJ or plain JSON (implicit conversion, see class comment). */
    public static Object build(Object json) {
        if (json == null) {
            return null;
        }
        if (isTyped(json)) {
            Map<?, ?> m = (Map<?, ?>) json;
            Object cls = m.get("class");
            if (cls == null) {
                return null;
            }
            Object value = m.get("value");
            if (m.containsKey("base64") && ("[B".equals(canonical(cls.toString())))) {
                return Base64.getDecoder().decode(m.get("base64").toString());
            }
            return build(cls.toString(), value);
        }
        if (json instanceof String || json instanceof Boolean || json instanceof Double) {
            return json;
        }
        if (json instanceof Long) {
            long l = (Long) json;
            if (l >= Integer.MIN_VALUE && l <= Integer.MAX_VALUE) {
                return (int) l;
            }
            return l;
        }
        if (json instanceof Number) {
            return json;
        }
        if (json instanceof List) {
            ArrayList<Object> list = new ArrayList<>();
            for (Object o : (List<?>) json) {
                list.add(build(o));
            }
            return list;
        }
        if (json instanceof Map) {
            HashMap<Object, Object> map = new HashMap<>();
            for (Map.Entry<?, ?> e : ((Map<?, ?>) json).entrySet()) {
                map.put(e.getKey(), build(e.getValue()));
            }
            return map;
        }
        throw new IllegalArgumentException("cannot build a value from " + json);
    }

    /** Builds a value of the given (short or full) class from a JSON value or a string. */
    public static Object build(String cls, Object v) {
        String c = canonical(cls);
        if (v == null && !c.equals("lab.Pojo")) {
            return null;
        }
        switch (c) {
            case "java.lang.String":
                return v.toString();
            case "java.lang.Integer":
                return (int) toLong(v);
            case "java.lang.Long":
                return toLong(v);
            case "java.lang.Short":
                return (short) toLong(v);
            case "java.lang.Byte":
                return (byte) toLong(v);
            case "java.lang.Double":
                return toDouble(v);
            case "java.lang.Float":
                return (float) toDouble(v);
            case "java.lang.Boolean":
                if (v instanceof Boolean) {
                    return v;
                }
                return Boolean.parseBoolean(v.toString());
            case "java.lang.Character":
                if (v instanceof Number) {
                    return (char) ((Number) v).intValue();
                }
                if (v.toString().length() != 1) {
                    throw new IllegalArgumentException("a Character needs exactly one char");
                }
                return v.toString().charAt(0);
            case "[B":
                if (v instanceof List) {
                    List<?> l = (List<?>) v;
                    byte[] b = new byte[l.size()];
                    for (int i = 0; i < b.length; i++) {
                        b[i] = (byte) toLong(l.get(i));
                    }
                    return b;
                }
                return unhex(v.toString());
            case "[Ljava.lang.String;": {
                List<?> l = asList(v);
                String[] a = new String[l.size()];
                for (int i = 0; i < a.length; i++) {
                    Object item = l.get(i);
                    Object built = isTyped(item) ? build(item) : item;
                    a[i] = built == null ? null : built.toString();
                }
                return a;
            }
            case "[Ljava.lang.Object;": {
                List<?> l = asList(v);
                Object[] a = new Object[l.size()];
                for (int i = 0; i < a.length; i++) {
                    a[i] = build(l.get(i));
                }
                return a;
            }
            case "java.util.ArrayList":
                return fill(new ArrayList<>(), v);
            case "java.util.LinkedList":
                return fill(new LinkedList<>(), v);
            case "java.util.Vector":
                return fill(new Vector<>(), v);
            case "java.util.HashSet":
                return fill(new HashSet<>(), v);
            case "java.util.LinkedHashSet":
                return fill(new LinkedHashSet<>(), v);
            case "java.util.TreeSet":
                return fill(new TreeSet<>(), v);
            case "java.util.HashMap":
                return fillMap(new HashMap<>(), v);
            case "java.util.LinkedHashMap":
                return fillMap(new LinkedHashMap<>(), v);
            case "java.util.TreeMap":
                return fillMap(new TreeMap<>(), v);
            case "java.util.Hashtable":
                return fillMap(new Hashtable<>(), v);
            case "java.util.Date":
                return new Date(toLong(v));
            case "lab.Pojo":
                return fillObject(new Pojo(), v);
            case "lab.BasePojo":
                return fillObject(new BasePojo(), v);
            default:
                throw new IllegalArgumentException("unsupported class " + cls);
        }
    }

    private static List<?> asList(Object v) {
        if (v instanceof List) {
            return (List<?>) v;
        }
        List<Object> l = new ArrayList<>();
        l.add(v);
        return l;
    }

    private static long toLong(Object v) {
        if (v instanceof Number) {
            return ((Number) v).longValue();
        }
        return Long.parseLong(v.toString().trim());
    }

    private static double toDouble(Object v) {
        if (v instanceof Number) {
            return ((Number) v).doubleValue();
        }
        return Double.parseDouble(v.toString().trim());
    }

    private static Collection<Object> fill(Collection<Object> c, Object v) {
        for (Object item : asList(v)) {
            c.add(build(item));
        }
        return c;
    }

    private static Map<Object, Object> fillMap(Map<Object, Object> m, Object v) {
        if (v instanceof Map) {
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                m.put(e.getKey(), build(e.getValue()));
            }
            return m;
        }
        for (Object pair : asList(v)) {
            List<?> p = (List<?>) pair;
            if (p.size() != 2) {
                throw new IllegalArgumentException("a map entry must be a [key, value] pair");
            }
            m.put(build(p.get(0)), build(p.get(1)));
        }
        return m;
    }

    /** Sets the fields named in a JSON object (plain JSON or TJ per field) by reflection. */
    private static Object fillObject(Object target, Object v) {
        if (v == null) {
            return target;
        }
        if (!(v instanceof Map)) {
            throw new IllegalArgumentException(target.getClass().getName() + " needs a JSON object");
        }
        Map<String, Field> byName = new HashMap<>();
        for (Field f : instanceFields(target.getClass())) {
            byName.put(f.getName(), f);
        }
        for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            Field f = byName.get(e.getKey().toString());
            if (f == null) {
                throw new IllegalArgumentException("no field " + e.getKey() + " in " + target.getClass().getName());
            }
            try {
                f.setAccessible(true);
                f.set(target, convertTo(f.getType(), e.getValue()));
            } catch (IllegalAccessException x) {
                throw new IllegalStateException(x);
            }
        }
        return target;
    }

    private static Object convertTo(Class<?> type, Object json) {
        if (isTyped(json)) {
            return build(json);
        }
        if (json == null) {
            if (type.isPrimitive()) {
                throw new IllegalArgumentException("null for a primitive field");
            }
            return null;
        }
        if (type.isPrimitive()) {
            return build(type.getName(), json);
        }
        switch (type.getName()) {
            case "java.lang.String": case "java.lang.Integer": case "java.lang.Long":
            case "java.lang.Short": case "java.lang.Byte": case "java.lang.Double":
            case "java.lang.Float": case "java.lang.Boolean": case "java.lang.Character":
            case "[B": case "[Ljava.lang.String;": case "java.util.Date":
            case "java.util.ArrayList": case "java.util.LinkedList": case "java.util.HashSet":
            case "java.util.HashMap": case "java.util.LinkedHashMap": case "java.util.TreeMap":
            case "lab.Pojo": case "lab.BasePojo":
                return build(type.getName(), json);
            case "java.util.List": case "java.util.Collection":
                return build("java.util.ArrayList", json);
            case "java.util.Set":
                return build("java.util.HashSet", json);
            case "java.util.Map":
                return build("java.util.HashMap", json);
            default:
                return build(json);
        }
    }
}
