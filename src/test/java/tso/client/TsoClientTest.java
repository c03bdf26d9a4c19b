package tso.client;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.support.History;
import tso.support.InProcessNode;

/**
 * The client against a real node: single timestamps and ranges, from event loops (answered on the
 * caller's own context) and from plain threads (blocking), bad counts, the bounded queue, closing,
 * metrics; and that the client's classes use no server class, so it can ship alone.
 */
@Timeout(value = 60, unit = SECONDS)
class TsoClientTest {

  @TempDir
  static Path dir;
  static InProcessNode node;

  @BeforeAll
  static void start() throws Exception {
    node = new InProcessNode(dir.resolve("n"));
  }

  @AfterAll
  static void stop() throws Exception {
    node.close();
  }

  private static String member() {
    return "127.0.0.1:" + node.port;
  }

  private static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(20, SECONDS);
  }

  @Test
  void timestampsAndRangesFromEventLoopsComeBackOnTheCallersContextInOrder() throws Exception {
    Vertx vertx = Vertx.vertx();
    TsoClient client = TsoClient.create(vertx, List.of(member()), new TsoClientOptions().setConnections(2));
    History history = new History();
    try {
      List<Future<Void>> callers = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        Context ctx = vertx.getOrCreateContext(); // each caller its own context, on the event loops in turn
        Promise<Void> done = Promise.promise();
        String name = "c" + i;
        int count = 1 + i % 3;
        ctx.runOnContext(v -> loop(client, ctx, count, 200, history, name, done));
        callers.add(done.future());
      }
      get(Future.all(callers));
    } finally {
      get(client.close());
      get(vertx.close());
    }
    assertThat(history.size()).isEqualTo(8 * 200);
    history.check();
  }

  /** One caller: {@code left} calls one after another, each checked to come back on {@code ctx}. */
  private static void loop(TsoClient client, Context ctx, int count, int left, History history, String name,
      Promise<Void> done) {
    if (left == 0) {
      done.complete();
      return;
    }
    long sent = System.nanoTime();
    Future<Long> first = count == 1 ? client.next().map(Timestamp::value) : client.next(count).map(r -> {
      assertThat(r.count()).isEqualTo(count);
      assertThat(r.last() >>> Timestamp.LOGICAL_BITS).as("one millisecond").isEqualTo(r.first() >>> Timestamp.LOGICAL_BITS);
      return r.first();
    });
    first.onComplete(ar -> {
      if (Vertx.currentContext() != ctx) {
        done.tryFail("answered on " + Vertx.currentContext() + ", not the caller's " + ctx);
      } else if (ar.failed()) {
        done.tryFail(ar.cause());
      } else {
        history.add(sent, System.nanoTime(), ar.result(), count, name);
        loop(client, ctx, count, left - 1, history, name, done);
      }
    });
  }

  @Test
  void plainThreadsWaitWithNextBlockingAndAnEventLoopMayNot() throws Exception {
    TsoClient client = TsoClient.create(List.of(member()), new TsoClientOptions());
    History history = new History();
    ExecutorService pool = Executors.newFixedThreadPool(16);
    try {
      List<CompletableFuture<Void>> all = new ArrayList<>();
      for (int t = 0; t < 16; t++) {
        String name = "t" + t;
        all.add(CompletableFuture.runAsync(() -> {
          for (int i = 0; i < 100; i++) {
            long sent = System.nanoTime();
            Timestamp ts = client.nextBlocking();
            history.add(sent, System.nanoTime(), ts.value(), 1, name);
          }
        }, pool));
      }
      CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(30, SECONDS);
      Vertx v = Vertx.vertx();
      try {
        Promise<Throwable> thrown = Promise.promise();
        v.runOnContext(x -> {
          try {
            client.nextBlocking();
            thrown.complete(null);
          } catch (Throwable e) {
            thrown.complete(e);
          }
        });
        assertThat(get(thrown.future())).isInstanceOf(IllegalStateException.class);
      } finally {
        get(v.close());
      }
    } finally {
      pool.shutdownNow();
      get(client.close());
    }
    history.check();
    assertThat(history.size()).isEqualTo(1600);
  }

  @Test
  void aCountOutOfRangeFailsAtOnceWithInvalidArgument() throws Exception {
    TsoClient client = TsoClient.create(List.of(member()), new TsoClientOptions().setMaxBatchSize(100));
    try {
      for (int bad : new int[] {0, -1, 101}) {
        Future<TimestampRange> f = client.next(bad);
        assertThat(f.failed()).isTrue();
        assertThat(((TsoClientException) f.cause()).code()).isEqualTo(TsoClientException.Code.INVALID_ARGUMENT);
      }
      assertThat(get(client.next(100)).count()).isEqualTo(100);
    } finally {
      get(client.close());
    }
  }

  @Test
  void aFullQueueRefusesAtOnceWithResourceExhausted() throws Exception {
    // No member listens on this port: calls wait (up to their deadline) and fill the queue.
    int closedPort = tso.support.Ports.free();
    TsoClient client = TsoClient.create(List.of("127.0.0.1:" + closedPort),
        new TsoClientOptions().setMaxWaiting(50).setDeadlineMs(30_000));
    try {
      List<Future<Timestamp>> waiting = new ArrayList<>();
      for (int i = 0; i < 50; i++) {
        waiting.add(client.next());
      }
      Future<Timestamp> refused = client.next();
      assertThat(refused.failed()).as("refused inside next()").isTrue();
      assertThat(((TsoClientException) refused.cause()).code()).isEqualTo(TsoClientException.Code.RESOURCE_EXHAUSTED);
      assertThat(waiting).noneMatch(Future::isComplete);
      assertThat(client.waiting()).isEqualTo(50);
      get(client.close());
      for (Future<Timestamp> f : waiting) {
        assertThat(f.failed()).isTrue();
        assertThat(((TsoClientException) f.cause()).code()).isEqualTo(TsoClientException.Code.CLOSED);
      }
    } finally {
      get(client.close());
    }
  }

  @Test
  void aDeadlinePassedWithNoMemberReachableFailsTheCall() throws Exception {
    int closedPort = tso.support.Ports.free();
    TsoClient client = TsoClient.create(List.of("127.0.0.1:" + closedPort), new TsoClientOptions().setDeadlineMs(300));
    try {
      long t0 = System.nanoTime();
      assertThatThrownBy(() -> get(client.next())).hasCauseInstanceOf(TsoClientException.class)
          .cause().extracting(e -> ((TsoClientException) e).code()).isEqualTo(TsoClientException.Code.DEADLINE_EXCEEDED);
      assertThat((System.nanoTime() - t0) / 1_000_000).isBetween(250L, 5_000L);
    } finally {
      get(client.close());
    }
  }

  @Test
  void metricsGoToTheApplicationsRegistry() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    TsoClient client = TsoClient.create(List.of(member()), new TsoClientOptions().setMeterRegistry(registry));
    try {
      for (int i = 0; i < 10; i++) {
        get(client.next());
      }
    } finally {
      get(client.close());
    }
    assertThat(registry.get("tso_client_batch_size").summary().count()).isEqualTo(10);
    assertThat(registry.get("tso_client_rpc_seconds").timer().count()).isEqualTo(10);
    assertThat(registry.get("tso_client_retries_total").counter().count()).isZero();
    assertThat(registry.get("tso_client_failovers_total").counter().count()).isZero();
    assertThat(registry.get("tso_client_queue_depth").gauge().value()).isZero();
  }

  @Test
  void badMembersAndOptionsAreRefusedAtCreation() {
    assertThatThrownBy(() -> TsoClient.create(List.of(), new TsoClientOptions()))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> TsoClient.create(List.of("no-port"), new TsoClientOptions()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("host:port");
    assertThatThrownBy(() -> new TsoClientOptions().setConnections(0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new TsoClientOptions().setMaxBatchSize(300_000)).isInstanceOf(IllegalArgumentException.class);
  }

  /**
   * The client ships without the server: no class of {@code tso.client} names a class of ours
   * outside {@code tso.client} and the generated {@code tso.proto.v1}.
   */
  @Test
  void theClientUsesNoServerClass() throws Exception {
    Path classes = Path.of("target/classes/tso/client");
    List<String> offending = new ArrayList<>();
    try (Stream<Path> files = Files.list(classes)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".class")).toList()) {
        String text = new String(Files.readAllBytes(f), java.nio.charset.StandardCharsets.ISO_8859_1);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("tso/[a-z]+(/[a-z0-9]+)*/[A-Z]\\w*").matcher(text);
        while (m.find()) {
          String name = m.group();
          if (!name.startsWith("tso/client/") && !name.startsWith("tso/proto/v1/")) {
            offending.add(f.getFileName() + " -> " + name);
          }
        }
      }
    }
    assertThat(classes.resolve("TsoClient.class")).exists();
    assertThat(offending).isEmpty();
  }
}
