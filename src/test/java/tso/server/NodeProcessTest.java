package tso.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.grpc.common.GrpcStatus;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vertx.core.json.JsonObject;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.support.Clients;
import tso.support.History;
import tso.support.NodeProcess;
import tso.support.Ports;

/**
 * The node as a real process: killed with SIGKILL and restarted with its clock an hour behind,
 * stopped with SIGTERM under load, and refused start-up on bad configuration or a corrupt store.
 */
class NodeProcessTest {

  @TempDir
  Path dir;

  @Test
  void restartAfterSigkillWithTheClockAnHourBehindStaysAboveEveryEarlierTimestamp() throws Exception {
    Path data = dir.resolve("data");
    int port = Ports.free();
    History history = new History();
    long before;
    try (NodeProcess node = NodeProcess.start(dir, port, "--data-dir", data.toString()).awaitReady();
        Clients clients = new Clients(port, 4)) {
      load(clients, history, "first");
      before = history.ops().stream().mapToLong(History.Op::last).max().orElseThrow();
      assertThat(epoch(node.url())).isEqualTo("1");
      node.kill9();
    }
    int firstRun = history.size();
    try (NodeProcess node = NodeProcess.start(dir, port, "--data-dir", data.toString(), "--clock-offset-ms", "-3600000")
        .awaitReady();
        Clients clients = new Clients(port, 4)) {
      load(clients, history, "second");
      assertThat(epoch(node.url())).isEqualTo("2");
    }
    List<History.Op> after = history.ops().subList(firstRun, history.size());
    assertThat(after).isNotEmpty().allSatisfy(op -> assertThat(op.first()).isGreaterThan(before));
    history.check();
  }

  private static void load(Clients clients, History history, String name) throws Exception {
    List<Future<Void>> runs = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      runs.add(clients.http(name + "-http-" + i, 2_000, () -> 3, history));
      runs.add(clients.unary(name + "-unary-" + i, 2_000, () -> 2, history));
    }
    Future.all(runs).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  private static String epoch(String url) throws Exception {
    String body = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url + "/v1/leader")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
    return new JsonObject(body).getString("epoch");
  }

  @Test
  void sigtermAnswersTheStreamInFlightThenExitsZero() throws Exception {
    int port = Ports.free();
    try (NodeProcess node = NodeProcess.start(dir, port, "--data-dir", dir.resolve("data").toString()).awaitReady();
        Clients clients = new Clients(port, 1)) {
      int total = 400;
      int termAfter = 100;
      List<Long> answers = new ArrayList<>();
      Promise<GrpcStatus> ended = Promise.promise();
      clients.vertx().runOnContext(v -> clients.grpc()
          .request(clients.address(), TimestampOracleGrpcClient.StreamTimestamps)
          .onFailure(ended::tryFail)
          .onSuccess(req -> {
            req.response().onFailure(ended::tryFail).onSuccess(resp -> {
              resp.handler(r -> {
                synchronized (answers) {
                  answers.add(r.getTimestamp());
                }
                int n = answers.size();
                if (n == termAfter) {
                  node.term(); // the stream stays open: requests after this are in flight on it
                }
                if (n < total) {
                  // one request at a time, each sent after the answer before it
                  clients.vertx().setTimer(1, t -> req.write(GetTimestampsRequest.newBuilder().setCount(1).build()));
                } else {
                  req.end();
                }
              });
              resp.endHandler(x -> ended.tryComplete(resp.status()));
            });
            req.write(GetTimestampsRequest.newBuilder().setCount(1).build());
          }));
      GrpcStatus status = ended.future().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
      assertThat(status).isEqualTo(GrpcStatus.OK);
      assertThat(answers).hasSize(total);
      for (int i = 1; i < answers.size(); i++) {
        assertThat(answers.get(i)).isGreaterThan(answers.get(i - 1));
      }
      assertThat(node.awaitExit(30)).as(node.output()).isZero();
    }
  }

  /**
   * A member in Redis mode that stops ends its open streams, an idle one too, with UNAVAILABLE
   * once they are answered, so that its client goes to the leader and the member need not wait its
   * whole shutdown grace for the client to close them.
   */
  @Test
  void aStoppingMemberEndsItsIdleStreamsInsteadOfWaitingItsShutdownGrace() throws Exception {
    int port = Ports.free();
    try (tso.support.RedisServer redis = tso.support.RedisServer.start();
        NodeProcess node = NodeProcess.start(dir, port, "--redis-url", redis.url(), "--lease-ttl-ms", "1000",
            "--shutdown-grace-ms", "10000", "--data-dir", dir.resolve("data").toString()).awaitReady();
        Clients clients = new Clients(port, 1)) {
      Promise<Void> answered = Promise.promise();
      Promise<GrpcStatus> ended = Promise.promise();
      clients.vertx().runOnContext(v -> clients.grpc()
          .request(clients.address(), TimestampOracleGrpcClient.StreamTimestamps)
          .onFailure(ended::tryFail)
          .onSuccess(req -> {
            req.response().onFailure(ended::tryFail).onSuccess(resp -> {
              resp.handler(r -> answered.tryComplete());
              resp.endHandler(x -> {
                req.end(); // as a gRPC client does when the server ended the call
                ended.tryComplete(resp.status());
              });
              resp.exceptionHandler(ended::tryFail);
            });
            req.write(GetTimestampsRequest.newBuilder().setCount(1).build()); // answered; then idle, left open
          }));
      answered.future().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      long term = System.nanoTime();
      node.term();
      GrpcStatus status = ended.future().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      long endedMs = (System.nanoTime() - term) / 1_000_000;
      assertThat(node.awaitExit(30)).as(node.output()).isZero();
      long exitMs = (System.nanoTime() - term) / 1_000_000;
      System.out.printf("stopping member: idle stream ended (%s) %d ms after SIGTERM, exit after %d ms%n", status,
          endedMs, exitMs);
      assertThat(status).isEqualTo(GrpcStatus.UNAVAILABLE);
      assertThat(exitMs).as("ms from SIGTERM to exit, with a 10 s shutdown grace").isLessThan(5_000);
    }
  }

  @Test
  void readinessWaitsForTheWarmUpAndTheNoopEndpointClosesAfterIt() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    try (NodeProcess node = NodeProcess.start(dir, Ports.free(), Map.of("TSO_WARMUP_MS", "1500"),
        "--data-dir", dir.resolve("data").toString())) {
      // Listening, and serving timestamps, while the warm-up runs; not ready until it is over.
      long t0 = System.nanoTime();
      int status = 0;
      while (status != 200 && System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(20)) {
        try {
          status = http.send(HttpRequest.newBuilder(URI.create(node.url() + "/v1/timestamps"))
              .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (java.io.IOException e) {
          Thread.sleep(20);
        }
      }
      assertThat(status).isEqualTo(200);
      assertThat(http.send(HttpRequest.newBuilder(URI.create(node.url() + "/health/ready")).build(),
          HttpResponse.BodyHandlers.discarding()).statusCode()).as("ready during the warm-up").isEqualTo(503);
      node.awaitReady();
      long readyAfterMs = (System.nanoTime() - t0) / 1_000_000;
      assertThat(readyAfterMs).isGreaterThanOrEqualTo(1000);
      assertThat(node.output()).contains("warmed up:").contains("timestamp API");
      // A standalone node warms its real timestamp path: the requests show in its metrics.
      String metrics = http.send(HttpRequest.newBuilder(URI.create(node.url() + "/metrics")).build(),
          HttpResponse.BodyHandlers.ofString()).body();
      long warmUpRequests = metrics.lines().filter(l -> l.startsWith("tso_requests_total") && l.contains("api=\"grpc_unary\"")
          && l.contains("outcome=\"ok\"")).mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
      assertThat(warmUpRequests).as("gRPC unary requests of the warm-up in tso_requests_total").isGreaterThan(1000);
      assertThat(http.send(HttpRequest.newBuilder(URI.create(node.url() + "/v1/noop"))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding()).statusCode())
          .as("the no-op endpoint after the warm-up").isEqualTo(404);
    }
  }

  @Test
  void aBadValueStopsStartUpWithOneLineNamingIt() throws Exception {
    try (NodeProcess node = NodeProcess.start(dir, Ports.free(), "--window-ms", "5")) {
      assertThat(node.awaitExit(30)).isEqualTo(2);
      assertThat(node.output().strip()).doesNotContain("\n").contains("--window-ms").contains("5").contains("from 30 to");
    }
    try (NodeProcess node = NodeProcess.start(dir, Ports.free(), Map.of("TSO_LEASE_TTL_MS", "soon"))) {
      // the flag list given by the harness does not include the lease, so the variable is read
      assertThat(node.awaitExit(30)).isEqualTo(2);
      assertThat(node.output().strip()).doesNotContain("\n").contains("TSO_LEASE_TTL_MS").contains("soon");
    }
  }

  @Test
  void aCorruptBoundFileStopsStartUpInsteadOfResettingToZero() throws Exception {
    Path data = dir.resolve("data");
    Files.createDirectories(data);
    Files.writeString(data.resolve("bound"), "tso-bound v1 epoch=3 bound=12345 crc32=00000000\n");
    try (NodeProcess node = NodeProcess.start(dir, Ports.free(), "--data-dir", data.toString())) {
      assertThat(node.awaitExit(30)).isEqualTo(1);
      String out = node.output().strip();
      assertThat(out).doesNotContain("\n").doesNotContain("\tat ").contains("corrupt").contains("bound");
    }
  }
}
