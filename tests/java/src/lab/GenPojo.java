package lab;

import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Custom Serializable attribute class with a Serializable superclass ({@link GenBase}) and a private
 * writeObject method (class descriptor flags SC_SERIALIZABLE|SC_WRITE_METHOD = 0x03).
 *
 * <p>Serialized form: GenBase class data (int baseId, String baseName), then GenPojo class data:
 * default fields (descriptor order: int count, boolean flag, double ratio, long stamp,
 * String name, java.util.List tags), then custom data: writeInt(count * 31), writeUTF("pojo-extra"),
 * writeObject(Integer count), then TC_ENDBLOCKDATA.</p>
 */
public class GenPojo extends GenBase {
    private static final long serialVersionUID = 42L;

    private String name;
    private int count;
    private long stamp;
    private boolean flag;
    private double ratio;
    private List<String> tags;
    /** Not serialized; restored from the custom data by readObject. */
    private transient int checksum;

    public GenPojo() {
    }

    public GenPojo(int baseId, String baseName, String name, int count, long stamp, boolean flag,
            double ratio, List<String> tags) {
        super(baseId, baseName);
        this.name = name;
        this.count = count;
        this.stamp = stamp;
        this.flag = flag;
        this.ratio = ratio;
        this.tags = tags == null ? null : new ArrayList<>(tags);
        this.checksum = count * 31;
    }

    private void writeObject(ObjectOutputStream out) throws IOException {
        out.defaultWriteObject();
        out.writeInt(count * 31);
        out.writeUTF("pojo-extra");
        out.writeObject(Integer.valueOf(count));
    }

    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        checksum = in.readInt();
        String extra = in.readUTF();
        if (!"pojo-extra".equals(extra)) {
            throw new IOException("lab.GenPojo: bad custom data " + extra);
        }
        Object again = in.readObject();
        if (!(again instanceof Integer) || ((Integer) again).intValue() != count || checksum != count * 31) {
            throw new IOException("lab.GenPojo: inconsistent custom data");
        }
    }
}
