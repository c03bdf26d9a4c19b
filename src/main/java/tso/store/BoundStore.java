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

  /** Releases what the store holds (locks, connections). */
  Future<Void> close();
}
