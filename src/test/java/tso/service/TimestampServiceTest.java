package tso.service;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.NANOSECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import tso.alloc.TimestampAllocator;
import tso.core.TsoError;
import tso.core.TsoRequest;
import tso.metrics.TsoMetrics;
import tso.store.BoundStore;
import tso.store.StoredBound;

/**
 * {@link TimestampService} on a real Vert.x, with a fake {@link BoundStore} (saves completed at once,
 * held until the test completes them, or failed) and a fake wall clock.
 */
@Timeout(value = 20, unit = SECONDS)
public class TimestampServiceTest {

  private static final long T0 = 1_700_000_000_000L;
  private static final long HOUR_MS = 3_600_000L;
  private static final Duration AWAIT = Duration.ofSeconds(5);

  private final AtomicLong clock = new AtomicLong(T0);
  private final TsoMetrics metrics = new TsoMetrics();
  private Vertx vertx;

  @AfterEach
  void closeVertx() throws Exception {
    if (vertx != null) {
      get(vertx.close());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // start

  @Test
  void startPersistsLargerBoundWithNextEpochBeforeServing() throws Exception {
    vertx = Vertx.vertx();
    long storedBound = T0 + 10_000; // a bound from the previous run, ahead of the clock
    FakeStore store = new FakeStore(new StoredBound(4, storedBound));
    store.mode(Mode.HOLD);
    TimestampService service = service(new TimestampService.Settings(3000, 1000, 5000, 10), store);
    Context client = newContext();
    Answers answers = new Answers(store);

    Future<String> deployed = vertx.deployVerticle(service);

    await().atMost(AWAIT).until(() -> store.held.size() == 1);
    StoredBound first = store.attempts.get(0);
    assertThat(first.epoch()).isEqualTo(5);
    assertThat(first.boundMs()).isGreaterThan(storedBound);
    assertThat(first.boundMs()).isEqualTo(storedBound + 1 + 3000); // starts at storedBound + 1, one window ahead
    assertThat(service.serving()).isFalse();
    assertThat(deployed.isComplete()).isFalse();

    // A request before the first bound is durable is refused, not served.
    TsoRequest early = answers.submitAndGet(service, client, 1);
    assertThat(early.ok()).isFalse();
    assertThat(early.error()).isEqualTo(TsoError.UNAVAILABLE);
    assertThat(service.serving()).isFalse();

    store.completeHeld();
    get(deployed);
    assertThat(service.serving()).isTrue();
    assertThat(service.epoch()).isEqualTo(5);

    TsoRequest r = answers.submitAndGet(service, client, 10);
    assertThat(r.ok()).isTrue();
    assertThat(r.epoch()).isEqualTo(5);
    assertThat(TimestampAllocator.physicalOf(r.first())).isGreaterThan(storedBound).isLessThan(first.boundMs());
    answers.assertInvariants();
  }

  @Test
  void startFromEmptyStoreUsesEpochOneAndClock() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(3000, 1000, 5000, 10), store);
    get(vertx.deployVerticle(service));

    assertThat(store.durable).containsExactly(new StoredBound(1, T0 + 3000));
    Answers answers = new Answers(store);
    TsoRequest r = answers.submitAndGet(service, newContext(), 3);
    assertThat(r.ok()).isTrue();
    assertThat(r.epoch()).isEqualTo(1);
    assertThat(r.first()).isEqualTo(TimestampAllocator.compose(T0, 0));
  }

  // ---------------------------------------------------------------------------------------------
  // concurrency, group commit

  @Test
  void concurrentRangesFromSeveralContextsAreDisjointInsideOneMillisecondAndBelowDurableBound() throws Exception {
    vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(4));
    FakeStore store = new FakeStore(new StoredBound(7, T0 - 5));
    TimestampService service = service(new TimestampService.Settings(300, 100_000, 5000, 10), store);
    get(vertx.deployVerticle(service));
    List<Context> clients = List.of(newContext(), newContext(), newContext());
    Answers answers = new Answers(store);

    int perClient = 3000;
    int chunk = 50;
    CountDownLatch go = new CountDownLatch(1);
    for (int c = 0; c < clients.size(); c++) {
      Context ctx = clients.get(c);
      Random random = new Random(42 + c);
      for (int start = 0; start < perClient; start += chunk) {
        int[] counts = new int[chunk];
        for (int i = 0; i < chunk; i++) {
          int pick = random.nextInt(100);
          counts[i] = pick < 60 ? 1 + random.nextInt(10)
              : pick < 95 ? 1 + random.nextInt(5000)
              : 100_000 + random.nextInt(TimestampAllocator.MAX_LOGICAL - 100_000 + 1);
        }
        boolean tickClock = c == 0;
        ctx.runOnContext(v -> {
          awaitQuietly(go);
          for (int count : counts) {
            answers.submit(service, ctx, count);
          }
          if (tickClock) {
            clock.addAndGet(7); // the wall clock moves on while requests flow: extensions happen mid-run
          }
        });
      }
    }
    go.countDown();

    int total = clients.size() * perClient;
    await().atMost(AWAIT).until(() -> answers.all.size() == total);

    assertThat(answers.all).allSatisfy(a -> {
      assertThat(a.ok).as("answer %s", a).isTrue();
      assertThat(a.epoch).isEqualTo(8);
    });
    answers.assertInvariants();
    assertThat(store.durable.size()).as("bound extensions during the run").isGreaterThan(2);
    assertThat(TimestampAllocator.physicalOf(answers.maxEnd() - 1)).isLessThan(store.maxDurable());
    assertThat(service.epoch()).isEqualTo(8);
  }

  @Test
  void manyRequestsSubmittedTogetherFromAnotherThreadAreAnsweredInOneBatch() throws Exception {
    // Two event loops, the client on the one the allocator is not on; the allocator is held busy
    // until the client has handed over every request, so one drain finds them all.
    vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(2));
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(3000, 10_000, 5000, 10), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    assertThat(threadOf(client)).isNotEqualTo(threadOf(serviceContext(service)));
    Answers answers = new Answers(store);

    CountDownLatch handedOver = new CountDownLatch(1);
    serviceContext(service).runOnContext(v -> {
      try {
        handedOver.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    client.runOnContext(v -> {
      for (int i = 0; i < 1000; i++) {
        answers.submit(service, client, 1);
      }
      handedOver.countDown();
    });
    await().atMost(AWAIT).until(() -> answers.all.size() == 1000);

    assertThat(answers.all).allMatch(a -> a.ok);
    answers.assertInvariants();
    assertThat(metrics.batchSize.totalAmount()).isEqualTo(1000.0);
    assertThat(metrics.batchSize.count()).as("allocations for 1000 requests").isLessThan(1000);
    assertThat(metrics.batchSize.max()).as("largest batch").isGreaterThan(1.0);
    assertThat(metrics.batchSize.count()).as("one drain, one allocation").isEqualTo(1);
    // One allocation: the ranges are consecutive, in the order the requests were handed over.
    List<Answer> inOrder = new ArrayList<>(answers.all);
    for (int i = 1; i < inOrder.size(); i++) {
      assertThat(inOrder.get(i).first).isEqualTo(inOrder.get(i - 1).first + 1);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // bound extensions

  @Test
  void allocationNearTheBoundStartsExtensionBeforeItIsNeeded() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    // A tick that never comes during the test: only allocations can start the extension.
    TimestampService service = service(new TimestampService.Settings(3000, 1000, 5000, HOUR_MS), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    long bound = T0 + 3000;
    assertThat(store.maxDurable()).isEqualTo(bound);
    store.mode(Mode.HOLD);

    clock.set(bound - 1001); // more than a third of the window left: no extension yet
    assertThat(answers.submitAndGet(service, client, 1).ok()).isTrue();
    assertThat(store.attempts).hasSize(1);

    clock.set(bound - 1000); // a third of the window left: this allocation starts the extension
    TsoRequest r = answers.submitAndGet(service, client, 5);
    assertThat(r.ok()).as("served while the extension is still being persisted").isTrue();
    assertThat(TimestampAllocator.physicalOf(r.first())).isEqualTo(bound - 1000);
    // The answer is handed back before the extension starts, on another thread: wait for the save.
    await().atMost(AWAIT).until(() -> store.attempts.size() == 2 && store.held.size() == 1);
    assertThat(store.attempts.get(1)).isEqualTo(new StoredBound(1, bound - 1000 + 3000));

    // More requests below the old bound are served without waiting for the held save.
    clock.set(bound - 10);
    assertThat(answers.submitAndGet(service, client, 1).ok()).isTrue();
    assertThat(store.attempts).as("one extension in flight at a time").hasSize(2);

    store.completeHeld();
    await().atMost(AWAIT).until(() -> store.maxDurable() == bound + 2000);
    clock.set(bound + 500); // past the old bound, below the new one
    TsoRequest after = answers.submitAndGet(service, client, 1);
    assertThat(after.ok()).isTrue();
    assertThat(TimestampAllocator.physicalOf(after.first())).isEqualTo(bound + 500);
    answers.assertInvariants();
    assertThat(metrics.boundExtensions.count()).isEqualTo(2.0);
  }

  @Test
  void theLastMillisecondBelowTheDurableBoundIsServedButTheBoundItselfIsNot() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(3000, 1000, 10_000, HOUR_MS), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    long bound = T0 + 3000;
    store.mode(Mode.HOLD);

    clock.set(bound - 1);
    TsoRequest last = answers.submitAndGet(service, client, TimestampAllocator.MAX_LOGICAL);
    assertThat(last.ok()).isTrue();
    assertThat(last.first()).isEqualTo(TimestampAllocator.compose(bound - 1, 0));
    // The answer is handed back before the extension starts, on another thread: wait for the save.
    await().atMost(AWAIT).until(() -> store.held.size() == 1);
    Context serviceContext = store.held.peek().context;

    // Millisecond bound - 1 is used up: the next timestamp would have physical == bound.
    client.runOnContext(v -> answers.submit(service, client, 1));
    roundTrip(client);
    roundTrip(serviceContext); // the drain scheduled by that submit has run
    roundTrip(client); // and anything it answered has reached the client
    assertThat(answers.all).as("served at the durable bound").hasSize(1);
    assertThat(queueDepth()).isEqualTo(1);

    store.completeHeld();
    await().atMost(AWAIT).until(() -> answers.all.size() == 2);
    Answer next = new ArrayList<>(answers.all).get(1);
    assertThat(next.ok).isTrue();
    assertThat(next.first).isEqualTo(TimestampAllocator.compose(bound, 0));
    answers.assertInvariants();
  }

  @Test
  void periodicTickStartsExtensionWithoutRequests() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(3000, 1000, 5000, 10), store);
    get(vertx.deployVerticle(service));
    assertThat(store.attempts).hasSize(1);

    clock.set(T0 + 2500);
    await().atMost(AWAIT).until(() -> store.attempts.size() == 2);
    assertThat(store.attempts.get(1)).isEqualTo(new StoredBound(1, T0 + 2500 + 3000));
    await().atMost(AWAIT).until(() -> store.maxDurable() == T0 + 5500);

    // and the request that comes later is served from it without any new save
    Answers answers = new Answers(store);
    clock.set(T0 + 3500);
    assertThat(answers.submitAndGet(service, newContext(), 1).ok()).isTrue();
    assertThat(store.attempts).hasSize(2);
  }

  @Test
  void requestsThatNeedANewBoundWaitForTheHeldSaveAndSucceedWhenItCompletes() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(3000, 1000, 10_000, 10), store);
    get(vertx.deployVerticle(service));
    Context a = newContext();
    Context b = newContext();
    Answers answers = new Answers(store);
    store.mode(Mode.HOLD);

    clock.set(T0 + 3000); // at the durable bound: nothing can be served from memory
    for (int i = 0; i < 10; i++) {
      Context ctx = i % 2 == 0 ? a : b;
      int count = 1 + i * 100;
      ctx.runOnContext(v -> answers.submit(service, ctx, count));
    }
    await().atMost(AWAIT).until(() -> queueDepth() == 10 && store.held.size() == 1);
    assertThat(answers.all).as("answered before the bound they need is durable").isEmpty();
    assertThat(store.held.peek().bound).isEqualTo(new StoredBound(1, T0 + 3000 + 3000));

    store.completeHeld();
    await().atMost(AWAIT).until(() -> answers.all.size() == 10);
    assertThat(answers.all).allSatisfy(x -> {
      assertThat(x.ok).isTrue();
      assertThat(TimestampAllocator.physicalOf(x.first)).isEqualTo(T0 + 3000);
    });
    answers.assertInvariants();
    await().atMost(AWAIT).until(() -> queueDepth() == 0);
  }

  @Test
  void requestsWaitingLongerThanTheTimeoutForAHeldSaveGetUnavailable() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(300, 1000, 200, 10), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    store.mode(Mode.HOLD);

    clock.set(T0 + 400); // past the bound T0 + 300
    long submitted = System.nanoTime();
    client.runOnContext(v -> {
      for (int i = 0; i < 5; i++) {
        answers.submit(service, client, 1);
      }
    });
    await().atMost(AWAIT).until(() -> answers.all.size() == 5);
    long waitedMs = MILLISECONDS.convert(System.nanoTime() - submitted, NANOSECONDS);

    assertThat(answers.all).allSatisfy(x -> {
      assertThat(x.ok).isFalse();
      assertThat(x.error).isEqualTo(TsoError.UNAVAILABLE);
    });
    assertThat(waitedMs).as("answered only after the request timeout").isGreaterThanOrEqualTo(200);
    assertThat(waitedMs).as("and not much later (tick 10 ms)").isLessThan(200 + 400);
    assertThat(store.held).hasSize(1);
    assertThat(queueDepth()).isZero();

    // The save completes late: the service serves again.
    store.mode(Mode.IMMEDIATE);
    store.completeHeld();
    TsoRequest r = answers.submitAndGet(service, client, 1);
    assertThat(r.ok()).isTrue();
    assertThat(TimestampAllocator.physicalOf(r.first())).isEqualTo(T0 + 400);
    answers.assertInvariants();
  }

  // ---------------------------------------------------------------------------------------------
  // failing store

  @Test
  void failingStoreNeverServesPastTheDurableBoundAndServiceResumesWhenItRecovers() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(300, 1000, 200, 10), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    long bound = T0 + 300;
    store.mode(Mode.FAIL_LATER); // fails on a later task of the caller's context, as a worker-thread store does

    // Within the last third: extensions are tried (and fail), but the durable bound still serves.
    clock.set(bound - 50);
    TsoRequest below = answers.submitAndGet(service, client, 1);
    assertThat(below.ok()).isTrue();
    assertThat(TimestampAllocator.physicalOf(below.first())).isEqualTo(bound - 50);
    await().atMost(AWAIT).until(() -> metrics.boundExtensionFailures.count() >= 1);

    // Past the durable bound: no timestamps, UNAVAILABLE after the request timeout.
    clock.set(bound + 100);
    client.runOnContext(v -> {
      for (int i = 0; i < 3; i++) {
        answers.submit(service, client, 1000);
      }
    });
    await().atMost(AWAIT).until(() -> answers.all.size() == 4);
    assertThat(answers.all.stream().skip(1).toList()).allSatisfy(x -> {
      assertThat(x.ok).isFalse();
      assertThat(x.error).isEqualTo(TsoError.UNAVAILABLE);
    });
    assertThat(store.maxDurable()).isEqualTo(bound);
    assertThat(service.serving()).isTrue();

    // The store recovers: the next extension is durable and requests are served again.
    store.mode(Mode.IMMEDIATE);
    await().atMost(AWAIT).until(() -> store.maxDurable() > bound);
    TsoRequest r = answers.submitAndGet(service, client, 1);
    assertThat(r.ok()).isTrue();
    assertThat(TimestampAllocator.physicalOf(r.first())).isEqualTo(bound + 100);
    answers.assertInvariants();
  }

  @Test
  void storeFailingAtOnceDoesNotWedgeTheServiceAfterItRecovers() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(300, 1000, 200, 10), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    long bound = T0 + 300;
    store.mode(Mode.FAIL_AT_ONCE);

    clock.set(bound + 100);
    client.runOnContext(v -> answers.submit(service, client, 1));
    await().atMost(AWAIT).until(() -> answers.all.size() == 1);
    assertThat(answers.all.peek().error).isEqualTo(TsoError.UNAVAILABLE);

    store.mode(Mode.IMMEDIATE);
    await().atMost(AWAIT).until(() -> store.maxDurable() > bound);
    TsoRequest r = answers.submitAndGet(service, client, 1);
    assertThat(r.ok()).isTrue();
    answers.assertInvariants();
  }

  @Test
  void whileTheStoreKeepsFailingWaitingRequestsGetUnavailableWithinTheRequestTimeout() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(300, 1000, 200, 10), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    store.mode(Mode.FAIL_LATER);

    clock.set(T0 + 400); // past the bound T0 + 300
    long submitted = System.nanoTime();
    client.runOnContext(v -> answers.submit(service, client, 1));
    await().atMost(AWAIT).until(() -> answers.all.size() == 1);
    long waitedMs = MILLISECONDS.convert(System.nanoTime() - submitted, NANOSECONDS);

    assertThat(answers.all.peek().error).isEqualTo(TsoError.UNAVAILABLE);
    assertThat(waitedMs).as("waited at most about requestTimeoutMs (200) plus a tick").isLessThan(200 + 400);
  }

  // ---------------------------------------------------------------------------------------------
  // the lease

  /** A lease with a deadline on the monotonic clock, as a leader's term has. */
  private static final class DeadlineLease implements TimestampService.Lease {
    volatile long deadlineNanos = Long.MAX_VALUE;
    final List<Throwable> cannotPersist = new java.util.concurrent.CopyOnWriteArrayList<>();

    @Override
    public boolean valid() {
      return System.nanoTime() - deadlineNanos < 0;
    }

    @Override
    public void cannotPersist(Throwable cause) {
      cannotPersist.add(cause);
    }
  }

  @Test
  void aPauseBetweenAllocationAndAnswerThatOutlastsTheLeaseLetsNoAnswerLeave() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    DeadlineLease lease = new DeadlineLease();
    java.util.concurrent.atomic.AtomicBoolean pauseNext = new java.util.concurrent.atomic.AtomicBoolean();
    // The allocator reads the clock while it allocates: a pause there (a GC, a descheduled
    // process) lands exactly between the lease check before the batch and the answers' write.
    TimestampService service = new TimestampService(new TimestampService.Settings(3000, 1000, 5000, 10), store,
        () -> {
          if (pauseNext.getAndSet(false)) {
            lease.deadlineNanos = System.nanoTime() + MILLISECONDS.toNanos(100);
            try {
              Thread.sleep(300);
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          }
          return clock.get();
        }, metrics, lease);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    assertThat(answers.submitAndGet(service, client, 1).ok()).isTrue();

    pauseNext.set(true);
    TsoRequest paused = answers.submitAndGet(service, client, 5);
    assertThat(paused.ok()).as("allocated inside the lease, answered after it").isFalse();
    assertThat(paused.error()).isEqualTo(TsoError.UNAVAILABLE);
    TsoRequest after = answers.submitAndGet(service, client, 1);
    assertThat(after.ok()).isFalse();
    assertThat(after.error()).isEqualTo(TsoError.UNAVAILABLE);
    answers.assertInvariants();
  }

  @Test
  void aStoreThatFailsOnceNothingIsLeftToServeFromTellsTheLeaseButNotBefore() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    DeadlineLease lease = new DeadlineLease();
    TimestampService service = new TimestampService(new TimestampService.Settings(300, 1000, 200, 10), store,
        clock::get, metrics, lease);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    long bound = T0 + 300;
    store.mode(Mode.FAIL_LATER);

    clock.set(bound - 50); // inside the last third: extensions fail, but the durable bound still serves
    assertThat(answers.submitAndGet(service, client, 1).ok()).isTrue();
    await().atMost(AWAIT).until(() -> metrics.boundExtensionFailures.count() >= 2);
    assertThat(lease.cannotPersist).as("room is left: not yet").isEmpty();

    clock.set(bound + 10); // nothing left below the durable bound
    await().atMost(AWAIT).until(() -> !lease.cannotPersist.isEmpty());
    assertThat(lease.cannotPersist.get(0)).hasMessageContaining("disk on fire");
    answers.assertInvariants();
  }

  // ---------------------------------------------------------------------------------------------
  // queue limit

  @Test
  void queueLimitRefusesTheEleventhRequestAtOnce() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(3000, 10, 10_000, 10), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    store.mode(Mode.HOLD);
    clock.set(T0 + 5000); // past the bound: nothing drains until the held save completes

    client.runOnContext(v -> {
      for (int i = 0; i < 10; i++) {
        answers.submit(service, client, 1);
      }
    });
    await().atMost(AWAIT).until(() -> queueDepth() == 10 && store.held.size() == 1);
    assertThat(answers.all).isEmpty();

    AtomicBoolean answeredInsideSubmit = new AtomicBoolean();
    CountDownLatch submitted = new CountDownLatch(1);
    client.runOnContext(v -> {
      answers.submit(service, client, 1);
      answeredInsideSubmit.set(answers.all.size() == 1);
      submitted.countDown();
    });
    assertThat(submitted.await(5, SECONDS)).isTrue();
    assertThat(answeredInsideSubmit).as("refused at once, before submit returns").isTrue();
    Answer refused = answers.all.peek();
    assertThat(refused.ok).isFalse();
    assertThat(refused.error).isEqualTo(TsoError.RESOURCE_EXHAUSTED);
    assertThat(queueDepth()).isEqualTo(10);

    store.completeHeld();
    await().atMost(AWAIT).until(() -> answers.all.size() == 11);
    assertThat(answers.all).filteredOn(x -> x.ok).hasSize(10);
    await().atMost(AWAIT).until(() -> queueDepth() == 0);
    assertThat(answers.submitAndGet(service, client, 1).ok()).as("room again once drained").isTrue();
    answers.assertInvariants();
  }

  // ---------------------------------------------------------------------------------------------
  // stop

  @Test
  void stopAnswersWaitingRequestsAndLaterSubmitsWithUnavailable() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(3000, 1000, 10_000, 10), store);
    String id = get(vertx.deployVerticle(service));
    Context a = newContext();
    Context b = newContext();
    Answers answers = new Answers(store);
    store.mode(Mode.HOLD);
    clock.set(T0 + 4000);

    for (Context ctx : List.of(a, b)) {
      ctx.runOnContext(v -> {
        for (int i = 0; i < 5; i++) {
          answers.submit(service, ctx, 1);
        }
      });
    }
    await().atMost(AWAIT).until(() -> queueDepth() == 10 && store.held.size() == 1);
    assertThat(answers.all).isEmpty();

    get(vertx.undeploy(id));
    await().atMost(AWAIT).until(() -> answers.all.size() == 10);
    assertThat(answers.all).allSatisfy(x -> {
      assertThat(x.ok).isFalse();
      assertThat(x.error).isEqualTo(TsoError.UNAVAILABLE);
    });
    assertThat(service.serving()).isFalse();
    assertThat(store.closed).isTrue();
    assertThat(queueDepth()).isZero();

    TsoRequest late = answers.submitAndGet(service, a, 1);
    assertThat(late.ok()).isFalse();
    assertThat(late.error()).isEqualTo(TsoError.UNAVAILABLE);

    // The save that was in flight completes after the stop: still nothing is served.
    store.completeHeld();
    TsoRequest later = answers.submitAndGet(service, b, 1);
    assertThat(later.error()).isEqualTo(TsoError.UNAVAILABLE);
    assertThat(answers.all).noneMatch(x -> x.ok);
    answers.assertInvariants();
  }

  // ---------------------------------------------------------------------------------------------
  // wall clock

  @Test
  void wallClockGoingBackAnHourNeverYieldsASmallerTimestamp() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(300, 10_000, 5000, 10), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);

    for (int i = 0; i < 20; i++) {
      clock.addAndGet(5);
      answers.submitAndGet(service, client, 1000);
    }
    long highest = answers.maxEnd();

    clock.addAndGet(-HOUR_MS);
    // Whole milliseconds of logical range: physical has to move forward past several windows.
    client.runOnContext(v -> {
      for (int i = 0; i < 1000; i++) {
        answers.submit(service, client, TimestampAllocator.MAX_LOGICAL);
      }
    });
    await().atMost(AWAIT).until(() -> answers.all.size() == 1020);
    for (int i = 0; i < 20; i++) {
      clock.addAndGet(3); // still an hour behind
      answers.submitAndGet(service, client, 7);
    }

    assertThat(answers.all).allMatch(x -> x.ok);
    List<Answer> inOrder = new ArrayList<>(answers.all);
    for (int i = 1; i < inOrder.size(); i++) {
      Answer prev = inOrder.get(i - 1);
      assertThat(inOrder.get(i).first).as("answer %d after %s", i, prev).isGreaterThanOrEqualTo(prev.first + prev.count);
    }
    assertThat(inOrder.get(20).first).isGreaterThanOrEqualTo(highest);
    answers.assertInvariants();
    assertThat(metrics.clockBehind.count()).isGreaterThanOrEqualTo(1.0);
    assertThat(store.durable.size()).as("extensions from physical, not from the clock").isGreaterThan(3);
    assertThat(store.attempts).allSatisfy(s -> assertThat(s.boundMs()).isGreaterThan(T0));
  }

  // =============================================================================================
  // helpers

  @Test
  void whileTheQueueStaysAboveItsTargetNewRequestsAreRefusedAtOnceAndAdmittedAgainAfter() throws Exception {
    vertx = Vertx.vertx();
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(300, 100_000, 10_000, 10, 5), store);
    get(vertx.deployVerticle(service));
    Context client = newContext();
    Answers answers = new Answers(store);
    store.mode(Mode.HOLD);
    clock.set(T0 + 300); // at the durable bound: everything waits for the held extension
    client.runOnContext(v -> answers.submit(service, client, 1));
    await().atMost(AWAIT).until(() -> store.held.size() == 1);

    // Keep asking: once the oldest has waited past the target for a whole interval, new requests
    // are answered RESOURCE_EXHAUSTED at once, while the ones queued before still wait.
    await().atMost(AWAIT).pollInterval(Duration.ofMillis(5)).until(() -> {
      client.runOnContext(v -> answers.submit(service, client, 1));
      return answers.all.stream().anyMatch(a -> a.error == TsoError.RESOURCE_EXHAUSTED);
    });
    assertThat(answers.all).allSatisfy(a -> assertThat(a.error).isEqualTo(TsoError.RESOURCE_EXHAUSTED));
    assertThat(metrics.shed.count()).isPositive();
    int refused = answers.all.size();
    assertThat(queueDepth()).isPositive();

    // The store answers: the queue is served, and new requests are admitted again.
    store.completeHeld();
    await().atMost(AWAIT).until(() -> queueDepth() == 0);
    assertThat(answers.all.stream().filter(a -> a.ok).count()).isPositive();
    await().atMost(AWAIT).until(() -> answers.submitAndGet(service, client, 1).ok());
    assertThat(answers.all.size()).isGreaterThan(refused);
    answers.assertInvariants();
  }

  private TimestampService service(TimestampService.Settings settings, FakeStore store) {
    TimestampService s = new TimestampService(settings, store, clock::get, metrics);
    current = s;
    return s;
  }

  /** Returns once every task queued on {@code ctx} before this call has run. */
  private static void roundTrip(Context ctx) throws Exception {
    Promise<Void> done = Promise.promise();
    ctx.runOnContext(v -> done.complete());
    get(done.future());
  }

  /** The service the test made last. */
  private TimestampService current;

  private double queueDepth() {
    return current.queueDepth();
  }

  /** A fresh event-loop context of its own (a client verticle's). */
  @Test
  void onTheAllocatorsOwnThreadARequestIsAnsweredInlineAndInOrder() throws Exception {
    vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    FakeStore store = new FakeStore(StoredBound.NONE);
    TimestampService service = service(new TimestampService.Settings(3000, 10_000, 5000, 10), store);
    get(vertx.deployVerticle(service));
    Context client = newContext(); // the one event loop: the allocator's thread
    Answers answers = new Answers(store);
    Promise<List<Integer>> answeredBeforeReturn = Promise.promise();
    client.runOnContext(v -> {
      List<Integer> seen = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        answers.submit(service, client, 1 + i % 3);
        seen.add(answers.all.size());
      }
      answeredBeforeReturn.complete(seen);
    });
    List<Integer> seen = get(answeredBeforeReturn.future());
    for (int i = 0; i < 100; i++) {
      assertThat(seen.get(i)).as("answers when submit %d returned", i).isEqualTo(i + 1);
    }
    assertThat(answers.all).allMatch(a -> a.ok && a.onOwnContext);
    answers.assertInvariants();
    List<Answer> inOrder = new ArrayList<>(answers.all);
    for (int i = 1; i < inOrder.size(); i++) {
      assertThat(inOrder.get(i).first).isEqualTo(inOrder.get(i - 1).first + inOrder.get(i - 1).count);
    }
  }

  private static String threadOf(Context ctx) throws Exception {
    Promise<String> name = Promise.promise();
    ctx.runOnContext(v -> name.complete(Thread.currentThread().getName()));
    return get(name.future());
  }

  private static Context serviceContext(TimestampService service) throws Exception {
    java.lang.reflect.Field f = io.vertx.core.VerticleBase.class.getDeclaredField("context");
    f.setAccessible(true);
    return (Context) f.get(service);
  }

  private Context newContext() throws Exception {
    AtomicReference<Context> ref = new AtomicReference<>();
    get(vertx.deployVerticle(new VerticleBase() {
      @Override
      public Future<?> start() {
        ref.set(context);
        return Future.succeededFuture();
      }
    }));
    return ref.get();
  }

  private static <T> T get(Future<T> future) throws Exception {
    return future.toCompletionStage().toCompletableFuture().get(10, SECONDS);
  }

  private static void awaitQuietly(CountDownLatch latch) {
    try {
      latch.await(5, SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  public enum Mode { IMMEDIATE, HOLD, FAIL_AT_ONCE, FAIL_LATER }

  public record Held(StoredBound bound, Promise<Void> promise, Context context) {
  }

  /** A BoundStore in memory: records every save, completes, holds or fails it as told. */
  public static final class FakeStore implements BoundStore {
    private final StoredBound initial;
    private volatile Mode mode = Mode.IMMEDIATE;
    /** Every save asked for, in order (capped: a failing store may be asked very often). */
    final List<StoredBound> attempts = new CopyOnWriteArrayList<>();
    final AtomicLong attemptCount = new AtomicLong();
    /** Every save that completed successfully, in order. */
    final List<StoredBound> durable = new CopyOnWriteArrayList<>();
    public final ConcurrentLinkedQueue<Held> held = new ConcurrentLinkedQueue<>();
    private final AtomicLong maxDurable = new AtomicLong();
    volatile boolean closed;

    public FakeStore(StoredBound initial) {
      this.initial = initial;
      maxDurable.set(initial.boundMs());
    }

    public void mode(Mode mode) {
      this.mode = mode;
    }

    public long maxDurable() {
      return maxDurable.get();
    }

    @Override
    public Future<StoredBound> load() {
      return Future.succeededFuture(initial);
    }

    @Override
    public Future<Void> save(StoredBound state) {
      if (attemptCount.incrementAndGet() <= 10_000) {
        attempts.add(state);
      }
      Context ctx = Vertx.currentContext();
      switch (mode) {
        case IMMEDIATE:
          markDurable(state);
          return Future.succeededFuture();
        case HOLD: {
          Promise<Void> p = Promise.promise();
          held.add(new Held(state, p, ctx));
          return p.future();
        }
        case FAIL_AT_ONCE:
          return Future.failedFuture(new IOException("fake store: disk on fire"));
        case FAIL_LATER: {
          Promise<Void> p = Promise.promise();
          ctx.runOnContext(v -> p.fail(new IOException("fake store: disk on fire")));
          return p.future();
        }
        default:
          throw new AssertionError(mode);
      }
    }

    private void markDurable(StoredBound state) {
      durable.add(state);
      maxDurable.accumulateAndGet(state.boundMs(), Math::max);
    }

    /** Completes every held save, each on the context that asked for it. */
    public void completeHeld() {
      Held h;
      List<Held> all = new ArrayList<>();
      while ((h = held.poll()) != null) {
        all.add(h);
      }
      CountDownLatch latch = new CountDownLatch(all.size());
      for (Held x : all) {
        x.context.runOnContext(v -> {
          markDurable(x.bound);
          x.promise.complete();
          latch.countDown();
        });
      }
      awaitQuietly(latch);
    }

    @Override
    public Future<Void> close() {
      closed = true;
      return Future.succeededFuture();
    }
  }

  /** One answer as the request's callback saw it. */
  record Answer(boolean ok, long first, int count, long epoch, TsoError error, boolean onOwnContext,
                long durableAtAnswer) {
  }

  /** Collects answers from any thread. */
  static final class Answers {
    final ConcurrentLinkedQueue<Answer> all = new ConcurrentLinkedQueue<>();
    private final FakeStore store;

    Answers(FakeStore store) {
      this.store = store;
    }

    /** Submits from the current thread (the caller is on {@code ctx}). */
    TsoRequest submit(TimestampService service, Context ctx, int count) {
      TsoRequest request = new TsoRequest(count, ctx, r -> all.add(new Answer(r.ok(), r.first(), r.count(),
          r.epoch(), r.error(), Vertx.currentContext() == ctx, store.maxDurable())));
      service.submit(request);
      return request;
    }

    /** Submits one request on {@code ctx} and waits for its answer. */
    TsoRequest submitAndGet(TimestampService service, Context ctx, int count) throws Exception {
      Promise<TsoRequest> answered = Promise.promise();
      ctx.runOnContext(v -> {
        TsoRequest request = new TsoRequest(count, ctx, r -> {
          all.add(new Answer(r.ok(), r.first(), r.count(), r.epoch(), r.error(), Vertx.currentContext() == ctx,
              store.maxDurable()));
          answered.complete(r);
        });
        service.submit(request);
      });
      return get(answered.future());
    }

    long maxEnd() {
      return all.stream().filter(a -> a.ok).mapToLong(a -> a.first + a.count).max().orElse(0);
    }

    /**
     * Every answer on its own context; successful ranges disjoint, each inside one millisecond and
     * below the bound that was durable when it was answered.
     */
    void assertInvariants() {
      List<Answer> ok = new ArrayList<>();
      for (Answer a : all) {
        assertThat(a.onOwnContext).as("answered on the request's context: %s", a).isTrue();
        if (a.ok) {
          ok.add(a);
        }
      }
      for (Answer a : ok) {
        assertThat(TimestampAllocator.logicalOf(a.first) + (long) a.count)
            .as("inside one millisecond: %s", a).isLessThanOrEqualTo(TimestampAllocator.MAX_LOGICAL);
        assertThat(TimestampAllocator.physicalOf(a.first)).as("below the durable bound: %s", a)
            .isLessThan(a.durableAtAnswer);
      }
      ok.sort(Comparator.comparingLong(Answer::first));
      for (int i = 1; i < ok.size(); i++) {
        Answer prev = ok.get(i - 1);
        assertThat(ok.get(i).first).as("disjoint from %s", prev).isGreaterThanOrEqualTo(prev.first + prev.count);
      }
    }
  }
}
