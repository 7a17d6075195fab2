package lab;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.security.Principal;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import javax.servlet.ServletException;
import javax.servlet.http.HttpServlet;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;
import javax.servlet.http.HttpSession;

import org.apache.catalina.Cluster;
import org.apache.catalina.ContainerServlet;
import org.apache.catalina.Context;
import org.apache.catalina.Manager;
import org.apache.catalina.Session;
import org.apache.catalina.Wrapper;
import org.apache.catalina.ha.CatalinaCluster;
import org.apache.catalina.ha.ClusterManager;
import org.apache.catalina.ha.session.DeltaSession;
import org.apache.catalina.realm.GenericPrincipal;
import org.apache.catalina.tribes.Member;

/**
 * The test webapp's only servlet, mapped to /t/* (so /jw/t/...). Every response is a JSON
 * object with at least "node" ("address:port" of the connector that served it). Errors give a
 * 4xx/5xx status and {"error": message}. Attribute values are "typed JSON", see {@link Typed}.
 *
 * It is a ContainerServlet (the context is privileged) so that it can read the cluster
 * membership and look at sessions held by the Manager without touching them.
 *
 * The source is written against javax.servlet; the build rewrites it to jakarta.servlet for
 * Tomcat 10.1.
 */
public class JwServlet extends HttpServlet implements ContainerServlet {

    private static final long serialVersionUID = 1L;

    private transient volatile Wrapper wrapper;

    @Override
    public Wrapper getWrapper() {
        return wrapper;
    }

    @Override
    public void setWrapper(Wrapper wrapper) {
        this.wrapper = wrapper;
    }

    private static final class HttpError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int status;

        HttpError(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("node", req.getLocalAddr() + ":" + req.getLocalPort());
        int status = 200;
        try {
            String path = req.getPathInfo() == null ? "/" : req.getPathInfo();
            switch (path) {
                case "/ping":
                    out.put("serverInfo", getServletContext().getServerInfo());
                    out.put("servletApi", HttpServlet.class.getPackage().getName());
                    out.put("contextPath", req.getContextPath());
                    break;
                case "/session":
                    session(req, out);
                    break;
                case "/set":
                    set(req, out);
                    break;
                case "/remove":
                    remove(req, out);
                    break;
                case "/invalidate":
                    invalidate(req, out);
                    break;
                case "/changeid":
                    changeId(req, out);
                    break;
                case "/maxinactive":
                    maxInactive(req, out);
                    break;
                case "/members":
                    members(out);
                    break;
                case "/sessions":
                    sessions(out);
                    break;
                case "/peek":
                    peek(req, out);
                    break;
                case "/login":
                    login(req, out);
                    break;
                case "/logout":
                    req.logout();
                    out.put("session", dump(req.getSession(false)));
                    break;
                default:
                    throw new HttpError(404, "no endpoint " + path);
            }
        } catch (HttpError e) {
            status = e.status;
            out.put("error", e.getMessage());
        } catch (IllegalArgumentException e) {
            status = 400;
            out.put("error", String.valueOf(e.getMessage()));
            out.put("exception", e.getClass().getName());
        } catch (Exception e) {
            status = 500;
            out.put("error", e.toString());
            out.put("exception", e.getClass().getName());
            log("request failed", e);
        }
        resp.setStatus(status);
        resp.setContentType("application/json");
        resp.setCharacterEncoding("UTF-8");
        resp.setHeader("Cache-Control", "no-store");
        PrintWriter w = resp.getWriter();
        w.write(Json.write(out));
        w.write('\n');
        w.flush();
    }

    // ------------------------------------------------------------------ endpoints

    private void session(HttpServletRequest req, Map<String, Object> out) {
        HttpSession s = req.getSession(flag(req, "create", true));
        out.put("session", dump(s));
    }

    private void set(HttpServletRequest req, Map<String, Object> out) throws IOException {
        HttpSession s = requireSession(req);
        Map<String, Object> values = new LinkedHashMap<>();
        Object body = readJson(req);
        if (body != null) {
            if (!(body instanceof Map)) {
                throw new IllegalArgumentException("the body must be a JSON object");
            }
            Map<?, ?> b = (Map<?, ?>) body;
            if (b.containsKey("attributes")) {
                for (Map.Entry<?, ?> e : ((Map<?, ?>) b.get("attributes")).entrySet()) {
                    values.put(e.getKey().toString(), Typed.build(e.getValue()));
                }
            } else {
                Object name = b.get("name");
                if (name == null) {
                    throw new IllegalArgumentException("the body needs \"name\" or \"attributes\"");
                }
                values.put(name.toString(), Typed.build(b.get("value")));
            }
        } else {
            String name = required(req, "name");
            values.put(name, fromQuery(req));
        }
        for (Map.Entry<String, Object> e : values.entrySet()) {
            s.setAttribute(e.getKey(), e.getValue());
        }
        out.put("session", dump(s));
    }

    /** name, type (default String), value (repeatable), elem (element type, default String). */
    private static Object fromQuery(HttpServletRequest req) {
        String type = Typed.canonical(param(req, "type", "String"));
        String[] raw = req.getParameterValues("value");
        List<String> vals = raw == null ? Collections.emptyList() : Arrays.asList(raw);
        String elem = param(req, "elem", "String");
        switch (type) {
            case "java.util.ArrayList": case "java.util.LinkedList": case "java.util.Vector":
            case "java.util.HashSet": case "java.util.LinkedHashSet": case "java.util.TreeSet":
            case "[Ljava.lang.String;": case "[Ljava.lang.Object;": {
                if (vals.size() == 1 && vals.get(0).trim().startsWith("[")) {
                    return Typed.build(type, Json.parse(vals.get(0)));
                }
                List<Object> items = new ArrayList<>();
                for (String v : vals) {
                    items.add(Typed.build(elem, v));
                }
                Map<String, Object> tj = new LinkedHashMap<>();
                List<Object> typedItems = new ArrayList<>();
                for (Object item : items) {
                    typedItems.add(Typed.describe(item));
                }
                tj.put("class", type);
                tj.put("value", typedItems);
                return Typed.build(tj);
            }
            case "java.util.HashMap": case "java.util.LinkedHashMap": case "java.util.TreeMap":
            case "java.util.Hashtable": {
                if (vals.size() == 1 && vals.get(0).trim().startsWith("{")) {
                    return Typed.build(type, Json.parse(vals.get(0)));
                }
                List<Object> pairs = new ArrayList<>();
                for (String v : vals) {
                    int eq = v.indexOf('=');
                    if (eq < 0) {
                        throw new IllegalArgumentException("map values must be key=value");
                    }
                    List<Object> pair = new ArrayList<>();
                    pair.add(v.substring(0, eq));
                    pair.add(Typed.describe(Typed.build(elem, v.substring(eq + 1))));
                    pairs.add(pair);
                }
                return Typed.build(type, pairs);
            }
            case "lab.Pojo": case "lab.BasePojo":
                return Typed.build(type, vals.isEmpty() ? null : Json.parse(vals.get(0)));
            default:
                if (vals.isEmpty()) {
                    return null;
                }
                return Typed.build(type, vals.get(0));
        }
    }

    private void remove(HttpServletRequest req, Map<String, Object> out) {
        HttpSession s = requireSession(req);
        String[] names = req.getParameterValues("name");
        if (names == null) {
            throw new IllegalArgumentException("missing parameter name");
        }
        for (String n : names) {
            s.removeAttribute(n);
        }
        out.put("session", dump(s));
    }

    private void invalidate(HttpServletRequest req, Map<String, Object> out) {
        HttpSession s = req.getSession(false);
        if (s == null) {
            out.put("invalidated", null);
            return;
        }
        String id = s.getId();
        s.invalidate();
        out.put("invalidated", id);
    }

    private void changeId(HttpServletRequest req, Map<String, Object> out) {
        HttpSession s = requireSession(req);
        String oldId = s.getId();
        String newId = req.changeSessionId();
        out.put("oldId", oldId);
        out.put("newId", newId);
        out.put("session", dump(req.getSession(false)));
    }

    private void maxInactive(HttpServletRequest req, Map<String, Object> out) {
        HttpSession s = requireSession(req);
        s.setMaxInactiveInterval(Integer.parseInt(required(req, "seconds")));
        out.put("session", dump(s));
    }

    private void members(Map<String, Object> out) {
        Manager manager = manager();
        out.put("managerClass", manager.getClass().getName());
        Cluster cluster = null;
        if (manager instanceof ClusterManager) {
            out.put("managerName", ((ClusterManager) manager).getName());
            cluster = ((ClusterManager) manager).getCluster();
        }
        if (cluster == null) {
            cluster = context().getCluster();
        }
        if (!(cluster instanceof CatalinaCluster)) {
            throw new HttpError(409, "the context has no CatalinaCluster");
        }
        CatalinaCluster cc = (CatalinaCluster) cluster;
        out.put("clusterName", cc.getClusterName());
        out.put("local", member(cc.getLocalMember()));
        List<Object> list = new ArrayList<>();
        for (Member m : cc.getMembers()) {
            list.add(member(m));
        }
        out.put("members", list);
    }

    private void sessions(Map<String, Object> out) {
        List<Object> list = new ArrayList<>();
        for (Session cs : manager().findSessions()) {
            try {
                list.add(dumpInternal(cs));
            } catch (IllegalStateException e) {
                // expired or invalidated meanwhile
            }
        }
        out.put("sessions", list);
    }

    private void peek(HttpServletRequest req, Map<String, Object> out) throws IOException {
        Session cs = manager().findSession(required(req, "id"));
        out.put("session", cs == null ? null : dumpInternal(cs));
    }

    private void login(HttpServletRequest req, Map<String, Object> out) throws IOException {
        HttpSession before = req.getSession(flag(req, "session", true));
        out.put("previousSessionId", before == null ? null : before.getId());
        try {
            req.login(required(req, "user"), param(req, "password", ""));
        } catch (ServletException e) {
            throw new HttpError(401, e.getMessage());
        }
        out.put("remoteUser", req.getRemoteUser());
        out.put("authType", req.getAuthType());
        out.put("principal", principal(req.getUserPrincipal()));
        out.put("session", dump(req.getSession(false)));
    }

    // ------------------------------------------------------------------ helpers

    private Context context() {
        Wrapper w = wrapper;
        if (w == null) {
            throw new HttpError(500, "not a privileged context: setWrapper was not called");
        }
        return (Context) w.getParent();
    }

    private Manager manager() {
        Manager m = context().getManager();
        if (m == null) {
            throw new HttpError(409, "the context has no Manager");
        }
        return m;
    }

    private static HttpSession requireSession(HttpServletRequest req) {
        HttpSession s = req.getSession(flag(req, "create", false));
        if (s == null) {
            throw new HttpError(409, "no session (send the JSESSIONID cookie, or create=1)");
        }
        return s;
    }

    private static String param(HttpServletRequest req, String name, String dflt) {
        String v = req.getParameter(name);
        return v == null ? dflt : v;
    }

    private static String required(HttpServletRequest req, String name) {
        String v = req.getParameter(name);
        if (v == null) {
            throw new IllegalArgumentException("missing parameter " + name);
        }
        return v;
    }

    private static boolean flag(HttpServletRequest req, String name, boolean dflt) {
        String v = req.getParameter(name);
        if (v == null) {
            return dflt;
        }
        return v.equals("1") || v.equalsIgnoreCase("true") || v.equalsIgnoreCase("yes");
    }

    private static Object readJson(HttpServletRequest req) throws IOException {
        String ct = req.getContentType();
        if (ct == null || !ct.toLowerCase().contains("json")) {
            return null;
        }
        StringBuilder sb = new StringBuilder();
        BufferedReader r = req.getReader();
        char[] buf = new char[4096];
        int n;
        while ((n = r.read(buf)) > 0) {
            sb.append(buf, 0, n);
        }
        String text = sb.toString().trim();
        return text.isEmpty() ? null : Json.parse(text);
    }

    /** Session as seen through the request (this request accesses it). */
    private Map<String, Object> dump(HttpSession s) {
        if (s == null) {
            return null;
        }
        Session cs = null;
        if (wrapper != null) {
            Manager m = context().getManager();
            if (m != null) {
                try {
                    cs = m.findSession(s.getId());
                } catch (IOException e) {
                    cs = null;
                }
            }
        }
        return dump(s, cs);
    }

    /**
     * Session straight from the Manager, without accessing it: no access time update, no
     * replication message, and no lazy expiry (Session.isValid() is never called).
     */
    private static Map<String, Object> dumpInternal(Session cs) {
        return dump(cs.getSession(), cs);
    }

    private static Map<String, Object> dump(HttpSession s, Session cs) {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("id", s.getId());
        d.put("isNew", s.isNew());
        d.put("creationTime", s.getCreationTime());
        d.put("lastAccessedTime", s.getLastAccessedTime());
        d.put("maxInactiveInterval", s.getMaxInactiveInterval());
        if (cs != null) {
            d.put("thisAccessedTime", cs.getThisAccessedTimeInternal());
            d.put("primary", cs instanceof DeltaSession ? ((DeltaSession) cs).isPrimarySession() : null);
            d.put("authType", cs.getAuthType());
            d.put("principal", principal(cs.getPrincipal()));
        }
        List<String> names = new ArrayList<>();
        Enumeration<String> en = s.getAttributeNames();
        while (en.hasMoreElements()) {
            names.add(en.nextElement());
        }
        Collections.sort(names);
        Map<String, Object> attrs = new LinkedHashMap<>();
        for (String n : names) {
            attrs.put(n, Typed.describe(s.getAttribute(n)));
        }
        d.put("attributes", attrs);
        return d;
    }

    private static Map<String, Object> principal(Principal p) {
        if (p == null) {
            return null;
        }
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("class", p.getClass().getName());
        d.put("name", p.getName());
        if (p instanceof GenericPrincipal) {
            d.put("roles", Arrays.asList(((GenericPrincipal) p).getRoles()));
        }
        return d;
    }

    private static Map<String, Object> member(Member m) {
        if (m == null) {
            return null;
        }
        Map<String, Object> d = new LinkedHashMap<>();
        byte[] h = m.getHost();
        StringBuilder host = new StringBuilder();
        for (int i = 0; i < h.length; i++) {
            if (i > 0) {
                host.append('.');
            }
            host.append(h[i] & 0xff);
        }
        d.put("host", host.toString());
        d.put("port", m.getPort());
        List<Object> uid = new ArrayList<>();
        for (byte b : m.getUniqueId()) {
            uid.add((int) b);
        }
        d.put("uniqueId", uid);
        d.put("name", m.getName());
        d.put("aliveTime", m.getMemberAliveTime());
        d.put("ready", m.isReady());
        d.put("suspect", m.isSuspect());
        d.put("failing", m.isFailing());
        byte[] cmd = m.getCommand();
        d.put("command", cmd == null ? "" : new String(cmd, java.nio.charset.StandardCharsets.ISO_8859_1));
        d.put("class", m.getClass().getName());
        return d;
    }
}
