package tso.election;

import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import tso.service.TimestampService;

/**
 * One leadership term: when this node may serve. Made when a campaign is won, revoked when the
 * term ends, never reused: an allocator started for an old term can never pass {@link #valid()}
 * again, even after this node wins once more.
 *
 * <p>Answers may leave only while all of these hold, each on this node's own monotonic clock:
 * <ol>
 *   <li>the term is not revoked;</li>
 *   <li>every earlier holder has surely stopped: {@link #servingFromNanos} has passed (see
 *       {@link Succession});</li>
 *   <li>the lease has not run out: the send time of the last successful campaign or renew, plus
 *       the TTL, minus a drift margin.</li>
 * </ol>
 * Redis's clock plays no part.
 */
final class Term implements TimestampService.Lease {

  private final long epoch;
  private final long servingFromNanos;
  private final long leaseNanos;
  private final Consumer<Throwable> onCannotPersist;
  private volatile long deadlineNanos;
  private volatile boolean revoked;
  /** The record as last written (renewals change its bytes, not its epoch); event loop only. */
  private String record;

  /**
   * @param sentNanos       when the winning campaign was sent
   * @param leaseMs         the TTL minus the drift margin
   * @param onCannotPersist told when the allocator can no longer persist its bound
   */
  Term(long epoch, String record, long sentNanos, long servingFromNanos, long leaseMs,
      Consumer<Throwable> onCannotPersist) {
    this.epoch = epoch;
    this.record = record;
    this.servingFromNanos = servingFromNanos;
    this.leaseNanos = TimeUnit.MILLISECONDS.toNanos(leaseMs);
    this.onCannotPersist = onCannotPersist;
    this.deadlineNanos = sentNanos + leaseNanos;
  }

  @Override
  public boolean valid() {
    long now = System.nanoTime();
    return !revoked && now - servingFromNanos >= 0 && now - deadlineNanos < 0;
  }

  @Override
  public void cannotPersist(Throwable cause) {
    if (!revoked) {
      onCannotPersist.accept(cause);
    }
  }

  long epoch() {
    return epoch;
  }

  String record() {
    return record;
  }

  /** A renew sent at {@code sentNanos} succeeded and wrote {@code renewed}. */
  void renewed(String renewed, long sentNanos) {
    record = renewed;
    long d = sentNanos + leaseNanos;
    if (d - deadlineNanos > 0) {
      deadlineNanos = d;
    }
  }

  long deadlineNanos() {
    return deadlineNanos;
  }

  long servingFromNanos() {
    return servingFromNanos;
  }

  /** True once every earlier holder has surely stopped: a resign then lets the next holder start at once. */
  boolean waited() {
    return System.nanoTime() - servingFromNanos >= 0;
  }

  void revoke() {
    revoked = true;
  }

  boolean revoked() {
    return revoked;
  }
}
