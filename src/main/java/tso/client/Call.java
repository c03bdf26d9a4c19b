package tso.client;

/**
 * One caller's request for {@code count} timestamps: the unit a {@link Batcher} merges into
 * batches. It is answered exactly once, on the batcher's thread: {@link #succeed} with the first
 * timestamp of its share of a range, or {@link #fail}.
 */
public abstract class Call {

  /** Timestamps asked for, at least 1. */
  public final int count;
  /** When the call gives up, on {@link System#nanoTime()}'s clock; {@link Long#MAX_VALUE}: never. */
  final long deadlineNanos;
  /** When the call reached its batcher, for the batch wait. */
  long queuedNanos;

  protected Call(int count, long deadlineNanos) {
    this.count = count;
    this.deadlineNanos = deadlineNanos;
  }

  /** Its share of an answer: {@code first .. first + count - 1}, issued in {@code epoch}. */
  protected abstract void succeed(long first, long epoch);

  protected abstract void fail(TsoClientException error);

  /**
   * Refused before it was queued (the queue is full, or the batcher is closed), on the thread that
   * offered it, which may not be the batcher's. By default {@link #fail}.
   */
  protected void rejected(TsoClientException error) {
    fail(error);
  }
}
