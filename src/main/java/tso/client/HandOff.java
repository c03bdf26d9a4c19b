package tso.client;

import java.util.ArrayDeque;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Many producers hand items to one consumer context without a lock, and with at most one drain
 * task queued at a time (never one per item): {@link #offer} says when the caller must schedule
 * it, and {@link #drainTo} clears that mark before taking everything, so an item offered after the
 * mark is cleared is either taken by this drain or schedules the next one.
 */
public final class HandOff<T> {

  private final ConcurrentLinkedQueue<T> items = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean scheduled = new AtomicBoolean();

  /** Safe from any thread; true when the caller must schedule one drain on the consumer. */
  public boolean offer(T item) {
    items.offer(item);
    return !scheduled.get() && scheduled.compareAndSet(false, true);
  }

  /** On the consumer: moves every item handed over so far to the end of {@code to}. */
  public void drainTo(ArrayDeque<T> to) {
    drain(to::addLast);
  }

  /** On the consumer: gives every item handed over so far to {@code each}, in order. */
  public void drain(java.util.function.Consumer<T> each) {
    scheduled.set(false);
    T t;
    while ((t = items.poll()) != null) {
      each.accept(t);
    }
  }
}
