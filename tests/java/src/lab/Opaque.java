package lab;

/** Deliberately NOT Serializable: writing it throws NotSerializableException (TC_EXCEPTION). */
public class Opaque {
    private final int x;

    public Opaque(int x) {
        this.x = x;
    }

    public int getX() {
        return x;
    }
}
