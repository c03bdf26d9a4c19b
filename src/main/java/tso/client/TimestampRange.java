package tso.client;

/**
 * A contiguous range of timestamps {@code first .. first + count - 1}, all inside one millisecond,
 * issued by the leader of {@code epoch}.
 */
public record TimestampRange(long first, int count, long epoch) {

  public TimestampRange {
    if (count < 1) {
      throw new IllegalArgumentException("count " + count);
    }
  }

  /** The last timestamp of the range. */
  public long last() {
    return first + count - 1;
  }

  /** The {@code i}-th timestamp of the range, from 0. */
  public Timestamp get(int i) {
    if (i < 0 || i >= count) {
      throw new IndexOutOfBoundsException(i);
    }
    return new Timestamp(first + i, epoch);
  }

  @Override
  public String toString() {
    return "[" + Long.toUnsignedString(first) + " +" + count + "]@" + epoch;
  }
}
