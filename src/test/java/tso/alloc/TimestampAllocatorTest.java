package tso.alloc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static tso.alloc.TimestampAllocator.MAX_LOGICAL;
import static tso.alloc.TimestampAllocator.NEEDS_BOUND;
import static tso.alloc.TimestampAllocator.compose;
import static tso.alloc.TimestampAllocator.logicalOf;
import static tso.alloc.TimestampAllocator.physicalOf;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;

/** Example tests for {@link TimestampAllocator}, driven by a fake clock (no sleeps). */
class TimestampAllocatorTest {

  private static final long T0 = 1_700_000_000_000L;
  private static final long WINDOW = 3_000;
  private static final long THIRD = WINDOW / 3;
  private static final long HOUR = 3_600_000L;

  /** A wall clock the test moves by hand. */
  static final class FakeClock implements LongSupplier {
    long now;

    FakeClock(long now) {
      this.now = now;
    }

    @Override
    public long getAsLong() {
      return now;
    }
  }

  private final FakeClock clock = new FakeClock(T0);
  private final TimestampAllocator alloc = new TimestampAllocator(clock, WINDOW);

  /** Starts from {@code storedBound} and reports the start target durable; returns that bound. */
  private long startAndPersist(TimestampAllocator a, long storedBound) {
    long target = a.start(storedBound);
    a.extensionDone(target);
    return target;
  }

  private long served(long ts) {
    assertThat(ts).as("expected a timestamp, got NEEDS_BOUND").isNotEqualTo(NEEDS_BOUND);
    return ts;
  }

  // ---------------------------------------------------------------- start

  @Test
  void startWithClockBehindStoredBoundServesFirstAboveTheStoredBound() {
    long stored = T0 + 60_000; // the clock is a minute behind the stored bound
    long target = alloc.start(stored);

    assertThat(target).isEqualTo(stored + 1 + WINDOW);
    alloc.extensionDone(target);

    long first = served(alloc.allocate(1));
    assertThat(physicalOf(first)).isEqualTo(stored + 1);
    assertThat(logicalOf(first)).isZero();

    clock.now += 10; // still behind the floor: keeps the floor, spends logical
    long second = served(alloc.allocate(1));
    assertThat(second).isEqualTo(first + 1);
  }

  @Test
  void startWithClockAheadOfStoredBoundBeginsAtTheClock() {
    long target = alloc.start(T0 - 5_000);

    assertThat(target).isEqualTo(T0 + WINDOW);
    alloc.extensionDone(target);
    assertThat(served(alloc.allocate(7))).isEqualTo(compose(T0, 0));
  }

  @Test
  void startWithNoStoredBoundBeginsAtTheClock() {
    startAndPersist(alloc, 0);

    assertThat(served(alloc.allocate(1))).isEqualTo(compose(T0, 0));
  }

  @Test
  void startTwiceIsRejected() {
    alloc.start(0);

    assertThatThrownBy(() -> alloc.start(0)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void nothingIsServedBeforeTheStartBoundIsReportedDurable() {
    long stored = T0 - 1_000;
    alloc.start(stored);

    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);
    clock.now += 1;
    assertThat(alloc.allocate(MAX_LOGICAL)).isEqualTo(NEEDS_BOUND);
    clock.now -= 2 * HOUR;
    assertThat(alloc.allocate(5)).isEqualTo(NEEDS_BOUND);

    // a failed persist does not open the gate
    alloc.extensionFailed();
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);

    // a durable value that is not above the start floor does not open it either
    alloc.extensionDone(stored);
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);
    alloc.extensionDone(T0 + 1); // physical followed the clock to T0 + 1: still nothing
    assertThat(alloc.bound()).isEqualTo(T0 + 1);
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);

    long target = alloc.extensionTarget();
    assertThat(target).isGreaterThan(T0 + 1);
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);
    alloc.extensionDone(target);

    long first = served(alloc.allocate(1));
    assertThat(physicalOf(first)).isGreaterThanOrEqualTo(stored + 1).isLessThan(target);
  }

  // ---------------------------------------------------------------- ranges

  @Test
  void rangesAreContiguousAndFollowEachOtherInsideOneMillisecond() {
    startAndPersist(alloc, 0);

    long a = served(alloc.allocate(1_000));
    long b = served(alloc.allocate(1));
    long c = served(alloc.allocate(MAX_LOGICAL - 1_001)); // fills the millisecond exactly

    assertThat(a).isEqualTo(compose(T0, 0));
    assertThat(b).isEqualTo(a + 1_000);
    assertThat(c).isEqualTo(b + 1);
    assertThat(physicalOf(c)).isEqualTo(T0);
    assertThat(logicalOf(c) + (MAX_LOGICAL - 1_001)).isEqualTo(MAX_LOGICAL);
    assertThat(physicalOf(c + MAX_LOGICAL - 1_001 - 1)).isEqualTo(T0);
    assertThat(alloc.logicalExhaustedEvents()).isZero();
  }

  @Test
  void aFullMillisecondRangeStartsAtLogicalZero() {
    startAndPersist(alloc, 0);
    served(alloc.allocate(3));
    clock.now += 1;

    long first = served(alloc.allocate(MAX_LOGICAL));

    assertThat(first).isEqualTo(compose(T0 + 1, 0));
    assertThat(physicalOf(first + MAX_LOGICAL - 1)).isEqualTo(T0 + 1);
  }

  @Test
  void aRangeThatDoesNotFitIsNotSplitButMovedToTheNextMillisecond() {
    startAndPersist(alloc, 0);

    long a = served(alloc.allocate(200_000));
    long b = served(alloc.allocate(100_000)); // 200,000 + 100,000 > 262,144
    long c = served(alloc.allocate(MAX_LOGICAL - 100_000)); // fits exactly behind b

    assertThat(a).isEqualTo(compose(T0, 0));
    assertThat(b).isEqualTo(compose(T0 + 1, 0));
    assertThat(c).isEqualTo(compose(T0 + 1, 100_000));
    assertThat(alloc.logicalExhaustedEvents()).isEqualTo(1);
  }

  @Test
  void logicalExhaustionMovesPhysicalForwardByExactlyOneMillisecond() {
    startAndPersist(alloc, 0);

    for (int i = 0; i < 6; i++) {
      long ts = served(alloc.allocate(MAX_LOGICAL));
      assertThat(ts).isEqualTo(compose(T0 + i, 0));
      assertThat(alloc.logicalExhaustedEvents()).isEqualTo(i);
    }
    assertThat(alloc.physical()).isEqualTo(T0 + 5);

    // the clock catches up only partially: physical keeps running ahead by one at a time
    clock.now = T0 + 2;
    assertThat(served(alloc.allocate(1))).isEqualTo(compose(T0 + 6, 0));
    assertThat(alloc.logicalExhaustedEvents()).isEqualTo(6);

    // the clock overtakes physical: a fresh millisecond, no exhaustion
    clock.now = T0 + 10;
    assertThat(served(alloc.allocate(1))).isEqualTo(compose(T0 + 10, 0));
    assertThat(alloc.logicalExhaustedEvents()).isEqualTo(6);
  }

  @Test
  void countZeroNegativeAndAboveMaxLogicalAreRejectedAndConsumeNothing() {
    startAndPersist(alloc, 0);

    assertThatThrownBy(() -> alloc.allocate(0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> alloc.allocate(-1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> alloc.allocate(MAX_LOGICAL + 1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> alloc.allocate(Integer.MAX_VALUE))
        .isInstanceOf(IllegalArgumentException.class);

    assertThat(served(alloc.allocate(MAX_LOGICAL))).isEqualTo(compose(T0, 0));
    assertThat(alloc.logicalExhaustedEvents()).isZero();
  }

  @Test
  void allocateBeforeStartIsRejected() {
    assertThatThrownBy(() -> alloc.allocate(1)).isInstanceOf(IllegalStateException.class);
  }

  // ---------------------------------------------------------------- clock going back

  @Test
  void clockGoingBackOneMillisecondKeepsPhysicalAndCountsAClockBehindEvent() {
    startAndPersist(alloc, 0);
    long a = served(alloc.allocate(1));

    clock.now = T0 - 1;
    long b = served(alloc.allocate(1));
    assertThat(b).isEqualTo(a + 1);
    assertThat(alloc.clockBehindEvents()).isEqualTo(1);

    clock.now = T0; // forward again, but not past physical
    long c = served(alloc.allocate(1));
    assertThat(c).isEqualTo(b + 1);
    assertThat(alloc.clockBehindEvents()).isEqualTo(1);

    clock.now = T0 + 1;
    long d = served(alloc.allocate(1));
    assertThat(d).isEqualTo(compose(T0 + 1, 0));
    assertThat(alloc.clockBehindEvents()).isEqualTo(1);
  }

  @Test
  void clockGoingBackHoursNeverYieldsASmallerTimestamp() {
    startAndPersist(alloc, 0);
    long last = served(alloc.allocate(10));

    clock.now = T0 - 3 * HOUR;
    for (int i = 0; i < 5; i++) {
      long ts = served(alloc.allocate(MAX_LOGICAL / 2));
      assertThat(ts).isGreaterThan(last);
      assertThat(physicalOf(ts)).isGreaterThanOrEqualTo(T0);
      last = ts;
    }
    assertThat(alloc.clockBehindEvents()).isEqualTo(1); // only the first read was behind

    clock.now -= HOUR;
    long ts = served(alloc.allocate(1));
    assertThat(ts).isGreaterThan(last);
    assertThat(alloc.clockBehindEvents()).isEqualTo(2);
  }

  // ---------------------------------------------------------------- the bound

  @Test
  void reachingTheBoundReturnsNeedsBoundAndNeverServesAtOrPastIt() {
    long bound = startAndPersist(alloc, T0 - 1); // floor T0, bound T0 + WINDOW
    assertThat(bound).isEqualTo(T0 + WINDOW);

    clock.now = bound - 1;
    long last = served(alloc.allocate(1));
    assertThat(physicalOf(last)).isEqualTo(bound - 1);

    // the rest of the last millisecond does not fit: it would have to use physical == bound
    assertThat(alloc.allocate(MAX_LOGICAL)).isEqualTo(NEEDS_BOUND);
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);
    clock.now = bound;
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);
    clock.now = bound + 5;
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);

    long target = alloc.extensionTarget();
    assertThat(target).isEqualTo(bound + 5 + WINDOW);
    alloc.extensionDone(target);

    long next = served(alloc.allocate(1));
    assertThat(next).isGreaterThan(last);
    assertThat(physicalOf(next)).isEqualTo(bound + 5);
  }

  @Test
  void frozenClockSpendsTheWindowByLogicalExhaustionButStopsBelowTheBound() {
    long window = 30;
    TimestampAllocator small = new TimestampAllocator(clock, window);
    long bound = startAndPersist(small, 0);
    assertThat(bound).isEqualTo(T0 + window);

    List<Long> physicals = new ArrayList<>();
    long ts;
    while ((ts = small.allocate(MAX_LOGICAL)) != NEEDS_BOUND) {
      assertThat(physicals.size()).as("runaway allocation").isLessThan(1_000);
      physicals.add(physicalOf(ts));
    }

    List<Long> expected = new ArrayList<>();
    for (long p = T0; p < bound; p++) {
      expected.add(p);
    }
    assertThat(physicals).isEqualTo(expected);
    assertThat(small.allocate(1)).isEqualTo(NEEDS_BOUND);
  }

  @Test
  void clockJumpingHoursPastTheBoundNeedsAnExtensionReachingPastTheNewClock() {
    long bound = startAndPersist(alloc, T0 - 1);
    long last = served(alloc.allocate(1));

    // an extension asked before the jump, for a bound the jumped clock is already past
    clock.now = T0 + WINDOW - THIRD + 1;
    long early = alloc.extensionTarget();
    assertThat(early).isEqualTo(clock.now + WINDOW);

    clock.now = T0 + 5 * HOUR;
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);

    alloc.extensionDone(early);
    assertThat(alloc.bound()).isEqualTo(early).isGreaterThan(bound);
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND); // early < now: still nothing

    long target = alloc.extensionTarget();
    assertThat(target).isEqualTo(T0 + 5 * HOUR + WINDOW);
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND); // not durable yet
    alloc.extensionDone(target);

    long next = served(alloc.allocate(1));
    assertThat(next).isGreaterThan(last);
    assertThat(next).isEqualTo(compose(T0 + 5 * HOUR, 0));
  }

  // ---------------------------------------------------------------- extensions

  @Test
  void extensionIsNotAskedWhileAThirdOrMoreOfTheWindowIsLeft() {
    long bound = startAndPersist(alloc, T0 - 1);

    assertThat(alloc.extensionTarget()).isEqualTo(-1);
    clock.now = bound - THIRD - 1; // THIRD + 1 ms left
    served(alloc.allocate(1));
    assertThat(alloc.extensionTarget()).isEqualTo(-1);
    assertThat(alloc.extensionPending()).isFalse();
  }

  @Test
  void extensionIsAskedWhenLessThanAThirdOfTheWindowIsLeft() {
    long bound = startAndPersist(alloc, T0 - 1);

    clock.now = bound - THIRD + 1; // THIRD - 1 ms left
    long target = alloc.extensionTarget();

    assertThat(target).isEqualTo(clock.now + WINDOW);
    assertThat(alloc.extensionPending()).isTrue();
  }

  @Test
  void extensionIsMeasuredFromPhysicalWhenPhysicalRunsAheadOfTheClock() {
    long bound = startAndPersist(alloc, T0 - 1); // clock stays at T0

    // push physical ahead by logical exhaustion until THIRD + 1 ms are left
    for (int i = 0; i < 10_000 && alloc.physical() < bound - THIRD - 1; i++) {
      served(alloc.allocate(MAX_LOGICAL));
    }
    assertThat(alloc.physical()).isEqualTo(bound - THIRD - 1);
    assertThat(alloc.extensionTarget()).isEqualTo(-1);

    served(alloc.allocate(MAX_LOGICAL));
    served(alloc.allocate(MAX_LOGICAL));
    assertThat(alloc.physical()).isEqualTo(bound - THIRD + 1);
    assertThat(alloc.extensionTarget()).isEqualTo(bound - THIRD + 1 + WINDOW);
  }

  @Test
  void extensionIsAskedOnlyOnceWhilePendingAndAgainAfterAFailure() {
    long bound = startAndPersist(alloc, T0 - 1);

    clock.now = bound - 10;
    long first = alloc.extensionTarget();
    assertThat(first).isEqualTo(bound - 10 + WINDOW);

    clock.now = bound - 5;
    assertThat(alloc.extensionTarget()).isEqualTo(-1);
    clock.now = bound + HOUR;
    assertThat(alloc.extensionTarget()).isEqualTo(-1);
    assertThat(alloc.extensionPending()).isTrue();

    alloc.extensionFailed();
    assertThat(alloc.extensionPending()).isFalse();
    long second = alloc.extensionTarget();
    assertThat(second).isEqualTo(bound + HOUR + WINDOW);
    assertThat(alloc.extensionTarget()).isEqualTo(-1);

    alloc.extensionDone(second);
    assertThat(alloc.extensionPending()).isFalse();
    assertThat(alloc.bound()).isEqualTo(second);
    assertThat(alloc.extensionTarget()).isEqualTo(-1); // a whole window is left again
  }

  @Test
  void startTargetCountsAsPendingUntilReported() {
    alloc.start(T0 - 1);

    assertThat(alloc.extensionPending()).isTrue();
    assertThat(alloc.extensionTarget()).isEqualTo(-1);
    alloc.extensionFailed();
    assertThat(alloc.extensionTarget()).isEqualTo(T0 + WINDOW);
  }

  @Test
  void aSmallerDurableValueNeverLowersTheBound() {
    long bound = startAndPersist(alloc, T0 - 1);
    clock.now = bound - 1;
    alloc.extensionTarget();

    alloc.extensionDone(bound - 100);

    assertThat(alloc.bound()).isEqualTo(bound);
    assertThat(alloc.extensionPending()).isFalse();
  }

  // ---------------------------------------------------------------- reset and restart

  @Test
  void resetForgetsTheStateSoAllocateThrowsUntilStartedAgain() {
    startAndPersist(alloc, 0);
    served(alloc.allocate(5));
    clock.now += 2_500;
    alloc.extensionTarget(); // leave one in flight

    alloc.reset();

    assertThat(alloc.isStarted()).isFalse();
    assertThat(alloc.bound()).isZero();
    assertThat(alloc.physical()).isZero();
    assertThat(alloc.extensionPending()).isFalse();
    assertThat(alloc.extensionTarget()).isEqualTo(-1);
    assertThatThrownBy(() -> alloc.allocate(1)).isInstanceOf(IllegalStateException.class);

    // a late report of the old in-flight extension is ignored while stopped
    alloc.extensionDone(T0 + 10 * HOUR);
    assertThat(alloc.bound()).isZero();
    assertThatThrownBy(() -> alloc.allocate(1)).isInstanceOf(IllegalStateException.class);

    alloc.start(T0);
    assertThat(alloc.isStarted()).isTrue();
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);
  }

  @Test
  void restartFromTheOldBoundIsAboveEveryEarlierTimestampEvenWithTheClockBack() {
    long durable = startAndPersist(alloc, 0);
    long maxServed = -1;
    // serve every millisecond right up to the bound
    long ts;
    for (int i = 0; ; i++) {
      assertThat(i).as("runaway allocation").isLessThan(10_000);
      clock.now += 1;
      ts = alloc.allocate(MAX_LOGICAL);
      if (ts == NEEDS_BOUND) {
        break;
      }
      maxServed = ts + MAX_LOGICAL - 1;
    }
    assertThat(physicalOf(maxServed)).isEqualTo(durable - 1);

    alloc.reset();
    clock.now -= HOUR;
    long target = alloc.start(durable);
    assertThat(alloc.allocate(1)).isEqualTo(NEEDS_BOUND);
    alloc.extensionDone(target);

    long first = served(alloc.allocate(1));
    assertThat(first).isGreaterThan(maxServed);
    assertThat(physicalOf(first)).isEqualTo(durable + 1);
  }

  // ---------------------------------------------------------------- misc

  @Test
  void windowBelowThreeMillisecondsIsRejected() {
    assertThatThrownBy(() -> new TimestampAllocator(clock, 2))
        .isInstanceOf(IllegalArgumentException.class);
    new TimestampAllocator(clock, 3);
  }

  @Test
  void composeAndSplitRoundTripAndOrderLikeThePair() {
    long ts = compose(T0, MAX_LOGICAL - 1);

    assertThat(physicalOf(ts)).isEqualTo(T0);
    assertThat(logicalOf(ts)).isEqualTo(MAX_LOGICAL - 1);
    assertThat(compose(T0 + 1, 0)).isEqualTo(ts + 1);
  }
}
