package tso.client;

/**
 * One timestamp from the oracle: {@code physicalMs << 18 | logical}, unique and larger than every
 * timestamp whose call completed before this one was made.
 *
 * @param value the 64-bit timestamp (positive until the year 2527)
 * @param epoch the fencing token of the leader that issued it
 */
public record Timestamp(long value, long epoch) {

  /** Bits of the logical counter inside one millisecond. */
  public static final int LOGICAL_BITS = 18;

  /** Unix time in milliseconds. */
  public long physicalMs() {
    return value >>> LOGICAL_BITS;
  }

  /** The counter inside {@link #physicalMs()}, 0..262143. */
  public int logical() {
    return (int) (value & ((1L << LOGICAL_BITS) - 1));
  }

  @Override
  public String toString() {
    return Long.toUnsignedString(value) + "@" + epoch;
  }
}
