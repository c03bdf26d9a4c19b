package tso.election;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.support.InProcessNode;
import tso.support.LocalCluster;
import tso.support.RedisServer;
import tso.support.TcpProxy;

/**
 * The campaign and resign race, made certain: a proxy lets the campaign run in Redis but holds
 * its reply, and a resign notice arrives meanwhile. The node must not look at the key while its
 * campaign is in flight (it would find its own new record, take it for a stale one and resign
 * it); once the reply comes it serves on the record it won, which is never deleted.
 */
@Timeout(value = 60, unit = SECONDS)
class SelfResignRaceTest {

  /** Redis calls time out at a third of it: the held reply must come before that. */
  private static final long TTL = 3000;
  private static final String LEADER = "{tso:test}:leader";

  @TempDir
  Path dir;

  @Test
  void aResignNoticeDuringTheNodesOwnCampaignNeverMakesItResignWhatItWon() throws Exception {
    try (RedisServer redis = RedisServer.start();
        TcpProxy proxy = TcpProxy.start(redis.port())) {
      for (Script s : Script.values()) {
        redis.command("SCRIPT", "LOAD", s.source); // the campaign goes by EVALSHA: its SHA-1 marks it
      }
      proxy.holdRepliesAfter(Script.CAMPAIGN.sha1.getBytes(StandardCharsets.US_ASCII));
      try (LocalCluster c = LocalCluster.start(dir, 1, TTL, i -> proxy.url(), Map.of())) {
        InProcessNode node = c.nodes.get(0);
        await().atMost(Duration.ofSeconds(15)).until(() -> proxy.holdingReplies() > 0
            && "string".equals(redis.command("TYPE", LEADER)));
        ElectionRecord won = ElectionRecord.parse(redis.command("GET", LEADER).getBytes(StandardCharsets.US_ASCII))
            .record();
        assertThat(won.node()).isEqualTo("n0");

        // A notice while the reply is held: a look now would see n0's own record from this start.
        redis.command("PUBLISH", "{tso:test}:events", "resign:someone");
        Thread.sleep(200);
        redis.command("PUBLISH", "{tso:test}:events", "resign:someone-else");
        Thread.sleep(200);
        assertThat(redis.command("TYPE", LEADER)).as("not resigned while the campaign is in flight")
            .isEqualTo("string");
        proxy.releaseReplies();

        await().atMost(Duration.ofSeconds(10)).until(() -> node.node.view().ready());
        assertThat(node.node.view().epoch()).as("serves on the record it won").isEqualTo(won.epoch());
        long until = System.nanoTime() + SECONDS.toNanos(2);
        while (System.nanoTime() < until) {
          assertThat(node.node.view().epoch()).isEqualTo(won.epoch());
          String v = redis.command("GET", LEADER);
          assertThat(v).as("the won record is still there").isNotNull();
          assertThat(ElectionRecord.parse(v.getBytes(StandardCharsets.US_ASCII)).record().epoch())
              .isEqualTo(won.epoch());
          Thread.sleep(50);
        }
      }
    }
  }
}
