package lab;

import java.util.ArrayList;

/**
 * A webapp class stored in sessions: replicated peers must resolve it through the webapp class
 * loader. Fields are set by reflection from JSON (see {@link Typed}).
 */
public class Pojo extends BasePojo {

    private static final long serialVersionUID = 2L;

    private String name;
    private int count;
    private double ratio;
    private boolean active;
    private Integer boxed;
    private ArrayList<String> tags;
    private Pojo child;

    public Pojo() {
    }

    public String getName() {
        return name;
    }

    public int getCount() {
        return count;
    }

    public double getRatio() {
        return ratio;
    }

    public boolean isActive() {
        return active;
    }

    public Integer getBoxed() {
        return boxed;
    }

    public ArrayList<String> getTags() {
        return tags;
    }

    public Pojo getChild() {
        return child;
    }
}
