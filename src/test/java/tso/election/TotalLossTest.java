package tso.election;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.support.History;
import tso.support.Load;
import tso.support.LocalCluster;
import tso.support.RedisServer;

/**
 * Total loss: Redis restarted empty while every member's data directory is new too (new pods on
 * new volumes), so no bound and no epoch is known anywhere. The old members ran with clocks
 * ahead by less than a TTL (within the stated bound). The new leader's epoch must still be above
 * every epoch issued before, and its timestamps above every timestamp issued before: the history
 * over both clusters is clean.
 */
@Timeout(value = 90, unit = SECONDS)
class TotalLossTest {

  private static final long TTL = 2000;
  /** How far ahead the old members' clocks ran: under the TTL, as the safety argument assumes. */
  private static final long AHEAD_MS = 1500;

  @TempDir
  Path dir;

  @Test
  void afterRedisAndTheDataDirectoriesAreLostEpochsAndTimestampsStillOnlyGrow() throws Exception {
    History history = new History();
    long oldMaxEpoch = 0;
    try (RedisServer redis = RedisServer.start()) {
      try (LocalCluster old = LocalCluster.start(dir.resolve("old"), 3, TTL, i -> redis.url(),
          Map.of(Setting.CLOCK_OFFSET_MS, Long.toString(AHEAD_MS)));
          Load load = Load.start(history, old.urls(), 6)) {
        old.awaitLeader(Duration.ofSeconds(15));
        await().atMost(Duration.ofSeconds(15)).until(() -> load.successCount() > 500);
        oldMaxEpoch = maxEpoch(load.successes());
      }
      redis.restartEmpty();
      assertThat(redis.command("DBSIZE")).isEqualTo("0");
      try (LocalCluster fresh = LocalCluster.start(dir.resolve("new"), 3, TTL, i -> redis.url(), Map.of());
          Load load = Load.start(history, fresh.urls(), 6)) {
        fresh.awaitLeader(Duration.ofSeconds(15));
        await().atMost(Duration.ofSeconds(15)).until(() -> load.successCount() > 500);
        List<Load.Success> after = load.successes();
        long minNew = after.stream().mapToLong(Load.Success::epoch).min().orElseThrow();
        System.out.printf("epochs: last before the loss %d, first after %d%n", oldMaxEpoch, minNew);
        assertThat(minNew).as("no epoch lower than before the loss").isGreaterThan(oldMaxEpoch);
      }
    }
    history.check();
  }

  private static long maxEpoch(List<Load.Success> all) {
    return all.stream().mapToLong(Load.Success::epoch).max().orElseThrow();
  }
}
