package tso.support;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The checker every fault test ends with: it must catch bad histories and pass good ones. */
@Tag("unit")
class HistoryTest {

  private static final int LOGICAL_BITS = 18;
  private static final int PER_MS = 1 << LOGICAL_BITS;
  private static final long MS = 1_700_000_000_000L;

  private static long ts(long ms, int logical) {
    return ms << LOGICAL_BITS | logical;
  }

  private static History.Op op(long invoke, long complete, long first, int count) {
    return new History.Op(invoke, complete, first, count, "c");
  }

  private static void passes(History.Op... ops) {
    assertThatCode(() -> History.check(List.of(ops))).doesNotThrowAnyException();
  }

  private static void fails(String message, History.Op... ops) {
    assertThatThrownBy(() -> History.check(List.of(ops)))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining(message);
  }

  @Test
  void emptyHistoryPasses() {
    History h = new History();
    h.check();
    assertThat(h.size()).isZero();
    assertThat(h.timestamps()).isZero();
    passes();
  }

  @Test
  void recordsAndCounts() {
    History h = new History();
    h.add(0, 10, ts(MS, 0), 5, "a");
    h.add(20, 30, ts(MS, 5), 3, "b");
    assertThat(h.size()).isEqualTo(2);
    assertThat(h.timestamps()).isEqualTo(8);
    assertThat(h.ops()).extracting(History.Op::client).containsExactly("a", "b");
    assertThat(h.ops().get(0).last()).isEqualTo(ts(MS, 4));
    h.check();
  }

  @Test
  void sameRangeTwiceFails() {
    fails("handed out twice",
        op(0, 10, ts(MS, 0), 4),
        op(0, 10, ts(MS, 0), 4));
    // Even far apart in time, and from different clients.
    fails("handed out twice",
        new History.Op(0, 10, ts(MS, 7), 1, "a"),
        new History.Op(1_000, 2_000, ts(MS + 5, 0), 1, "b"),
        new History.Op(3_000, 4_000, ts(MS, 7), 1, "c"));
  }

  @Test
  void overlappingRangesFail() {
    // Partly overlapping.
    fails("handed out twice", op(0, 10, ts(MS, 0), 10), op(0, 10, ts(MS, 5), 10));
    // Sharing exactly one timestamp at the edge.
    fails("handed out twice", op(0, 10, ts(MS, 0), 10), op(0, 10, ts(MS, 9), 1));
    // One inside another, with an unrelated range sorting between them.
    fails("handed out twice",
        op(0, 10, ts(MS, 0), 100),
        op(0, 10, ts(MS, 200), 10),
        op(0, 10, ts(MS, 50), 10));
    // Adjacent is fine.
    passes(op(0, 10, ts(MS, 0), 10), op(0, 10, ts(MS, 10), 1));
  }

  @Test
  void rangeBelowAnEarlierCompletedOneFails() {
    // B was sent after A completed, yet B's range is below A's.
    fails("real-time order broken",
        new History.Op(0, 10, ts(MS + 5, 0), 10, "A"),
        new History.Op(20, 30, ts(MS + 4, 0), 10, "B"));
    // Same millisecond, lower logical.
    fails("real-time order broken",
        op(0, 10, ts(MS, 100), 10),
        op(11, 12, ts(MS, 50), 10));
  }

  @Test
  void realTimeComparesWithTheHighestCompletedNotTheLatest() {
    // A (high) and C (low) both completed before B was sent; B is above C but below A.
    fails("real-time order broken",
        op(0, 10, ts(MS, 1_000), 1),   // A
        op(5, 15, ts(MS, 10), 1),      // C: concurrent with A, completes later
        op(20, 30, ts(MS, 500), 1));   // B
  }

  @Test
  void concurrentOpsMayBeInAnyOrder() {
    // All overlap in time: any order of ranges is allowed, whatever the order of sends.
    passes(
        op(0, 100, ts(MS, 30), 10),
        op(1, 101, ts(MS, 20), 10),
        op(2, 102, ts(MS, 10), 10),
        op(3, 103, ts(MS, 0), 10));
    // B sent before A completed: B may be below A.
    passes(
        op(0, 10, ts(MS + 5, 0), 10),
        op(9, 30, ts(MS + 4, 0), 10));
    // A completing in the very nanosecond B is sent is not "before": concurrent.
    passes(
        op(0, 10, ts(MS + 5, 0), 10),
        op(10, 30, ts(MS + 4, 0), 10));
    // Recorded out of order: the checker sorts by itself.
    passes(
        op(20, 30, ts(MS, 10), 10),
        op(0, 10, ts(MS, 0), 10));
  }

  @Test
  void rangeCrossingAMillisecondFails() {
    fails("crosses a millisecond", op(0, 10, ts(MS, PER_MS - 5), 10));
    fails("crosses a millisecond", op(0, 10, ts(MS, 0), PER_MS + 1));
    // Up to the last logical of the millisecond is fine; so is a whole millisecond.
    passes(op(0, 10, ts(MS, PER_MS - 10), 10));
    passes(op(0, 10, ts(MS, 0), PER_MS));
    passes(op(0, 10, ts(MS, PER_MS - 1), 1), op(20, 30, ts(MS + 1, 0), 1));
  }

  @Test
  void emptyOrNegativeRangeFails() {
    fails("empty range", op(0, 10, ts(MS, 0), 0));
    fails("empty range", op(0, 10, ts(MS, 0), -3));
  }

  @Test
  void completedBeforeSentFails() {
    fails("completed before it was sent", op(10, 9, ts(MS, 0), 1));
  }

  @Test
  void bigRandomValidHistoryChecksFast() {
    List<History.Op> ops = validHistory(new Random(42), 100_000);
    History.check(ops); // warm-up
    long t0 = System.nanoTime();
    History.check(ops);
    long ms = (System.nanoTime() - t0) / 1_000_000;
    assertThat(ms).as("check of 100k ops, ms").isLessThan(1_000);
  }

  @Test
  void bigRandomHistoryWithOneFaultFails() {
    Random rnd = new Random(7);
    List<History.Op> ops = validHistory(rnd, 100_000);
    // A duplicate: one op gets the first timestamp of another.
    List<History.Op> dup = new ArrayList<>(ops);
    int i = rnd.nextInt(dup.size());
    int j = (i + 1 + rnd.nextInt(dup.size() - 1)) % dup.size();
    History.Op a = dup.get(i);
    dup.set(j, new History.Op(dup.get(j).invokeNanos(), dup.get(j).completeNanos(), a.first(), 1, "dup"));
    assertThatThrownBy(() -> History.check(dup)).hasMessageContaining("handed out twice");

    // Real time: the last op sent gets a range below every other (still unique), though the op
    // that completed first had completed before it was sent.
    List<History.Op> back = new ArrayList<>(ops);
    int first = 0;
    int lastSent = 0;
    for (int k = 1; k < back.size(); k++) {
      if (back.get(k).completeNanos() < back.get(first).completeNanos()) {
        first = k;
      }
      if (back.get(k).invokeNanos() > back.get(lastSent).invokeNanos()) {
        lastSent = k;
      }
    }
    History.Op f = back.get(first);
    History.Op l = back.get(lastSent);
    assertThat(l.invokeNanos()).isGreaterThan(f.completeNanos());
    back.set(lastSent, new History.Op(l.invokeNanos(), l.completeNanos(), ts(MS - 1, 0), 1, "late"));
    assertThatThrownBy(() -> History.check(back)).hasMessageContaining("real-time order broken");
  }

  @Test
  void agreesWithABruteForceCheckOnSmallRandomHistories() {
    Random rnd = new Random(1);
    int bad = 0;
    for (int trial = 0; trial < 20_000; trial++) {
      int n = 1 + rnd.nextInt(6);
      List<History.Op> ops = new ArrayList<>();
      for (int k = 0; k < n; k++) {
        long invoke = rnd.nextInt(20);
        long complete = invoke + rnd.nextInt(20) - (rnd.nextInt(50) == 0 ? 1 : 0);
        int logical = rnd.nextInt(10) == 0 ? PER_MS - 1 - rnd.nextInt(3) : rnd.nextInt(40);
        int count = rnd.nextInt(60) == 0 ? 0 : 1 + rnd.nextInt(5);
        ops.add(op(invoke, complete, ts(MS + rnd.nextInt(2), logical), count));
      }
      String expected = bruteForce(ops);
      if (expected == null) {
        assertThatCode(() -> History.check(ops)).as("%s", ops).doesNotThrowAnyException();
      } else {
        bad++;
        assertThatThrownBy(() -> History.check(ops)).as("%s", ops).hasMessageContaining(expected);
      }
    }
    assertThat(bad).as("bad histories generated").isBetween(2_000, 18_000);
  }

  /** O(n^2) statement of the rules: the first kind of violation, or null. */
  private static String bruteForce(List<History.Op> ops) {
    for (History.Op o : ops) {
      if (o.count() < 1) {
        return "empty range";
      }
      if (o.first() >> LOGICAL_BITS != o.last() >> LOGICAL_BITS) {
        return "crosses a millisecond";
      }
      if (o.completeNanos() < o.invokeNanos()) {
        return "completed before it was sent";
      }
    }
    for (int x = 0; x < ops.size(); x++) {
      for (int y = x + 1; y < ops.size(); y++) {
        History.Op a = ops.get(x);
        History.Op b = ops.get(y);
        if (a.first() <= b.last() && b.first() <= a.last()) {
          return "handed out twice";
        }
      }
    }
    for (History.Op a : ops) {
      for (History.Op b : ops) {
        if (a.completeNanos() < b.invokeNanos() && b.first() <= a.last()) {
          return "real-time order broken";
        }
      }
    }
    return null;
  }

  /**
   * A linearizable history of a correct oracle with up to ~50 requests in flight: each op takes
   * effect at a random point between its send and its completion, in which order ranges grow,
   * moving to the next millisecond when one runs out. Recorded shuffled.
   */
  private static List<History.Op> validHistory(Random rnd, int n) {
    long[] invoke = new long[n];
    long[] at = new long[n];
    long[] complete = new long[n];
    Integer[] order = new Integer[n];
    long t = 0;
    for (int i = 0; i < n; i++) {
      t += rnd.nextInt(20);
      invoke[i] = t;
      at[i] = t + rnd.nextInt(500);
      complete[i] = at[i] + rnd.nextInt(500);
      order[i] = i;
    }
    java.util.Arrays.sort(order, (x, y) -> Long.compare(at[x], at[y]));
    List<History.Op> ops = new ArrayList<>(n);
    long ms = MS;
    int logical = 0;
    for (int i : order) {
      int count = 1 + rnd.nextInt(rnd.nextInt(10) == 0 ? 10_000 : 64);
      if (logical + count > PER_MS) {
        ms += 1 + rnd.nextInt(3);
        logical = 0;
      }
      ops.add(new History.Op(invoke[i], complete[i], ts(ms, logical), count, "c" + (i % 50)));
      logical += count + (rnd.nextInt(4) == 0 ? rnd.nextInt(100) : 0); // gaps are allowed
    }
    Collections.shuffle(ops, rnd);
    return ops;
  }

  /**
   * Latent bug in {@link History#check}: ranges are sorted with a signed comparison but compared
   * unsigned, so a timestamp with the top bit set (unsigned, as TSO timestamps are) sorts first and
   * every range after it is reported as a duplicate. Not reachable with Unix-epoch milliseconds
   * before the year 3084 (physical >= 2^45 ms); enable when the sort uses
   * {@code Long::compareUnsigned}.
   */
  @Test
  void topBitTimestampsAreUnsigned() {
    passes(op(0, 10, 1, 1), op(0, 10, Long.MIN_VALUE, 1));
  }
}
