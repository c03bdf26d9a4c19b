package tso.support;

import static java.util.concurrent.TimeUnit.SECONDS;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;

import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

import tso.client.Timestamp;
import tso.client.TsoClient;

/**
 * Closed-loop callers of a {@link TsoClient} on their own Vert.x instance (two event loops, as an
 * application's would be): each calls {@link TsoClient#next()}, pauses {@link #THINK_MS} once the
 * call has ended, and calls again. Every answer goes into the history and every failure is kept,
 * with the longest call (also since a moment marked by {@link #rollBegan}), the calls over a
 * second, and the epochs the answers came from ({@code onNewEpoch} hears the first of each, on the
 * callers' thread).
 */
public final class Callers {
  /**
   * The pause between a caller's calls. Without one, 1,000 callers draw close to a million answers
   * a second on two cores, and a scenario's history outgrows the test JVM's heap; with it the
   * client still has every caller waiting on it within milliseconds of a fault.
   */
  public static final long THINK_MS = 10;

  private final Vertx vertx = Vertx.vertx();
  private final TsoClient client;
  private final History history;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final AtomicInteger active = new AtomicInteger();
  private final LongAdder successes = new LongAdder();
  private final LongAdder overOneSecond = new LongAdder();
  private final Queue<String> failures = new ConcurrentLinkedQueue<>();
  private final AtomicLong longest = new AtomicLong();
  private final AtomicLong longestWhileRolling = new AtomicLong();
  private volatile long rollBegan = Long.MAX_VALUE;
  private final Set<Long> epochs = ConcurrentHashMap.newKeySet();
  private final Queue<long[]> slow = new ConcurrentLinkedQueue<>();

  private final java.util.function.LongConsumer onNewEpoch;

  public Callers(TsoClient client, History history, java.util.function.LongConsumer onNewEpoch) {
    this.client = client;
    this.history = history;
    this.onNewEpoch = onNewEpoch;
  }

  /** Starts callers {@code first} to {@code last - 1}, half on each of two event loops. */
  public void start(int first, int last) throws Exception {
    int n = last - first;
    active.addAndGet(n);
    for (int loop = 0; loop < 2; loop++) {
      int from = first + loop * n / 2;
      int to = first + (loop + 1) * n / 2;
      vertx.deployVerticle(new VerticleBase() {
        @Override
        public Future<?> start() {
          for (int i = from; i < to; i++) {
            call("caller-" + i);
          }
          return Future.succeededFuture();
        }
      }).toCompletionStage().toCompletableFuture().get(10, SECONDS);
    }
  }

  private void call(String id) {
    if (!running.get()) {
      active.decrementAndGet();
      return;
    }
    long invoke = System.nanoTime();
    client.next().onComplete(ar -> {
      long complete = System.nanoTime();
      long took = complete - invoke;
      longest.accumulateAndGet(took, Math::max);
      if (invoke >= rollBegan) {
        longestWhileRolling.accumulateAndGet(took, Math::max);
      }
      if (took > SECONDS.toNanos(1)) {
        overOneSecond.increment();
        slow.add(new long[] {invoke, complete});
      }
      if (ar.succeeded()) {
        Timestamp ts = ar.result();
        history.add(invoke, complete, ts.value(), 1, id);
        successes.increment();
        if (epochs.add(ts.epoch())) {
          onNewEpoch.accept(ts.epoch());
        }
      } else {
        failures.add(id + " after " + took / 1_000_000 + " ms: " + ar.cause());
      }
      vertx.setTimer(THINK_MS, t -> call(id));
    });
  }

  public void stop() {
    running.set(false);
  }

  public int active() {
    return active.get();
  }

  public void close() throws Exception {
    running.set(false);
    vertx.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
  }

  public long successes() {
    return successes.sum();
  }

  public long overOneSecond() {
    return overOneSecond.sum();
  }

  public Queue<String> failures() {
    return failures;
  }

  public long longestNanos() {
    return longest.get();
  }

  /** Calls sent from {@code nanos} on count for {@link #longestWhileRollingNanos()}. */
  public void rollBegan(long nanos) {
    rollBegan = nanos;
  }

  /** The longest call sent since {@link #rollBegan}. */
  public long longestWhileRollingNanos() {
    return longestWhileRolling.get();
  }

  public Set<Long> epochs() {
    return epochs;
  }

  /** Calls that took over a second: {invoke, complete} in nanoseconds. */
  public Queue<long[]> slow() {
    return slow;
  }
}
