package tso.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.support.ClockShift;
import tso.support.History;
import tso.support.InProcessNode;
import tso.support.Load;
import tso.support.LocalCluster;
import tso.support.RedisServer;
import tso.support.Resp;
import tso.support.TcpProxy;

/**
 * Chaos: Redis's own wall clock jumps (an NTP step, a VM migration) while three nodes serve under
 * load. Only Redis's clock moves ({@link ClockShift}); the nodes' clocks do not.
 *
 * <p>Why this is dangerous: keys with PX expire on Redis's wall clock, so a jump forward ends the
 * leader's record at once, while the leader is still inside the lease it measures on its own
 * monotonic clock. Anything that lets a new leader serve on the strength of Redis's clock (an
 * expired key, a "lease until" time read against Redis TIME) then makes two leaders serve at
 * once, and the history check sees timestamps out of real-time order. Jumps forward are timed
 * just after a renewal, the moment when the old leader notices last. A jump back makes a record
 * outlive its holder in real time, so a node that trusts Redis's expiry alone waits far longer
 * than a lease for a dead leader.
 */
@Tag("integration")
@Tag("chaos")
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class RedisClockJumpTest {

  /** The lease of the outside run that found the bug. */
  static final long TTL = 1000;
  /** Closed-loop HTTP clients, spread over all three nodes, as in the outside run. */
  static final int WORKERS = 12;
  /**
   * A node's HTTP shutdown waits this long for the load's keep-alive connections (the default is
   * for production): only so that closing the cluster does not take most of the test's time.
   */
  static final Map<Setting, String> FAST_CLOSE = Map.of(Setting.SHUTDOWN_GRACE_MS, "500");

  /**
   * Redis's clock offset after each jump, cumulative, and the real time until the next one:
   * eight jumps forward and four back, 4-5 s each (well past the TTL). The gaps (2.0-2.5 s) leave
   * room for a failover and a settled leader before the next jump; the last jump is forward, so the
   * end of the test checks that service came back after one.
   */
  static final long[][] JUMPS = {
      {5_000, 2_200}, {9_000, 2_000}, {5_000, 2_300}, {10_000, 2_100}, {14_000, 2_400},
      {9_000, 2_000}, {13_000, 2_200}, {8_000, 2_500}, {12_000, 2_100}, {16_000, 2_300},
      {11_000, 2_000}, {15_000, 2_400},
  };
  /** The leader key of LocalCluster's cluster, watched to time the jumps forward. */
  static final String LEADER_KEY = RedisKeys.of("test").leader();

  @TempDir
  Path dir;
  ClockShift shift;
  RedisServer redis;
  final History history = new History();

  @BeforeAll
  static void needsGcc() {
    assumeTrue(ClockShift.available(), ClockShift.UNAVAILABLE);
  }

  @BeforeEach
  void startRedis() {
    shift = ClockShift.create();
    redis = RedisServer.start(shift.env());
  }

  @AfterEach
  void stopRedis() {
    redis.close();
    shift.close();
  }

  @Test
  void chaosRedisClockJumpingForwardAndBackNeverLetsTwoLeadersServe() throws Exception {
    try (LocalCluster c = LocalCluster.start(dir, 3, TTL, i -> redis.url(), FAST_CLOSE);
         Overlap overlap = Overlap.watch(c)) {
      c.awaitLeader(Duration.ofSeconds(10));
      try (Load load = Load.start(history, c.urls(), WORKERS)) {
        await().atMost(Duration.ofSeconds(20)).until(() -> load.successCount() > 200);
        long phaseStart = System.nanoTime();
        long phaseSuccesses = load.successCount();
        int phasesServed = 0;
        for (long[] jump : JUMPS) {
          long offset = jump[0];
          long before = shift.offsetMs();
          if (offset > before) {
            justAfterARenewal();
          }
          shift.set(offset);
          Thread.sleep(jump[1]);
          long now = System.nanoTime();
          long served = load.successCount() - phaseSuccesses;
          phasesServed += served > 0 ? 1 : 0;
          System.out.printf("redis clock %+d ms -> %+d ms: %d answers in this phase (%d ms), errors so far %s%n",
              before, offset, served, (now - phaseStart) / 1_000_000, load.errors());
          phaseStart = now;
          phaseSuccesses = load.successCount();
        }
        // Still a leader at the end, and it serves.
        InProcessNode last = c.awaitLeader(Duration.ofSeconds(5));
        long end = System.nanoTime();
        await().atMost(Duration.ofSeconds(5)).until(() -> load.firstSuccessAfter(end, 0) != Long.MAX_VALUE);
        long total = load.successCount();
        System.out.printf("clock jumps: %d answers, %d served phases of %d, leader at the end %s (epoch %d);"
            + " two nodes serving at once in %d of %d samples, longest %d ms; errors %s%n",
            total, phasesServed, JUMPS.length, last.node.view().nodeId(), last.node.view().epoch(),
            overlap.overlapping(), overlap.samples(), overlap.longestMs(), load.errors());
        assertThat(phasesServed).as("phases between jumps with answers").isGreaterThanOrEqualTo(JUMPS.length - 2);
        assertThat(total).as("answers in all").isGreaterThan(10_000);
      }
    }
    Violations v = Violations.of(history.ops());
    System.out.printf("clock jumps: %d operations, %d real-time order violations, %d overlapping ranges%n",
        history.size(), v.order(), v.duplicates());
    history.check();
  }

  @Test
  void chaosALeaderLostWhileRedisClockIsBehindIsReplacedWithinAFewTtls() throws Exception {
    TcpProxy[] proxies = new TcpProxy[3];
    for (int i = 0; i < proxies.length; i++) {
      proxies[i] = TcpProxy.start(redis.port());
    }
    try (LocalCluster c = LocalCluster.start(dir, 3, TTL, i -> "redis://127.0.0.1:" + proxies[i].port(),
        FAST_CLOSE)) {
      InProcessNode leader = c.awaitLeader(Duration.ofSeconds(10));
      long epoch = leader.node.view().epoch();
      try (Load load = Load.start(history, c.urls(), 6)) {
        await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 300);
        // The leader's last renewal was written on Redis's clock before the jump, so its record
        // now outlives it by the size of the jump, in real time.
        proxies[c.nodes.indexOf(leader)].blackhole();
        long lost = System.nanoTime();
        shift.set(-8_000);
        long bound = 4 * TTL;
        await().atMost(Duration.ofMillis(bound + 6_000))
            .until(() -> load.firstSuccessAfter(lost, epoch) != Long.MAX_VALUE);
        long ms = (load.firstSuccessAfter(lost, epoch) - lost) / 1_000_000;
        System.out.printf("leader lost with redis's clock 8 s behind, TTL %d ms: a new leader served after %d ms;"
            + " errors %s%n", TTL, ms, load.errors());
        assertThat(ms).as("takeover after the leader was lost").isLessThanOrEqualTo(bound);
        assertThat(c.awaitLeader(Duration.ofSeconds(5))).isNotSameAs(leader);
      }
    } finally {
      for (TcpProxy p : proxies) {
        p.close();
      }
    }
    history.check();
  }

  /**
   * Returns as soon as the leader record is rewritten (a renewal: its value changes or its PTTL
   * goes up), or after two TTLs without one. A jump forward right after a renewal is the worst
   * case: Redis drops the record at once, but the old leader learns it only at its next renewal,
   * a whole renew interval later, while a follower's next look may come much sooner.
   */
  private void justAfterARenewal() throws InterruptedException {
    try (Resp.Connection conn = redis.connect()) {
      String value = conn.call(Duration.ofSeconds(1), "GET", LEADER_KEY).text();
      long pttl = Long.parseLong(conn.call(Duration.ofSeconds(1), "PTTL", LEADER_KEY).text());
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(2 * TTL);
      while (System.nanoTime() - deadline < 0) {
        Thread.sleep(1);
        String v = conn.call(Duration.ofSeconds(1), "GET", LEADER_KEY).text();
        long p = Long.parseLong(conn.call(Duration.ofSeconds(1), "PTTL", LEADER_KEY).text());
        if (!Objects.equals(v, value) || p > pttl) {
          return;
        }
        pttl = p;
      }
    }
  }

  /** How many operations break real-time order, and how many ranges overlap another: all of them, not the first. */
  record Violations(long order, long duplicates) {
    static Violations of(List<History.Op> ops) {
      History.Op[] byFirst = ops.toArray(new History.Op[0]);
      Arrays.sort(byFirst, (a, b) -> Long.compareUnsigned(a.first(), b.first()));
      long duplicates = 0;
      long highestLast = 0;
      for (int i = 0; i < byFirst.length; i++) {
        if (i > 0 && Long.compareUnsigned(byFirst[i].first(), highestLast) <= 0) {
          duplicates++;
        }
        if (i == 0 || Long.compareUnsigned(byFirst[i].last(), highestLast) > 0) {
          highestLast = byFirst[i].last();
        }
      }
      History.Op[] byInvoke = ops.toArray(new History.Op[0]);
      History.Op[] byComplete = ops.toArray(new History.Op[0]);
      Arrays.sort(byInvoke, Comparator.comparingLong(History.Op::invokeNanos));
      Arrays.sort(byComplete, Comparator.comparingLong(History.Op::completeNanos));
      long order = 0;
      History.Op highest = null;
      int c = 0;
      for (History.Op op : byInvoke) {
        while (c < byComplete.length && byComplete[c].completeNanos() < op.invokeNanos()) {
          if (highest == null || Long.compareUnsigned(byComplete[c].last(), highest.last()) > 0) {
            highest = byComplete[c];
          }
          c++;
        }
        if (highest != null && Long.compareUnsigned(op.first(), highest.last()) <= 0) {
          order++;
        }
      }
      return new Violations(order, duplicates);
    }
  }

  /**
   * Samples every few milliseconds how many nodes say they serve as leader (role leader and
   * ready), for the report: the history check is what decides, this shows why it failed.
   */
  static final class Overlap implements AutoCloseable {
    private final LocalCluster cluster;
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicLong samples = new AtomicLong();
    private final AtomicLong overlapping = new AtomicLong();
    private final AtomicLong longestMs = new AtomicLong();
    private final Thread thread;

    private Overlap(LocalCluster cluster) {
      this.cluster = cluster;
      this.thread = new Thread(this::run, "leader-overlap");
      thread.setDaemon(true);
    }

    static Overlap watch(LocalCluster cluster) {
      Overlap o = new Overlap(cluster);
      o.thread.start();
      return o;
    }

    private void run() {
      long since = -1;
      while (running.get()) {
        List<InProcessNode> serving = new ArrayList<>();
        for (InProcessNode n : cluster.nodes) {
          if ("leader".equals(n.node.view().role()) && n.node.view().ready()) {
            serving.add(n);
          }
        }
        samples.incrementAndGet();
        long now = System.nanoTime();
        if (serving.size() > 1) {
          overlapping.incrementAndGet();
          since = since < 0 ? now : since;
          longestMs.accumulateAndGet((now - since) / 1_000_000, Math::max);
        } else {
          since = -1;
        }
        try {
          Thread.sleep(2);
        } catch (InterruptedException e) {
          return;
        }
      }
    }

    long samples() {
      return samples.get();
    }

    long overlapping() {
      return overlapping.get();
    }

    long longestMs() {
      return longestMs.get();
    }

    @Override
    public void close() throws InterruptedException {
      running.set(false);
      thread.join(1_000);
    }
  }
}
