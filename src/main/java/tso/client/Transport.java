package tso.client;

import io.vertx.core.Future;

/**
 * How a {@link Batcher} reaches members: one {@code StreamTimestamps} call at a time, and
 * {@code GetLeader}. The gRPC one is {@link GrpcTransport}; tests use fakes. Every method is called
 * on the batcher's context, and every callback comes back on it.
 */
public interface Transport {

  /** Opens a stream to {@code address} (host:port); its answers and its end go to {@code listener}. */
  Future<Stream> open(String address, Listener listener);

  /**
   * Asks the member at {@code address} who leads: the leader's address, the member's own when it
   * serves itself (a standalone node), or null when it knows of none.
   */
  Future<String> leader(String address);

  Future<Void> close();

  /** One open stream: requests go out in order, and answers come back in the same order. */
  interface Stream {
    void request(int count);

    /** Ends the stream from this side; no callback follows. */
    void cancel();
  }

  /** What a stream reports. */
  interface Listener {
    /** The answer to the oldest unanswered request. */
    void range(long first, int count, long epoch);

    /**
     * The stream ended (any answer after this is ignored).
     *
     * @param code    a gRPC status name (UNAVAILABLE, RESOURCE_EXHAUSTED, INVALID_ARGUMENT, …), or
     *                TRANSPORT for a failure below gRPC (reset, closed connection)
     * @param message what went wrong, readable
     * @param leader  the leader's address when the member named it (trailer {@code tso-leader}), or null
     */
    void ended(String code, String message, String leader);
  }
}
