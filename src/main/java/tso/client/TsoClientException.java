package tso.client;

/**
 * Why a call to the oracle failed. The client retries what can be retried (a failover, a busy or
 * unreachable leader, an answer it refused) until the call's deadline; what reaches the caller is
 * final for that call.
 */
public final class TsoClientException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  /** What went wrong, as gRPC status names have it where one fits. */
  public enum Code {
    /** No answer before the call's deadline (no leader, or none reachable, for that long). */
    DEADLINE_EXCEEDED,
    /** Too many calls are waiting in this client already: {@link TsoClientOptions#setMaxWaiting}. */
    RESOURCE_EXHAUSTED,
    /** The call asked for something no member serves (a count out of range). */
    INVALID_ARGUMENT,
    /** The leader could not be reached, or refused the batch (used where a call is not retried). */
    UNAVAILABLE,
    /** The client was closed. */
    CLOSED
  }

  private final Code code;

  public TsoClientException(Code code, String message) {
    super(message, null, false, false);
    this.code = code;
  }

  public Code code() {
    return code;
  }

  @Override
  public String toString() {
    return code + ": " + getMessage();
  }
}
