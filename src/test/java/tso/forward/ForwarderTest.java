package tso.forward;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.grpc.client.GrpcClient;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import tso.core.TsoError;
import tso.core.TsoRequest;
import tso.metrics.TsoMetrics;

/**
 * The follower's forwarding queue is bounded: with a leader that takes the stream and never
 * answers, the requests within the limit wait (in flight or queued) and every one beyond it is
 * refused with RESOURCE_EXHAUSTED before {@code submit} returns. Room comes back as the waiting
 * ones are answered.
 */
@Timeout(value = 30, unit = SECONDS)
class ForwarderTest {

  private static final int QUEUE_LIMIT = 8;
  private Vertx vertx;

  @AfterEach
  void close() throws Exception {
    if (vertx != null) {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
    }
  }

  @Test
  void beyondTheQueueLimitRequestsAreRefusedAtOnceAndRoomComesBackWhenTheWaitingOnesAreAnswered()
      throws Exception {
    vertx = Vertx.vertx();
    AtomicInteger calls = new AtomicInteger();
    HttpServer silent = vertx.createHttpServer(new HttpServerOptions().setHttp2ClearTextEnabled(true))
        .requestHandler(req -> calls.incrementAndGet()); // takes the call, never answers
    int port = get(silent.listen(0, "127.0.0.1")).actualPort();
    GrpcClient client = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false));
    Forwarder forwarder = new Forwarder(vertx.getOrCreateContext(), client, 1000, QUEUE_LIMIT, 2, 60_000,
        new TsoMetrics());
    forwarder.leader("127.0.0.1:" + port);
    Context caller = vertx.getOrCreateContext();
    List<TsoRequest> answered = new CopyOnWriteArrayList<>();

    run(caller, () -> {
      for (int i = 0; i < QUEUE_LIMIT; i++) {
        forwarder.submit(new TsoRequest(1, caller, answered::add));
      }
    });
    await().atMost(Duration.ofSeconds(10)).until(() -> calls.get() == 1);
    Thread.sleep(200);
    assertThat(answered).as("the leader never answers: the first %d wait", QUEUE_LIMIT).isEmpty();

    int[] answeredInsideSubmit = new int[1];
    run(caller, () -> {
      for (int i = 0; i < 5; i++) {
        forwarder.submit(new TsoRequest(1, caller, answered::add));
      }
      answeredInsideSubmit[0] = answered.size();
    });
    assertThat(answeredInsideSubmit[0]).as("refused before submit returns").isEqualTo(5);
    assertThat(answered).allSatisfy(r -> {
      assertThat(r.error()).isEqualTo(TsoError.RESOURCE_EXHAUSTED);
      assertThat(r.error().retryable).isTrue();
    });

    // The leader goes away: what waited is answered UNAVAILABLE, and the queue has room again
    // (a new request is not refused for being one too many).
    forwarder.leader(null);
    await().atMost(Duration.ofSeconds(10)).until(() -> answered.size() == 5 + QUEUE_LIMIT);
    assertThat(answered.subList(5, answered.size())).allSatisfy(r -> assertThat(r.error()).isEqualTo(TsoError.UNAVAILABLE));
    run(caller, () -> forwarder.submit(new TsoRequest(1, caller, answered::add)));
    await().atMost(Duration.ofSeconds(10)).until(() -> answered.size() == 6 + QUEUE_LIMIT);
    assertThat(answered.get(answered.size() - 1).error()).isEqualTo(TsoError.UNAVAILABLE);
  }

  private static void run(Context ctx, Runnable r) throws InterruptedException {
    CountDownLatch done = new CountDownLatch(1);
    ctx.runOnContext(v -> {
      try {
        r.run();
      } finally {
        done.countDown();
      }
    });
    assertThat(done.await(10, SECONDS)).isTrue();
  }

  private static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(10, SECONDS);
  }
}
