package tso.client;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The batching core on a fake transport, where the test decides every answer: call order and how a
 * range is split, the batch limits, deadlines, the bounded queue, and the answers that must never
 * reach a caller (a count that does not match, a lower epoch, a range that goes back), which are
 * refused and sent again.
 */
@Timeout(value = 30, unit = SECONDS)
class BatcherTest {

  private Vertx vertx;
  private Context ctx;
  private final FakeTransport transport = new FakeTransport();
  private final FakeRoute route = new FakeRoute();
  private final Counted events = new Counted();

  @BeforeEach
  void start() {
    vertx = Vertx.vertx();
    ctx = vertx.getOrCreateContext();
    TestCall.order.clear();
  }

  @AfterEach
  void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
  }

  private Batcher batcher(Batcher.Settings s) {
    return batcher(s, new OrderGuard());
  }

  private Batcher batcher(Batcher.Settings s, OrderGuard guard) {
    return new Batcher(ctx, transport, s, route, guard, events, () -> { });
  }

  private static Batcher.Settings settings() {
    return new Batcher.Settings().backoff(TimeUnit.MILLISECONDS.toNanos(1), TimeUnit.MILLISECONDS.toNanos(5));
  }

  @Test
  void rangesAreSplitAmongCallsInCallOrder() throws Exception {
    Batcher b = batcher(settings());
    List<TestCall> calls = new ArrayList<>();
    on(() -> {
      for (int n : new int[] {1, 2, 3, 1, 1}) {
        TestCall c = new TestCall(n, 10_000);
        calls.add(c);
        b.submit(c);
      }
    });
    FakeTransport.FakeStream s = transport.stream(0);
    assertThat(s.requests).as("the first call leaves alone; the rest wait for the batch in flight").containsExactly(1);
    on(() -> s.answer(1_000, 7));
    assertThat(s.requests).as("the next batch holds every call that waited").containsExactly(1, 7);
    on(() -> s.answer(2_000, 7));
    assertThat(calls).extracting(c -> c.first).containsExactly(1_000L, 2_000L, 2_002L, 2_005L, 2_006L);
    assertThat(calls).allMatch(c -> c.epoch == 7 && c.error == null);
    assertThat(TestCall.order).containsExactlyElementsOf(calls);
  }

  @Test
  void aBatchHoldsAtMostTheMaximumAndAtMostKBatchesAreOut() throws Exception {
    Batcher b = batcher(settings().maxBatch(4).maxInflight(2));
    List<TestCall> calls = new ArrayList<>();
    on(() -> {
      for (int i = 0; i < 12; i++) {
        TestCall c = new TestCall(1, 10_000);
        calls.add(c);
        b.submit(c);
      }
    });
    FakeTransport.FakeStream s = transport.stream(0);
    assertThat(s.requests).as("two batches out; the first left with one call").containsExactly(1, 1);
    on(() -> s.answer(100, 1));
    assertThat(s.requests).as("one answer frees one slot: the next batch is full").containsExactly(1, 1, 4);
    on(() -> {
      s.answer(200, 1);
      s.answer(300, 1);
      s.answer(400, 1);
    });
    assertThat(s.requests).containsExactly(1, 1, 4, 4, 2);
    assertThat(calls.stream().filter(c -> c.first != 0)).hasSize(10);
  }

  @Test
  void aBatchWaitsUpToTheMaximumWaitForMoreCalls() throws Exception {
    Batcher b = batcher(settings().maxWait(TimeUnit.MILLISECONDS.toNanos(150)));
    TestCall c = new TestCall(1, 10_000);
    long t0 = System.nanoTime();
    on(() -> b.submit(c));
    await().atMost(Duration.ofSeconds(5)).until(() -> transport.streams.size() == 1);
    assertThat(transport.stream(0).requests).as("not sent before the wait").isEmpty();
    await().atMost(Duration.ofSeconds(5)).until(() -> transport.stream(0).requests.size() == 1);
    assertThat(System.nanoTime() - t0).isGreaterThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(140));
  }

  @Test
  void aCallFailsWithDeadlineExceededAtItsDeadlineWhenNoLeaderIsKnown() throws Exception {
    route.target = null; // no member names a leader
    Batcher b = batcher(settings());
    TestCall c = new TestCall(1, 300);
    long t0 = System.nanoTime();
    on(() -> b.submit(c));
    await().atMost(Duration.ofSeconds(5)).until(() -> c.error != null);
    long took = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertThat(c.error.code()).isEqualTo(TsoClientException.Code.DEADLINE_EXCEEDED);
    assertThat(took).isBetween(290L, 2_000L);
    assertThat(route.asked).as("it kept asking, with backoff").isGreaterThan(1);
  }

  @Test
  void aStreamThatNeverAnswersIsGivenUpAfterTheRpcTimeoutAndTheBatchSentAgain() throws Exception {
    Batcher b = batcher(settings().rpcTimeout(TimeUnit.MILLISECONDS.toNanos(100)));
    TestCall c = new TestCall(3, 10_000);
    on(() -> b.submit(c));
    await().atMost(Duration.ofSeconds(5)).until(() -> transport.streams.size() == 2
        && transport.stream(1).requests.size() == 1);
    assertThat(transport.stream(0).cancelled).isTrue();
    assertThat(transport.stream(1).requests).containsExactly(3);
    on(() -> transport.stream(1).answer(500, 1));
    assertThat(c.first).isEqualTo(500);
    assertThat(events.retried).isEqualTo(1);
  }

  @Test
  void beyondTheQueueLimitACallIsRefusedAtOnce() throws Exception {
    Batcher b = batcher(settings().queueLimit(3));
    List<TestCall> calls = new ArrayList<>();
    on(() -> {
      for (int i = 0; i < 4; i++) {
        TestCall c = new TestCall(1, 10_000);
        calls.add(c);
        b.submit(c);
      }
    });
    assertThat(calls.get(3).error).isNotNull();
    assertThat(calls.get(3).error.code()).isEqualTo(TsoClientException.Code.RESOURCE_EXHAUSTED);
    assertThat(calls.get(3).rejected).as("refused before it was queued").isTrue();
    assertThat(calls.subList(0, 3)).allMatch(c -> c.error == null);
    on(() -> transport.stream(0).answer(10, 1));
    TestCall more = new TestCall(1, 10_000);
    on(() -> b.submit(more));
    assertThat(more.error).as("an answer makes room").isNull();
  }

  @Test
  void anAnswerFromALowerEpochIsRefusedAndTheBatchRetriedElsewhere() throws Exception {
    Batcher b = batcher(settings());
    TestCall first = new TestCall(1, 10_000);
    on(() -> b.submit(first));
    on(() -> transport.stream(0).answer(1_000, 5));
    TestCall second = new TestCall(2, 10_000);
    on(() -> b.submit(second));
    on(() -> transport.stream(0).answer(5_000, 4)); // a deposed leader
    assertThat(second.first).as("the caller never sees it").isZero();
    assertThat(second.error).isNull();
    assertThat(events.refused).containsExactly("epoch");
    assertThat(transport.stream(0).cancelled).isTrue();
    await().atMost(Duration.ofSeconds(5)).until(() -> transport.streams.size() == 2
        && transport.stream(1).requests.size() == 1);
    on(() -> transport.stream(1).answer(6_000, 6));
    assertThat(second.first).isEqualTo(6_000);
    assertThat(second.epoch).isEqualTo(6);
  }

  @Test
  void aRangeNotAboveWhatWasHandedOutIsRefusedAndRetried() throws Exception {
    Batcher b = batcher(settings());
    TestCall first = new TestCall(10, 10_000);
    on(() -> b.submit(first));
    on(() -> transport.stream(0).answer(1_000, 5)); // 1000..1009 handed out
    TestCall second = new TestCall(1, 10_000);
    on(() -> b.submit(second));
    on(() -> transport.stream(0).answer(1_009, 5)); // goes back (overlaps)
    assertThat(second.first).isZero();
    assertThat(events.refused).containsExactly("order");
    await().atMost(Duration.ofSeconds(5)).until(() -> transport.streams.size() == 2
        && transport.stream(1).requests.size() == 1);
    on(() -> transport.stream(1).answer(1_010, 5));
    assertThat(second.first).isEqualTo(1_010);
  }

  @Test
  void anAnswerWhoseCountDoesNotMatchIsRefused() throws Exception {
    Batcher b = batcher(settings());
    TestCall c = new TestCall(3, 10_000);
    on(() -> b.submit(c));
    on(() -> transport.stream(0).listener.range(100, 2, 1));
    assertThat(c.first).isZero();
    assertThat(events.refused).containsExactly("count");
  }

  @Test
  void batchesInFlightTogetherMayBeAnsweredInEitherOrderAcrossConnections() throws Exception {
    OrderGuard guard = new OrderGuard();
    Batcher b1 = batcher(settings(), guard);
    Batcher b2 = batcher(settings(), guard);
    TestCall x = new TestCall(1, 10_000);
    TestCall y = new TestCall(1, 10_000);
    on(() -> {
      b1.submit(x);
      b2.submit(y);
    });
    on(() -> transport.stream(1).answer(2_000, 1));
    on(() -> transport.stream(0).answer(1_000, 1)); // sent before 2000 was handed out: valid
    assertThat(x.first).isEqualTo(1_000);
    assertThat(y.first).isEqualTo(2_000);
    TestCall z = new TestCall(1, 10_000);
    on(() -> b1.submit(z));
    on(() -> transport.stream(0).answer(1_500, 1)); // sent after 2000 was handed out: refused
    assertThat(z.first).isZero();
    assertThat(events.refused).containsExactly("order");
  }

  @Test
  void aStreamThatNamesTheLeaderIsFollowedAndWhatItCarriedSentThereInOrder() throws Exception {
    Batcher b = batcher(settings().maxInflight(2).maxBatch(2));
    List<TestCall> calls = new ArrayList<>();
    on(() -> {
      for (int i = 0; i < 4; i++) {
        TestCall c = new TestCall(1, 10_000);
        calls.add(c);
        b.submit(c);
      }
    });
    on(() -> transport.stream(0).end("UNAVAILABLE", "not the leader", "10.0.0.2:8080"));
    await().atMost(Duration.ofSeconds(5)).until(() -> transport.streams.size() == 2
        && transport.stream(1).requests.size() == 2);
    assertThat(transport.stream(1).address).isEqualTo("10.0.0.2:8080");
    assertThat(transport.stream(1).requests).as("oldest first, as they were").containsExactly(2, 2);
    on(() -> {
      transport.stream(1).answer(100, 2);
      transport.stream(1).answer(200, 2);
    });
    assertThat(calls).extracting(c -> c.first).containsExactly(100L, 101L, 200L, 201L);
    assertThat(events.retried).isEqualTo(2);
  }

  @Test
  void aRequestTheMemberCallsInvalidFailsInsteadOfBeingRetried() throws Exception {
    Batcher b = batcher(settings());
    TestCall c = new TestCall(1, 10_000);
    on(() -> b.submit(c));
    on(() -> transport.stream(0).end("INVALID_ARGUMENT", "count too large", null));
    assertThat(c.error).isNotNull();
    assertThat(c.error.code()).isEqualTo(TsoClientException.Code.INVALID_ARGUMENT);
  }

  @Test
  void withoutRetryAFailedStreamFailsWhatItCarriedWithUnavailable() throws Exception {
    Batcher b = batcher(settings().retry(false));
    TestCall c = new TestCall(1, Long.MAX_VALUE);
    on(() -> b.submit(c));
    on(() -> transport.stream(0).end("TRANSPORT", "reset", null));
    assertThat(c.error.code()).isEqualTo(TsoClientException.Code.UNAVAILABLE);
    route.target = null;
    TestCall d = new TestCall(1, Long.MAX_VALUE);
    on(() -> b.submit(d));
    assertThat(d.error.code()).as("no leader: at once, not at a deadline").isEqualTo(TsoClientException.Code.UNAVAILABLE);
  }

  @Test
  void closeFailsWhatWaits() throws Exception {
    Batcher b = batcher(settings());
    TestCall c = new TestCall(1, 10_000);
    TestCall d = new TestCall(1, 10_000);
    on(() -> {
      b.submit(c);
      b.submit(d);
    });
    b.close().toCompletionStage().toCompletableFuture().get(5, SECONDS);
    assertThat(c.error.code()).isEqualTo(TsoClientException.Code.CLOSED);
    assertThat(d.error.code()).isEqualTo(TsoClientException.Code.CLOSED);
    TestCall e = new TestCall(1, 10_000);
    on(() -> b.submit(e));
    assertThat(e.error.code()).isEqualTo(TsoClientException.Code.CLOSED);
  }

  /** Runs on the batcher's context and waits for it. */
  private void on(Runnable r) throws Exception {
    Callable<Void> c = () -> {
      r.run();
      return null;
    };
    Promise<Void> done = Promise.promise();
    ctx.runOnContext(v -> {
      try {
        c.call();
        done.complete();
      } catch (Throwable t) {
        done.fail(t);
      }
    });
    done.future().toCompletionStage().toCompletableFuture().get(5, SECONDS);
  }

  /** A call that records its answer. */
  static final class TestCall extends Call {
    static final List<TestCall> order = new CopyOnWriteArrayList<>();
    volatile long first;
    volatile long epoch;
    volatile TsoClientException error;
    volatile boolean rejected;

    TestCall(int count, long deadlineMs) {
      super(count, deadlineMs == Long.MAX_VALUE ? Long.MAX_VALUE
          : System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(deadlineMs));
    }

    @Override
    protected void succeed(long first, long epoch) {
      this.first = first;
      this.epoch = epoch;
      order.add(this);
    }

    @Override
    protected void fail(TsoClientException error) {
      this.error = error;
    }

    @Override
    protected void rejected(TsoClientException error) {
      rejected = true;
      this.error = error;
    }
  }

  /** Streams the test answers by hand. */
  static final class FakeTransport implements Transport {
    final List<FakeStream> streams = new CopyOnWriteArrayList<>();

    FakeStream stream(int i) {
      return streams.get(i);
    }

    @Override
    public Future<Stream> open(String address, Listener listener) {
      FakeStream s = new FakeStream(address, listener);
      streams.add(s);
      return Future.succeededFuture(s);
    }

    @Override
    public Future<String> leader(String address) {
      return Future.succeededFuture(null);
    }

    @Override
    public Future<Void> close() {
      return Future.succeededFuture();
    }

    static final class FakeStream implements Stream {
      final String address;
      final Listener listener;
      final List<Integer> requests = new CopyOnWriteArrayList<>();
      int answered;
      volatile boolean cancelled;

      FakeStream(String address, Listener listener) {
        this.address = address;
        this.listener = listener;
      }

      @Override
      public void request(int count) {
        requests.add(count);
      }

      @Override
      public void cancel() {
        cancelled = true;
      }

      /** Answers the oldest unanswered request with the range starting at {@code first}. */
      void answer(long first, long epoch) {
        listener.range(first, requests.get(answered++), epoch);
      }

      void end(String code, String message, String leader) {
        listener.ended(code, message, leader);
      }
    }
  }

  /** One fixed leader (or none), and what the batcher reported; a named leader is taken at its word. */
  static final class FakeRoute implements Batcher.Route {
    volatile String target = "10.0.0.1:8080";
    volatile int asked;

    @Override
    public Future<String> target() {
      asked++;
      return target == null ? Future.failedFuture("no member named a leader") : Future.succeededFuture(target);
    }

    @Override
    public void ended(String address, String code, String leader) {
      if (leader != null) {
        target = leader;
      }
    }
  }

  static final class Counted implements Batcher.Events {
    final List<String> refused = new CopyOnWriteArrayList<>();
    volatile int retried;

    @Override
    public void retried(int calls) {
      retried += calls;
    }

    @Override
    public void refused(String why) {
      refused.add(why);
    }
  }
}
