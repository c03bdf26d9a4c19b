package tso.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.micrometer.core.instrument.Counter;

import java.nio.charset.StandardCharsets;
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

/**
 * The origin story: values in the election key that are not a valid record, written while a
 * leader runs and while none does. No node exits or serves on them, the metric counts them by
 * kind, and a leader is back once the value expires (or, without a TTL, once the grace period has
 * passed and the value is replaced by compare-and-set). Each test ends with the history check.
 */
class InvalidRecordTest {

  static final long TTL = 500;
  static final String KEY = "{tso:test}:leader";
  static final long NONE_TTL = 2500;
  static final String VALID = new ElectionRecord("other", "10.9.9.9:1", "00000000000000ff", 7, TTL, 1, 1, 1).encode();

  /** A form, the Redis commands that write it, and whether it carries a TTL. */
  record Form(String kind, boolean ttl, String[]... commands) {
  }

  static final List<Form> FORMS = List.of(
      new Form("garbage", true, new String[] {"SET", KEY, "\u0001\u00ff\u0000garbage", "PX", "{ttl}"}),
      new Form("other_magic", true, new String[] {"SET", KEY, "etcd-leader/3;holder=x", "PX", "{ttl}"}),
      new Form("newer_version", true, new String[] {"SET", KEY, VALID.replace("tso-leader/1;", "tso-leader/2;"), "PX", "{ttl}"}),
      new Form("bad_checksum", true, new String[] {"SET", KEY, VALID.replace("epoch=7", "epoch=8"), "PX", "{ttl}"}),
      new Form("truncated", true, new String[] {"SET", KEY, VALID.substring(0, 40), "PX", "{ttl}"}),
      new Form("empty", true, new String[] {"SET", KEY, "", "PX", "{ttl}"}),
      new Form("huge", true, new String[] {"SET", KEY, "x".repeat(5000), "PX", "{ttl}"}),
      new Form("wrong_type", true, new String[] {"DEL", KEY}, new String[] {"HSET", KEY, "holder", "x"},
          new String[] {"PEXPIRE", KEY, "{ttl}"}),
      new Form("no_ttl", false, new String[] {"SET", KEY, VALID}),
      new Form("garbage", false, new String[] {"SET", KEY, "garbage without a ttl"}),
      new Form("wrong_type", false, new String[] {"DEL", KEY}, new String[] {"RPUSH", KEY, "a", "b"}));

  @TempDir
  Path dir;
  RedisServer redis;
  final History history = new History();

  @BeforeEach
  void startRedis() {
    redis = RedisServer.start();
  }

  @AfterEach
  void stopRedis() {
    redis.close();
  }

  private static double counted(LocalCluster c, String kind) {
    double n = 0;
    for (InProcessNode node : c.nodes) {
      Counter counter = node.node.metrics().registry().find("tso_election_record_invalid_total").tag("kind", kind)
          .counter();
      n += counter == null ? 0 : counter.count();
    }
    return n;
  }

  /** How long a form may keep the cluster without a leader: its TTL, or the grace for TTL-less values. */
  private static Duration recovery(Form f) {
    return Duration.ofMillis((f.ttl() ? TTL : 3 * TTL) + TTL + 1500);
  }

  /** Writes the form; a TTL it carries is {@code ttlMs}. */
  private void write(Form f, long ttlMs) {
    for (String[] cmd : f.commands()) {
      String[] c = cmd.clone();
      for (int i = 0; i < c.length; i++) {
        c[i] = c[i].replace("{ttl}", Long.toString(ttlMs));
      }
      redis.command(c);
    }
  }

  @Test
  void writtenWhileALeaderRuns() throws Exception {
    try (LocalCluster c = LocalCluster.start(dir, 3, TTL, i -> redis.url(), Map.of());
        Load load = Load.start(history, c.urls(), 3)) {
      for (Form f : FORMS) {
        long before = c.awaitLeader(Duration.ofSeconds(10)).node.view().epoch();
        double seen = counted(c, f.kind());
        long written = System.nanoTime();
        write(f, TTL);
        await().atMost(recovery(f)).pollInterval(Duration.ofMillis(10))
            .until(() -> load.firstSuccessAfter(written, before) != Long.MAX_VALUE);
        System.out.printf("%s (%s) written under a leader: served again at a new epoch after %d ms%n", f.kind(),
            f.ttl() ? "with a TTL" : "no TTL", (load.firstSuccessAfter(written, before) - written) / 1_000_000);
        assertThat(counted(c, f.kind())).as(f.kind()).isGreaterThan(seen);
        String now = redis.command("TYPE", KEY);
        assertThat(now).isEqualTo("string"); // a record again
        assertThat(ElectionRecord.parse(redis.command("GET", KEY).getBytes(StandardCharsets.ISO_8859_1)).valid()).isTrue();
      }
      assertThat(c.nodes).allSatisfy(n -> assertThat(n.node.view().nodeId()).isNotNull());
    }
    history.check();
  }

  @Test
  void writtenWhileNoLeaderRuns() throws Exception {
    for (Form f : FORMS) {
      redis.command("FLUSHALL");
      // A longer TTL than the lease, so that it is still there when the nodes have started.
      write(f, NONE_TTL);
      long written = System.nanoTime();
      Path d = dir.resolve(f.kind() + "-" + f.ttl());
      try (LocalCluster c = LocalCluster.start(d, 2, TTL, i -> redis.url(), Map.of())) {
        // never served on: no leader while the value stands
        await().atMost(Duration.ofMillis(TTL)).until(() -> counted(c, f.kind()) > 0);
        assertThat(c.leaders()).isZero();
        InProcessNode leader = c.awaitLeader(recovery(f).plusMillis(NONE_TTL));
        System.out.printf("%s (%s) found at start: leader after %d ms%n", f.kind(), f.ttl() ? "with a TTL" : "no TTL",
            (System.nanoTime() - written) / 1_000_000);
        try (Load load = Load.start(history, c.urls(), 2)) {
          await().atMost(Duration.ofSeconds(5)).until(() -> load.successCount() > 50);
        }
        assertThat(leader.node.view().epoch()).isPositive();
      }
    }
    history.check();
  }
}
