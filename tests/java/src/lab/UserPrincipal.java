package lab;

import java.io.Serializable;
import java.security.Principal;

/**
 * A Serializable principal that is not a GenericPrincipal: DeltaRequest.setPrincipal records it
 * as a PRINCIPAL SET without a value; it can also be the userPrincipal inside a GenericPrincipal.
 */
public class UserPrincipal implements Principal, Serializable {
    private static final long serialVersionUID = 11L;

    private final String name;

    public UserPrincipal(String name) {
        this.name = name;
    }

    @Override
    public String getName() {
        return name;
    }
}
