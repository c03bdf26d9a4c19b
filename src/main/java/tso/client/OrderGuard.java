package tso.client;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What one client has handed out: the highest timestamp and the highest epoch. A batch notes both
 * when it is sent; its answer must be above that timestamp and at no lower epoch. That is real-time
 * order as the caller sees it: a call made after another completed must get a larger timestamp, so
 * an answer that is not above what was handed out before its batch left comes from a leader that
 * should not be serving (a deposed one, or one whose clock and bound went back), and is refused.
 * Answers to batches in flight at the same time may arrive in either order; both are valid.
 *
 * <p>Shared by every connection of a client (they may run on different threads): two atomic
 * maxima, touched once per batch, never per call.
 */
public final class OrderGuard {

  private final AtomicLong highest = new AtomicLong(Long.MIN_VALUE);
  private final AtomicLong epoch = new AtomicLong(Long.MIN_VALUE);

  /** The highest timestamp handed out so far (unsigned; {@link Long#MIN_VALUE} reads as none). */
  public long highest() {
    return highest.get();
  }

  /** The highest epoch handed out so far ({@link Long#MIN_VALUE}: none). */
  public long epoch() {
    return epoch.get();
  }

  /** Notes a range handed out. */
  public void handedOut(long last, long issuedIn) {
    highest.accumulateAndGet(last, OrderGuard::maxUnsigned);
    epoch.accumulateAndGet(issuedIn, Math::max);
  }

  /** True when {@code first} is above {@code floor} ({@link Long#MIN_VALUE} meaning none yet). */
  static boolean above(long first, long floor) {
    return floor == Long.MIN_VALUE || Long.compareUnsigned(first, floor) > 0;
  }

  private static long maxUnsigned(long a, long b) {
    if (a == Long.MIN_VALUE) {
      return b;
    }
    if (b == Long.MIN_VALUE) {
      return a;
    }
    return Long.compareUnsigned(a, b) >= 0 ? a : b;
  }
}
