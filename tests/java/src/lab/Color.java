package lab;

/** An enum attribute value (TC_ENUM; enum class descriptors always have SUID 0). */
public enum Color {
    RED, GREEN, BLUE
}
