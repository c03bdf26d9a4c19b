package tso.store;

/**
 * A persisted bound: every timestamp ever served has a physical part below {@code boundMs}, and
 * {@code epoch} is the fencing token of the writer.
 */
public record StoredBound(long epoch, long boundMs) {

  /** Nothing stored yet: a new data directory. */
  public static final StoredBound NONE = new StoredBound(0, 0);

  public StoredBound {
    if (epoch < 0 || boundMs < 0) {
      throw new IllegalArgumentException("negative epoch or bound: " + epoch + ", " + boundMs);
    }
  }
}
