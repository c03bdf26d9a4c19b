package tso.service;

import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.VerticleBase;

import java.lang.System.Logger.Level;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

import tso.alloc.TimestampAllocator;
import tso.client.HandOff;
import tso.core.Replies;
import tso.core.TimestampSink;
import tso.core.TsoError;
import tso.core.TsoRequest;
import tso.log.RateLimited;
import tso.metrics.TsoMetrics;
import tso.store.BoundStore;
import tso.store.StoredBound;

/**
 * The one verticle that owns the {@link TimestampAllocator}: group commit.
 *
 * <p>Transports on every event loop hand requests over with {@link #submit}: a lock-free queue
 * and, at most once per batch, a task on this verticle's context (never a {@code runOnContext} per
 * request). A transport on the allocator's own thread is served inline instead (what is queued
 * first, then its request), so its answer leaves with the other writes of the same read: on a
 * small machine with one event loop that is most requests, and a task per batch would cost a
 * flush per answer. The drain answers every waiting request with one allocation per batch (a batch is cut
 * only where its counts would pass one millisecond's logical range), and hands the answers back
 * to each request's own event loop with one task per loop per batch. Bound extensions are persisted
 * off the event loop and started before they are needed; a request waits for one only when the
 * store has been slower than the window, and never longer than the request timeout.
 *
 * <p>Every queue is bounded: {@link Settings#queueLimit} counts requests handed over and not yet
 * answered; beyond it a request is refused at once with {@link TsoError#RESOURCE_EXHAUSTED}.
 */
public final class TimestampService extends VerticleBase implements TimestampSink {

  private static final System.Logger LOG = System.getLogger(TimestampService.class.getName());
  /** Warnings that repeat every tick while the store is slow or failing: one per key per interval. */
  private static final long WARN_INTERVAL_NANOS = RateLimited.DEFAULT_INTERVAL_NANOS;

  /**
   * The allocator's slice of the configuration.
   *
   * @param windowMs         how far ahead a persisted bound reaches (PD: 3 s)
   * @param queueLimit       requests handed over and not yet answered, at most
   * @param requestTimeoutMs how long a request may wait for a bound before UNAVAILABLE
   * @param tickMs           how often the bound and the waiting requests are checked (PD: 50 ms)
   * @param queueTargetMs    shed new requests while the oldest waiting one has waited longer than
   *     this for a whole {@link #SHED_INTERVAL_NANOS} (CoDel); 0 turns shedding off
   */
  public record Settings(long windowMs, int queueLimit, long requestTimeoutMs, long tickMs, long queueTargetMs) {
    /** Without shedding by queueing delay (the queue limit still holds). */
    public Settings(long windowMs, int queueLimit, long requestTimeoutMs, long tickMs) {
      this(windowMs, queueLimit, requestTimeoutMs, tickMs, 0);
    }
  }

  /**
   * The right to serve, as the election grants it for one term (a standalone node always has it).
   * Checked before a batch is allocated and again before its answers leave.
   */
  public interface Lease {
    /** A lease that never ends and ignores persistence failures (a standalone node). */
    Lease ALWAYS = new Lease() {
      @Override
      public boolean valid() {
        return true;
      }

      @Override
      public void cannotPersist(Throwable cause) {
      }
    };

    /** True while answers may leave this node. */
    boolean valid();

    /**
     * The bound could not be extended and the allocator has no room left: this node cannot
     * serve. Called on the allocator's context; an election steps down and resigns.
     */
    void cannotPersist(Throwable cause);
  }

  /** CoDel's interval: the queueing delay must stay above the target this long before shedding. */
  static final long SHED_INTERVAL_NANOS = TimeUnit.MILLISECONDS.toNanos(100);

  private final Settings settings;
  private final BoundStore store;
  private final LongSupplier clockMs;
  private final TsoMetrics metrics;
  private final Lease lease;

  private final HandOff<TsoRequest> inbox = new HandOff<>();
  private final AtomicInteger queued = new AtomicInteger();
  private final Handler<Void> drainTask = v -> drain();

  // Owned by this verticle's context.
  private final ArrayDeque<TsoRequest> waiting = new ArrayDeque<>();
  private final ArrayList<TsoRequest> batch = new ArrayList<>();
  private final Replies replies = new Replies();
  private final RateLimited limited = new RateLimited();
  private TimestampAllocator allocator;
  private long timerId = -1;
  private long highestAttempted;
  private long retryNotBeforeNanos = System.nanoTime();
  private long failuresInARow;
  private long seenClockBehind;
  private long seenExhausted;

  /** The allocator's event-loop thread (set at start). */
  private volatile Thread home;
  /** Inside a drain, tick or answer round: a request submitted now must not be served inline. */
  private boolean busy;

  private volatile boolean serving;
  private volatile boolean shedding;
  private long aboveSince;
  private volatile long epoch;

  /**
   * @param lease checked before every batch and again before its answers leave: false once the
   *     leader's term is over or its lease is no longer valid on this node's monotonic clock
   */
  public TimestampService(Settings settings, BoundStore store, LongSupplier clockMs, TsoMetrics metrics,
      Lease lease) {
    this.settings = settings;
    this.store = store;
    this.clockMs = clockMs;
    this.metrics = metrics;
    this.lease = lease;
  }

  public TimestampService(Settings settings, BoundStore store, LongSupplier clockMs, TsoMetrics metrics) {
    this(settings, store, clockMs, metrics, Lease.ALWAYS);
  }

  @Override
  public Future<?> start() {
    home = Thread.currentThread();
    allocator = new TimestampAllocator(clockMs, settings.windowMs());
    return store.load().compose(stored -> {
      epoch = store.epochAfter(stored);
      long target = allocator.start(stored.boundMs());
      LOG.log(Level.INFO, "starting at epoch {0} above stored bound {1,number,#} ms (clock {2,number,#} ms)",
          epoch, stored.boundMs(), clockMs.getAsLong());
      return persist(target);
    }).onSuccess(v -> {
      serving = true;
      timerId = vertx.setPeriodic(settings.tickMs(), id -> tick());
      LOG.log(Level.INFO, "serving, bound {0,number,#} ms", allocator.bound());
    });
  }

  @Override
  public Future<?> stop() {
    serving = false;
    if (timerId >= 0) {
      vertx.cancelTimer(timerId);
    }
    drain(); // answers what is left with UNAVAILABLE
    allocator.reset();
    highestAttempted = 0;
    return store.close();
  }

  /** True once the first bound is durable, until the service stops. */
  public boolean serving() {
    return serving;
  }

  /** Requests handed over and not yet answered. */
  public int queueDepth() {
    return queued.get();
  }

  /** The fencing token of the answers (0 before start). */
  public long epoch() {
    return epoch;
  }

  /**
   * Hands a request to the allocator. Safe from any thread; the answer comes back on the
   * request's context. Refused at once when the node does not serve or the queue is full.
   */
  @Override
  public void submit(TsoRequest request) {
    if (!serving) {
      request.fail(TsoError.UNAVAILABLE, "this node is not serving timestamps now");
      request.answer();
      return;
    }
    if (shedding) {
      metrics.shed.increment();
      request.fail(TsoError.RESOURCE_EXHAUSTED, "overloaded: requests wait longer than "
          + settings.queueTargetMs() + " ms; retry later");
      request.answer();
      return;
    }
    if (queued.incrementAndGet() > settings.queueLimit()) {
      queued.decrementAndGet();
      request.fail(TsoError.RESOURCE_EXHAUSTED, "too many requests waiting for timestamps");
      request.answer();
      return;
    }
    request.submittedNanos = System.nanoTime();
    boolean schedule = inbox.offer(request);
    if (Thread.currentThread() == home && !busy) {
      // On the allocator's own thread (a transport sharing its event loop): serve now, and answer
      // this loop's requests inline, with no task in between; the answers then leave with the
      // writes of the same read. Everything the allocator owns is confined to this thread.
      drain();
    } else if (schedule) {
      context.runOnContext(drainTask);
    }
  }

  private void drain() {
    boolean outer = !busy;
    busy = true;
    try {
      inbox.drainTo(waiting);
      if (!serving) {
        failAll(TsoError.UNAVAILABLE, "this node stopped serving timestamps");
        return;
      }
      control(System.nanoTime());
      serve();
    } finally {
      busy = !outer;
    }
  }

  /**
   * Admission by queueing delay, after CoDel: while the oldest waiting request has waited longer
   * than the target for a whole interval, new requests are refused at once (429 /
   * RESOURCE_EXHAUSTED, retryable) instead of joining a queue that only grows their latency; as
   * soon as a drain finds the queue short again, they are admitted.
   */
  private void control(long now) {
    if (settings.queueTargetMs() <= 0) {
      return;
    }
    TsoRequest oldest = waiting.peekFirst();
    long sojourn = oldest == null ? 0 : now - oldest.submittedNanos;
    if (sojourn < TimeUnit.MILLISECONDS.toNanos(settings.queueTargetMs())) {
      aboveSince = 0;
      shedding = false;
      return;
    }
    if (aboveSince == 0) {
      aboveSince = now | 1; // never 0 while set
    } else if (!shedding && now - aboveSince >= SHED_INTERVAL_NANOS) {
      shedding = true;
    }
  }

  private void serve() {
    if (!lease.valid()) {
      failAll(TsoError.UNAVAILABLE, "this node's leader lease is not valid now");
      return;
    }
    long now = System.nanoTime();
    int answered = 0;
    while (!waiting.isEmpty()) {
      int total = 0;
      batch.clear();
      while (!waiting.isEmpty() && total + waiting.peekFirst().count <= TimestampAllocator.MAX_LOGICAL) {
        TsoRequest q = waiting.pollFirst();
        batch.add(q);
        total += q.count;
      }
      long first = allocator.allocate(total);
      if (first == TimestampAllocator.NEEDS_BOUND) {
        for (int i = batch.size() - 1; i >= 0; i--) {
          waiting.addFirst(batch.get(i));
        }
        break;
      }
      long ts = first;
      long e = epoch;
      for (int i = 0, n = batch.size(); i < n; i++) {
        TsoRequest q = batch.get(i);
        q.succeed(ts, e);
        ts += q.count;
        metrics.queueWait.record(now - q.submittedNanos, TimeUnit.NANOSECONDS);
        replies.add(q);
      }
      answered += batch.size();
      metrics.batchSize.record(batch.size());
      metrics.timestamps.increment(total);
    }
    batch.clear();
    if (answered > 0) {
      queued.addAndGet(-answered);
      if (!lease.valid()) {
        // The lease ran out between the check above and now (a pause, a slow allocation): not
        // one answer may leave after it. The ranges are dropped unused.
        replies.failAll(TsoError.UNAVAILABLE, "this node's leader lease ended while answering; retry");
      }
      replies.flush(context);
    }
    syncAllocatorCounters();
    control(System.nanoTime());
    maybeExtend();
  }

  private void failAll(TsoError error, String message) {
    int n = 0;
    TsoRequest q;
    while ((q = waiting.pollFirst()) != null) {
      q.fail(error, message);
      replies.add(q);
      n++;
    }
    if (n > 0) {
      queued.addAndGet(-n);
      replies.flush(context);
    }
  }

  private void tick() {
    if (!serving) {
      return;
    }
    boolean outer = !busy;
    busy = true;
    try {
      tickGuarded();
    } finally {
      busy = !outer;
    }
  }

  private void tickGuarded() {
    control(System.nanoTime());
    long deadline = System.nanoTime() - TimeUnit.MILLISECONDS.toNanos(settings.requestTimeoutMs());
    int expired = 0;
    while (!waiting.isEmpty() && waiting.peekFirst().submittedNanos - deadline < 0) {
      TsoRequest q = waiting.pollFirst();
      q.fail(TsoError.UNAVAILABLE, "timed out waiting for the timestamp bound to be persisted");
      replies.add(q);
      expired++;
    }
    if (expired > 0) {
      queued.addAndGet(-expired);
      replies.flush(context);
      limited.log(LOG, Level.WARNING, "expired", WARN_INTERVAL_NANOS,
          "{0} requests timed out waiting for the bound (store slow or failing)", expired);
    }
    maybeExtend();
  }

  private void maybeExtend() {
    if (System.nanoTime() - retryNotBeforeNanos < 0) {
      return; // the last attempt failed: the tick retries, paced
    }
    long target = allocator.extensionTarget();
    if (target > 0) {
      persist(target).onSuccess(v -> {
        if (serving) {
          drain();
        }
      });
    }
  }

  /** Persists {@code target} (already marked pending in the allocator) and reports the outcome. */
  private Future<Void> persist(long wanted) {
    // A write reported as failed may still have landed: never write below any earlier attempt,
    // so the stored bound only grows.
    long target = Math.max(wanted, highestAttempted);
    highestAttempted = target;
    long t0 = System.nanoTime();
    long e = epoch;
    return store.save(new StoredBound(e, target)).andThen(ar -> {
      metrics.boundExtensionLatency.record(System.nanoTime() - t0, TimeUnit.NANOSECONDS);
      if (ar.succeeded()) {
        metrics.boundExtensions.increment();
        allocator.extensionDone(target);
        if (failuresInARow > 0) {
          limited.log(LOG, Level.INFO, "recovered", WARN_INTERVAL_NANOS, "bound persisted again after {0} failed attempts",
              failuresInARow);
        }
        failuresInARow = 0;
        retryNotBeforeNanos = System.nanoTime();
      } else {
        metrics.boundExtensionFailures.increment();
        allocator.extensionFailed();
        // No retry from here: an attempt that fails at once would recurse, and a tight retry loop
        // would starve the tick that times out waiting requests. The tick retries, paced.
        retryNotBeforeNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(settings.tickMs());
        if (serving && allocator.bound() <= Math.max(clockMs.getAsLong(), allocator.physical())) {
          // Nothing left to serve from until a write succeeds: say so, so that a leader gives the
          // lease to a member that can persist rather than fail every request while holding it.
          lease.cannotPersist(ar.cause());
        }
        failuresInARow++;
        limited.log(LOG, Level.WARNING, "persist", WARN_INTERVAL_NANOS,
            "could not persist bound {0,number,#} ({1} failures in a row): {2}", target, failuresInARow,
            ar.cause().toString());
      }
    });
  }

  private void syncAllocatorCounters() {
    long behind = allocator.clockBehindEvents();
    if (behind != seenClockBehind) {
      metrics.clockBehind.increment(behind - seenClockBehind);
      seenClockBehind = behind;
    }
    long exhausted = allocator.logicalExhaustedEvents();
    if (exhausted != seenExhausted) {
      metrics.logicalExhausted.increment(exhausted - seenExhausted);
      seenExhausted = exhausted;
    }
  }
}
