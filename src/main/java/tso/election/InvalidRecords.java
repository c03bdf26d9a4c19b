package tso.election;

import java.lang.System.Logger.Level;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import tso.metrics.TsoMetrics;

/**
 * What to do with a value in the election key that is not a valid record: never crash, never
 * serve on it. It is counted by kind, logged once per distinct value with a short hex preview,
 * and treated as held by an unknown holder until its TTL runs out. A value without a TTL would
 * never run out: once it has stayed exactly the same for the grace period (on this node's
 * monotonic clock) it may be replaced, by compare-and-set on those bytes.
 */
final class InvalidRecords {

  private static final System.Logger LOG = System.getLogger(InvalidRecords.class.getName());
  /** Distinct invalid values remembered for log-once; past it the memory starts again. */
  private static final int LOGGED_VALUES = 256;

  /** What the election does next: wait {@code delayMs} and look again, or replace the value now. */
  record Decision(boolean replace, long delayMs) {
  }

  private final String key;
  private final long graceNanos;
  private final TsoMetrics metrics;
  private final Set<String> logged = new LinkedHashSet<>();
  private byte[] graceValue;
  private long graceSinceNanos;

  InvalidRecords(String key, long graceMs, TsoMetrics metrics) {
    this.key = key;
    this.graceNanos = TimeUnit.MILLISECONDS.toNanos(graceMs);
    this.metrics = metrics;
  }

  /**
   * @param pollMs the election's usual time between looks
   */
  Decision seen(ElectionRecord.Invalid kind, RedisCoordinator.Observation o, long pollMs) {
    metrics.invalidRecord(kind.label());
    byte[] value = o.value() == null ? new byte[0] : o.value();
    String preview = ElectionRecord.preview(value);
    if (logged.size() >= LOGGED_VALUES) {
      logged.clear();
    }
    if (logged.add(o.type() + ":" + preview + ":" + Arrays.hashCode(value))) {
      LOG.log(Level.WARNING, "election key {0} holds a value that is not a valid record ({1}, type {2}, ttl {3} ms): {4};"
          + " not serving on it, waiting for it to expire", key, kind.label(), o.type(), o.pttlMs(), preview);
    }
    if (o.pttlMs() >= 0) {
      graceValue = null;
      return new Decision(false, Math.min(pollMs, o.pttlMs() + 1));
    }
    long now = System.nanoTime();
    if (graceValue == null || !Arrays.equals(graceValue, value)) {
      graceValue = value;
      graceSinceNanos = now;
      return new Decision(false, pollMs);
    }
    return new Decision(now - graceSinceNanos >= graceNanos, pollMs);
  }

  /** The key holds a valid record, or nothing: no grace runs. */
  void clear() {
    graceValue = null;
  }
}
