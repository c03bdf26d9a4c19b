package tso.election;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisOptions;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import tso.election.RedisCoordinator.Campaign;
import tso.election.RedisCoordinator.Fence;
import tso.election.RedisCoordinator.Observation;
import tso.store.StoredBound;
import tso.support.RedisServer;
import tso.support.Resp;

/**
 * The election's Lua scripts against a real redis-server, through {@link RedisCoordinator}: the
 * record format Lua and Java share, the race of candidates, renew, resign (compare-and-delete and
 * its message), the fenced bound write, the epoch floors (the counter, the limit, the minimum given
 * and the caller's clock), takeover, NOSCRIPT, inspect, and the grant: campaign and takeover act only
 * on the Redis and the last grant the caller observed, renew replaces the grant, a clean resign
 * releases it. The main tests run on every binary there is: Redis 7 from PATH and the 6.2 of the
 * embedded-redis jar.
 */
@Tag("integration")
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class RedisScriptsTest {

  static final RedisKeys KEYS = RedisKeys.of("t");
  static final long NOW = 1_700_000_000_123L;
  /**
   * A caller's clock below every epoch the floor tests reach, so that the counter, the limit and
   * the minimum given decide the epoch, not the wall-clock floor.
   */
  static final long EARLY = 1;
  static final Duration T = Duration.ofSeconds(5);

  static Vertx vertx;

  RedisServer server;
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
    if (server != null) {
      server.close();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  private RedisCoordinator start(Path binary) {
    server = RedisServer.start(binary, 0);
    return coordinator();
  }

  /** A coordinator on its own Vert.x client (its own connections). */
  private RedisCoordinator coordinator() {
    Redis redis = Redis.createClient(vertx, new RedisOptions().setConnectionString(server.url()));
    clients.add(redis);
    return new RedisCoordinator(redis, KEYS, 1000);
  }

  static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(5, SECONDS);
  }

  private String cmd(String... args) {
    return server.command(args);
  }

  private byte[] bytes(String... args) {
    Resp.Reply r = server.raw(args);
    assertThat(r).isInstanceOf(Resp.Bulk.class);
    return ((Resp.Bulk) r).bytes();
  }

  private long pttl(String key) {
    return Long.parseLong(cmd("PTTL", key));
  }

  private static ElectionRecord parse(String record) {
    ElectionRecord.Parsed p = ElectionRecord.parse(record.getBytes(StandardCharsets.US_ASCII));
    assertThat(p.valid()).as("Java parses %s (%s)", record, p.invalid()).isTrue();
    return p.record();
  }

  private static boolean javaAccepts(byte[] value) {
    return ElectionRecord.parse(value).valid();
  }

  /** A grant token never used before, as Leadership makes them. */
  private String newGrant() {
    return "grant." + ++grants;
  }

  /** A campaign for an absent key, on what inspect shows just before. */
  private Campaign campaign(RedisCoordinator c, Identity me, long ttl, long now, long minEpoch) throws Exception {
    Observation seen = await(c.inspect());
    return await(c.campaign(me, ttl, now, minEpoch, seen, newGrant(), null));
  }

  private String win(RedisCoordinator c, Identity me, long ttl, long now, long minEpoch) throws Exception {
    Campaign won = campaign(c, me, ttl, now, minEpoch);
    assertThat(won.won()).as("campaign of %s won: %s", me.node(), won).isTrue();
    assertThat(won.refusal()).isNull();
    assertThat(won.changed()).isFalse();
    assertThat(won.replicated()).isTrue();
    return won.record();
  }

  private Campaign takeover(RedisCoordinator c, Observation seen, Identity me, long ttl, long now, long minEpoch)
      throws Exception {
    return await(c.takeover(seen, me, ttl, now, minEpoch, newGrant()));
  }

  private String renew(RedisCoordinator c, String expected, long ttl, long now) throws Exception {
    return await(c.renew(expected, ttl, now, newGrant()));
  }

  /** Every election key's type and DUMP: equal snapshots, nothing written in between. */
  private String snapshot() {
    StringBuilder sb = new StringBuilder();
    for (String k : List.of(KEYS.leader(), KEYS.epoch(), KEYS.limit(), KEYS.transitions(), KEYS.grant(),
        KEYS.released())) {
      Resp.Reply d = server.raw("DUMP", k);
      sb.append(k).append('=').append(cmd("TYPE", k)).append(':')
          .append(d instanceof Resp.Bulk b ? HexFormat.of().formatHex(b.bytes()) : "-").append('\n');
    }
    return sb.toString();
  }

  /** The grant key's value, null when absent. */
  private String grantKey() {
    return cmd("GET", KEYS.grant());
  }

  /** "run_id:master_replid" as INFO shows them: what inspect should call this Redis. */
  private static String infoId(RedisServer s) {
    return infoField(s.command("INFO", "server"), "run_id") + ":"
        + infoField(s.command("INFO", "replication"), "master_replid");
  }

  static String infoField(String info, String field) {
    for (String line : info.split("\r\n")) {
      if (line.startsWith(field + ":")) {
        return line.substring(field.length() + 1).trim();
      }
    }
    throw new AssertionError("no " + field + " in " + info);
  }

  /** Inspect after a restart: the client's connection died with the old process, so a bounded retry. */
  private Observation inspectAfterRestart(RedisCoordinator c) throws Exception {
    long deadline = System.nanoTime() + SECONDS.toNanos(10);
    Observation o = null;
    Exception last = null;
    int attempts = 0;
    while (o == null && System.nanoTime() < deadline && attempts < 1000) {
      attempts++;
      try {
        o = await(c.inspect());
      } catch (ExecutionException e) {
        last = e;
      }
    }
    assertThat(o).as("inspect after the restart, %d attempts, last error %s", attempts, last).isNotNull();
    return o;
  }

  /** "written", or the refusal. */
  static String fenceOutcome(Fence f) {
    return f.written() ? "written" : f.refusal();
  }

  /**
   * "won", "changed" (not the Redis or the grant observed), "held" (the key is not as observed: no
   * refusal), or the refusal.
   */
  static String campaignOutcome(Campaign c) {
    if (c.won()) {
      assertThat(c.changed()).isFalse();
      return "won";
    }
    assertThat(c.record()).isNull();
    if (c.changed()) {
      assertThat(c.refusal()).isNull();
      return "changed";
    }
    return c.refusal() == null ? "held" : c.refusal();
  }

  private static String hex16(Random rnd) {
    return String.format("%016x", rnd.nextLong());
  }

  // ---------------------------------------------------------------------------------------------
  // 1. Lua and Java agree on the record

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void aRecordWonInLuaParsesInJavaWithTheGivenFields(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity[] ids = {
        new Identity("node-a", "127.0.0.1:7001", "0123456789abcdef"),
        Identity.create("n.1_b:c-D", "[::1]:9000"),
        Identity.create("x", "tso-2.example.org:443"),
    };
    long[] ttls = {1500, 250, 86_400_000};
    long[] nows = {1, NOW, 4_102_444_800_000L};
    long[] minEpochs = {0, 0, 4_102_444_800_000L};
    // The counter's 1; then the caller's clock (above the counter); then the minimum given + 1
    // (above both the counter and the clock).
    long[] epochs = {1, NOW, 4_102_444_800_001L};
    long lastEpoch = 0;
    for (int i = 0; i < ids.length; i++) {
      cmd("DEL", KEYS.leader());
      String record = win(c, ids[i], ttls[i], nows[i], minEpochs[i]);
      ElectionRecord r = parse(record);
      assertThat(r.node()).isEqualTo(ids[i].node());
      assertThat(r.address()).isEqualTo(ids[i].address());
      assertThat(r.incarnation()).isEqualTo(ids[i].incarnation());
      assertThat(r.ttlMs()).isEqualTo(ttls[i]);
      assertThat(r.acquiredMs()).isEqualTo(nows[i]);
      assertThat(r.renewedMs()).isEqualTo(nows[i]);
      assertThat(r.transitions()).isEqualTo(i + 1);
      assertThat(r.epoch()).isGreaterThan(Math.max(lastEpoch, minEpochs[i])).isEqualTo(epochs[i]);
      lastEpoch = r.epoch();
      // Java re-encodes it to the very same bytes: same layout, same CRC.
      assertThat(r.encode()).isEqualTo(record);
      assertThat(cmd("GET", KEYS.leader())).isEqualTo(record);
      assertThat(pttl(KEYS.leader())).isBetween(1L, ttls[i]);
      assertThat(cmd("GET", KEYS.epoch())).isEqualTo(Long.toString(r.epoch()));
    }
    assertThat(lastEpoch).isEqualTo(4_102_444_800_001L);
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void recordsBuiltInJavaAreReadByLuaAndRebuiltToTheSameBytes(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Random rnd = new Random(42);
    String nodeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-";
    for (int i = 0; i < 100; i++) {
      StringBuilder node = new StringBuilder();
      for (int n = 1 + rnd.nextInt(20); n > 0; n--) {
        node.append(nodeChars.charAt(rnd.nextInt(nodeChars.length())));
      }
      StringBuilder addr = new StringBuilder();
      for (int n = 1 + rnd.nextInt(30); n > 0; n--) {
        char ch;
        do {
          ch = (char) (0x20 + rnd.nextInt(0x5f)); // printable ASCII
        } while (ch == ';' || ch == '=');
        addr.append(ch);
      }
      long epoch = 1 + (rnd.nextLong() >>> 12); // below 2^52: exact as a Lua number
      long acquired = rnd.nextLong() >>> 23;
      long transitions = rnd.nextInt(1_000_000);
      ElectionRecord rec = new ElectionRecord(node.toString(), addr.toString(), hex16(rnd), epoch,
          1 + rnd.nextInt(60_000), acquired, acquired + rnd.nextInt(1000), transitions);
      String encoded = rec.encode();
      cmd("SET", KEYS.leader(), encoded, "PX", "60000");
      String renewed = renew(c, encoded, 3000, NOW + i);
      assertThat(renewed).as("Lua accepts the Java record %s", encoded).isNotNull();
      ElectionRecord expected = new ElectionRecord(rec.node(), rec.address(), rec.incarnation(), rec.epoch(), 3000,
          rec.acquiredMs(), NOW + i, rec.transitions());
      assertThat(renewed).isEqualTo(expected.encode());
    }
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void aJavaRecordIsTheHolderForTheFenceButNotWithAnyOneByteChanged(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    String inc = "00ff00ff00ff00ff";
    ElectionRecord rec = new ElectionRecord("node-j", "10.0.0.1:8080", inc, 42, 5000, NOW, NOW, 7);
    String good = rec.encode();
    cmd("SET", KEYS.leader(), good, "PX", "60000");
    assertThat(await(c.fence(inc, 42, 100))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("written");
    assertThat(cmd("GET", KEYS.limit())).isEqualTo("bound=100;epoch=42");

    for (int i = 0; i < good.length(); i++) {
      char orig = good.charAt(i);
      char repl = orig == 'x' ? 'y' : 'x';
      String bad = good.substring(0, i) + repl + good.substring(i + 1);
      assertThat(javaAccepts(bad.getBytes(StandardCharsets.US_ASCII))).as("Java refuses %s", bad).isFalse();
      cmd("SET", KEYS.leader(), bad, "PX", "60000");
      assertThat(await(c.fence(inc, 42, 1000 + i))).as("fence over %s", bad)
          .extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
      assertThat(renew(c, bad, 5000, NOW)).as("renew of %s", bad).isNull();
    }
    // Also a change of case in the checksum, which %x matches.
    String upper = good.substring(0, good.length() - 8) + good.substring(good.length() - 8).toUpperCase();
    if (!upper.equals(good)) {
      cmd("SET", KEYS.leader(), upper, "PX", "60000");
      assertThat(await(c.fence(inc, 42, 5000))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    }
    assertThat(cmd("GET", KEYS.limit())).isEqualTo("bound=100;epoch=42");
  }

  // ---------------------------------------------------------------------------------------------
  // 2. The race

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void threeCandidatesRaceAndExactlyOneWinsEveryRoundWithStrictlyIncreasingEpochs(Path binary) throws Exception {
    start(binary);
    RedisCoordinator[] cs = {coordinator(), coordinator(), coordinator()};
    Identity[] ids = {Identity.create("a", "127.0.0.1:1"), Identity.create("b", "127.0.0.1:2"),
        Identity.create("c", "127.0.0.1:3")};
    long lastEpoch = 0;
    long lastTransitions = 0;
    int[] wins = new int[3];
    for (int round = 0; round < 50; round++) {
      // All three observe the same absent key and grant, then race.
      List<Observation> seen = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        seen.add(await(cs[i].inspect()));
      }
      List<Future<Campaign>> fs = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        fs.add(cs[i].campaign(ids[i], 10_000, NOW + round, 0, seen.get(i), newGrant(), null));
      }
      int winner = -1;
      String record = null;
      for (int i = 0; i < 3; i++) {
        Campaign r = await(fs.get(i));
        if (r.won()) {
          assertThat(winner).as("round %d: a second winner, %d after %d", round, i, winner).isEqualTo(-1);
          winner = i;
          record = r.record();
        } else {
          // The winner replaced the grant they all saw: the others are told, not refused.
          assertThat(campaignOutcome(r)).as("round %d", round).isEqualTo("changed");
        }
      }
      assertThat(winner).as("round %d has a winner", round).isNotEqualTo(-1);
      wins[winner]++;
      ElectionRecord rec = parse(record);
      assertThat(rec.node()).isEqualTo(ids[winner].node());
      assertThat(rec.incarnation()).isEqualTo(ids[winner].incarnation());
      assertThat(rec.epoch()).as("round %d", round).isGreaterThan(lastEpoch);
      assertThat(rec.transitions()).isGreaterThan(lastTransitions);
      assertThat(cmd("GET", KEYS.leader())).isEqualTo(record);
      lastEpoch = rec.epoch();
      lastTransitions = rec.transitions();
      if (round % 2 == 0) {
        assertThat(await(cs[winner].resign(record, "round " + round, round % 4 == 0))).isTrue();
      } else {
        cmd("DEL", KEYS.leader());
      }
    }
    assertThat(lastEpoch).isGreaterThanOrEqualTo(50);
    assertThat(wins[0] + wins[1] + wins[2]).isEqualTo(50);
  }

  // ---------------------------------------------------------------------------------------------
  // 3. Renew

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void renewExtendsTheHoldersLeaseAndRefusesEveryoneElse(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity me = Identity.create("me", "127.0.0.1:1");
    String first = win(c, me, 1000, NOW, 0);
    ElectionRecord r1 = parse(first);
    assertThat(pttl(KEYS.leader())).isBetween(1L, 1000L);

    String second = renew(c, first, 60_000, NOW + 500);
    assertThat(second).isNotNull().isNotEqualTo(first);
    ElectionRecord r2 = parse(second);
    assertThat(r2).isEqualTo(new ElectionRecord(r1.node(), r1.address(), r1.incarnation(), r1.epoch(), 60_000,
        NOW, NOW + 500, r1.transitions()));
    assertThat(cmd("GET", KEYS.leader())).isEqualTo(second);
    assertThat(pttl(KEYS.leader())).isGreaterThan(1000L).isLessThanOrEqualTo(60_000L);

    // A retry with the bytes before the renew (its reply was lost) still renews: the holder is
    // compared, not the renewed time.
    String third = renew(c, first, 90_000, NOW + 600);
    assertThat(parse(third)).isEqualTo(new ElectionRecord(r1.node(), r1.address(), r1.incarnation(), r1.epoch(), 90_000,
        NOW, NOW + 600, r1.transitions()));
    assertThat(cmd("GET", KEYS.leader())).isEqualTo(third);
    // The same node with another incarnation or epoch is not the holder.
    String otherStart = new ElectionRecord(r1.node(), r1.address(), "00000000000000aa", r1.epoch(), 1000, NOW, NOW,
        r1.transitions()).encode();
    assertThat(renew(c, otherStart, 90_000, NOW + 650)).isNull();
    String otherTerm = new ElectionRecord(r1.node(), r1.address(), r1.incarnation(), r1.epoch() + 1, 1000, NOW, NOW,
        r1.transitions()).encode();
    assertThat(renew(c, otherTerm, 90_000, NOW + 650)).isNull();
    assertThat(cmd("GET", KEYS.leader())).isEqualTo(third);

    // Someone else's record: ours are stale.
    cmd("DEL", KEYS.leader());
    RedisCoordinator other = coordinator();
    String theirs = win(other, Identity.create("other", "127.0.0.1:2"), 20_000, NOW + 700, 0);
    assertThat(renew(c, second, 90_000, NOW + 800)).isNull();
    assertThat(cmd("GET", KEYS.leader())).isEqualTo(theirs);
    assertThat(pttl(KEYS.leader())).isLessThanOrEqualTo(20_000L);

    // The key gone: refused, and not created again.
    cmd("DEL", KEYS.leader());
    assertThat(renew(c, theirs, 90_000, NOW + 900)).isNull();
    assertThat(cmd("EXISTS", KEYS.leader())).isEqualTo("0");

    // Another type under the key: refused, not an error.
    cmd("HSET", KEYS.leader(), "f", theirs);
    assertThat(renew(c, theirs, 90_000, NOW + 900)).isNull();
    assertThat(cmd("TYPE", KEYS.leader())).isEqualTo("hash");
  }

  // ---------------------------------------------------------------------------------------------
  // 4. Resign

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void resignDeletesOnlyOurRecordAndTellsTheSubscribers(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    try (Resp.Connection sub = server.connect()) {
      Resp.Reply ok = sub.call(T, "SUBSCRIBE", KEYS.events());
      assertThat(ok.text()).isEqualTo("[subscribe, " + KEYS.events() + ", 1]");

      RedisCoordinator other = coordinator();
      String theirs = win(other, Identity.create("other", "127.0.0.1:2"), 10_000, NOW, 0);
      String oursOld = new ElectionRecord("me", "127.0.0.1:1", "0000000000000001", 1, 10_000, NOW, NOW, 1).encode();
      // Not ours: nothing deleted, nothing published.
      assertThat(await(c.resign(oursOld, "must-not-arrive", true))).isFalse();
      assertThat(cmd("GET", KEYS.leader())).isEqualTo(theirs);
      // Not a string: refused, no error.
      cmd("DEL", KEYS.leader());
      cmd("HSET", KEYS.leader(), "f", oursOld);
      assertThat(await(c.resign(oursOld, "must-not-arrive-either", false))).isFalse();
      assertThat(cmd("TYPE", KEYS.leader())).isEqualTo("hash");
      cmd("DEL", KEYS.leader());

      String ours = win(c, Identity.create("me", "127.0.0.1:1"), 10_000, NOW, 0);
      assertThat(await(c.resign(ours, "resign:me:2", true))).isTrue();
      assertThat(cmd("EXISTS", KEYS.leader())).isEqualTo("0");
      // The first message on the channel is this one: the refused resigns published nothing.
      Resp.Reply msg = sub.read(T);
      assertThat(msg.text()).isEqualTo("[message, " + KEYS.events() + ", resign:me:2]");
      // Resigning again: gone already, refused.
      assertThat(await(c.resign(ours, "again", true))).isFalse();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // 5. Fence

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void theFenceTakesOnlyTheHoldersWritesAndOnlyUpwards(Path binary) throws Exception {
    RedisCoordinator ca = start(binary);
    RedisCoordinator cb = coordinator();
    Identity a = Identity.create("a", "127.0.0.1:1");
    Identity b = Identity.create("b", "127.0.0.1:2");
    long ea = parse(win(ca, a, 10_000, NOW, 0)).epoch();

    assertThat(await(ca.fence(a.incarnation(), ea, 100))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("written");
    assertThat(cmd("GET", KEYS.limit())).isEqualTo("bound=100;epoch=" + ea);
    assertThat(await(ca.fence(a.incarnation(), ea, 99))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_larger");
    assertThat(await(ca.fence(a.incarnation(), ea, 0))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_larger");
    assertThat(await(ca.fence(a.incarnation(), ea, 100))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("written");
    assertThat(await(ca.fence(a.incarnation(), ea, 200))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("written");
    assertThat(cmd("GET", KEYS.limit())).isEqualTo("bound=200;epoch=" + ea);

    // Wrong epoch or incarnation while A holds.
    assertThat(await(ca.fence(a.incarnation(), ea + 1, 300))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    assertThat(await(ca.fence(a.incarnation(), ea - 1, 300))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    assertThat(await(cb.fence(b.incarnation(), ea, 300))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    // A restarted A (same node, new incarnation) is not the holder either.
    Identity a2 = Identity.create("a", "127.0.0.1:1");
    assertThat(await(ca.fence(a2.incarnation(), ea, 300))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    assertThat(cmd("GET", KEYS.limit())).isEqualTo("bound=200;epoch=" + ea);

    // A new term: A's stale write is refused, whatever its bound.
    cmd("DEL", KEYS.leader());
    long eb = parse(win(cb, b, 10_000, NOW, 0)).epoch();
    assertThat(eb).isGreaterThan(ea);
    assertThat(await(ca.fence(a.incarnation(), ea, 1_000_000))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    assertThat(await(ca.fence(a.incarnation(), eb, 1_000_000))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    assertThat(await(cb.fence(b.incarnation(), eb, 199))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_larger");
    assertThat(await(cb.fence(b.incarnation(), eb, 200))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("written");
    assertThat(cmd("GET", KEYS.limit())).isEqualTo("bound=200;epoch=" + eb);
    String bRecord = cmd("GET", KEYS.leader());

    // No record at all.
    cmd("DEL", KEYS.leader());
    assertThat(await(cb.fence(b.incarnation(), eb, 300))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    // Garbage, and other types: refusals, not errors (no WRONGTYPE).
    cmd("SET", KEYS.leader(), "garbage");
    assertThat(await(cb.fence(b.incarnation(), eb, 300))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    cmd("DEL", KEYS.leader());
    cmd("HSET", KEYS.leader(), "record", bRecord);
    assertThat(await(cb.fence(b.incarnation(), eb, 300))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    cmd("DEL", KEYS.leader());
    cmd("RPUSH", KEYS.leader(), bRecord);
    assertThat(await(cb.fence(b.incarnation(), eb, 300))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    cmd("DEL", KEYS.leader());
    assertThat(cmd("GET", KEYS.limit())).isEqualTo("bound=200;epoch=" + eb);

    // B holds again, the limit corrupt: limit_corrupt, and the limit left alone.
    cmd("SET", KEYS.leader(), bRecord, "PX", "10000");
    for (String corrupt : new String[] {"bound=abc;epoch=1", "garbage", "", "bound=5;epoch=", "bound=-5;epoch=1",
        " bound=5;epoch=1"}) {
      cmd("SET", KEYS.limit(), corrupt);
      assertThat(await(cb.fence(b.incarnation(), eb, 300))).as("limit %s", corrupt)
          .extracting(RedisScriptsTest::fenceOutcome).isEqualTo("limit_corrupt");
      assertThat(cmd("GET", KEYS.limit())).isEqualTo(corrupt);
    }
    cmd("DEL", KEYS.limit());
    cmd("HSET", KEYS.limit(), "bound", "5");
    assertThat(await(cb.fence(b.incarnation(), eb, 300))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("limit_corrupt");
    assertThat(cmd("TYPE", KEYS.limit())).isEqualTo("hash");
    // No limit at all: any bound goes.
    cmd("DEL", KEYS.limit());
    assertThat(await(cb.fence(b.incarnation(), eb, 1))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("written");
    assertThat(cmd("GET", KEYS.limit())).isEqualTo("bound=1;epoch=" + eb);
  }

  // ---------------------------------------------------------------------------------------------
  // 6. Epoch floors

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void theEpochStaysAboveTheLimitsEpochAndTheMinimumGiven(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity me = Identity.create("me", "127.0.0.1:1");
    // EARLY: a clock below every epoch here, so that the floor by the caller's clock plays no part.
    assertThat(parse(win(c, me, 10_000, EARLY, 0)).epoch()).isEqualTo(1);

    // The epoch counter lost; the limit remembers epoch 40.
    cmd("DEL", KEYS.leader(), KEYS.epoch());
    cmd("SET", KEYS.limit(), "bound=5;epoch=40");
    long e = parse(win(c, me, 10_000, EARLY, 0)).epoch();
    assertThat(e).isEqualTo(41);
    assertThat(cmd("GET", KEYS.epoch())).isEqualTo("41");

    // The counter lost again, the limit's epoch lower than the minimum given: the minimum wins.
    cmd("DEL", KEYS.leader(), KEYS.epoch());
    assertThat(parse(win(c, me, 10_000, EARLY, 100)).epoch()).isEqualTo(101);
    assertThat(cmd("GET", KEYS.epoch())).isEqualTo("101");

    // A minimum below the counter: the counter goes on.
    cmd("DEL", KEYS.leader());
    assertThat(parse(win(c, me, 10_000, EARLY, 5)).epoch()).isEqualTo(102);

    // A counter present but below the limit's epoch (set back by hand): still above the limit.
    cmd("DEL", KEYS.leader());
    cmd("SET", KEYS.epoch(), "3");
    cmd("SET", KEYS.limit(), "bound=5;epoch=500");
    assertThat(parse(win(c, me, 10_000, EARLY, 0)).epoch()).isEqualTo(501);

    // On the boundary: the counter's next value equal to the floor is not enough.
    cmd("DEL", KEYS.leader());
    cmd("SET", KEYS.epoch(), "599");
    cmd("SET", KEYS.limit(), "bound=5;epoch=600");
    assertThat(parse(win(c, me, 10_000, EARLY, 0)).epoch()).isEqualTo(601);
    cmd("DEL", KEYS.leader());
    cmd("SET", KEYS.epoch(), "649");
    assertThat(parse(win(c, me, 10_000, EARLY, 650)).epoch()).isEqualTo(651);
    assertThat(cmd("GET", KEYS.epoch())).isEqualTo("651");

    // The same floors hold for takeover.
    cmd("SET", KEYS.leader(), "junk");
    cmd("DEL", KEYS.epoch());
    Observation o = await(c.inspect());
    Campaign t = takeover(c, o, me, 10_000, EARLY, 700);
    assertThat(t.won()).isTrue();
    assertThat(parse(t.record()).epoch()).isEqualTo(701);
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void aCorruptEpochCounterIsRepairedAboveTheFloorAndACorruptLimitRefusesTheCampaign(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity me = Identity.create("me", "127.0.0.1:1");
    // A counter that is not an integer must not stop every election: it is repaired, and the
    // epoch still lands above every floor (min_epoch here).
    for (String[] corrupt : new String[][] {{"SET", KEYS.epoch(), "not-a-number"}, {"SET", KEYS.epoch(), "1.5"},
        {"HSET", KEYS.epoch(), "n", "1"}}) {
      cmd("DEL", KEYS.epoch(), KEYS.leader());
      cmd(corrupt);
      assertThat(parse(win(c, me, 10_000, EARLY, 41)).epoch()).isEqualTo(42);
      assertThat(cmd("GET", KEYS.epoch())).isEqualTo("42");
      assertThat(cmd("PING")).isEqualTo("PONG");
    }
    cmd("DEL", KEYS.leader());

    // A corrupt limit: refused, with the reason, nothing written.
    cmd("DEL", KEYS.epoch());
    cmd("SET", KEYS.limit(), "bound=;epoch=1");
    String before = snapshot();
    Campaign refused = campaign(c, me, 10_000, EARLY, 0);
    assertThat(refused).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("limit_corrupt");
    assertThat(cmd("EXISTS", KEYS.leader())).isEqualTo("0");
    assertThat(cmd("EXISTS", KEYS.epoch())).isEqualTo("0");
    assertThat(snapshot()).as("nothing written, the grant included").isEqualTo(before);
    cmd("DEL", KEYS.limit());
    cmd("HSET", KEYS.limit(), "bound", "1");
    assertThat(campaign(c, me, 10_000, EARLY, 0)).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("limit_corrupt");

    // Repaired: the same client campaigns and wins.
    cmd("DEL", KEYS.limit());
    assertThat(parse(win(c, me, 10_000, EARLY, 0)).epoch()).isEqualTo(1);
  }

  // ---------------------------------------------------------------------------------------------
  // 7. Takeover

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void takeoverOnlyOfTheSameBytesOfTheSameTypeWithNoTtl(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity me = Identity.create("me", "127.0.0.1:1");
    long firstEpoch = parse(win(c, Identity.create("old", "127.0.0.1:9"), 10_000, NOW, 0)).epoch();

    // A value with a TTL: never taken over.
    cmd("SET", KEYS.leader(), "junk", "PX", "60000");
    Observation withTtl = await(c.inspect());
    assertThat(withTtl.pttlMs()).isPositive();
    assertThat(takeover(c, withTtl, me, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("held");
    assertThat(cmd("GET", KEYS.leader())).isEqualTo("junk");
    // Seen without a TTL, given one since: no.
    cmd("PERSIST", KEYS.leader());
    Observation seen = await(c.inspect());
    assertThat(seen.pttlMs()).isEqualTo(-1);
    cmd("PEXPIRE", KEYS.leader(), "60000");
    assertThat(takeover(c, seen, me, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("held");
    cmd("PERSIST", KEYS.leader());
    // Other bytes since: no.
    cmd("SET", KEYS.leader(), "junk2");
    assertThat(takeover(c, seen, me, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("held");
    assertThat(cmd("GET", KEYS.leader())).isEqualTo("junk2");
    // Another type since (a hash holding the same bytes): no.
    cmd("DEL", KEYS.leader());
    cmd("HSET", KEYS.leader(), "junk", "junk");
    assertThat(takeover(c, seen, me, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("held");
    assertThat(cmd("TYPE", KEYS.leader())).isEqualTo("hash");
    // Gone since: no, and nothing created.
    cmd("DEL", KEYS.leader());
    assertThat(takeover(c, seen, me, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("held");
    assertThat(cmd("EXISTS", KEYS.leader())).isEqualTo("0");

    // The same string, no TTL: taken over with a new epoch and a TTL.
    cmd("SET", KEYS.leader(), "junk");
    Campaign won = takeover(c, seen, me, 10_000, NOW, 0);
    assertThat(won.won()).isTrue();
    ElectionRecord r = parse(won.record());
    assertThat(r.node()).isEqualTo("me");
    assertThat(r.incarnation()).isEqualTo(me.incarnation());
    assertThat(r.epoch()).isGreaterThan(firstEpoch);
    assertThat(cmd("GET", KEYS.leader())).isEqualTo(won.record());
    assertThat(pttl(KEYS.leader())).isBetween(1L, 10_000L);

    // A hash, compared by DUMP: the same one is taken over; a changed one is not.
    cmd("DEL", KEYS.leader());
    cmd("HSET", KEYS.leader(), "a", "1");
    Observation hash = await(c.inspect());
    assertThat(hash.type()).isEqualTo("hash");
    cmd("HSET", KEYS.leader(), "b", "2");
    assertThat(takeover(c, hash, me, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("held");
    assertThat(cmd("HLEN", KEYS.leader())).isEqualTo("2");
    Observation hash2 = await(c.inspect());
    Campaign wonHash = takeover(c, hash2, me, 10_000, NOW, 0);
    assertThat(wonHash.won()).isTrue();
    assertThat(parse(wonHash.record()).epoch()).isGreaterThan(r.epoch());
    assertThat(cmd("TYPE", KEYS.leader())).isEqualTo("string");

    // A valid record left without a TTL: taken over by another node, with a newer epoch.
    cmd("PERSIST", KEYS.leader());
    Identity other = Identity.create("other", "127.0.0.1:2");
    RedisCoordinator oc = coordinator();
    Observation stuck = await(oc.inspect());
    Campaign taken = takeover(oc, stuck, other, 10_000, NOW, 0);
    assertThat(taken.won()).isTrue();
    ElectionRecord tr = parse(taken.record());
    assertThat(tr.node()).isEqualTo("other");
    assertThat(tr.epoch()).isGreaterThan(parse(wonHash.record()).epoch());
    // The loser's fence is refused after the takeover; the winner's goes through.
    assertThat(await(c.fence(me.incarnation(), parse(wonHash.record()).epoch(), 10)))
        .extracting(RedisScriptsTest::fenceOutcome).isEqualTo("not_holder");
    assertThat(await(oc.fence(other.incarnation(), tr.epoch(), 10))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("written");
  }

  // ---------------------------------------------------------------------------------------------
  // 8. NOSCRIPT

  private List<String> scriptsCached() {
    List<String> args = new ArrayList<>(List.of("SCRIPT", "EXISTS"));
    for (Script s : Script.values()) {
      args.add(s.sha1);
    }
    return ((Resp.Array) server.raw(args.toArray(String[]::new))).items().stream().map(Resp.Reply::text).toList();
  }

  /** Every script once, in an order that makes each one succeed. */
  private void everyScriptWorks(RedisCoordinator c) throws Exception {
    Identity me = Identity.create("me", "127.0.0.1:1");
    Observation none = await(c.inspect());
    assertThat(none.absent()).isTrue();
    String rec = win(c, me, 10_000, NOW, 0);
    long epoch = parse(rec).epoch();
    String renewed = renew(c, rec, 10_000, NOW + 1);
    assertThat(renewed).isNotNull();
    assertThat(await(c.fence(me.incarnation(), epoch, NOW + 5000))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("written");
    assertThat(await(c.resign(renewed, "bye", true))).isTrue();
    cmd("SET", KEYS.leader(), "stuck");
    Observation stuck = await(c.inspect());
    Campaign t = takeover(c, stuck, me, 10_000, NOW, 0);
    assertThat(t.won()).isTrue();
    assertThat(parse(t.record()).epoch()).isGreaterThan(epoch);
    assertThat(await(c.resign(t.record(), "bye", false))).isTrue();
    cmd("DEL", KEYS.limit());
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void everyScriptWorksAfterScriptFlushByEvalAndIsCachedUnderTheSameSha(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    everyScriptWorks(c);
    assertThat(scriptsCached()).containsOnly("1");
    cmd("SCRIPT", "FLUSH");
    assertThat(scriptsCached()).containsOnly("0");
    everyScriptWorks(c);
    // Sent whole by EVAL after NOSCRIPT, each is cached under the SHA-1 the coordinator computed.
    assertThat(scriptsCached()).containsOnly("1");
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void everyScriptWorksAfterRedisRestartsEmpty(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity me = Identity.create("me", "127.0.0.1:1");
    win(c, me, 10_000, NOW, 0);
    Observation before = await(c.inspect());
    server.restartEmpty();
    assertThat(server.starts()).isEqualTo(2);
    Observation o = inspectAfterRestart(c);
    assertThat(o.absent()).isTrue();
    assertThat(o.limit()).isEqualTo(StoredBound.NONE);
    assertThat(o.grant()).isEmpty();
    assertThat(o.redisId()).isNotEqualTo(before.redisId());
    everyScriptWorks(c);
    assertThat(scriptsCached()).containsOnly("1");
  }

  // ---------------------------------------------------------------------------------------------
  // 9. inspect

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void inspectReportsTypeTtlValueAndLimit(Path binary) throws Exception {
    RedisCoordinator c = start(binary);

    Observation none = await(c.inspect());
    assertThat(none.type()).isEqualTo("none");
    assertThat(none.absent()).isTrue();
    assertThat(none.pttlMs()).isEqualTo(-2);
    assertThat(none.value()).isNull();
    assertThat(none.limit()).isEqualTo(StoredBound.NONE);
    assertThat(none.limitCorrupt()).isFalse();

    String rec = win(c, Identity.create("me", "127.0.0.1:1"), 10_000, NOW, 0);
    Observation leased = await(c.inspect());
    assertThat(leased.type()).isEqualTo("string");
    assertThat(leased.absent()).isFalse();
    assertThat(leased.pttlMs()).isBetween(1L, 10_000L);
    assertThat(leased.value()).isEqualTo(rec.getBytes(StandardCharsets.US_ASCII));

    cmd("PERSIST", KEYS.leader());
    assertThat(await(c.inspect()).pttlMs()).isEqualTo(-1);

    // Binary bytes come back as they are.
    byte[] binaryValue = {0, (byte) 0xff, 'x', (byte) 0x80, '\r', '\n'};
    server.raw(T, "SET".getBytes(StandardCharsets.US_ASCII), KEYS.leader().getBytes(StandardCharsets.US_ASCII),
        binaryValue);
    Observation bin = await(c.inspect());
    assertThat(bin.type()).isEqualTo("string");
    assertThat(bin.value()).isEqualTo(binaryValue);

    cmd("DEL", KEYS.leader());
    cmd("HSET", KEYS.leader(), "f", "v");
    cmd("PEXPIRE", KEYS.leader(), "30000");
    Observation hash = await(c.inspect());
    assertThat(hash.type()).isEqualTo("hash");
    assertThat(hash.pttlMs()).isBetween(1L, 30_000L);
    assertThat(hash.value()).isEqualTo(bytes("DUMP", KEYS.leader()));
    cmd("DEL", KEYS.leader());
    cmd("RPUSH", KEYS.leader(), "a", "b");
    Observation list = await(c.inspect());
    assertThat(list.type()).isEqualTo("list");
    assertThat(list.pttlMs()).isEqualTo(-1);
    assertThat(list.value()).isEqualTo(bytes("DUMP", KEYS.leader()));

    cmd("SET", KEYS.limit(), "bound=1700000000999;epoch=17");
    Observation lim = await(c.inspect());
    assertThat(lim.limit()).isEqualTo(new StoredBound(17, 1_700_000_000_999L));
    assertThat(lim.limitCorrupt()).isFalse();

    for (String garbage : new String[] {"garbage", "", "bound=1;epoch=x", "bound=1;epoch=2;", "epoch=2;bound=1"}) {
      cmd("SET", KEYS.limit(), garbage);
      Observation bad = await(c.inspect());
      assertThat(bad.limitCorrupt()).as("limit %s", garbage).isTrue();
      assertThat(bad.limit()).isEqualTo(StoredBound.NONE);
    }
  }

  /**
   * The same garbage is corrupt for inspect, campaign and fence alike: a limit key of another type
   * too (inspect.lua reports it as "not a string: TYPE", which does not parse).
   */
  @Test
  void aLimitThatIsNotAStringIsCorruptForInspectAsForCampaignAndFence() throws Exception {
    RedisCoordinator c = start(RedisServer.binary());
    Identity me = Identity.create("me", "127.0.0.1:1");
    String rec = win(c, me, 10_000, NOW, 0);
    cmd("HSET", KEYS.limit(), "bound", "5", "epoch", "1");
    assertThat(await(c.fence(me.incarnation(), parse(rec).epoch(), 10))).extracting(RedisScriptsTest::fenceOutcome).isEqualTo("limit_corrupt");
    cmd("DEL", KEYS.leader());
    assertThat(campaign(c, me, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("limit_corrupt");
    Observation o = await(c.inspect());
    assertThat(o.limitCorrupt()).as("inspect of a hash limit: %s", o).isTrue();
  }

  // ---------------------------------------------------------------------------------------------
  // 10. The grant, the released grant and which Redis: candidates time a lease on their own clock
  //     from the (Redis, grant) pair they observed, so campaign and takeover must act only on that pair.

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void inspectReportsTheGrantTheReleasedGrantAndWhichRedis(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity me = Identity.create("me", "127.0.0.1:1");
    Observation fresh = await(c.inspect());
    assertThat(fresh.grant()).isEmpty();
    assertThat(fresh.released()).isEmpty();
    assertThat(fresh.redisId()).matches("[0-9a-f]{40}:[0-9a-f]{40}").isEqualTo(infoId(server));
    assertThat(fresh.state()).isEqualTo(fresh.redisId() + "|");

    String rec = win(c, me, 10_000, NOW, 0);
    String g = grantKey();
    assertThat(g).isNotEmpty();
    Observation held = await(c.inspect());
    assertThat(held.grant()).isEqualTo(g);
    assertThat(held.released()).isEmpty();
    assertThat(held.redisId()).as("the same Redis, the same id").isEqualTo(fresh.redisId());
    assertThat(held.state()).isEqualTo(fresh.redisId() + "|" + g);

    assertThat(await(c.resign(rec, "bye", true))).isTrue();
    Observation released = await(c.inspect());
    assertThat(released.grant()).isEqualTo(g);
    assertThat(released.released()).isEqualTo(g);

    // Not a string under the grant or the released key: none, not an error.
    cmd("DEL", KEYS.grant(), KEYS.released());
    cmd("HSET", KEYS.grant(), "f", g);
    cmd("RPUSH", KEYS.released(), g);
    Observation odd = await(c.inspect());
    assertThat(odd.grant()).isEmpty();
    assertThat(odd.released()).isEmpty();
    cmd("DEL", KEYS.grant(), KEYS.released());
    cmd("SET", KEYS.grant(), g);

    // Restarted (empty): another Redis, and so another state, even with the old grant put back by
    // hand, as if it had been persisted.
    Observation beforeRestart = await(c.inspect());
    server.restartEmpty();
    Observation after = inspectAfterRestart(c);
    assertThat(after.grant()).isEmpty();
    assertThat(after.redisId()).matches("[0-9a-f]{40}:[0-9a-f]{40}").isEqualTo(infoId(server))
        .isNotEqualTo(beforeRestart.redisId());
    cmd("SET", KEYS.grant(), g);
    Observation sameGrant = await(c.inspect());
    assertThat(sameGrant.grant()).isEqualTo(beforeRestart.grant());
    assertThat(sameGrant.state()).isNotEqualTo(beforeRestart.state());
    // A candidate that observed the old Redis is told, and nothing is written.
    String before = snapshot();
    assertThat(await(c.campaign(me, 10_000, NOW, 0, beforeRestart, newGrant(), null)))
        .extracting(RedisScriptsTest::campaignOutcome).isEqualTo("changed");
    assertThat(snapshot()).isEqualTo(before);
    // On the new observation it wins.
    assertThat(await(c.campaign(me, 10_000, NOW, 0, sameGrant, newGrant(), null)))
        .extracting(RedisScriptsTest::campaignOutcome).isEqualTo("won");
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void campaignAndTakeoverAnswerChangedWhenTheGrantChangedSinceTheObservation(Path binary) throws Exception {
    RedisCoordinator holder = start(binary);
    RedisCoordinator cand = coordinator();
    Identity a = Identity.create("a", "127.0.0.1:1");
    Identity b = Identity.create("b", "127.0.0.1:2");

    // An absent key observed; since then A has won and resigned: the key is absent again, but the
    // grant is another one (A may still be serving on it).
    Observation empty = await(cand.inspect());
    String ra = win(holder, a, 10_000, NOW, 0);
    assertThat(await(holder.resign(ra, "bye", false))).isTrue();
    String before = snapshot();
    assertThat(await(cand.campaign(b, 10_000, NOW, 0, empty, newGrant(), null)))
        .extracting(RedisScriptsTest::campaignOutcome).isEqualTo("changed");
    assertThat(snapshot()).as("nothing written").isEqualTo(before);
    assertThat(cmd("EXISTS", KEYS.leader())).isEqualTo("0");

    // A live record observed with its grant; then the holder renews to the very same bytes (same
    // TTL, same clock): only the grant tells the renew happened.
    String ra2 = win(holder, a, 10_000, NOW, 0);
    Observation seen = await(cand.inspect());
    assertThat(seen.value()).isEqualTo(ra2.getBytes(StandardCharsets.US_ASCII));
    assertThat(renew(holder, ra2, 10_000, NOW)).isEqualTo(ra2);
    assertThat(grantKey()).isNotEqualTo(seen.grant());
    before = snapshot();
    assertThat(await(cand.campaign(b, 10_000, NOW, 0, seen, newGrant(), seen.value())))
        .extracting(RedisScriptsTest::campaignOutcome).isEqualTo("changed");
    assertThat(snapshot()).as("nothing written").isEqualTo(before);
    assertThat(cmd("GET", KEYS.leader())).isEqualTo(ra2);

    // The same for takeover: a record stuck without a TTL observed, then renewed to the same bytes
    // and stuck again.
    cmd("PERSIST", KEYS.leader());
    Observation stuck = await(cand.inspect());
    assertThat(stuck.pttlMs()).isEqualTo(-1);
    assertThat(renew(holder, ra2, 10_000, NOW)).isEqualTo(ra2);
    cmd("PERSIST", KEYS.leader());
    before = snapshot();
    assertThat(takeover(cand, stuck, b, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome)
        .isEqualTo("changed");
    assertThat(snapshot()).as("nothing written").isEqualTo(before);

    // Observed again, unchanged: the same calls go through (so the grant alone refused them above).
    Observation now = await(cand.inspect());
    Campaign taken = takeover(cand, now, b, 10_000, NOW, 0);
    assertThat(taken).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("won");
    assertThat(parse(taken.record()).node()).isEqualTo("b");
    Observation afterTakeover = await(holder.inspect());
    String rb = taken.record();
    assertThat(renew(cand, rb, 10_000, NOW + 1)).isNotNull();
    // ... and a campaign on the observation before that renew is told so.
    assertThat(await(holder.campaign(a, 10_000, NOW, 0, afterTakeover, newGrant(),
        afterTakeover.value()))).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("changed");
  }

  /**
   * The identity check with the grant persisted across the restart (AOF, fsync always), the way a
   * real Redis restart keeps it: the grant is the same value, but Redis is another one.
   */
  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void campaignAndTakeoverAnswerChangedOnARestartedRedisEvenWithThePersistedGrant(Path binary) throws Exception {
    server = RedisServer.start(binary, 0, "--appendonly", "yes", "--appendfsync", "always");
    RedisCoordinator c = coordinator();
    Identity a = Identity.create("a", "127.0.0.1:1");
    Identity b = Identity.create("b", "127.0.0.1:2");

    String ra = win(c, a, 10_000, NOW, 0);
    assertThat(await(c.resign(ra, "bye", false))).isTrue();
    Observation before = await(c.inspect());
    assertThat(before.absent()).isTrue();
    // restartEmpty keeps the arguments, so the new process loads the AOF from the same directory.
    server.restartEmpty();
    Observation after = inspectAfterRestart(c);
    assertThat(after.absent()).isTrue();
    assertThat(after.grant()).as("persisted").isNotEmpty().isEqualTo(before.grant());
    assertThat(after.redisId()).isNotEqualTo(before.redisId());
    String snap = snapshot();
    assertThat(await(c.campaign(b, 10_000, NOW, 0, before, newGrant(), null)))
        .extracting(RedisScriptsTest::campaignOutcome).isEqualTo("changed");
    assertThat(snapshot()).isEqualTo(snap);

    // Takeover: a value stuck without a TTL, observed, then Redis restarts with it.
    cmd("SET", KEYS.leader(), "stuck");
    Observation stuck = await(c.inspect());
    server.restartEmpty();
    Observation stuckAfter = inspectAfterRestart(c);
    assertThat(stuckAfter.value()).isEqualTo(stuck.value());
    assertThat(stuckAfter.pttlMs()).isEqualTo(-1);
    assertThat(stuckAfter.grant()).isEqualTo(stuck.grant());
    snap = snapshot();
    assertThat(takeover(c, stuck, b, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome)
        .isEqualTo("changed");
    assertThat(snapshot()).isEqualTo(snap);
    // On the observation of the new Redis: taken over.
    assertThat(takeover(c, stuckAfter, b, 10_000, NOW, 0)).extracting(RedisScriptsTest::campaignOutcome)
        .isEqualTo("won");
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void aCampaignWithExpectedBytesReplacesALiveRecordOnlyWhileItIsExactlyThoseBytes(Path binary) throws Exception {
    RedisCoordinator ca = start(binary);
    RedisCoordinator cb = coordinator();
    Identity a = Identity.create("a", "127.0.0.1:1");
    Identity b = Identity.create("b", "127.0.0.1:2");
    String ra = win(ca, a, 60_000, NOW, 0);
    long ea = parse(ra).epoch();
    byte[] raBytes = ra.getBytes(StandardCharsets.US_ASCII);
    Observation seen = await(cb.inspect());
    assertThat(seen.value()).isEqualTo(raBytes);

    // Without expected bytes: only an absent key.
    assertThat(await(cb.campaign(b, 10_000, NOW + 1, 0, seen, newGrant(), null)))
        .extracting(RedisScriptsTest::campaignOutcome).isEqualTo("held");
    assertThat(cmd("GET", KEYS.leader())).isEqualTo(ra);
    // Other bytes under the key since (the grant still the one seen): held, left alone.
    for (String[] since : new String[][] {
        {"SET", KEYS.leader(), ra + "x", "PX", "60000"},
        {"SET", KEYS.leader(), ra.substring(0, ra.length() - 1), "PX", "60000"},
        {"HSET", KEYS.leader(), ra, ra}}) {
      cmd("DEL", KEYS.leader());
      cmd(since);
      String before = snapshot();
      assertThat(await(cb.campaign(b, 10_000, NOW + 1, 0, seen, newGrant(), raBytes))).as("after %s", (Object) since)
          .extracting(RedisScriptsTest::campaignOutcome).isEqualTo("held");
      assertThat(snapshot()).isEqualTo(before);
    }
    // Gone since: held too (the caller inspects again), nothing created.
    cmd("DEL", KEYS.leader());
    assertThat(await(cb.campaign(b, 10_000, NOW + 1, 0, seen, newGrant(), raBytes)))
        .extracting(RedisScriptsTest::campaignOutcome).isEqualTo("held");
    assertThat(cmd("EXISTS", KEYS.leader())).isEqualTo("0");

    // Exactly the bytes seen, still live on Redis's clock: replaced, whatever its TTL says.
    cmd("SET", KEYS.leader(), ra, "PX", "60000");
    String g = newGrant();
    Campaign won = await(cb.campaign(b, 10_000, NOW + 2, 0, seen, g, raBytes));
    assertThat(won).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("won");
    ElectionRecord rb = parse(won.record());
    assertThat(rb.node()).isEqualTo("b");
    assertThat(rb.incarnation()).isEqualTo(b.incarnation());
    assertThat(rb.epoch()).isGreaterThan(ea);
    assertThat(cmd("GET", KEYS.leader())).isEqualTo(won.record());
    assertThat(pttl(KEYS.leader())).isBetween(1L, 10_000L);
    assertThat(grantKey()).isEqualTo(g);
    // A is no longer the holder.
    assertThat(renew(ca, ra, 60_000, NOW + 3)).isNull();
    assertThat(await(ca.fence(a.incarnation(), ea, 10))).extracting(RedisScriptsTest::fenceOutcome)
        .isEqualTo("not_holder");
    assertThat(await(cb.fence(b.incarnation(), rb.epoch(), 10))).extracting(RedisScriptsTest::fenceOutcome)
        .isEqualTo("written");
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void renewReplacesTheGrantOnlyWhenItRenews(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity me = Identity.create("me", "127.0.0.1:1");
    String rec = win(c, me, 10_000, NOW, 0);
    String first = grantKey();

    String renewed = await(c.renew(rec, 10_000, NOW + 1, "renew-1"));
    assertThat(renewed).isNotNull();
    assertThat(grantKey()).isEqualTo("renew-1").isNotEqualTo(first);
    assertThat(await(c.inspect()).grant()).isEqualTo("renew-1");
    // A retry with the bytes before that renew: renewed, and another grant again.
    assertThat(await(c.renew(rec, 10_000, NOW + 2, "renew-2"))).isNotNull();
    assertThat(grantKey()).isEqualTo("renew-2");

    // Refused renews leave the grant alone: another incarnation, another record, no record.
    String otherInc = new ElectionRecord("me", "127.0.0.1:1", "00000000000000aa", parse(rec).epoch(), 10_000, NOW, NOW,
        parse(rec).transitions()).encode();
    assertThat(await(c.renew(otherInc, 10_000, NOW + 3, "refused-1"))).isNull();
    assertThat(grantKey()).isEqualTo("renew-2");
    cmd("SET", KEYS.leader(), "garbage", "PX", "10000");
    assertThat(await(c.renew(rec, 10_000, NOW + 3, "refused-2"))).isNull();
    assertThat(grantKey()).isEqualTo("renew-2");
    cmd("DEL", KEYS.leader());
    assertThat(await(c.renew(rec, 10_000, NOW + 3, "refused-3"))).isNull();
    assertThat(grantKey()).isEqualTo("renew-2");
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void aCleanResignReleasesTheCurrentGrantANotCleanOneForgetsItAndAWinDeletesIt(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity me = Identity.create("me", "127.0.0.1:1");
    String rec = win(c, me, 10_000, NOW, 0);
    String renewed = await(c.renew(rec, 10_000, NOW + 1, "renewed"));

    // A refused resign (the bytes before the renew: not ours any more) touches nothing.
    cmd("SET", KEYS.released(), "earlier");
    String before = snapshot();
    assertThat(await(c.resign(rec, "no", true))).isFalse();
    assertThat(snapshot()).isEqualTo(before);

    // Clean: released := the current grant (the renew's, not the campaign's); the grant stays.
    assertThat(await(c.resign(renewed, "bye", true))).isTrue();
    assertThat(cmd("EXISTS", KEYS.leader())).isEqualTo("0");
    assertThat(cmd("GET", KEYS.released())).isEqualTo("renewed");
    assertThat(grantKey()).isEqualTo("renewed");
    Observation o = await(c.inspect());
    assertThat(o.released()).isEqualTo(o.grant()).isEqualTo("renewed");

    // A win deletes it.
    String rec2 = win(c, me, 10_000, NOW + 2, 0);
    assertThat(cmd("EXISTS", KEYS.released())).isEqualTo("0");
    assertThat(await(c.inspect()).released()).isEmpty();
    String g2 = grantKey();

    // Not clean: released deleted, whatever was there; the grant stays.
    cmd("SET", KEYS.released(), g2);
    assertThat(await(c.resign(rec2, "bye", false))).isTrue();
    assertThat(cmd("EXISTS", KEYS.released())).isEqualTo("0");
    assertThat(grantKey()).isEqualTo(g2);

    // Clean, but no grant to release (lost): nothing is marked released.
    String rec3 = win(c, me, 10_000, NOW + 3, 0);
    cmd("SET", KEYS.released(), "stale");
    cmd("DEL", KEYS.grant());
    assertThat(await(c.resign(rec3, "bye", true))).isTrue();
    assertThat(cmd("EXISTS", KEYS.released())).isEqualTo("0");

    // A takeover deletes it too, and sets its grant.
    cmd("SET", KEYS.released(), "stale");
    cmd("SET", KEYS.leader(), "stuck");
    Observation stuck = await(c.inspect());
    Campaign t = await(c.takeover(stuck, me, 10_000, NOW + 4, 0, "taken"));
    assertThat(t).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("won");
    assertThat(cmd("EXISTS", KEYS.released())).isEqualTo("0");
    assertThat(grantKey()).isEqualTo("taken");
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void theCallersClockIsAFloorForTheEpochAndTheCounterGoesOnBelowIt(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity me = Identity.create("me", "127.0.0.1:1");
    // A fresh Redis: the epoch is the caller's clock, and the counter is set to it.
    assertThat(parse(win(c, me, 10_000, NOW, 0)).epoch()).isEqualTo(NOW);
    assertThat(cmd("GET", KEYS.epoch())).isEqualTo(Long.toString(NOW));
    // The same millisecond again, then a clock behind: the counter goes on.
    cmd("DEL", KEYS.leader());
    assertThat(parse(win(c, me, 10_000, NOW, 0)).epoch()).isEqualTo(NOW + 1);
    cmd("DEL", KEYS.leader());
    assertThat(parse(win(c, me, 10_000, NOW - 60_000, 0)).epoch()).isEqualTo(NOW + 2);
    assertThat(cmd("GET", KEYS.epoch())).isEqualTo(Long.toString(NOW + 2));
    // A clock ahead: the epoch jumps to it.
    cmd("DEL", KEYS.leader());
    assertThat(parse(win(c, me, 10_000, NOW + 10_000, 0)).epoch()).isEqualTo(NOW + 10_000);
    // The limit's epoch, then the minimum given, above the clock: above them.
    cmd("DEL", KEYS.leader());
    cmd("SET", KEYS.limit(), "bound=5;epoch=" + (NOW + 50_000));
    assertThat(parse(win(c, me, 10_000, NOW + 10_001, 0)).epoch()).isEqualTo(NOW + 50_001);
    cmd("DEL", KEYS.leader());
    assertThat(parse(win(c, me, 10_000, NOW + 10_002, NOW + 90_000)).epoch()).isEqualTo(NOW + 90_001);
    // Counter and limit lost (Redis restarted empty, say): the clock still puts the epoch above.
    cmd("DEL", KEYS.leader(), KEYS.epoch(), KEYS.limit());
    assertThat(parse(win(c, me, 10_000, NOW + 100_000, 0)).epoch()).isEqualTo(NOW + 100_000);
    // Takeover has the same floor.
    cmd("SET", KEYS.leader(), "junk");
    Campaign t = takeover(c, await(c.inspect()), me, 10_000, NOW + 200_000, 0);
    assertThat(parse(t.record()).epoch()).isEqualTo(NOW + 200_000);
    assertThat(cmd("GET", KEYS.epoch())).isEqualTo(Long.toString(NOW + 200_000));
  }

  /**
   * A campaign with expected bytes refused for a corrupt limit writes nothing, as every other
   * refusal (and takeover): a script's writes are not rolled back by its return value, so the
   * limit is checked before the record is deleted.
   */
  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("binaries")
  void aCampaignWithExpectedBytesRefusedForACorruptLimitLeavesTheRecord(Path binary) throws Exception {
    RedisCoordinator c = start(binary);
    Identity a = Identity.create("a", "127.0.0.1:1");
    String ra = win(c, a, 60_000, NOW, 0);
    cmd("SET", KEYS.limit(), "garbage");
    Observation seen = await(c.inspect());
    assertThat(seen.limitCorrupt()).isTrue();
    String before = snapshot();
    assertThat(await(c.campaign(Identity.create("b", "127.0.0.1:2"), 10_000, NOW, 0, seen, newGrant(),
        seen.value()))).extracting(RedisScriptsTest::campaignOutcome).isEqualTo("limit_corrupt");
    assertThat(cmd("GET", KEYS.leader())).isEqualTo(ra);
    assertThat(snapshot()).isEqualTo(before);
  }
}
