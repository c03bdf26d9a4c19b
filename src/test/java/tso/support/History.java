package tso.support;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * A record of timestamp operations as clients saw them, and the check every fault test ends
 * with: no timestamp handed out twice, and real-time order (a range whose response completed
 * before another request was sent is entirely below that request's range).
 *
 * <p>Thread-safe for recording; check after every client has finished.
 */
public final class History {

  /** One answered request: when it was sent and completed (monotonic nanos) and what it got. */
  public record Op(long invokeNanos, long completeNanos, long first, int count, String client) {
    public long last() {
      return first + count - 1;
    }
  }

  private final List<Op> ops = new ArrayList<>();

  public synchronized void add(long invokeNanos, long completeNanos, long first, int count, String client) {
    ops.add(new Op(invokeNanos, completeNanos, first, count, client));
  }

  /** A copy of the operations, in the order they were recorded. */
  public synchronized List<Op> ops() {
    return new ArrayList<>(ops);
  }

  public synchronized int size() {
    return ops.size();
  }

  public synchronized long timestamps() {
    long n = 0;
    for (Op op : ops) {
      n += op.count();
    }
    return n;
  }

  /** Throws {@link AssertionError} naming the first violation found. */
  public synchronized void check() {
    check(ops);
  }

  /** Checks a given list of operations. */
  public static void check(List<Op> list) {
    Op[] byFirst = list.toArray(new Op[0]);
    for (Op op : byFirst) {
      if (op.count() < 1) {
        throw new AssertionError("empty range: " + op);
      }
      if ((op.first() & ((1L << 18) - 1)) + op.count() > (1L << 18)) {
        throw new AssertionError("range crosses a millisecond: " + op);
      }
      if (op.completeNanos() < op.invokeNanos()) {
        throw new AssertionError("completed before it was sent: " + op);
      }
    }
    Arrays.sort(byFirst, (a, b) -> Long.compareUnsigned(a.first(), b.first()));
    for (int i = 1; i < byFirst.length; i++) {
      if (Long.compareUnsigned(byFirst[i].first(), byFirst[i - 1].last()) <= 0) {
        throw new AssertionError("timestamps handed out twice: " + byFirst[i - 1] + " and " + byFirst[i]);
      }
    }
    // Real time: sweep requests by send time; every op completed before a send must be below it.
    Op[] byInvoke = list.toArray(new Op[0]);
    Op[] byComplete = list.toArray(new Op[0]);
    Arrays.sort(byInvoke, Comparator.comparingLong(Op::invokeNanos));
    Arrays.sort(byComplete, Comparator.comparingLong(Op::completeNanos));
    Op highest = null;
    int c = 0;
    for (Op op : byInvoke) {
      while (c < byComplete.length && byComplete[c].completeNanos() < op.invokeNanos()) {
        if (highest == null || Long.compareUnsigned(byComplete[c].last(), highest.last()) > 0) {
          highest = byComplete[c];
        }
        c++;
      }
      if (highest != null && Long.compareUnsigned(op.first(), highest.last()) <= 0) {
        throw new AssertionError("real-time order broken: " + op + " was sent after " + highest
            + " completed, yet is not above it");
      }
    }
  }
}
