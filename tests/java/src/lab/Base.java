package lab;

import java.io.Serializable;

/**
 * Serializable superclass of {@link Pojo}: plain default serialization (no writeObject).
 * Declared serialVersionUID so that a Python writer can reproduce the class descriptor.
 */
public class Base implements Serializable {
    private static final long serialVersionUID = 7L;

    protected int baseId;
    protected String baseName;

    public Base() {
    }

    public Base(int baseId, String baseName) {
        this.baseId = baseId;
        this.baseName = baseName;
    }
}
