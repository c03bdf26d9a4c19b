package tso.loadgen;

import java.util.Arrays;

/**
 * Every answered request of a run: when it was sent and completed (monotonic nanos) and the range
 * it got. Appended from one thread; checked once at the end: no timestamp twice, and real-time
 * order (a request sent after another's answer arrived got larger timestamps), which also covers
 * the order of answers on each connection.
 *
 * <p>Kept in blocks of {@link #BLOCK} entries that are never copied: growing one array by
 * doubling would copy tens of megabytes on the sending thread in the middle of a run, and that
 * pause would show in the latency being measured.
 */
public final class Operations {

  static final int SHIFT = 16;
  static final int BLOCK = 1 << SHIFT;
  private static final int MASK = BLOCK - 1;

  private final java.util.ArrayList<long[]> sentBlocks = new java.util.ArrayList<>();
  private final java.util.ArrayList<long[]> doneBlocks = new java.util.ArrayList<>();
  private final java.util.ArrayList<long[]> firstBlocks = new java.util.ArrayList<>();
  private final java.util.ArrayList<int[]> countBlocks = new java.util.ArrayList<>();
  private int size;
  // Flat copies, made once by check().
  private long[] sent;
  private long[] done;
  private long[] first;
  private int[] count;

  /** The outcome of {@link #check()}: how many violations, and the first one in words. */
  public record Verdict(long violations, String first) {
  }

  public void add(long sentNanos, long doneNanos, long firstTs, int n) {
    int b = size >>> SHIFT;
    if (b == sentBlocks.size()) {
      sentBlocks.add(new long[BLOCK]);
      doneBlocks.add(new long[BLOCK]);
      firstBlocks.add(new long[BLOCK]);
      countBlocks.add(new int[BLOCK]);
    }
    int i = size & MASK;
    sentBlocks.get(b)[i] = sentNanos;
    doneBlocks.get(b)[i] = doneNanos;
    firstBlocks.get(b)[i] = firstTs;
    countBlocks.get(b)[i] = n;
    size++;
  }

  /** Appends operation {@code i} of this list to {@code to}. */
  void copyTo(int i, Operations to) {
    int b = i >>> SHIFT;
    int k = i & MASK;
    to.add(sentBlocks.get(b)[k], doneBlocks.get(b)[k], firstBlocks.get(b)[k], countBlocks.get(b)[k]);
  }

  private void flatten() {
    sent = new long[size];
    done = new long[size];
    first = new long[size];
    count = new int[size];
    for (int b = 0; b * BLOCK < size; b++) {
      int n = Math.min(BLOCK, size - b * BLOCK);
      System.arraycopy(sentBlocks.get(b), 0, sent, b * BLOCK, n);
      System.arraycopy(doneBlocks.get(b), 0, done, b * BLOCK, n);
      System.arraycopy(firstBlocks.get(b), 0, first, b * BLOCK, n);
      System.arraycopy(countBlocks.get(b), 0, count, b * BLOCK, n);
    }
  }

  public int size() {
    return size;
  }

  private long last(int i) {
    return first[i] + count[i] - 1;
  }

  /** Counts duplicates (overlapping ranges) and real-time order violations. */
  public Verdict check() {
    flatten();
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
