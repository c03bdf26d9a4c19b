package tso.loadgen;

import java.util.Arrays;

/**
 * Every answered request of a run: when it was sent and completed (monotonic nanos) and the range
 * it got. Appended from one thread; checked once at the end: no timestamp twice, and real-time
 * order (a request sent after another's answer arrived got larger timestamps), which also covers
 * the order of answers on each connection.
 */
public final class Operations {

  private long[] sent = new long[1 << 16];
  private long[] done = new long[1 << 16];
  private long[] first = new long[1 << 16];
  private int[] count = new int[1 << 16];
  private int size;

  /** The outcome of {@link #check()}: how many violations, and the first one in words. */
  public record Verdict(long violations, String first) {
  }

  public void add(long sentNanos, long doneNanos, long firstTs, int n) {
    if (size == sent.length) {
      int cap = size * 2;
      sent = Arrays.copyOf(sent, cap);
      done = Arrays.copyOf(done, cap);
      first = Arrays.copyOf(first, cap);
      count = Arrays.copyOf(count, cap);
    }
    sent[size] = sentNanos;
    done[size] = doneNanos;
    first[size] = firstTs;
    count[size] = n;
    size++;
  }

  /** Appends operation {@code i} of this list to {@code to}. */
  void copyTo(int i, Operations to) {
    to.add(sent[i], done[i], first[i], count[i]);
  }

  public int size() {
    return size;
  }

  private long last(int i) {
    return first[i] + count[i] - 1;
  }

  /** Counts duplicates (overlapping ranges) and real-time order violations. */
  public Verdict check() {
    long violations = 0;
    String firstProblem = null;
    Integer[] byFirst = index();
    Arrays.sort(byFirst, (a, b) -> Long.compareUnsigned(first[a], first[b]));
    for (int k = 1; k < size; k++) {
      int a = byFirst[k - 1];
      int b = byFirst[k];
      if (Long.compareUnsigned(first[b], last(a)) <= 0) {
        violations++;
        if (firstProblem == null) {
          firstProblem = "timestamp handed out twice: " + describe(a) + " and " + describe(b);
        }
      }
    }
    Integer[] bySent = index();
    Integer[] byDone = index();
    Arrays.sort(bySent, (a, b) -> Long.compare(sent[a], sent[b]));
    Arrays.sort(byDone, (a, b) -> Long.compare(done[a], done[b]));
    int highest = -1;
    int c = 0;
    for (int op : bySent) {
      while (c < size && done[byDone[c]] < sent[op]) {
        int d = byDone[c++];
        if (highest < 0 || Long.compareUnsigned(last(d), last(highest)) > 0) {
          highest = d;
        }
      }
      if (highest >= 0 && Long.compareUnsigned(first[op], last(highest)) <= 0) {
        violations++;
        if (firstProblem == null) {
          firstProblem = "out of order: " + describe(op) + " was sent after " + describe(highest)
              + " was answered, yet is not above it";
        }
      }
    }
    return new Verdict(violations, firstProblem);
  }

  private Integer[] index() {
    Integer[] idx = new Integer[size];
    for (int i = 0; i < size; i++) {
      idx[i] = i;
    }
    return idx;
  }

  private String describe(int i) {
    return "[" + Long.toUnsignedString(first[i]) + " +" + count[i] + "]";
  }
}
