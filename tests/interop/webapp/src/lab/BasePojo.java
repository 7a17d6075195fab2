package lab;

import java.io.Serializable;

/** Serializable superclass of {@link Pojo}: its fields travel in their own class descriptor. */
public class BasePojo implements Serializable {

    private static final long serialVersionUID = 1L;

    protected long id;
    protected String label;

    public BasePojo() {
    }

    public long getId() {
        return id;
    }

    public String getLabel() {
        return label;
    }
}
