package lab;

import java.io.Serializable;

/**
 * Serializable superclass of {@link GenPojo}: plain default serialization (no writeObject).
 * Declared serialVersionUID so that a Python writer can reproduce the class descriptor.
 */
public class GenBase implements Serializable {
    private static final long serialVersionUID = 7L;

    protected int baseId;
    protected String baseName;

    public GenBase() {
    }

    public GenBase(int baseId, String baseName) {
        this.baseId = baseId;
        this.baseName = baseName;
    }
}
