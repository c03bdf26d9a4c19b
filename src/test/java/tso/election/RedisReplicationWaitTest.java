package tso.election;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import tso.election.RedisCoordinator.Campaign;
import tso.election.RedisCoordinator.Fence;
import tso.election.RedisCoordinator.Observation;
import tso.store.StoreException;
import tso.support.RedisServer;
import tso.support.Resp;

/**
 * {@link RedisCoordinator} with {@code minReplicas = 1} against a primary and a real replica: a
 * campaign and a fenced write are followed by WAIT, so with the replica up they are acknowledged,
 * and with it killed (SIGKILL) the fence fails with {@link StoreException} and a won campaign is
 * not {@code replicated}, both within the coordinator's timeout. Also: a promoted replica is
 * another Redis to the scripts (its replication id changes), though it holds the same grant.
 * Runs on Redis 7 from PATH and the 6.2 of the embedded-redis jar.
 */
@Tag("integration")
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RedisReplicationWaitTest {

  static final RedisKeys KEYS = RedisKeys.of("t");
  static final long NOW = 1_700_000_000_123L;
  /** Short, so that the failing WAIT (half of it) keeps the test fast. */
  static final long TIMEOUT_MS = 400;
  /** How long a failed WAIT may take before the test calls it a hang: the timeout plus slack for a busy machine. */
  static final long ANSWER_WITHIN_MS = TIMEOUT_MS + 1600;

  static Vertx vertx;
  private static boolean warm;

  RedisServer primary;
  RedisServer replica;
  final List<Redis> clients = new ArrayList<>();
  private long grants;

  static Stream<Path> binaries() {
    return Stream.concat(Stream.of(RedisServer.binary()), Stream.of(RedisServer.binaryFromJar())).distinct();
  }

  @BeforeAll
  static void startVertx() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  static void stopVertx() throws Exception {
    await(vertx.close());
  }

  @AfterEach
  void stopAll() {
    for (Redis r : clients) {
      try {
        await(r.close());
      } catch (Exception e) {
        // best effort
      }
    }
    if (replica != null) {
      replica.close();
    }
    if (primary != null) {
      primary.close();
    }
  }

  static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(5, SECONDS);
  }

  private String newGrant() {
    return "grant." + ++grants;
  }

  /**
   * A primary and a replica of it that acknowledges writes. "state=online" on the primary is not
   * enough: after a diskless sync, Redis 7 streams to the replica only from its first
   * acknowledgement (up to a second later), and until then WAIT answers 0. Nor is one WAIT that
   * answers 1: for a write made before the replica connected (no backlog yet, so no replication
   * offset) it counts any online replica. Hence: WAIT answers 1 and the primary has an
   * acknowledged offset above 0. Redis 7 also syncs diskless after a 5 s delay by default (for more
   * replicas to share the transfer): none here.
   */
  private void startPair(Path binary) {
    primary = RedisServer.start(binary, 0, "--repl-diskless-sync-delay", "0");
    replica = RedisServer.start(binary, 0, "--replicaof", "127.0.0.1", Integer.toString(primary.port()));
    long deadline = System.nanoTime() + SECONDS.toNanos(10);
    try (Resp.Connection conn = primary.connect()) {
      for (int i = 0; ; i++) {
        conn.call(Duration.ofSeconds(5), "SET", "probe", Integer.toString(i));
        if ("1".equals(conn.call(Duration.ofSeconds(5), "WAIT", "1", "20").text()) && ackedOffset() > 0) {
          break;
        }
        assertThat(System.nanoTime()).as("the replica acknowledges a write within 10 s: %s", replica.output())
            .isLessThan(deadline);
      }
      conn.call(Duration.ofSeconds(5), "DEL", "probe");
    }
    warmUp();
  }

  /** The replication offset the replica last acknowledged, as the primary reports it (-1: none). */
  private long ackedOffset() {
    Matcher m = Pattern.compile("offset=(\\d+)").matcher(String.valueOf(info(primary, "replication", "slave0")));
    return m.find() ? Long.parseLong(m.group(1)) : -1;
  }

  /**
   * Once per JVM, the coordinator's calls with WAIT on a patient coordinator, then the data and the
   * script cache flushed: the first call in a JVM loads classes for longer than the short timeout
   * under test, which would fail whichever test runs first.
   */
  private void warmUp() {
    if (warm) {
      return;
    }
    try {
      RedisCoordinator patient = coordinator(primary, 1, 10_000);
      Identity me = Identity.create("warm-up", "127.0.0.1:1");
      Campaign won = campaign(patient, me, NOW);
      await(patient.fence(me.incarnation(), epoch(won.record()), NOW));
      await(patient.resign(won.record(), "warm-up", false));
    } catch (Exception e) {
      throw new IllegalStateException("warm-up", e);
    }
    primary.command("FLUSHALL");
    primary.command("SCRIPT", "FLUSH");
    assertThat(primary.command("WAIT", "1", "5000")).isEqualTo("1");
    warm = true;
  }

  private RedisCoordinator coordinator(RedisServer server, int minReplicas) {
    return coordinator(server, minReplicas, TIMEOUT_MS);
  }

  private RedisCoordinator coordinator(RedisServer server, int minReplicas, long timeoutMs) {
    Redis redis = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()));
    clients.add(redis);
    return new RedisCoordinator(redis, KEYS, timeoutMs, minReplicas);
  }

  static String info(RedisServer s, String section, String field) {
    for (String line : s.command("INFO", section).split("\r\n")) {
      if (line.startsWith(field + ":")) {
        return line.substring(field.length() + 1).trim();
      }
    }
    return null;
  }

  private Campaign campaign(RedisCoordinator c, Identity me, long now) throws Exception {
    Observation seen = await(c.inspect());
    return await(c.campaign(me, 10_000, now, 0, seen, newGrant(), null));
  }

  private static long epoch(String record) {
    return ElectionRecord.parse(record.getBytes(StandardCharsets.US_ASCII)).record().epoch();
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void withTheReplicaUpWritesAreAcknowledgedAndWithItKilledTheFenceFailsAndACampaignIsNotReplicated(Path binary)
      throws Exception {
    startPair(binary);
    RedisCoordinator c = coordinator(primary, 1);
    Identity me = Identity.create("me", "127.0.0.1:1");

    // Replica up: acknowledged, and on the replica by the time the call answers.
    Campaign won = campaign(c, me, NOW);
    assertThat(won.won()).as("%s", won).isTrue();
    assertThat(won.replicated()).isTrue();
    assertThat(replica.command("GET", KEYS.leader())).isEqualTo(won.record());
    assertThat(replica.command("GET", KEYS.grant())).isEqualTo(primary.command("GET", KEYS.grant()));
    long e = epoch(won.record());
    Fence f = await(c.fence(me.incarnation(), e, NOW + 3000));
    assertThat(f.written()).as("%s", f).isTrue();
    assertThat(replica.command("GET", KEYS.limit())).isEqualTo("bound=" + (NOW + 3000) + ";epoch=" + e);
    // A refused fence is a refusal, not a failure, whatever WAIT says.
    assertThat(await(c.fence(me.incarnation(), e, NOW)).refusal()).isEqualTo("not_larger");

    replica.kill9();

    // The fence: a failed future with StoreException, within the timeout (WAIT gives up at half of it).
    long t0 = System.nanoTime();
    Throwable failure = null;
    try {
      await(c.fence(me.incarnation(), e, NOW + 6000));
    } catch (ExecutionException ex) {
      failure = ex.getCause();
    }
    long fenceMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertThat(failure).as("fence with the replica dead").isInstanceOf(StoreException.class);
    assertThat(fenceMs).isLessThan(ANSWER_WITHIN_MS);
    // A refused fence is still a refusal (nothing written, nothing to wait for).
    assertThat(await(c.fence("0000000000000000", e, NOW + 9000)).refusal()).isEqualTo("not_holder");

    // A campaign: won on the primary, but not replicated.
    assertThat(await(c.resign(won.record(), "bye", true))).isTrue();
    t0 = System.nanoTime();
    Campaign lonely = campaign(c, me, NOW + 10);
    long campaignMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertThat(lonely.won()).as("%s", lonely).isTrue();
    assertThat(lonely.replicated()).isFalse();
    assertThat(lonely.changed()).isFalse();
    assertThat(epoch(lonely.record())).isGreaterThan(e);
    assertThat(primary.command("GET", KEYS.leader())).isEqualTo(lonely.record());
    assertThat(campaignMs).isLessThan(ANSWER_WITHIN_MS);

    // The same calls without WAIT on the same primary: no replica asked for, none needed.
    RedisCoordinator plain = coordinator(primary, 0);
    assertThat(await(plain.fence(me.incarnation(), epoch(lonely.record()), NOW + 12_000)).written()).isTrue();
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void moreReplicasAskedForThanThereAreFailsTheFenceAndLeavesTheCampaignNotReplicated(Path binary) throws Exception {
    startPair(binary);
    RedisCoordinator c = coordinator(primary, 2);
    Identity me = Identity.create("me", "127.0.0.1:1");
    Campaign won = campaign(c, me, NOW);
    assertThat(won.won()).isTrue();
    assertThat(won.replicated()).isFalse();
    long t0 = System.nanoTime();
    Throwable failure = null;
    try {
      await(c.fence(me.incarnation(), epoch(won.record()), NOW + 3000));
    } catch (ExecutionException ex) {
      failure = ex.getCause();
    }
    assertThat(failure).isInstanceOf(StoreException.class);
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isLessThan(ANSWER_WITHIN_MS);
  }

  /**
   * The script cache empty (a restarted or newly promoted Redis has none) while the replica is
   * dead: EVALSHA fails with NOSCRIPT and the coordinator sends the script again with EVAL, each
   * followed by WAIT. Still a StoreException for the fence, and a won campaign that is not
   * replicated, not a timeout that hides the win.
   */
  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void withTheScriptCacheEmptyAndTheReplicaDeadTheAnswersAreTheSame(Path binary) throws Exception {
    startPair(binary);
    RedisCoordinator c = coordinator(primary, 1);
    Identity me = Identity.create("me", "127.0.0.1:1");
    Campaign won = campaign(c, me, NOW);
    assertThat(won.replicated()).isTrue();
    long e = epoch(won.record());
    assertThat(await(c.fence(me.incarnation(), e, NOW + 1000)).written()).isTrue();
    replica.kill9();

    primary.command("SCRIPT", "FLUSH");
    long t0 = System.nanoTime();
    Throwable failure = null;
    try {
      await(c.fence(me.incarnation(), e, NOW + 2000));
    } catch (ExecutionException ex) {
      failure = ex.getCause();
    }
    assertThat(failure).as("fence after SCRIPT FLUSH with the replica dead").isInstanceOf(StoreException.class);
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isLessThan(ANSWER_WITHIN_MS);

    assertThat(await(c.resign(won.record(), "bye", false))).isTrue();
    primary.command("SCRIPT", "FLUSH");
    Observation seen = await(c.inspect());
    primary.command("SCRIPT", "FLUSH");
    t0 = System.nanoTime();
    Campaign lonely = await(c.campaign(me, 10_000, NOW + 10, 0, seen, newGrant(), null));
    assertThat(lonely.won()).as("%s", lonely).isTrue();
    assertThat(lonely.replicated()).isFalse();
    assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)).isLessThan(ANSWER_WITHIN_MS);
  }

  /**
   * A replica promoted keeps its run id but gets a new replication id: a candidate that observed
   * it as a replica (or the old primary) is told that Redis changed, though the grant was
   * replicated to it unchanged.
   */
  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void aPromotedReplicaIsAnotherRedisThoughItHoldsTheSameGrant(Path binary) throws Exception {
    startPair(binary);
    RedisCoordinator onPrimary = coordinator(primary, 1);
    RedisCoordinator onReplica = coordinator(replica, 0);
    Identity a = Identity.create("a", "127.0.0.1:1");
    Identity b = Identity.create("b", "127.0.0.1:2");
    Campaign won = campaign(onPrimary, a, NOW);
    assertThat(won.replicated()).isTrue();
    assertThat(await(onPrimary.resign(won.record(), "bye", false))).isTrue();
    // WAIT for the resign too, so the replica has it before it is promoted.
    assertThat(primary.command("WAIT", "1", "2000")).isEqualTo("1");

    Observation asReplica = await(onReplica.inspect());
    Observation ofPrimary = await(onPrimary.inspect());
    assertThat(asReplica.absent()).isTrue();
    assertThat(asReplica.grant()).isNotEmpty().isEqualTo(ofPrimary.grant());
    assertThat(asReplica.redisId()).isNotEqualTo(ofPrimary.redisId());

    String runId = info(replica, "server", "run_id");
    replica.command("REPLICAOF", "NO", "ONE");
    Observation promoted = await(onReplica.inspect());
    assertThat(promoted.grant()).isEqualTo(asReplica.grant());
    assertThat(promoted.redisId()).startsWith(runId + ":").isNotEqualTo(asReplica.redisId());

    assertThat(await(onReplica.campaign(b, 10_000, NOW, 0, asReplica, newGrant(), null)))
        .extracting(Campaign::changed).isEqualTo(true);
    assertThat(await(onReplica.campaign(b, 10_000, NOW, 0, ofPrimary, newGrant(), null)))
        .extracting(Campaign::changed).isEqualTo(true);
    assertThat(replica.command("EXISTS", KEYS.leader())).isEqualTo("0");
    Campaign wonThere = await(onReplica.campaign(b, 10_000, NOW, 0, promoted, newGrant(), null));
    assertThat(wonThere.won()).as("%s", wonThere).isTrue();
  }

}
