package lab;

import org.apache.catalina.SessionEvent;
import org.apache.catalina.ha.session.ReplicatedSessionListener;

/**
 * A session listener that DeltaSession replicates (implements ReplicatedSessionListener, so it is
 * Serializable): used for DeltaRequest TYPE_LISTENER actions and the listener list of full
 * sessions. Uses no servlet API type, so it compiles against Tomcat 9 and 10.
 */
public class Listener implements ReplicatedSessionListener {
    private static final long serialVersionUID = 5L;

    private String tag;

    public Listener() {
    }

    public Listener(String tag) {
        this.tag = tag;
    }

    @Override
    public void sessionEvent(SessionEvent event) {
        // nothing
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Listener && java.util.Objects.equals(((Listener) o).tag, tag);
    }

    @Override
    public int hashCode() {
        return tag == null ? 0 : tag.hashCode();
    }
}
