package tso.server;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.grpc.client.GrpcClient;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.alloc.TimestampAllocator;
import tso.core.TsoRequest;
import tso.forward.Forwarder;
import tso.metrics.TsoMetrics;
import tso.service.TimestampService;
import tso.service.TimestampServiceTest;
import tso.store.StoredBound;

/**
 * A follower's forwarder in front of a real leader's API and allocator, with requests of mixed
 * counts from several event loops interleaved around a bound extension the leader's store holds:
 * every request gets a range of its own count, ranges never overlap, and each caller's answers
 * come back in the order it asked (one batch's range never reaches another batch's callers).
 */
@Timeout(value = 60, unit = SECONDS)
class ForwarderOrderTest {

  private static final long T0 = 1_700_000_000_000L;

  @TempDir
  Path dir;
  private Vertx leaderVertx;
  private Vertx followerVertx;

  @AfterEach
  void close() throws Exception {
    for (Vertx v : new Vertx[] {followerVertx, leaderVertx}) {
      if (v != null) {
        v.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
      }
    }
  }

  private record Asked(int caller, int seq, TsoRequest request) {
  }

  @Test
  void rangesReachTheirOwnCallersInOrderAroundAHeldExtension() throws Exception {
    leaderVertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    AtomicLong clock = new AtomicLong(T0);
    TimestampServiceTest.FakeStore store = new TimestampServiceTest.FakeStore(StoredBound.NONE);
    TimestampService service = new TimestampService(new TimestampService.Settings(300, 100_000, 30_000, 10), store,
        clock::get, new TsoMetrics());
    leaderVertx.deployVerticle(service).toCompletionStage().toCompletableFuture().get(10, SECONDS);
    int port = ApiOver.deploy(leaderVertx, service, dir, Map.of());

    followerVertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(3));
    GrpcClient client = GrpcClient.client(followerVertx, new HttpClientOptions()
        .setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false));
    Forwarder forwarder = new Forwarder(followerVertx.getOrCreateContext(), client, 1000, 100_000, 4, 30_000,
        new TsoMetrics());
    forwarder.leader("127.0.0.1:" + port);
    List<Context> callers = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      java.util.concurrent.atomic.AtomicReference<Context> ref = new java.util.concurrent.atomic.AtomicReference<>();
      followerVertx.deployVerticle(new io.vertx.core.VerticleBase() {
        @Override
        public io.vertx.core.Future<?> start() {
          ref.set(context);
          return io.vertx.core.Future.succeededFuture();
        }
      }).toCompletionStage().toCompletableFuture().get(10, SECONDS);
      callers.add(ref.get());
    }
    List<Asked> asked = new CopyOnWriteArrayList<>();
    List<TsoRequest> answered = new CopyOnWriteArrayList<>();

    submitRound(callers, forwarder, asked, answered, 0);
    await().atMost(Duration.ofSeconds(10)).until(() -> answered.size() == asked.size());

    // The clock moves past the bound and the store holds the extension: what comes now waits at
    // the leader, while more arrives on the same stream.
    store.mode(TimestampServiceTest.Mode.HOLD);
    clock.set(T0 + 400);
    submitRound(callers, forwarder, asked, answered, 1);
    await().atMost(Duration.ofSeconds(10)).until(() -> !store.held.isEmpty());
    submitRound(callers, forwarder, asked, answered, 2);
    Thread.sleep(100);
    // More keeps arriving while the extension completes: a request read inline on the leader's
    // loop right after it must not overtake the ones the completion answers by a task.
    Thread more = new Thread(() -> {
      try {
        for (int round = 3; round < 40; round++) {
          submitRound(callers, forwarder, asked, answered, round);
          Thread.sleep(1);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    more.start();
    Thread.sleep(5);
    store.mode(TimestampServiceTest.Mode.IMMEDIATE);
    store.completeHeld();
    more.join();
    await().atMost(Duration.ofSeconds(10)).until(() -> answered.size() == asked.size());

    assertThat(answered).allSatisfy(r -> assertThat(r.ok()).as("%s %s", r.error(), r.message()).isTrue());
    List<TsoRequest> sorted = new ArrayList<>(answered);
    sorted.sort(Comparator.comparingLong(TsoRequest::first));
    for (int i = 1; i < sorted.size(); i++) {
      TsoRequest prev = sorted.get(i - 1);
      assertThat(sorted.get(i).first()).as("disjoint").isGreaterThanOrEqualTo(prev.first() + prev.count());
    }
    for (TsoRequest r : answered) {
      assertThat(TimestampAllocator.logicalOf(r.first()) + (long) r.count())
          .isLessThanOrEqualTo(TimestampAllocator.MAX_LOGICAL);
    }
    for (int c = 0; c < callers.size(); c++) {
      long last = -1;
      for (Asked a : asked) {
        if (a.caller() == c) {
          assertThat(a.request().first()).as("caller %d, request %d in order", c, a.seq()).isGreaterThan(last);
          last = a.request().first();
        }
      }
    }
  }

  /** Every caller submits 40 requests of counts 1 to 7 from its own event loop. */
  private static void submitRound(List<Context> callers, Forwarder forwarder, List<Asked> asked,
      List<TsoRequest> answered, int round) throws InterruptedException {
    CountDownLatch done = new CountDownLatch(callers.size());
    for (int c = 0; c < callers.size(); c++) {
      int caller = c;
      Context ctx = callers.get(c);
      ctx.runOnContext(v -> {
        for (int i = 0; i < 40; i++) {
          TsoRequest r = new TsoRequest(1 + (i + caller + round) % 7, ctx, answered::add);
          asked.add(new Asked(caller, round * 40 + i, r));
          forwarder.submit(r);
        }
        done.countDown();
      });
    }
    assertThat(done.await(10, SECONDS)).isTrue();
  }
}
