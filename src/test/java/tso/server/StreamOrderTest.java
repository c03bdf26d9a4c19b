package tso.server;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Config;
import tso.config.Setting;
import tso.core.NodeView;
import tso.core.TimestampSink;
import tso.core.TsoRequest;
import tso.metrics.TsoMetrics;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.proto.v1.TimestampRange;
import tso.support.Clients;
import tso.support.Ports;

/**
 * {@code StreamTimestamps} answers strictly in request order even when the answers come back out
 * of order: the allocator answers a request served inline at once while an earlier one still
 * waits for a bound extension and is handed back later by a task. A sink that holds the first
 * request and answers the later ones at once makes that order certain.
 */
@Timeout(value = 60, unit = SECONDS)
class StreamOrderTest {

  @TempDir
  Path dir;
  private Vertx vertx;

  @AfterEach
  void close() throws Exception {
    if (vertx != null) {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
    }
  }

  /** Holds the first request it gets; answers every other one at once, on the caller's thread. */
  private static final class HoldFirst implements TimestampSink {
    final List<TsoRequest> held = new CopyOnWriteArrayList<>();
    private long next = 1_000;

    @Override
    public synchronized void submit(TsoRequest r) {
      if (held.isEmpty()) {
        held.add(r);
        return;
      }
      r.succeed(next, 7);
      next += r.count();
      r.answer();
    }

    void release(long first) {
      TsoRequest r = held.get(0);
      r.context.runOnContext(v -> {
        r.succeed(first, 7);
        r.answer();
      });
    }
  }

  private static final NodeView VIEW = new NodeView() {
    @Override
    public String role() {
      return "standalone";
    }

    @Override
    public String nodeId() {
      return "n1";
    }

    @Override
    public long epoch() {
      return 7;
    }

    @Override
    public Member leader() {
      return null;
    }

    @Override
    public boolean ready() {
      return true;
    }
  };

  @Test
  void answersLeaveInRequestOrderWhenALaterRequestIsAnsweredFirst() throws Exception {
    vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    HoldFirst sink = new HoldFirst();
    int port = Ports.free();
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(Setting.HOST, "127.0.0.1");
    flags.put(Setting.PORT, Integer.toString(port));
    flags.put(Setting.DATA_DIR, dir.toString());
    flags.put(Setting.WARMUP_MS, "0");
    Config config = Config.resolve(flags, Map.of());
    vertx.deployVerticle(new ApiVerticle(config, sink, VIEW, new TsoMetrics(), new WarmUp(config)))
        .toCompletionStage().toCompletableFuture().get(20, SECONDS);

    try (Clients clients = new Clients(port, 1)) {
      List<TimestampRange> got = new CopyOnWriteArrayList<>();
      Promise<Void> ended = Promise.promise();
      clients.vertx().runOnContext(v -> clients.grpc().request(clients.address(), TimestampOracleGrpcClient.StreamTimestamps)
          .onSuccess(req -> {
            req.response().onSuccess(resp -> {
              resp.handler(got::add);
              resp.endHandler(x -> ended.tryComplete());
              resp.exceptionHandler(ended::tryFail);
            }).onFailure(ended::tryFail);
            for (int count = 1; count <= 4; count++) {
              req.write(GetTimestampsRequest.newBuilder().setCount(count).build());
            }
            req.end();
          }).onFailure(ended::tryFail));

      // The three later requests are answered by the sink before the first; none may leave yet.
      await().atMost(Duration.ofSeconds(10)).until(() -> sink.next == 1_000 + 2 + 3 + 4);
      Thread.sleep(200);
      assertThat(got).as("nothing may overtake the first request's answer").isEmpty();

      sink.release(1);
      ended.future().toCompletionStage().toCompletableFuture().get(10, SECONDS);
      List<Integer> counts = new ArrayList<>();
      for (TimestampRange r : got) {
        counts.add(r.getCount());
      }
      assertThat(counts).containsExactly(1, 2, 3, 4);
      assertThat(got.get(0).getTimestamp()).isEqualTo(1);
      assertThat(got.get(1).getTimestamp()).isEqualTo(1_000);
    }
  }
}
