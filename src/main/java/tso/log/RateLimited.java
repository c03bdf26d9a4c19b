package tso.log;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.HashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Logs a record that a fault can repeat many times a second (a timeout per tick, a failure per
 * request) at most once per key per interval, and says how many it held back: the first record
 * after a quiet interval ends in "(N similar suppressed)".
 *
 * <p>Not thread-safe, by design: no lock on an event loop. Each caller owns one instance and uses
 * it from one thread (its own event loop or verticle context), for example a field next to the
 * caller's logger:
 *
 * <pre>{@code
 * private final RateLimited limited = new RateLimited();
 * ...
 * limited.log(LOG, Level.WARNING, "expired", RateLimited.DEFAULT_INTERVAL_NANOS,
 *     "{0} requests timed out waiting for the bound (store slow or failing)", expired);
 * }</pre>
 *
 * <p>A key names a kind of fault at one call site ("expired", "persist-failed"); there should be a
 * handful per instance, as their state is never forgotten. Held-back records are counted, not kept:
 * only the first record of each interval shows its arguments.
 */
public final class RateLimited {

  /**
   * Ten seconds: a fault that lasts shows in the log several times a minute, with the count of what
   * was held back, instead of twenty times a second (one per 50 ms tick).
   */
  public static final long DEFAULT_INTERVAL_NANOS = 10_000_000_000L;

  private final LongSupplier nanoClock;
  private final Map<String, Window> windows = new HashMap<>();

  /** Limits by {@link System#nanoTime()}. */
  public RateLimited() {
    this(System::nanoTime);
  }

  /** Limits by {@code nanoClock}, a monotonic clock in nanoseconds (tests give a fake one). */
  public RateLimited(LongSupplier nanoClock) {
    this.nanoClock = nanoClock;
  }

  /**
   * Logs {@code format} with {@code args} through {@code logger} (the {@link Logger#log(Level,
   * String, Object...)} message format) unless a record with this {@code key} was logged less than
   * {@code intervalNanos} ago, in which case it only counts it. A record that follows suppressed
   * ones ends in " (N similar suppressed)". A level the logger does not print is neither logged
   * nor counted.
   *
   * @return whether a record was logged
   */
  public boolean log(Logger logger, Level level, String key, long intervalNanos, String format, Object... args) {
    if (!logger.isLoggable(level)) {
      return false;
    }
    long now = nanoClock.getAsLong();
    Window w = windows.get(key);
    if (w == null) {
      w = new Window();
      windows.put(key, w);
    } else if (now - w.loggedAt < intervalNanos) {
      w.suppressed++;
      return false;
    }
    // The suffix holds no quote or brace, so it reads the same whether or not the logger applies
    // MessageFormat to the pattern (it does only when there are arguments).
    String pattern = w.suppressed == 0 ? format : format + " (" + w.suppressed + " similar suppressed)";
    w.loggedAt = now;
    w.suppressed = 0;
    logger.log(level, pattern, args);
    return true;
  }

  /** Records with this key held back since the last one logged (0 for an unknown key). */
  public long suppressed(String key) {
    Window w = windows.get(key);
    return w == null ? 0 : w.suppressed;
  }

  /** One key's state: when it last logged, and how many it has held back since. */
  private static final class Window {
    long loggedAt;
    long suppressed;
  }
}
