package tso.loadgen;

import io.vertx.core.Future;

/** One connection to a member: sends a request for {@code count} timestamps. */
interface Transport {

  /** The range's first timestamp, or a failed future whose message is an error code. */
  Future<Long> send(int count);

  /**
   * The epoch of the answer whose future this connection completed last: read it in the
   * completion handler, which runs as the answer is read (the futures are bound to no context, so
   * their handlers run at once, on the connection's event loop), before the next answer is read.
   * 0 when the answer carried none.
   */
  long epoch();

  Future<Void> close();

  /** A failure with an error code (an HTTP status, a gRPC status, or a transport failure). */
  final class Failure extends RuntimeException {
    final String code;

    Failure(String code) {
      super(code, null, false, false);
      this.code = code;
    }
  }
}
