package tso.election;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.support.History;
import tso.support.InProcessNode;
import tso.support.Load;
import tso.support.LocalCluster;
import tso.support.RedisServer;
import tso.support.TcpProxy;

/**
 * A leader that cannot persist its bound gives the lease up: it stops serving once nothing is left
 * below its durable bound, resigns, and a healthy member serves within about a TTL. It never exits
 * and keeps campaigning. Two ways to fail: a data directory that refuses every write, and fenced
 * writes whose replies never come (Redis answers everything else). Each ends with the history check.
 */
@Timeout(value = 90, unit = SECONDS)
class PersistenceFailureTest {

  private static final long TTL = 1000;

  @TempDir
  Path dir;
  private final History history = new History();

  @Test
  void aLeaderWhoseDataDirectoryRefusesWritesStepsDownAndAnotherMemberServes() throws Exception {
    try (RedisServer redis = RedisServer.start();
        LocalCluster c = LocalCluster.start(dir, 3, TTL, i -> redis.url(), Map.of(Setting.WINDOW_MS, "1000"))) {
      InProcessNode leader = c.awaitLeader(Duration.ofSeconds(15));
      long epoch = leader.node.view().epoch();
      try (Load load = Load.start(history, c.urls(), 6)) {
        await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 200);
        // Root ignores permissions: a directory where the store writes its temporary file makes
        // every save fail, as a full or read-only disk would.
        Files.createDirectory(leader.config.dataDir().resolve("bound.tmp"));
        long broken = System.nanoTime();
        await().atMost(Duration.ofSeconds(15)).until(() -> load.firstSuccessAfter(broken, epoch) != Long.MAX_VALUE);
        List<Load.Success> all = load.successes();
        long lastOld = lastSuccessAt(all, epoch);
        long firstNew = load.firstSuccessAfter(broken, epoch);
        System.out.printf("data directory broken: the old leader served for %d ms more, then a gap of %d ms%n",
            (lastOld - broken) / 1_000_000, (firstNew - lastOld) / 1_000_000);
        assertThat((firstNew - lastOld) / 1_000_000).as("gap between the old and the new leader")
            .isLessThan(TTL + 1500);
        await().atMost(Duration.ofSeconds(5)).until(() -> c.leader().map(l -> l != leader).orElse(false));
        assertThat(leader.node.view().role()).isNotEqualTo("leader");
        Thread.sleep(1000);
      }
      assertThat(leader.node.view().nodeId()).as("still running").isEqualTo("n" + c.nodes.indexOf(leader));
    }
    history.check();
  }

  @Test
  void aLeaderWhoseFencedWritesTimeOutStepsDownAndAnotherMemberServes() throws Exception {
    try (RedisServer redis = RedisServer.start()) {
      for (Script s : Script.values()) {
        redis.command("SCRIPT", "LOAD", s.source); // fenced writes go by EVALSHA: its SHA-1 marks them
      }
      List<TcpProxy> proxies = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        proxies.add(TcpProxy.start(redis.port()));
      }
      try (LocalCluster c = LocalCluster.start(dir, 3, TTL, i -> proxies.get(i).url(), Map.of(Setting.WINDOW_MS, "1000"))) {
        InProcessNode leader = c.awaitLeader(Duration.ofSeconds(15));
        long epoch = leader.node.view().epoch();
        try (Load load = Load.start(history, c.urls(), 6)) {
          await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 200);
          proxies.get(c.nodes.indexOf(leader)).holdRepliesAfter(Script.FENCE.sha1.getBytes(StandardCharsets.US_ASCII));
          long broken = System.nanoTime();
          await().atMost(Duration.ofSeconds(15)).until(() -> load.firstSuccessAfter(broken, epoch) != Long.MAX_VALUE);
          long lastOld = lastSuccessAt(load.successes(), epoch);
          long firstNew = load.firstSuccessAfter(broken, epoch);
          System.out.printf("fenced writes held: the old leader served for %d ms more, then a gap of %d ms%n",
              (lastOld - broken) / 1_000_000, (firstNew - lastOld) / 1_000_000);
          assertThat((firstNew - lastOld) / 1_000_000).as("gap between the old and the new leader")
              .isLessThan(TTL + 1500);
          Thread.sleep(500);
        }
      } finally {
        for (TcpProxy p : proxies) {
          p.close();
        }
      }
    }
    history.check();
  }

  private static long lastSuccessAt(List<Load.Success> all, long epoch) {
    long last = 0;
    for (Load.Success s : all) {
      if (s.epoch() == epoch && s.completedNanos() > last) {
        last = s.completedNanos();
      }
    }
    return last;
  }
}
