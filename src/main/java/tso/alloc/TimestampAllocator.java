package tso.alloc;

import java.util.function.LongSupplier;

/**
 * Hands out timestamps {@code physicalMs << 18 | logical} from memory, below a persisted bound.
 *
 * <p>Owned by one thread (the allocator verticle's event loop): no locks, no I/O. The owner
 * persists the bounds this class asks for and reports back with {@link #extensionDone}.
 *
 * <h2>Invariants</h2>
 * <ol>
 *   <li>Every served timestamp has {@code physical < bound}, where {@code bound} is only ever set
 *       from a value the owner reports as durable ({@link #extensionDone}); the bound only grows.</li>
 *   <li>Physical time never goes back: a wall clock behind the last physical keeps the last
 *       physical and spends the logical part; when logical runs out, physical moves forward by
 *       1 ms, never to or past the bound.</li>
 *   <li>{@link #reset()} clears everything; a restarted allocator must be {@link #start started}
 *       again from a stored bound and never serves from stale memory.</li>
 *   <li>{@link #start} begins at {@code max(now, storedBound + 1)} and serves nothing until a new
 *       bound above that has been persisted.</li>
 *   <li>A range handed out by {@link #allocate} is contiguous and inside one physical millisecond.</li>
 * </ol>
 */
public final class TimestampAllocator {

  /** Logical bits, as TiKV PD and the contract have them: 262,144 timestamps per millisecond. */
  public static final int LOGICAL_BITS = 18;
  /** Timestamps in one physical millisecond. */
  public static final int MAX_LOGICAL = 1 << LOGICAL_BITS;
  /** {@link #allocate} result: nothing can be served until a larger bound is durable. */
  public static final long NEEDS_BOUND = -1;

  private final LongSupplier clockMs;
  private final long windowMs;
  /** Extend when at most this much of the window is left: a third, so the write has two thirds of the window to land. */
  private final long refillMs;

  private boolean started;
  private long physical;
  private int logical;
  private long bound;
  private long pendingBound;
  private long lastWallMs;

  private long clockBehindEvents;
  private long logicalExhaustedEvents;

  /**
   * @param clockMs  wall clock in Unix milliseconds (injectable for tests)
   * @param windowMs how far ahead of the clock a bound extension reaches (PD: 3 s)
   */
  public TimestampAllocator(LongSupplier clockMs, long windowMs) {
    if (windowMs < 3) {
      throw new IllegalArgumentException("window must be at least 3 ms: " + windowMs);
    }
    this.clockMs = clockMs;
    this.windowMs = windowMs;
    this.refillMs = windowMs / 3;
  }

  /** Splits a timestamp into its physical milliseconds. */
  public static long physicalOf(long ts) {
    return ts >>> LOGICAL_BITS;
  }

  /** Splits a timestamp into its logical counter. */
  public static int logicalOf(long ts) {
    return (int) (ts & (MAX_LOGICAL - 1));
  }

  /** Composes a timestamp. */
  public static long compose(long physicalMs, int logical) {
    return (physicalMs << LOGICAL_BITS) | logical;
  }

  /**
   * Starts above a stored bound. Nothing is served until the returned bound is durable and
   * reported with {@link #extensionDone}.
   *
   * @param storedBound the largest bound ever persisted (0 when none)
   * @return the bound the owner must persist next
   */
  public long start(long storedBound) {
    if (started) {
      throw new IllegalStateException("already started");
    }
    long now = clockMs.getAsLong();
    started = true;
    physical = Math.max(now, storedBound + 1);
    logical = 0;
    bound = storedBound;
    lastWallMs = now;
    pendingBound = physical + windowMs;
    return pendingBound;
  }

  /** Forgets every piece of in-memory state (a role change, a stop). */
  public void reset() {
    started = false;
    physical = 0;
    logical = 0;
    bound = 0;
    pendingBound = 0;
    lastWallMs = 0;
  }

  public boolean isStarted() {
    return started;
  }

  /**
   * Allocates {@code count} contiguous timestamps inside one physical millisecond.
   *
   * @return the first timestamp of the range, or {@link #NEEDS_BOUND} when the range would reach
   *     the persisted bound (the caller waits for {@link #extensionDone} and tries again)
   */
  public long allocate(int count) {
    if (!started) {
      throw new IllegalStateException("not started");
    }
    if (count < 1 || count > MAX_LOGICAL) {
      throw new IllegalArgumentException("count out of range: " + count);
    }
    long now = clockMs.getAsLong();
    if (now < lastWallMs) {
      clockBehindEvents++;
    }
    lastWallMs = now;
    if (now > physical) {
      physical = now;
      logical = 0;
    }
    if (logical + count > MAX_LOGICAL) {
      logicalExhaustedEvents++;
      physical++;
      logical = 0;
    }
    if (physical >= bound) {
      return NEEDS_BOUND;
    }
    long first = compose(physical, logical);
    logical += count;
    return first;
  }

  /**
   * Asks for a bound extension when at most a third of the window is left ahead of
   * {@code max(now, physical)}, and none is in flight; it is asked before it is needed.
   *
   * @return the bound to persist, or -1 when none is needed now
   */
  public long extensionTarget() {
    if (!started || pendingBound != 0) {
      return -1;
    }
    long base = Math.max(clockMs.getAsLong(), physical);
    if (bound - base > refillMs) {
      return -1;
    }
    pendingBound = base + windowMs;
    return pendingBound;
  }

  /** The owner persisted {@code durableBound}; allocation may now go up to it. */
  public void extensionDone(long durableBound) {
    if (!started) {
      return;
    }
    pendingBound = 0;
    if (durableBound > bound) {
      bound = durableBound;
    }
  }

  /** The owner could not persist the last target; the next {@link #extensionTarget} asks again. */
  public void extensionFailed() {
    pendingBound = 0;
  }

  /** True while an extension is being persisted. */
  public boolean extensionPending() {
    return pendingBound != 0;
  }

  /** The durable bound in milliseconds: every served physical is below it. */
  public long bound() {
    return bound;
  }

  /** The last physical millisecond used (or the start floor). */
  public long physical() {
    return physical;
  }

  /** How many allocations saw the wall clock behind the one before. */
  public long clockBehindEvents() {
    return clockBehindEvents;
  }

  /** How many allocations moved physical forward because the logical part ran out. */
  public long logicalExhaustedEvents() {
    return logicalExhaustedEvents;
  }
}
