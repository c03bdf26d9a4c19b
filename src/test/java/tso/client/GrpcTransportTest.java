package tso.client;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.grpc.client.GrpcClient;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import tso.support.Ports;

/** The gRPC transport against a member that takes calls and never answers them. */
@Timeout(value = 60, unit = SECONDS)
class GrpcTransportTest {

  private final Vertx vertx = Vertx.vertx();

  @AfterEach
  void close() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
  }

  private static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(10, SECONDS);
  }

  @Test
  void aGetLeaderThatTimesOutIsResetNotLeftOpenOnTheConnection() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    AtomicInteger reset = new AtomicInteger();
    HttpServer silent = vertx.createHttpServer(new HttpServerOptions().setHttp2ClearTextEnabled(true))
        .requestHandler(req -> {
          calls.incrementAndGet();
          // The call's stream reset by the client (RST_STREAM): its request was whole already, so
          // the response hears it.
          req.response().exceptionHandler(e -> reset.incrementAndGet());
        });
    int port = get(silent.listen(Ports.free(), "127.0.0.1")).actualPort();
    GrpcClient grpc = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false));
    GrpcTransport transport = new GrpcTransport(grpc, 200, true);
    // The first ask may time out before its call is even made (a cold connection): it is then
    // never sent. Every call the member did see is reset once the ask has given up.
    for (int i = 1; i <= 10 && calls.get() < 3; i++) {
      long t0 = System.nanoTime();
      Future<String> asked = transport.leader("127.0.0.1:" + port);
      await().atMost(Duration.ofSeconds(5)).until(asked::isComplete);
      assertThat(asked.failed()).as("no answer within the timeout").isTrue();
      assertThat((System.nanoTime() - t0) / 1_000_000).as("ms until it failed").isLessThan(2_000);
      await().atMost(Duration.ofSeconds(5)).until(() -> reset.get() == calls.get());
    }
    assertThat(calls.get()).as("calls the member saw, each reset").isEqualTo(3);
    get(transport.close());
  }
}
