package tso.loadgen;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.LongBuffer;

/**
 * Every answered request of a run: when it was sent and completed (monotonic nanos) and the range
 * it got. Appended from one thread; checked once at the end: no timestamp twice, and real-time
 * order (a request sent after another's answer arrived got larger timestamps), which also covers
 * the order of answers on each connection.
 *
 * <p>Kept in blocks of {@link #BLOCK} entries that are never copied: growing one array by
 * doubling would copy tens of megabytes on the sending thread in the middle of a run, and that
 * pause would show in the latency being measured. The blocks live outside the Java heap: on it,
 * every young collection during the run copied the megabytes already recorded, and its pause grew
 * with the run (to 8-15 ms after 20 s at 30,000/s), in the latency being measured.
 */
public final class Operations {

  static final int SHIFT = 16;
  static final int BLOCK = 1 << SHIFT;
  private static final int MASK = BLOCK - 1;

  private final java.util.ArrayList<LongBuffer> sentBlocks = new java.util.ArrayList<>();
  private final java.util.ArrayList<LongBuffer> doneBlocks = new java.util.ArrayList<>();
  private final java.util.ArrayList<LongBuffer> firstBlocks = new java.util.ArrayList<>();
  private final java.util.ArrayList<IntBuffer> countBlocks = new java.util.ArrayList<>();
  private int size;
  // The block being filled.
  private LongBuffer sentBlock;
  private LongBuffer doneBlock;
  private LongBuffer firstBlock;
  private IntBuffer countBlock;
  // Flat copies, made by check() or merged().
  private long[] sent;
  private long[] done;
  private long[] first;
  private int[] count;

  /** The outcome of {@link #check()}: how many violations, and the first one in words. */
  public record Verdict(long violations, String first) {
  }

  public void add(long sentNanos, long doneNanos, long firstTs, int n) {
    int i = size & MASK;
    if (i == 0) {
      sentBlock = longs();
      doneBlock = longs();
      firstBlock = longs();
      countBlock = ByteBuffer.allocateDirect(BLOCK * Integer.BYTES).order(ByteOrder.nativeOrder()).asIntBuffer();
      sentBlocks.add(sentBlock);
      doneBlocks.add(doneBlock);
      firstBlocks.add(firstBlock);
      countBlocks.add(countBlock);
    }
    sentBlock.put(i, sentNanos);
    doneBlock.put(i, doneNanos);
    firstBlock.put(i, firstTs);
    countBlock.put(i, n);
    size++;
  }

  private static LongBuffer longs() {
    return ByteBuffer.allocateDirect(BLOCK * Long.BYTES).order(ByteOrder.nativeOrder()).asLongBuffer();
  }

  /** Every operation of {@code parts}, in order, as one list ready to check. */
  static Operations merged(java.util.List<Operations> parts) {
    Operations m = new Operations();
    int total = 0;
    for (Operations p : parts) {
      total += p.size;
    }
    m.allocateFlat(total);
    int at = 0;
    for (Operations p : parts) {
      p.flattenInto(m, at);
      at += p.size;
    }
    m.size = total;
    return m;
  }

  private void allocateFlat(int n) {
    sent = new long[n];
    done = new long[n];
    first = new long[n];
    count = new int[n];
  }

  /** Copies this list's blocks into {@code to}'s flat arrays from index {@code at}. */
  private void flattenInto(Operations to, int at) {
    for (int b = 0; b * BLOCK < size; b++) {
      int n = Math.min(BLOCK, size - b * BLOCK);
      sentBlocks.get(b).get(0, to.sent, at + b * BLOCK, n);
      doneBlocks.get(b).get(0, to.done, at + b * BLOCK, n);
      firstBlocks.get(b).get(0, to.first, at + b * BLOCK, n);
      countBlocks.get(b).get(0, to.count, at + b * BLOCK, n);
    }
  }

  private void flatten() {
    if (sent != null && sent.length == size) {
      return; // merged, or checked before
    }
    allocateFlat(size);
    flattenInto(this, 0);
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
    long[] unsignedFirst = new long[size];
    for (int i = 0; i < size; i++) {
      unsignedFirst[i] = first[i] ^ Long.MIN_VALUE; // unsigned order as signed
    }
    int[] byFirst = IndexSort.order(unsignedFirst);
    unsignedFirst = null;
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
    byFirst = null;
    int[] bySent = IndexSort.order(sent);
    int[] byDone = IndexSort.order(done);
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

  private String describe(int i) {
    return "[" + Long.toUnsignedString(first[i]) + " +" + count[i] + "]";
  }
}
