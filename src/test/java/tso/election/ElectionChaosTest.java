package tso.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.support.History;
import tso.support.InProcessNode;
import tso.support.Load;
import tso.support.LocalCluster;
import tso.support.RedisServer;
import tso.support.TcpProxy;

/**
 * Three nodes in this JVM and a real redis-server, under load, through the faults of the design
 * notes: the election key deleted under the leader, the epoch counter deleted, Redis killed and
 * restarted empty, Redis paused past the lease, the leader's link to Redis cut. Every test ends
 * with the history check: no timestamp twice, real-time order held.
 */
class ElectionChaosTest {

  static final long TTL = 600;
  static final Duration RECOVERY = Duration.ofMillis(TTL + 1000);
  static final String LEADER_KEY = "{tso:test}:leader";
  static final String EPOCH_KEY = "{tso:test}:epoch";

  @TempDir
  Path dir;
  RedisServer redis;
  History history = new History();

  @BeforeEach
  void startRedis() {
    redis = RedisServer.start();
  }

  @AfterEach
  void stopRedis() {
    redis.close();
  }

  private LocalCluster cluster(int n) throws Exception {
    return LocalCluster.start(dir, n, TTL, i -> redis.url(), Map.of());
  }

  private static long epochOf(InProcessNode n) {
    return n.node.view().epoch();
  }

  @Test
  void threeNodesElectExactlyOneLeaderAndFollowersForward() throws Exception {
    try (LocalCluster c = cluster(3)) {
      InProcessNode leader = c.awaitLeader(Duration.ofSeconds(10));
      assertThat(c.leaders()).isEqualTo(1);
      try (Load l = Load.start(history, c.urls(), 6)) {
        await().atMost(Duration.ofSeconds(10)).until(() -> l.successCount() > 300);
      }
      assertThat(c.leaders()).isEqualTo(1);
      assertThat(history.ops()).extracting(History.Op::client).containsAll(c.urls()); // every node answered
      assertThat(epochOf(leader)).isPositive();
    }
    history.check();
  }

  @Test
  void theElectionKeyDeletedUnderARunningLeaderMeansAStepDownAndANewLeaderWithinTtlPlusOneSecond() throws Exception {
    try (LocalCluster c = cluster(3)) {
      InProcessNode first = c.awaitLeader(Duration.ofSeconds(10));
      long before = epochOf(first);
      try (Load load = Load.start(history, c.urls(), 6)) {
        await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 200);
        long deleted = System.nanoTime();
        redis.command("DEL", LEADER_KEY);
        await().atMost(RECOVERY).until(() -> load.firstSuccessAfter(deleted, before) != Long.MAX_VALUE);
        long recovered = load.firstSuccessAfter(deleted, before);
        System.out.printf("election key deleted: served again at epoch > %d after %d ms%n", before,
            (recovered - deleted) / 1_000_000);
        assertThat(c.awaitLeader(Duration.ofSeconds(5)).node.view().epoch()).isGreaterThan(before);
      }
      assertThat(c.nodes).allSatisfy(n -> assertThat(n.node.view().role()).isIn("leader", "follower", "candidate"));
    }
    history.check();
  }

  @Test
  void deletingTheEpochCounterNeverMakesEpochsGoBack() throws Exception {
    try (LocalCluster c = cluster(2)) {
      long first = epochOf(c.awaitLeader(Duration.ofSeconds(10)));
      try (Load load = Load.start(history, c.urls(), 4)) {
        for (int round = 0; round < 3; round++) {
          long before = epochOf(c.awaitLeader(Duration.ofSeconds(10)));
          redis.command("DEL", EPOCH_KEY);
          redis.command("DEL", LEADER_KEY); // forces a new election, which must take a larger epoch
          long t = System.nanoTime();
          await().atMost(RECOVERY).until(() -> load.firstSuccessAfter(t, before) != Long.MAX_VALUE);
          assertThat(epochOf(c.awaitLeader(Duration.ofSeconds(5)))).isGreaterThan(before);
        }
        List<Load.Success> all = load.successes();
        for (int i = 1; i < all.size(); i++) {
          // an answer sent after another completed never carries a smaller epoch
          Load.Success a = all.get(i - 1);
          Load.Success b = all.get(i);
          if (a.completedNanos() < b.sentNanos()) {
            assertThat(b.epoch()).isGreaterThanOrEqualTo(a.epoch());
          }
        }
      }
      assertThat(first).isPositive();
    }
    history.check();
  }

  @Test
  void redisKilledAndRestartedEmptyNeverMakesTimeOrEpochsGoBack() throws Exception {
    try (LocalCluster c = cluster(3)) {
      long before = epochOf(c.awaitLeader(Duration.ofSeconds(10)));
      try (Load load = Load.start(history, c.urls(), 6)) {
        await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 200);
        redis.restartEmpty();
        long t = System.nanoTime();
        await().atMost(Duration.ofSeconds(10)).until(() -> load.firstSuccessAfter(t, before) != Long.MAX_VALUE);
        System.out.printf("redis restarted empty: served again after %d ms%n",
            (load.firstSuccessAfter(t, before) - t) / 1_000_000);
        long after = load.successCount();
        await().atMost(Duration.ofSeconds(5)).until(() -> load.successCount() > after + 100);
      }
      assertThat(epochOf(c.awaitLeader(Duration.ofSeconds(5)))).isGreaterThan(before);
    }
    history.check();
  }

  @Test
  void redisPausedPastTheLeaseStopsTheLeaderServingAndServiceResumesAfter() throws Exception {
    try (LocalCluster c = cluster(3)) {
      long before = epochOf(c.awaitLeader(Duration.ofSeconds(10)));
      try (Load load = Load.start(history, c.urls(), 6)) {
        await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 200);
        redis.pause();
        long paused = System.nanoTime();
        // The lease runs out on the leader's own clock: no node may go on serving on it.
        await().atMost(Duration.ofMillis(TTL + 500)).until(() -> c.leader().isEmpty());
        long stoppedServing = System.nanoTime();
        assertThat((stoppedServing - paused) / 1_000_000).isLessThan(TTL + 500);
        long seen = load.successCount();
        redis.resume();
        long resumed = System.nanoTime();
        await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > seen + 100);
        System.out.printf("redis paused %d ms: leader stopped serving after %d ms; served again %d ms after resume%n",
            (resumed - paused) / 1_000_000, (stoppedServing - paused) / 1_000_000,
            (load.firstSuccessAfter(resumed, 0) - resumed) / 1_000_000);
        // nothing issued under the old epoch was sent after the lease ran out
        assertThat(load.successes()).filteredOn(s -> s.sentNanos() > stoppedServing + 1_000_000)
            .allSatisfy(s -> assertThat(s.epoch()).isNotEqualTo(before));
      }
    }
    history.check();
  }

  @Test
  void aLeaderCutOffFromRedisStepsDownBeforeItsLeaseRunsOutAndAnotherTakesOver() throws Exception {
    TcpProxy[] proxies = new TcpProxy[3];
    for (int i = 0; i < 3; i++) {
      proxies[i] = TcpProxy.start(redis.port());
    }
    try (LocalCluster c = LocalCluster.start(dir, 3, TTL, i -> "redis://127.0.0.1:" + proxies[i].port(), Map.of())) {
      InProcessNode leader = c.awaitLeader(Duration.ofSeconds(10));
      int li = c.nodes.indexOf(leader);
      long before = epochOf(leader);
      try (Load load = Load.start(history, c.urls(), 6)) {
        await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 200);
        proxies[li].blackhole();
        long cut = System.nanoTime();
        await().atMost(Duration.ofMillis(TTL + 200)).pollInterval(Duration.ofMillis(2))
            .until(() -> !"leader".equals(leader.node.view().role()));
        long steppedDown = System.nanoTime();
        // Redis still holds its record until the TTL runs out there: it stepped down first.
        assertThat(redis.command("GET", LEADER_KEY)).contains("node=n" + li);
        await().atMost(RECOVERY).until(() -> load.firstSuccessAfter(cut, before) != Long.MAX_VALUE);
        InProcessNode next = c.awaitLeader(Duration.ofSeconds(5));
        assertThat(next).isNotSameAs(leader);
        System.out.printf("leader cut off from redis: stepped down after %d ms, new leader serving after %d ms%n",
            (steppedDown - cut) / 1_000_000, (load.firstSuccessAfter(cut, before) - cut) / 1_000_000);
        proxies[li].restore();
        long seen = load.successCount();
        await().atMost(Duration.ofSeconds(5)).until(() -> load.successCount() > seen + 100);
      }
    } finally {
      for (TcpProxy p : proxies) {
        p.close();
      }
    }
    history.check();
  }
}
