package tso.core;

/**
 * Why a timestamp request was not answered with timestamps. Each maps to an HTTP status here and
 * to a gRPC status in the gRPC API.
 */
public enum TsoError {
  /** The request itself is wrong: HTTP 400, gRPC INVALID_ARGUMENT. */
  INVALID_ARGUMENT(400, false),
  /** A bound was exceeded (backpressure): HTTP 429, gRPC RESOURCE_EXHAUSTED; retry later. */
  RESOURCE_EXHAUSTED(429, true),
  /** This node is not the leader: HTTP 503, gRPC UNAVAILABLE with the leader's address. */
  NOT_LEADER(503, true),
  /** This node cannot answer now (starting, stopping, store unreachable): HTTP 503, gRPC UNAVAILABLE. */
  UNAVAILABLE(503, true);

  public final int httpStatus;
  /** Worth retrying later (the HTTP answer carries Retry-After). */
  public final boolean retryable;

  TsoError(int httpStatus, boolean retryable) {
    this.httpStatus = httpStatus;
    this.retryable = retryable;
  }
}
