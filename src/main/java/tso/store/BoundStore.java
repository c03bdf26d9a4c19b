package tso.store;

import io.vertx.core.Future;

/**
 * Where the allocator's upper bound lives. Implementations never block the calling event loop:
 * their futures complete on the caller's context.
 */
public interface BoundStore {

  /** The stored state, or {@link StoredBound#NONE} for a new store. */
  Future<StoredBound> load();

  /** Durably stores {@code state}; only larger bounds are ever written. */
  Future<Void> save(StoredBound state);

  /**
   * The fencing token of the answers given above {@code stored}: one more than the stored epoch
   * for a standalone node; the won term's epoch for a leader.
   */
  default long epochAfter(StoredBound stored) {
    return stored.epoch() + 1;
  }

  /** Releases what the store holds (locks, connections). */
  Future<Void> close();
}
