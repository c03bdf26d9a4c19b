package tso.server;

/** Why a timestamp request was not answered with timestamps; each maps to an HTTP and a gRPC status. */
public enum TsoError {
  /** The request itself is wrong: HTTP 400, gRPC INVALID_ARGUMENT. */
  INVALID_ARGUMENT(400, 2, false),
  /** A bound was exceeded (backpressure): HTTP 429, gRPC RESOURCE_EXHAUSTED; retry later. */
  RESOURCE_EXHAUSTED(429, 8, true),
  /** This node is not the leader: HTTP 503, gRPC UNAVAILABLE with the leader's address. */
  NOT_LEADER(503, 14, true),
  /** This node cannot answer now (starting, stopping, store unreachable): HTTP 503, gRPC UNAVAILABLE. */
  UNAVAILABLE(503, 14, true);

  public final int httpStatus;
  /** The gRPC status code number. */
  public final int grpcStatus;
  public final boolean retryable;

  TsoError(int httpStatus, int grpcStatus, boolean retryable) {
    this.httpStatus = httpStatus;
    this.grpcStatus = grpcStatus;
    this.retryable = retryable;
  }
}
