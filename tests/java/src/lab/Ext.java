package lab;

import java.io.Externalizable;
import java.io.IOException;
import java.io.ObjectInput;
import java.io.ObjectOutput;

/**
 * Custom Externalizable attribute class (flags SC_EXTERNALIZABLE|SC_BLOCK_DATA = 0x0C).
 *
 * <p>writeExternal: writeInt(version), writeUTF(label), writeLong(when), writeObject(extra),
 * then TC_ENDBLOCKDATA.</p>
 */
public class Ext implements Externalizable {
    private static final long serialVersionUID = 3L;

    private int version;
    private String label;
    private long when;
    private Object extra;

    public Ext() {
    }

    public Ext(int version, String label, long when, Object extra) {
        this.version = version;
        this.label = label;
        this.when = when;
        this.extra = extra;
    }

    @Override
    public void writeExternal(ObjectOutput out) throws IOException {
        out.writeInt(version);
        out.writeUTF(label);
        out.writeLong(when);
        out.writeObject(extra);
    }

    @Override
    public void readExternal(ObjectInput in) throws IOException, ClassNotFoundException {
        version = in.readInt();
        label = in.readUTF();
        when = in.readLong();
        extra = in.readObject();
    }
}
