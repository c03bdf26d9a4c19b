package tso.election;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import java.util.stream.Stream;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import io.vertx.core.json.JsonObject;
import io.vertx.redis.client.RedisOptions;
import tso.config.Config;
import tso.config.Setting;
import tso.server.RedisConnection;
import tso.support.Certs;
import tso.support.History;
import tso.support.InProcessNode;
import tso.support.Load;
import tso.support.LocalCluster;
import tso.support.NodeProcess;
import tso.support.Ports;
import tso.support.RedisServer;

/**
 * Redis over TLS only, the nodes logged in as a user that has {@link RedisAcl#RULE} and nothing
 * more, its password from TSO_REDIS_PASSWORD_FILE: election, fenced bound writes, takeover and
 * handover all work, and Redis records no denial. A user short of the rule leaves the node not
 * ready with one clear line; no password ever shows in a log. Skipped when the redis-server found
 * has no TLS.
 */
@Timeout(value = 120, unit = SECONDS)
class RedisTlsAclTest {

  static final long TTL = 2000;

  @TempDir
  static Path certs;
  static Certs.Ca ca;
  static Certs.Leaf server;
  static Certs.Leaf client;

  @TempDir
  Path dir;
  RedisServer redis;
  final List<NodeProcess> nodes = new ArrayList<>();
  final History history = new History();
  final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

  @BeforeAll
  static void certificates() throws Exception {
    ca = Certs.ca(certs, "redis");
    server = ca.server(certs, "redis", "127.0.0.1", "localhost");
    client = ca.client(certs, "tso-client", "tso");
  }

  @AfterEach
  void stop() throws Exception {
    for (NodeProcess n : nodes) {
      n.close();
    }
    if (redis != null) {
      redis.close();
    }
  }

  static Stream<Path> binaries() {
    return Stream.of(RedisServer.binary(), RedisServer.binaryFromJar()).distinct();
  }

  /** TLS only, with the CA above; {@code authClients} yes or optional. Skips the test when the binary has no TLS. */
  static RedisServer startTls(Path binary, Certs.Leaf serverCert, String authClients) {
    try {
      return RedisServer.startTls(binary, new RedisServer.Tls(serverCert.cert(), serverCert.key(), ca.cert, authClients,
          client.cert(), client.key()));
    } catch (RedisServer.TlsUnsupportedException e) {
      Assumptions.abort("redis-server " + binary + " has no TLS, so Redis over TLS is not tested: " + e.getMessage());
      throw e;
    }
  }

  private Path passwordFile(String password) throws Exception {
    Path f = Files.createTempFile(dir, "redis-password-", "");
    Files.writeString(f, password + "\n");
    return f;
  }

  private NodeProcess node(String cluster, String url, Path passwordFile, boolean clientCert) throws Exception {
    List<String> flags = new ArrayList<>(List.of("--redis-url", url, "--redis-ca", ca.cert.toString(),
        "--lease-ttl-ms", Long.toString(TTL), "--cluster", cluster,
        "--data-dir", dir.resolve("n" + nodes.size()).toString()));
    if (passwordFile != null) {
      flags.addAll(List.of("--redis-password-file", passwordFile.toString()));
    }
    if (clientCert) {
      flags.addAll(List.of("--redis-cert", client.cert().toString(), "--redis-key", client.key().toString()));
    }
    NodeProcess n = NodeProcess.start(dir, Ports.free(), flags.toArray(String[]::new));
    nodes.add(n);
    return n;
  }

  private JsonObject leaderInfo(NodeProcess n) {
    try {
      return new JsonObject(http.send(HttpRequest.newBuilder(URI.create(n.url() + "/v1/leader"))
          .timeout(Duration.ofMillis(500)).build(), HttpResponse.BodyHandlers.ofString()).body());
    } catch (Exception e) {
      return new JsonObject();
    }
  }

  private boolean ready(NodeProcess n) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create(n.url() + "/health/ready")).timeout(Duration.ofMillis(500))
          .build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
    } catch (Exception e) {
      return false;
    }
  }

  private NodeProcess leader(List<NodeProcess> among) {
    await().atMost(Duration.ofSeconds(15)).until(() -> among.stream()
        .anyMatch(n -> "leader".equals(leaderInfo(n).getString("role")) && ready(n)));
    return among.stream().filter(n -> "leader".equals(leaderInfo(n).getString("role"))).findFirst().orElseThrow();
  }

  private static long epoch(JsonObject info) {
    return Long.parseLong(info.getString("epoch"));
  }

  /** Every connection but this test's own is logged in as {@code user}. */
  private void assertAllClientsAre(String user) {
    List<String> others = redis.command("CLIENT", "LIST").lines().filter(l -> !l.contains("cmd=client")).toList();
    assertThat(others).as("the nodes' connections").isNotEmpty().allSatisfy(l -> assertThat(l).contains(" user=" + user + " "));
  }

  private void assertNoSecrets(String... secrets) {
    for (NodeProcess n : nodes) {
      String out = n.output();
      for (String s : secrets) {
        assertThat(out).as("log of node on port %d", n.port).doesNotContain(s);
      }
    }
  }

  /** Every log record of this JVM (in-process nodes, Vert.x, Netty) while open, formatted. */
  static final class Logs extends Handler implements AutoCloseable {
    final List<String> lines = new CopyOnWriteArrayList<>();
    private final SimpleFormatter formatter = new SimpleFormatter();

    Logs() {
      Logger.getLogger("").addHandler(this);
    }

    @Override
    public void publish(LogRecord r) {
      lines.add(r.getLevel() + " " + r.getLoggerName() + ": " + formatter.formatMessage(r)
          + (r.getThrown() == null ? "" : " " + r.getThrown()));
    }

    @Override
    public void flush() {
    }

    @Override
    public void close() {
      Logger.getLogger("").removeHandler(this);
    }
  }

  @Test
  void threeNodesOverTlsWithTheMinimalAclElectServeTakeOverAndHandOver() throws Exception {
    redis = startTls(RedisServer.binary(), server, "yes");
    String password = "file-" + UUID.randomUUID();
    String urlPassword = "url-" + UUID.randomUUID(); // wrong: the file's must win
    redis.aclUser("tso", password, RedisAcl.rules());
    Path file = passwordFile(password);
    String url = "rediss://tso:" + urlPassword + "@127.0.0.1:" + redis.port();
    for (int i = 0; i < 3; i++) {
      node("tls", url, file, true);
    }
    for (NodeProcess n : nodes) {
      n.awaitReady();
    }
    assertAllClientsAre("tso");

    // Takeover: the leader SIGKILLed under load, another serves after its lease.
    NodeProcess first = leader(nodes);
    long epoch1 = epoch(leaderInfo(first));
    List<NodeProcess> rest = nodes.stream().filter(n -> n != first).toList();
    try (Load load = Load.start(history, rest.stream().map(NodeProcess::url).toList(), 4)) {
      await().atMost(Duration.ofSeconds(15)).until(() -> load.successCount() > 300);
      long killed = System.nanoTime();
      first.kill9();
      await().atMost(Duration.ofMillis(TTL + 10_000)).until(() -> load.firstSuccessAfter(killed, epoch1) != Long.MAX_VALUE);
      System.out.printf("TLS + ACL: leader killed, a new one served after %d ms; errors %s%n",
          (load.firstSuccessAfter(killed, epoch1) - killed) / 1_000_000, load.errors());
    }

    // Handover: the new leader stopped gracefully resigns; the last node serves at once.
    NodeProcess second = leader(rest);
    long epoch2 = epoch(leaderInfo(second));
    assertThat(epoch2).isGreaterThan(epoch1);
    NodeProcess third = rest.stream().filter(n -> n != second).findFirst().orElseThrow();
    try (Load load = Load.start(history, List.of(third.url()), 2)) {
      await().atMost(Duration.ofSeconds(15)).until(() -> load.successCount() > 100);
      long term = System.nanoTime();
      second.term();
      await().atMost(Duration.ofSeconds(10)).until(() -> load.firstSuccessAfter(term, epoch2) != Long.MAX_VALUE);
      long ms = (load.firstSuccessAfter(term, epoch2) - term) / 1_000_000;
      System.out.printf("TLS + ACL: leader stopped (SIGTERM), the next one served after %d ms; errors %s%n", ms,
          load.errors());
      assertThat(second.awaitExit(30)).isZero();
      assertThat(ms).as(() -> "handover by resign notice, not by the lease running out\n--- stopped leader:\n"
          + second.output() + "--- next leader:\n" + third.output()).isLessThan(TTL);
    }
    history.check();
    assertThat(history.size()).isGreaterThan(400);

    assertThat(redis.aclLog()).as("commands, keys or channels Redis refused the nodes").isEmpty();
    assertNoSecrets(password, urlPassword);
    assertThat(first.output() + second.output() + third.output()).contains("won the election").doesNotContain("NOPERM");
  }

  @Test
  void aUserShortOfTheRuleLeavesTheNodeNotReadyWithOneClearLine() throws Exception {
    redis = startTls(RedisServer.binary(), server, "optional");
    String password = "file-" + UUID.randomUUID();
    redis.aclUser("noeval", password, List.of(RedisAcl.RULE.replace(" +evalsha +eval", "")));
    redis.aclUser("nosub", password, List.of(RedisAcl.RULE.replace(" +subscribe", "")));
    Path file = passwordFile(password);
    String wrongPassword = "wrong-" + UUID.randomUUID();
    Path wrong = passwordFile(wrongPassword);
    String at = "@127.0.0.1:" + redis.port();
    NodeProcess noEval = node("noeval", "rediss://noeval" + at, file, false);
    NodeProcess noSub = node("nosub", "rediss://nosub" + at, file, false);
    NodeProcess wrongPw = node("wrongpw", "rediss://nosub" + at, wrong, false);

    // Seen for a few seconds: the election's scripts refused, the node is never ready.
    for (var expect : Map.of(noEval, "NOPERM", wrongPw, "WRONGPASS", noSub, "NOPERM").entrySet()) {
      await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(expect.getKey().output())
          .contains(expect.getValue()));
    }
    long until = System.nanoTime() + SECONDS.toNanos(4);
    while (System.nanoTime() < until) {
      assertThat(ready(noEval)).as("a node whose user may not run the scripts is not ready").isFalse();
      assertThat(ready(wrongPw)).as("a node with the wrong password is not ready").isFalse();
      Thread.sleep(100);
    }
    List<String> refused = rateLimited(noEval, "NOPERM");
    assertThat(refused.get(0)).containsAnyOf("SEVERE", "ERROR").contains("evalsha").contains(RedisAcl.RULE);
    rateLimited(wrongPw, "WRONGPASS");

    // Without SUBSCRIBE a node still serves (followers find a handover at their next poll), but says why
    // handovers are slower.
    noSub.awaitReady();
    List<String> noNotices = rateLimited(noSub, "NOPERM");
    assertThat(noNotices.get(0)).contains("SUBSCRIBE").contains("{tso:nosub}:events").contains(RedisAcl.RULE);

    assertNoSecrets(password, wrongPassword);
  }

  /**
   * The node's lines that contain {@code text}: at least one, and one per 10 s at most though the
   * fault repeats every poll (a line starts with its time).
   */
  private static List<String> rateLimited(NodeProcess n, String text) {
    List<String> lines = n.output().lines().filter(l -> l.contains(text)).toList();
    assertThat(lines).as(n.output()).isNotEmpty();
    for (int i = 1; i < lines.size(); i++) {
      Duration gap = Duration.between(Instant.parse(lines.get(i - 1).split(" ")[0]), Instant.parse(lines.get(i).split(" ")[0]));
      assertThat(gap).as("rate-limited: %s", lines).isGreaterThanOrEqualTo(Duration.ofMillis(9_900));
    }
    return lines;
  }

  @ParameterizedTest
  @MethodSource("binaries")
  void theRuleWorksOnRedis62And7WithThePasswordInTheUrl(Path binary) throws Exception {
    redis = startTls(binary, server, "optional");
    String password = "url-" + UUID.randomUUID();
    redis.aclUser("tso", password, RedisAcl.rules());
    // No client certificate, a DNS name checked against the certificate, the password in the URL.
    String url = "rediss://tso:" + password + "@localhost:" + redis.port();
    try (Logs logs = new Logs();
        LocalCluster c = LocalCluster.start(dir, 1, TTL, i -> url, Map.of(Setting.REDIS_CA, ca.cert.toString()))) {
      InProcessNode leader = c.awaitLeader(Duration.ofSeconds(15));
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(leader.url() + "/v1/timestamps"))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
      assertAllClientsAre("tso");
      c.close(); // resigns: PUBLISH from the script
      assertThat(logs.lines).isNotEmpty().noneMatch(l -> l.contains(password));
    }
    assertThat(redis.aclLog()).as("refused on Redis %s", redis.version()).isEmpty();
  }

  @Test
  void aCertificateThatDoesNotNameTheHostIsRefused() throws Exception {
    Certs.Leaf otherName = ca.server(certs, "redis-elsewhere", "redis.example");
    redis = startTls(RedisServer.binary(), otherName, "optional");
    String password = "url-" + UUID.randomUUID();
    redis.aclUser("tso", password, RedisAcl.rules());
    String url = "rediss://tso:" + password + "@127.0.0.1:" + redis.port();
    try (Logs logs = new Logs();
        LocalCluster c = LocalCluster.start(dir, 1, TTL, i -> url, Map.of(Setting.REDIS_CA, ca.cert.toString()))) {
      long until = System.nanoTime() + SECONDS.toNanos(10);
      while (logs.lines.stream().noneMatch(l -> l.contains("reading the election key failed"))) {
        assertThat(System.nanoTime()).as("a line saying why: %s", logs.lines).isLessThan(until);
        assertThat(c.nodes.get(0).node.view().ready()).as("connected to a Redis whose certificate names another host")
            .isFalse();
        Thread.sleep(100);
      }
      assertThat(c.nodes.get(0).node.view().ready()).isFalse();
      assertThat(logs.lines).anySatisfy(l -> assertThat(l).contains("reading the election key failed").contains("SSL")
          .contains("127.0.0.1"));
      assertThat(redis.command("CLIENT", "LIST").lines().filter(l -> !l.contains("cmd=client")).toList()).isEmpty();
      assertThat(logs.lines).noneMatch(l -> l.contains(password));
    }
  }

  @Test
  void aBadRedisUrlIsReportedWithItsPasswordMasked() throws Exception {
    String password = "url-" + UUID.randomUUID();
    NodeProcess bad = NodeProcess.start(dir, Ports.free(), "--redis-url", "rediss://tso:" + password + "@127.0.0.1:70000");
    nodes.add(bad);
    // Not percent-encoded: the client's URL parser would quote the whole URL in its error.
    String raw = "p w%zz-" + UUID.randomUUID();
    NodeProcess unencoded = NodeProcess.start(dir, Ports.free(), "--redis-url", "redis://tso:" + raw + "@127.0.0.1:"
        + Ports.free(), "--data-dir", dir.resolve("unencoded").toString());
    nodes.add(unencoded);
    assertThat(bad.awaitExit(30)).isEqualTo(2);
    assertThat(bad.output()).contains("redis-url").contains("***").doesNotContain(password);
    await().atMost(Duration.ofSeconds(30)).untilAsserted(() -> assertThat(unencoded.output())
        .contains("reading the election key failed"));
    assertThat(unencoded.process().isAlive()).as(unencoded.output()).isTrue();
    assertThat(unencoded.output()).doesNotContain(raw).doesNotContain("p w");
  }

  @Test
  void aBinaryWithoutTlsIsToldApartSoTheseTestsSkip() throws Exception {
    // What a redis-server built without TLS says to --tls-port.
    Path fake = dir.resolve("redis-server-without-tls");
    Files.writeString(fake, "#!/bin/sh\necho '*** FATAL CONFIG FILE ERROR (Redis 6.2.6) ***'\n"
        + "echo \">>> 'tls-port \\\"6380\\\"'\"\necho 'Bad directive or wrong number of arguments'\nexit 1\n");
    assertThat(fake.toFile().setExecutable(true)).isTrue();
    assertThatThrownBy(() -> RedisServer.startTls(fake,
            new RedisServer.Tls(server.cert(), server.key(), ca.cert, "yes", null, null)))
        .isInstanceOf(RedisServer.TlsUnsupportedException.class).hasMessageContaining("has no TLS");
  }

  private static RedisOptions options(String url, String passwordFile, String sentinelMaster) {
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(Setting.REDIS_URL, url);
    if (passwordFile != null) {
      flags.put(Setting.REDIS_PASSWORD_FILE, passwordFile);
    }
    if (sentinelMaster != null) {
      flags.put(Setting.REDIS_SENTINEL_MASTER, sentinelMaster);
    }
    if (url.startsWith("rediss://")) {
      flags.put(Setting.REDIS_CA, ca.cert.toString());
    }
    return RedisConnection.options(Config.resolve(flags, Map.of()));
  }

  @Test
  void theUserComesFromTheUrlAndThePasswordFromTheFileWhenThereIsOne() throws Exception {
    Path file = passwordFile("from-file");
    RedisOptions both = options("rediss://tso:from%2Furl@127.0.0.1:6380/2", file.toString(), null);
    assertThat(both.getEndpoints()).containsExactly("rediss://127.0.0.1:6380/2");
    assertThat(both.getUser()).isEqualTo("tso");
    assertThat(both.getPassword()).isEqualTo("from-file");
    assertThat(both.getNetClientOptions().isSsl()).isTrue();
    assertThat(both.getNetClientOptions().getHostnameVerificationAlgorithm()).isEqualTo("HTTPS");

    RedisOptions urlOnly = options("redis://tso:from%2Furl@127.0.0.1:6380", null, null);
    assertThat(urlOnly.getEndpoints()).containsExactly("redis://127.0.0.1:6380");
    assertThat(urlOnly.getUser()).isEqualTo("tso");
    assertThat(urlOnly.getPassword()).isEqualTo("from/url");
    assertThat(urlOnly.getNetClientOptions().isSsl()).isFalse();

    RedisOptions defaultUser = options("redis://:secret@127.0.0.1", null, null);
    assertThat(defaultUser.getUser()).isNull();
    assertThat(defaultUser.getPassword()).isEqualTo("secret");

    RedisOptions fileOnly = options("redis://127.0.0.1:6379", file.toString(), null);
    assertThat(fileOnly.getUser()).isNull();
    assertThat(fileOnly.getPassword()).isEqualTo("from-file");

    RedisOptions sentinels = options("redis://tso@127.0.0.1:26379, redis://127.0.0.1:26380", file.toString(), "m");
    assertThat(sentinels.getEndpoints()).containsExactly("redis://127.0.0.1:26379", "redis://127.0.0.1:26380");
    assertThat(sentinels.getUser()).isEqualTo("tso");
    assertThat(sentinels.getPassword()).isEqualTo("from-file");
    assertThat(sentinels.getMasterName()).isEqualTo("m");
  }
}
