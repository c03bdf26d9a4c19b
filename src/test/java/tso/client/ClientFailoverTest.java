package tso.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vertx.core.json.JsonObject;
import tso.support.Callers;
import tso.support.History;
import tso.support.NodeProcess;
import tso.support.Ports;
import tso.support.RedisServer;

/**
 * The client rides through a failover without its callers noticing: three nodes as real processes
 * and a real redis-server, one {@link TsoClient} given all three addresses, and 1,000 closed-loop
 * callers. The leader is killed (SIGKILL), paused past its lease (SIGSTOP, then SIGCONT once
 * another node serves) and stopped (SIGTERM, a graceful resign) while the callers run. Every call
 * must succeed within its deadline (the default 10 s), answers must go on coming from the new
 * leader, no answer may be refused as out of order, and the history must hold no timestamp twice
 * and keep real-time order. The longest call and the client's failover counts are printed.
 */
@Tag("integration")
class ClientFailoverTest {

  /** As in the other process-level failover tests: a failover takes one to two TTLs. */
  static final long TTL = 1000;
  static final int CALLERS = 1000;

  @TempDir
  Path dir;
  RedisServer redis;
  final List<NodeProcess> nodes = new ArrayList<>();
  final HttpClient http = HttpClient.newHttpClient();
  TsoClient client;
  Callers callers;
  /** When the first answer from a leader after the one faulted came; 0 until then. */
  final AtomicLong firstNewEpoch = new AtomicLong();

  @BeforeEach
  void start() throws Exception {
    redis = RedisServer.start();
    for (int i = 0; i < 3; i++) {
      nodes.add(NodeProcess.start(dir, Ports.free(), "--redis-url", redis.url(), "--lease-ttl-ms", Long.toString(TTL),
          "--cluster", "client", "--data-dir", dir.resolve("n" + i).toString()));
    }
    for (NodeProcess n : nodes) {
      n.awaitReady();
    }
    // Default deadline (10 s) and RPC timeout (1 s): at a 1 s TTL each fault below is over in
    // about two TTLs, well inside the deadline.
    client = TsoClient.create(nodes.stream().map(n -> "127.0.0.1:" + n.port).toList(),
        new TsoClientOptions().setConnections(2));
  }

  @AfterEach
  void stop() throws Exception {
    if (callers != null) {
      callers.close();
    }
    if (client != null) {
      client.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
    for (NodeProcess n : nodes) {
      n.close(); // SIGKILL, which also ends a stopped process
    }
    redis.close();
  }

  @Test
  void sigkillOnTheLeader() throws Exception {
    survives("SIGKILL", NodeProcess::kill9);
  }

  @Test
  void sigstopOnTheLeaderPastItsLease() throws Exception {
    survives("SIGSTOP", leader -> {
      long pid = leader.process().pid();
      signal("STOP", pid);
      long stopped = System.nanoTime();
      // Resumed once another node serves this client and two TTLs have passed: its lease is over.
      await().atMost(Duration.ofSeconds(15)).until(() -> firstNewEpoch.get() != 0
          && System.nanoTime() - stopped > TimeUnit.MILLISECONDS.toNanos(2 * TTL));
      signal("CONT", pid);
    });
  }

  @Test
  void sigtermOnTheLeader() throws Exception {
    survives("SIGTERM", leader -> {
      long term = System.nanoTime();
      leader.term();
      assertThat(leader.awaitExit(30)).as(leader.output()).isZero();
      long exitMs = (System.nanoTime() - term) / 1_000_000;
      System.out.printf("SIGTERM: the leader exited after %d ms%n", exitMs);
      // It resigns, ends the client's streams, and waits for what is in flight: well within its
      // shutdown grace (10 s), unless a stream the client left half open holds it that long.
      assertThat(exitMs).as("exit after SIGTERM, in ms").isLessThan(5_000);
    });
  }

  /** What a scenario does to the leader while the callers run. */
  interface Fault {
    void inject(NodeProcess leader) throws Exception;
  }

  private void survives(String name, Fault fault) throws Exception {
    NodeProcess leader = leader();
    long epoch = Long.parseLong(leaderInfo(leader).getString("epoch"));
    History history = new History();
    callers = new Callers(client, history, e -> {
      if (e > epoch) {
        firstNewEpoch.compareAndSet(0, System.nanoTime());
      }
    });
    callers.start(0, CALLERS);

    // Before: load for a while, all of it answered by the first leader.
    await().pollDelay(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(20)).until(() -> callers.successes() > 1_000);
    long before = callers.successes();
    long faultAt = System.nanoTime();
    fault.inject(leader);
    long faultMs = (System.nanoTime() - faultAt) / 1_000_000;

    // During and after: a new leader answers, and answers keep coming.
    await().atMost(Duration.ofSeconds(15)).until(() -> firstNewEpoch.get() != 0);
    long servedAfterMs = (firstNewEpoch.get() - faultAt) / 1_000_000;
    long recovered = Math.max(callers.successes(), before);
    await().pollDelay(Duration.ofSeconds(2)).atMost(Duration.ofSeconds(20))
        .until(() -> callers.successes() > recovered + 1_000);
    long after = callers.successes() - recovered;

    callers.stop();
    await().atMost(Duration.ofSeconds(15)).until(() -> callers.active() == 0);

    System.out.printf("%s on the leader (TTL %d ms, %d callers): %d calls answered before the fault; the fault"
            + " took %d ms; a new leader answered %d ms after it began; %d calls answered in the 2 s after; %d in all;"
            + " longest call %d ms; failovers %d, retries %d, refused answers %d; failed calls %d%n",
        name, TTL, CALLERS, before, faultMs, servedAfterMs, after, history.size(),
        callers.longestNanos() / 1_000_000, client.failovers(), client.retries(), client.refusedAnswers(),
        callers.failures().size());

    assertThat(callers.failures().size()).as("failed calls, the first of them: %s",
        callers.failures().stream().limit(10).toList()).isZero();
    assertThat(after).as("answers after the new leader served").isGreaterThan(1_000);
    assertThat(client.failovers()).as("failovers").isGreaterThanOrEqualTo(1);
    assertThat(client.refusedAnswers()).as("refused answers").isZero();
    assertThat(callers.longestNanos()).as("longest call, in nanoseconds")
        .isLessThanOrEqualTo(TimeUnit.MILLISECONDS.toNanos(TsoClientOptions.DEFAULT_DEADLINE_MS));
    history.check();
  }

  private JsonObject leaderInfo(NodeProcess n) {
    try {
      return new JsonObject(http.send(HttpRequest.newBuilder(URI.create(n.url() + "/v1/leader"))
          .timeout(Duration.ofMillis(500)).build(), HttpResponse.BodyHandlers.ofString()).body());
    } catch (Exception e) {
      return new JsonObject();
    }
  }

  private NodeProcess leader() {
    await().atMost(Duration.ofSeconds(10))
        .until(() -> nodes.stream().anyMatch(n -> "leader".equals(leaderInfo(n).getString("role"))));
    return nodes.stream().filter(n -> "leader".equals(leaderInfo(n).getString("role"))).findFirst().orElseThrow();
  }

  private static void signal(String sig, long pid) throws Exception {
    assertThat(new ProcessBuilder("kill", "-" + sig, Long.toString(pid)).start().waitFor()).isZero();
  }
}
