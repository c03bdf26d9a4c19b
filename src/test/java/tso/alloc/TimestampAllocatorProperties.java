package tso.alloc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static tso.alloc.TimestampAllocator.MAX_LOGICAL;
import static tso.alloc.TimestampAllocator.NEEDS_BOUND;
import static tso.alloc.TimestampAllocator.logicalOf;
import static tso.alloc.TimestampAllocator.physicalOf;

import java.util.List;
import java.util.function.LongSupplier;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;

/**
 * Random sequences of allocations, clock moves and owner actions (extensions persisted, failed,
 * delayed; crashes and role changes) against {@link TimestampAllocator}; the invariants are checked
 * after every step by {@link World}.
 */
class TimestampAllocatorProperties {

  static final long T0 = 1_700_000_000_000L;
  static final long HOUR = 3_600_000L;

  // ------------------------------------------------------------------ operations

  sealed interface Op
      permits Allocate, ClockStep, ClockJump, Ask, Persist, Fail, PersistButReportFailure,
          StaleReport, Crash, RoleChange {}

  /** The server asks for {@code count} timestamps. */
  record Allocate(int count) implements Op {}

  /** The wall clock moves by a small step (0..3 ms). */
  record ClockStep(long ms) implements Op {}

  /** The wall clock jumps (back or forward). */
  record ClockJump(long ms) implements Op {}

  /** The owner polls {@link TimestampAllocator#extensionTarget}. */
  record Ask() implements Op {}

  /** The in-flight extension (if any) is written to the store and reported done. */
  record Persist() implements Op {}

  /** The in-flight extension (if any) is not written and reported failed. */
  record Fail() implements Op {}

  /** Ambiguous failure: the write reached the store, but the owner reports a failure. */
  record PersistButReportFailure() implements Op {}

  /**
   * With nothing in flight, the owner repeats the oldest durable report this instance got (a
   * duplicated completion): the bound must not go down.
   */
  record StaleReport() implements Op {}

  /**
   * The process dies; a new allocator starts from the stored bound with the clock set back by
   * {@code clockBackMs}. The in-flight write, if any, lands in the store before the crash when
   * {@code inFlightLands}.
   */
  record Crash(long clockBackMs, boolean inFlightLands) implements Op {}

  /** A role change: {@link TimestampAllocator#reset()} then start again from the stored bound. */
  record RoleChange(boolean inFlightLands) implements Op {}

  // ------------------------------------------------------------------ the simulated world

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

  /** Allocator, clock, owner and durable store; checks every invariant after each step. */
  static final class World {
    final FakeClock clock = new FakeClock(T0);
    final long window;
    /** When false, every write must raise the stored bound (no ambiguous failures happen). */
    final boolean ambiguousFailures;

    TimestampAllocator alloc;
    /** The value in the simulated durable store (plain overwrite, as the owner writes it). */
    long durable;
    /** The target the owner is persisting, or -1. */
    long inFlight = -1;
    /** The last timestamp of the largest range ever served, by any allocator instance. */
    long maxServed = -1;
    /** {@code max(clock, storedBound + 1)} at the last start. */
    long floor;
    /** The allocator's bound after the last step (it must never go down while started). */
    long lastBound;
    /** Clock reading at the last start/allocate of the current instance. */
    long lastWall;
    /** Allocations that saw the clock behind the previous reading, for the current instance. */
    long expectedClockBehind;
    /** The first bound reported done to the current instance, or -1. */
    long firstReported = -1;

    World(long window, long storedBound, boolean ambiguousFailures) {
      this.window = window;
      this.durable = storedBound;
      this.ambiguousFailures = ambiguousFailures;
      this.alloc = new TimestampAllocator(clock, window);
      start();
    }

    void run(List<Op> ops) {
      for (Op op : ops) {
        step(op);
        checkState(op);
      }
    }

    void step(Op op) {
      if (op instanceof Allocate a) {
        allocate(a.count());
      } else if (op instanceof ClockStep s) {
        clock.now += s.ms();
      } else if (op instanceof ClockJump j) {
        clock.now += j.ms();
      } else if (op instanceof Ask) {
        ask();
      } else if (op instanceof Persist) {
        if (inFlight != -1) {
          write(inFlight);
          long before = alloc.bound();
          alloc.extensionDone(inFlight);
          assertThat(alloc.bound()).isEqualTo(Math.max(before, inFlight));
          if (firstReported == -1) {
            firstReported = inFlight;
          }
          inFlight = -1;
        }
      } else if (op instanceof Fail) {
        if (inFlight != -1) {
          alloc.extensionFailed();
          inFlight = -1;
        }
      } else if (op instanceof PersistButReportFailure) {
        if (inFlight != -1) {
          write(inFlight);
          alloc.extensionFailed();
          inFlight = -1;
        }
      } else if (op instanceof StaleReport) {
        if (inFlight == -1 && firstReported != -1) {
          long before = alloc.bound();
          alloc.extensionDone(firstReported);
          assertThat(alloc.bound()).as("bound after a stale report").isEqualTo(before);
        }
      } else if (op instanceof Crash c) {
        crash(c.clockBackMs(), c.inFlightLands());
      } else if (op instanceof RoleChange r) {
        roleChange(r.inFlightLands());
      } else {
        throw new AssertionError("unknown op " + op);
      }
    }

    void start() {
      long now = clock.now;
      floor = Math.max(now, durable + 1);
      long target = alloc.start(durable);
      assertThat(target).as("start target").isEqualTo(floor + window);
      assertThat(alloc.bound()).isEqualTo(durable);
      assertThat(alloc.extensionPending()).isTrue();
      inFlight = target;
      firstReported = -1;
      lastBound = alloc.bound();
      lastWall = now;
    }

    void write(long value) {
      if (!ambiguousFailures) {
        assertThat(value).as("the durable bound only grows").isGreaterThan(durable);
      }
      durable = value;
    }

    void allocate(int count) {
      long now = clock.now;
      long physicalBefore = alloc.physical();
      long exhaustedBefore = alloc.logicalExhaustedEvents();
      long base = Math.max(now, physicalBefore);
      boolean roomEvenIfExhausted = base + 1 < alloc.bound();

      long first = alloc.allocate(count);

      if (now < lastWall) {
        expectedClockBehind++;
      }
      lastWall = now;
      assertThat(alloc.clockBehindEvents()).as("clockBehindEvents").isEqualTo(expectedClockBehind);

      // physical follows the clock, and moves past max(clock, physical) only by 1 on exhaustion
      long exhausted = alloc.logicalExhaustedEvents() - exhaustedBefore;
      assertThat(exhausted).isBetween(0L, 1L);
      assertThat(alloc.physical()).as("physical after allocate").isEqualTo(base + exhausted);

      if (first == NEEDS_BOUND) {
        assertThat(roomEvenIfExhausted)
            .as("NEEDS_BOUND although max(clock, physical) + 1 < bound %d", alloc.bound())
            .isFalse();
        assertThat(alloc.physical()).isGreaterThanOrEqualTo(alloc.bound());
        return;
      }
      long last = first + count - 1;
      assertThat(first).as("strictly above every earlier timestamp").isGreaterThan(maxServed);
      assertThat(physicalOf(first)).as("range inside one millisecond").isEqualTo(physicalOf(last));
      assertThat(logicalOf(first) + (long) count).isLessThanOrEqualTo(MAX_LOGICAL);
      assertThat(physicalOf(first)).isEqualTo(alloc.physical());
      assertThat(physicalOf(first)).as("not behind the wall clock").isGreaterThanOrEqualTo(now);
      assertThat(physicalOf(first)).as("at or above the start floor").isGreaterThanOrEqualTo(floor);
      assertThat(physicalOf(first))
          .as("below the allocator's bound")
          .isLessThan(alloc.bound())
          .as("below the durable bound")
          .isLessThan(durable);
      maxServed = last;
    }

    void ask() {
      long base = Math.max(clock.now, alloc.physical());
      long left = alloc.bound() - base;
      long target = alloc.extensionTarget();
      if (inFlight != -1) {
        assertThat(target).as("asked again while one is pending").isEqualTo(-1);
        return;
      }
      // 3 * left < window: less than a third left (exactly a third may go either way)
      if (3 * left < window) {
        assertThat(target).as("not asked with %d of %d ms left", left, window).isNotEqualTo(-1);
      }
      if (3 * left > window) {
        assertThat(target).as("asked with %d of %d ms left", left, window).isEqualTo(-1);
      }
      if (target != -1) {
        assertThat(target).isEqualTo(base + window);
        assertThat(target).isGreaterThan(alloc.bound());
        inFlight = target;
      }
    }

    void crash(long clockBackMs, boolean inFlightLands) {
      if (inFlight != -1 && inFlightLands) {
        write(inFlight);
      }
      inFlight = -1;
      clock.now -= clockBackMs;
      alloc = new TimestampAllocator(clock, window);
      expectedClockBehind = 0;
      start();
    }

    void roleChange(boolean inFlightLands) {
      long late = inFlight;
      alloc.reset();
      assertThat(alloc.isStarted()).isFalse();
      assertThat(alloc.extensionPending()).isFalse();
      assertThat(alloc.extensionTarget()).isEqualTo(-1);
      assertThatThrownBy(() -> alloc.allocate(1)).isInstanceOf(IllegalStateException.class);
      if (late != -1 && inFlightLands) {
        write(late);
        alloc.extensionDone(late); // a late report reaches the stopped allocator: ignored
        assertThat(alloc.bound()).isZero();
        assertThatThrownBy(() -> alloc.allocate(1)).isInstanceOf(IllegalStateException.class);
      }
      inFlight = -1;
      start();
    }

    void checkState(Op op) {
      assertThat(alloc.isStarted()).isTrue();
      assertThat(alloc.extensionPending()).as("pending after %s", op).isEqualTo(inFlight != -1);
      assertThat(alloc.bound()).as("bound went down after %s", op).isGreaterThanOrEqualTo(lastBound);
      assertThat(alloc.bound()).as("bound above the durable store").isLessThanOrEqualTo(durable);
      lastBound = alloc.bound();
    }

    /** Crashes with the clock set back, persists the start bound, and serves once more. */
    void crashAndServeOnceMore(long clockBackMs) {
      long before = maxServed;
      crash(clockBackMs, false);
      assertThat(alloc.allocate(1)).as("served before the start bound is durable").isEqualTo(NEEDS_BOUND);
      lastWall = clock.now;
      step(new Persist());
      allocate(1);
      assertThat(maxServed).as("nothing served after the restart").isGreaterThan(before);
    }
  }

  // ------------------------------------------------------------------ properties

  @Property(tries = 400)
  void servedRangesStrictlyIncreaseStayInOneMillisecondAndBelowTheDurableBound(
      @ForAll("windows") long window,
      @ForAll("storedBounds") long storedBound,
      @ForAll("mixedOps") List<Op> ops) {
    World world = new World(window, storedBound, false);
    world.run(ops);
  }

  @Property(tries = 300)
  void restartAfterACrashWithTheClockSetBackServesAboveEverythingServedBefore(
      @ForAll("windows") long window,
      @ForAll("storedBounds") long storedBound,
      @ForAll("crashHeavyOps") List<Op> ops,
      @ForAll("clockBack") long finalClockBack) {
    World world = new World(window, storedBound, false);
    world.run(ops);
    world.crashAndServeOnceMore(finalClockBack);
  }

  @Property(tries = 300)
  void ambiguousPersistFailuresNeverLetAnyInstanceServeAtOrBelowAnEarlierTimestamp(
      @ForAll("windows") long window,
      @ForAll("storedBounds") long storedBound,
      @ForAll("ambiguousOps") List<Op> ops,
      @ForAll("clockBack") long finalClockBack) {
    World world = new World(window, storedBound, true);
    world.run(ops);
    world.crashAndServeOnceMore(finalClockBack);
  }

  @Property(tries = 300)
  void clockStandingStillOrGoingBackSpendsLogicalTimeButNeverReachesTheBound(
      @ForAll("smallWindows") long window,
      @ForAll("storedBounds") long storedBound,
      @ForAll("stalledClockOps") List<Op> ops) {
    World world = new World(window, storedBound, false);
    world.run(ops);
  }

  @Property(tries = 300)
  void extensionIsAskedExactlyWhenLessThanAThirdOfTheWindowIsLeftAndOnlyOnceWhilePending(
      @ForAll("windows") long window,
      @ForAll("storedBounds") long storedBound,
      @ForAll("extensionOps") List<Op> ops) {
    World world = new World(window, storedBound, false);
    world.run(ops);
  }

  // ------------------------------------------------------------------ generators

  @Provide
  Arbitrary<Long> windows() {
    return Arbitraries.of(3L, 5L, 10L, 30L, 300L, 3_000L);
  }

  @Provide
  Arbitrary<Long> smallWindows() {
    return Arbitraries.of(3L, 4L, 7L, 30L);
  }

  @Provide
  Arbitrary<Long> storedBounds() {
    return Arbitraries.frequencyOf(
        Tuple.of(1, Arbitraries.just(0L)),
        Tuple.of(4, Arbitraries.longs().between(T0 - HOUR, T0 + HOUR)),
        Tuple.of(2, Arbitraries.longs().between(T0 - 5, T0 + 5)));
  }

  @Provide
  Arbitrary<Long> clockBack() {
    return Arbitraries.longs().between(0, HOUR);
  }

  static Arbitrary<Integer> counts() {
    return Arbitraries.frequencyOf(
        Tuple.of(10, Arbitraries.integers().between(1, 65_536)),
        Tuple.of(3, Arbitraries.integers().between(1, MAX_LOGICAL)),
        Tuple.of(1, Arbitraries.of(1, MAX_LOGICAL / 2, MAX_LOGICAL - 1, MAX_LOGICAL)));
  }

  static Arbitrary<Op> allocate() {
    return counts().map(Allocate::new);
  }

  static Arbitrary<Op> smallStep() {
    return Arbitraries.longs().between(0, 3).map(ClockStep::new);
  }

  static Arbitrary<Op> bigJump() {
    return Arbitraries.longs().between(-4 * HOUR, 4 * HOUR).map(ClockJump::new);
  }

  static Arbitrary<Op> mediumJump() {
    return Arbitraries.longs().between(-5_000, 5_000).map(ClockJump::new);
  }

  static Arbitrary<Op> crashOp() {
    return Arbitraries.longs()
        .between(0, HOUR)
        .flatMap(back -> Arbitraries.of(true, false).map(lands -> new Crash(back, lands)));
  }

  static Arbitrary<Op> roleChange() {
    return Arbitraries.of(true, false).map(RoleChange::new);
  }

  static Arbitrary<Op> just(Op op) {
    return Arbitraries.just(op);
  }

  @Provide
  Arbitrary<List<Op>> mixedOps() {
    return Arbitraries.frequencyOf(
            Tuple.of(30, allocate()),
            Tuple.of(12, smallStep()),
            Tuple.of(3, mediumJump()),
            Tuple.of(3, bigJump()),
            Tuple.of(12, just(new Ask())),
            Tuple.of(7, just(new Persist())),
            Tuple.of(2, just(new Fail())),
            Tuple.of(1, just(new StaleReport())),
            Tuple.of(1, crashOp()),
            Tuple.of(1, roleChange()))
        .list()
        .ofMinSize(1)
        .ofMaxSize(150);
  }

  @Provide
  Arbitrary<List<Op>> crashHeavyOps() {
    return Arbitraries.frequencyOf(
            Tuple.of(20, allocate()),
            Tuple.of(8, smallStep()),
            Tuple.of(2, mediumJump()),
            Tuple.of(2, bigJump()),
            Tuple.of(10, just(new Ask())),
            Tuple.of(8, just(new Persist())),
            Tuple.of(2, just(new Fail())),
            Tuple.of(4, crashOp()),
            Tuple.of(2, roleChange()))
        .list()
        .ofMinSize(1)
        .ofMaxSize(120);
  }

  @Provide
  Arbitrary<List<Op>> ambiguousOps() {
    return Arbitraries.frequencyOf(
            Tuple.of(20, allocate()),
            Tuple.of(8, smallStep()),
            Tuple.of(3, mediumJump()),
            Tuple.of(3, bigJump()),
            Tuple.of(10, just(new Ask())),
            Tuple.of(5, just(new Persist())),
            Tuple.of(2, just(new Fail())),
            Tuple.of(4, just(new PersistButReportFailure())),
            Tuple.of(1, just(new StaleReport())),
            Tuple.of(2, crashOp()),
            Tuple.of(1, roleChange()))
        .list()
        .ofMinSize(1)
        .ofMaxSize(120);
  }

  /** The clock never moves forward: physical only advances through logical exhaustion. */
  @Provide
  Arbitrary<List<Op>> stalledClockOps() {
    return Arbitraries.frequencyOf(
            Tuple.of(30, Arbitraries.integers().between(MAX_LOGICAL / 4, MAX_LOGICAL)
                .map(c -> (Op) new Allocate(c))),
            Tuple.of(6, allocate()),
            Tuple.of(4, Arbitraries.longs().between(-3, 0).map(ms -> (Op) new ClockStep(ms))),
            Tuple.of(2, Arbitraries.longs().between(-4 * HOUR, 0).map(ms -> (Op) new ClockJump(ms))),
            Tuple.of(6, just(new Ask())),
            Tuple.of(4, just(new Persist())),
            Tuple.of(2, just(new Fail())))
        .list()
        .ofMinSize(1)
        .ofMaxSize(200);
  }

  @Provide
  Arbitrary<List<Op>> extensionOps() {
    return Arbitraries.frequencyOf(
            Tuple.of(10, allocate()),
            Tuple.of(10, smallStep()),
            Tuple.of(6, Arbitraries.longs().between(-1_000, 2_000).map(ms -> (Op) new ClockJump(ms))),
            Tuple.of(1, bigJump()),
            Tuple.of(20, just(new Ask())),
            Tuple.of(5, just(new Persist())),
            Tuple.of(3, just(new Fail())),
            Tuple.of(2, just(new StaleReport())))
        .list()
        .ofMinSize(1)
        .ofMaxSize(150);
  }
}
