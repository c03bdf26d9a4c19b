package tso.election;

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

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.vertx.core.json.JsonObject;
import tso.support.History;
import tso.support.Load;
import tso.support.NodeProcess;
import tso.support.Ports;
import tso.support.RedisServer;

/**
 * Three nodes as real processes and a real redis-server: the leader killed with SIGKILL, paused
 * with SIGSTOP past its lease, and stopped with SIGTERM, all under load. Recovery times are
 * measured and printed; every test ends with the history check.
 */
class FailoverProcessTest {

  static final long TTL = 1000;

  @TempDir
  Path dir;
  RedisServer redis;
  final List<NodeProcess> nodes = new ArrayList<>();
  final History history = new History();
  final HttpClient http = HttpClient.newHttpClient();

  @BeforeEach
  void start() throws Exception {
    redis = RedisServer.start();
    for (int i = 0; i < 3; i++) {
      nodes.add(NodeProcess.start(dir, Ports.free(), "--redis-url", redis.url(), "--lease-ttl-ms", Long.toString(TTL),
          "--cluster", "proc", "--data-dir", dir.resolve("n" + i).toString()));
    }
    for (NodeProcess n : nodes) {
      n.awaitReady();
    }
  }

  @AfterEach
  void stop() throws Exception {
    for (NodeProcess n : nodes) {
      n.close();
    }
    redis.close();
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
    await().atMost(Duration.ofSeconds(10)).until(() -> nodes.stream().anyMatch(n -> "leader".equals(leaderInfo(n).getString("role"))));
    return nodes.stream().filter(n -> "leader".equals(leaderInfo(n).getString("role"))).findFirst().orElseThrow();
  }

  private List<String> urlsExcept(NodeProcess skip) {
    return nodes.stream().filter(n -> n != skip).map(NodeProcess::url).toList();
  }

  @Test
  void killingTheLeaderUnderLoadBringsANewLeaderWithinTtlPlusOneSecond() throws Exception {
    NodeProcess leader = leader();
    long epoch = Long.parseLong(leaderInfo(leader).getString("epoch"));
    try (Load load = Load.start(history, urlsExcept(leader), 4)) {
      await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 300);
      long killed = System.nanoTime();
      leader.kill9();
      await().atMost(Duration.ofMillis(TTL + 3000)).until(() -> load.firstSuccessAfter(killed, epoch) != Long.MAX_VALUE);
      long ms = (load.firstSuccessAfter(killed, epoch) - killed) / 1_000_000;
      System.out.printf("leader killed (SIGKILL), TTL %d ms: a new leader served after %d ms; errors %s%n", TTL, ms,
          load.errors());
      assertThat(ms).isLessThanOrEqualTo(TTL + 1000);
    }
    history.check();
  }

  @Test
  void aLeaderPausedPastItsLeaseHandsOutNothingUntilItHasWonAgain() throws Exception {
    NodeProcess leader = leader();
    long epoch = Long.parseLong(leaderInfo(leader).getString("epoch"));
    long pid = leader.process().pid();
    try (Load load = Load.start(history, nodes.stream().map(NodeProcess::url).toList(), 6)) {
      await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 300);
      new ProcessBuilder("kill", "-STOP", Long.toString(pid)).start().waitFor();
      long paused = System.nanoTime();
      await().atMost(Duration.ofMillis(TTL + 3000)).until(() -> load.firstSuccessAfter(paused, epoch) != Long.MAX_VALUE);
      // keep it stopped for two TTLs in all
      await().pollDelay(Duration.ofMillis(2 * TTL)).atMost(Duration.ofMillis(2 * TTL + 1000)).until(() -> true);
      new ProcessBuilder("kill", "-CONT", Long.toString(pid)).start().waitFor();
      long resumed = System.nanoTime();
      long seen = load.successCount();
      await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > seen + 300);
      System.out.printf("leader paused (SIGSTOP) %d ms: others served after %d ms; errors %s%n",
          (resumed - paused) / 1_000_000, (load.firstSuccessAfter(paused, epoch) - paused) / 1_000_000, load.errors());
      // Nothing answered under the paused leader's epoch completed after it was resumed and
      // lost its lease: it served nothing on stale memory.
      assertThat(load.successes()).filteredOn(s -> s.completedNanos() > resumed + 50_000_000L)
          .allSatisfy(s -> assertThat(s.epoch()).isGreaterThan(epoch));
    }
    history.check();
  }

  @Test
  void sigtermOnTheLeaderHandsOverQuickly() throws Exception {
    NodeProcess leader = leader();
    long epoch = Long.parseLong(leaderInfo(leader).getString("epoch"));
    try (Load load = Load.start(history, urlsExcept(leader), 4)) {
      await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 300);
      long term = System.nanoTime();
      leader.term();
      await().atMost(Duration.ofSeconds(5)).until(() -> load.firstSuccessAfter(term, epoch) != Long.MAX_VALUE);
      long ms = (load.firstSuccessAfter(term, epoch) - term) / 1_000_000;
      System.out.printf("leader stopped (SIGTERM): a new leader served after %d ms (target 300 ms); errors %s%n", ms,
          load.errors());
      assertThat(leader.awaitExit(30)).isZero();
      assertThat(ms).as("handover").isLessThan(TTL);
    }
    history.check();
  }
}
