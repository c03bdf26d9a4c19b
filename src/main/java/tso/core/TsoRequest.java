package tso.core;

import io.vertx.core.Context;

/**
 * One request for a range of timestamps, travelling from a transport's event loop to the
 * allocator and back. Its answer fields are written by the allocator's thread before the request
 * is handed back to {@link #context} (a happens-before edge through the context's task queue).
 */
public final class TsoRequest {

  /** Receives the answer on the request's own event loop. */
  @FunctionalInterface
  public interface Callback {
    void done(TsoRequest request);
  }

  public final int count;
  public final Context context;
  final Callback callback;
  public long submittedNanos;

  private long first;
  private long epoch;
  private TsoError error;
  private String message;

  public TsoRequest(int count, Context context, Callback callback) {
    this.count = count;
    this.context = context;
    this.callback = callback;
  }

  public int count() {
    return count;
  }

  public boolean ok() {
    return error == null;
  }

  /** The first timestamp of the range (valid when {@link #ok()}). */
  public long first() {
    return first;
  }

  /** Fencing token of the issuer (valid when {@link #ok()}). */
  public long epoch() {
    return epoch;
  }

  public TsoError error() {
    return error;
  }

  public String message() {
    return message;
  }

  /** When it was handed to the allocator, on the monotonic clock. */
  public long submittedNanos() {
    return submittedNanos;
  }

  public void succeed(long first, long epoch) {
    this.first = first;
    this.epoch = epoch;
  }

  public void fail(TsoError error, String message) {
    this.error = error;
    this.message = message;
  }

  /** Runs the callback here (the caller is on {@link #context}). */
  public void answer() {
    callback.done(this);
  }
}
