package tso.election;

import java.util.concurrent.TimeUnit;

/**
 * When this node may take over, and when a term it wins may start serving: the lease is timed out
 * on this node's own monotonic clock, never on Redis's (whose wall clock may jump, and whose keys
 * expire by it) and never from times written in a record.
 *
 * <p>Every campaign, takeover and renew writes a fresh grant token. A holder's lease ends at most
 * a TTL after it sent its last successful grant (minus its drift margin), and that grant is
 * visible in Redis before the reply reaches the holder. So once this node has seen the same
 * (Redis, grant) pair for a whole TTL, every holder it could not see has stopped. The Redis is
 * part of the pair: a restarted or promoted Redis may have lost later grants (the old grant
 * reappears), and its new run or replication id tells.
 *
 * <ul>
 *   <li>May campaign: the key is absent (expired, deleted, resigned, lost), or it holds a valid
 *       record whose grant this node has seen unchanged for a TTL (a holder that stopped renewing,
 *       whatever the key's TTL says). The scripts take the key only if Redis and its last grant
 *       are still the pair seen.</li>
 *   <li>May serve, once won: a TTL after this node first saw the pair it won on; at once when that
 *       grant was released by a holder that had served and stopped, on a Redis this node has known
 *       for a TTL (a Redis newer than that may have lost a later grant).</li>
 * </ul>
 */
final class Succession {

  private final long ttlNanos;
  private String state;
  private long stateSinceNanos;
  private String redisId;
  private long redisSinceNanos;
  private boolean released;

  Succession(long ttlMs) {
    this.ttlNanos = TimeUnit.MILLISECONDS.toNanos(ttlMs);
  }

  /** An observation whose reply arrived at {@code nowNanos}. */
  void observed(RedisCoordinator.Observation o, long nowNanos) {
    if (!o.redisId().equals(redisId)) {
      redisId = o.redisId();
      redisSinceNanos = nowNanos;
    }
    if (!o.state().equals(state)) {
      state = o.state();
      stateSinceNanos = nowNanos;
    }
    released = !o.grant().isEmpty() && o.grant().equals(o.released());
  }

  /** Forgets what was seen (this node's own term began: its grants are its own). */
  void forget() {
    state = null;
    redisId = null;
    released = false;
  }

  /** How much longer the current holder may still hold a lease, as far as this node can tell. */
  long quietLeftNanos(long nowNanos) {
    if (state == null) {
      return ttlNanos;
    }
    return Math.max(0, stateSinceNanos + ttlNanos - nowNanos);
  }

  /** When a term won on the last observation may start answering. */
  long servingFromNanos(long nowNanos) {
    if (released && nowNanos - redisSinceNanos >= ttlNanos) {
      return nowNanos;
    }
    return state == null ? nowNanos + ttlNanos : Math.max(nowNanos, stateSinceNanos + ttlNanos);
  }
}
