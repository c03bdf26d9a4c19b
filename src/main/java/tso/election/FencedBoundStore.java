package tso.election;

import io.vertx.core.Future;

import java.util.function.LongSupplier;

import tso.store.BoundStore;
import tso.store.FileBoundStore;
import tso.store.StoreException;
import tso.store.StoredBound;

/**
 * The bound store of one leadership term: {@code {tso:C}:limit} in Redis, raised only by the
 * fenced script (the caller must still hold the record with this epoch and incarnation), then
 * copied to the local data directory, so that a Redis that restarted empty cannot make time go
 * back. A refused write tells the leadership to step down.
 */
final class FencedBoundStore implements BoundStore {

  private final RedisCoordinator redis;
  private final FileBoundStore local;
  private final Identity me;
  private final long epoch;
  private final long lossMarginMs;
  private final LongSupplier clockMs;
  private final Runnable onRefused;

  FencedBoundStore(RedisCoordinator redis, FileBoundStore local, Identity me, long epoch, long lossMarginMs,
      LongSupplier clockMs, Runnable onRefused) {
    this.lossMarginMs = lossMarginMs;
    this.clockMs = clockMs;
    this.redis = redis;
    this.local = local;
    this.me = me;
    this.epoch = epoch;
    this.onRefused = onRefused;
  }

  /**
   * The larger of the bound in Redis and the one this node has seen and kept locally; when Redis
   * holds less than this node has seen, it lost data, and a margin is added. When neither knows
   * any bound (a new cluster, or Redis lost everything while this node's data directory is new),
   * the bound is this node's clock plus the margin: every earlier leader served below its own
   * clock plus a window when it last extended, before the loss, so given node clocks within a TTL
   * of each other, nothing served before is reached. The cost: timestamps start a window and a
   * TTL ahead of the wall clock, and stay ahead until it catches up; nobody waits.
   */
  @Override
  public Future<StoredBound> load() {
    return redis.inspect().compose(o -> {
      if (o.limitCorrupt()) {
        return Future.failedFuture(new StoreException(redis.keys().limit() + " is corrupt; refusing to serve"));
      }
      StoredBound r = o.limit();
      StoredBound mine = local.current();
      long bound = Math.max(r.boundMs(), mine.boundMs());
      if (r.boundMs() < mine.boundMs()) {
        // Redis has lost the bound (restarted empty, failed over): the last leader may have
        // extended past what this node last saw; start a window and a lease above that.
        bound = mine.boundMs() + lossMarginMs;
      }
      if (r.boundMs() == 0 && mine.boundMs() == 0) {
        bound = clockMs.getAsLong() + lossMarginMs;
      }
      return Future.succeededFuture(new StoredBound(Math.max(r.epoch(), mine.epoch()), bound));
    });
  }

  @Override
  public long epochAfter(StoredBound stored) {
    return epoch;
  }

  @Override
  public Future<Void> save(StoredBound state) {
    return redis.fence(me.incarnation(), epoch, state.boundMs()).compose(f -> {
      if (!f.written()) {
        onRefused.run();
        return Future.failedFuture(new StoreException("fenced bound write refused: " + f.refusal()));
      }
      return local.save(new StoredBound(epoch, state.boundMs()));
    });
  }

  /** The local store outlives the term; nothing to release. */
  @Override
  public Future<Void> close() {
    return Future.succeededFuture();
  }
}
