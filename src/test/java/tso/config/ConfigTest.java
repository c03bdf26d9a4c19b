package tso.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import java.util.function.ToLongFunction;
import java.util.stream.Stream;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

@Tag("unit")
class ConfigTest {

  private static final Map<Setting, String> NO_FLAGS = Map.of();
  private static final Map<String, String> NO_ENV = Map.of();

  private static Config fromEnv(String... kv) {
    return Config.resolve(NO_FLAGS, env(kv));
  }

  private static Map<String, String> env(String... kv) {
    Map<String, String> m = new HashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  private static Map<Setting, String> flag(Setting s, String v) {
    Map<Setting, String> m = new EnumMap<>(Setting.class);
    m.put(s, v);
    return m;
  }

  private static ConfigException failsWithEnv(Setting s, String value) {
    ConfigException e = catchThrowableOfType(ConfigException.class, () -> Config.resolve(NO_FLAGS, env(s.env, value)));
    assertThat(e).as("%s=%s should be refused", s.env, value).isNotNull();
    assertOneLine(e);
    assertThat(e.getMessage()).contains(s.env).doesNotContain(s.flag);
    return e;
  }

  private static ConfigException failsWithFlag(Setting s, String value) {
    ConfigException e = catchThrowableOfType(ConfigException.class, () -> Config.resolve(flag(s, value), NO_ENV));
    assertThat(e).as("%s %s should be refused", s.flag, value).isNotNull();
    assertOneLine(e);
    assertThat(e.getMessage()).contains(s.flag).doesNotContain(s.env);
    return e;
  }

  private static void assertOneLine(ConfigException e) {
    assertThat(e.getMessage()).isNotBlank().doesNotContain("\n").doesNotContain("\r");
  }

  // ---------------------------------------------------------------- defaults and sources

  @Test
  void defaults() {
    Config c = Config.resolve(NO_FLAGS, NO_ENV);
    assertThat(c.port()).isEqualTo(8080);
    assertThat(c.host()).isEqualTo("0.0.0.0");
    assertThat(c.cluster()).isEqualTo("default");
    assertThat(c.dataDir()).isEqualTo(Path.of("./data"));
    assertThat(c.leaseTtlMs()).isEqualTo(2000);
    assertThat(c.followerMode()).isEqualTo(Config.FollowerMode.FORWARD);
    assertThat(c.maxCount()).isEqualTo(65536);
    assertThat(c.windowMs()).isEqualTo(3000);
    assertThat(c.queueLimit()).isEqualTo(65536);
    assertThat(c.requestTimeoutMs()).isEqualTo(2000);
    assertThat(c.shutdownGraceMs()).isEqualTo(10_000);
    assertThat(c.warmupMs()).isEqualTo(5000);
    assertThat(c.noopEndpoint()).isFalse();
    assertThat(c.clockOffsetMs()).isZero();
    assertThat(c.eventLoops()).isEqualTo(Math.max(1, Runtime.getRuntime().availableProcessors() - 1));
    assertThat(c.redisUrl()).isNull();
    assertThat(c.standalone()).isTrue();
    assertThat(c.nodeId()).isNotBlank();
    assertThat(c.advertise()).endsWith(":8080").doesNotStartWith("0.0.0.0");
  }

  @Test
  void environmentValuesAreUsed() {
    Config c = fromEnv(
        "TSO_HOST", "127.0.0.1",
        "TSO_PORT", "9090",
        "TSO_NODE_ID", "node-1",
        "TSO_ADVERTISE", "tso-1.internal:9090",
        "TSO_REDIS_URL", "redis://redis.internal:6379/2",
        "TSO_CLUSTER", "prod.eu_1",
        "TSO_DATA_DIR", "/var/lib/tso",
        "TSO_LEASE_TTL_MS", "5000",
        "TSO_FOLLOWER_MODE", "redirect",
        "TSO_MAX_COUNT", "1000",
        "TSO_WINDOW_MS", "6000",
        "TSO_QUEUE_LIMIT", "100",
        "TSO_REQUEST_TIMEOUT_MS", "750",
        "TSO_EVENT_LOOPS", "3",
        "TSO_SHUTDOWN_GRACE_MS", "0",
        "TSO_CLOCK_OFFSET_MS", "-5000");
    assertThat(c.host()).isEqualTo("127.0.0.1");
    assertThat(c.port()).isEqualTo(9090);
    assertThat(c.nodeId()).isEqualTo("node-1");
    assertThat(c.advertise()).isEqualTo("tso-1.internal:9090");
    assertThat(c.redisUrl()).isEqualTo("redis://redis.internal:6379/2");
    assertThat(c.standalone()).isFalse();
    assertThat(c.cluster()).isEqualTo("prod.eu_1");
    assertThat(c.dataDir()).isEqualTo(Path.of("/var/lib/tso"));
    assertThat(c.leaseTtlMs()).isEqualTo(5000);
    assertThat(c.followerMode()).isEqualTo(Config.FollowerMode.REDIRECT);
    assertThat(c.maxCount()).isEqualTo(1000);
    assertThat(c.windowMs()).isEqualTo(6000);
    assertThat(c.queueLimit()).isEqualTo(100);
    assertThat(c.requestTimeoutMs()).isEqualTo(750);
    assertThat(c.eventLoops()).isEqualTo(3);
    assertThat(c.shutdownGraceMs()).isZero();
    assertThat(c.clockOffsetMs()).isEqualTo(-5000);
  }

  @Test
  void advertiseDefaultsToAConcreteHostAndThePort() {
    assertThat(fromEnv("TSO_HOST", "10.1.2.3", "TSO_PORT", "7000").advertise()).isEqualTo("10.1.2.3:7000");
  }

  @Test
  void flagWinsOverEnvironment() {
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(Setting.PORT, "9000");
    flags.put(Setting.FOLLOWER_MODE, "redirect");
    flags.put(Setting.DATA_DIR, "/flag/dir");
    Config c = Config.resolve(flags, env("TSO_PORT", "9001", "TSO_FOLLOWER_MODE", "forward",
        "TSO_DATA_DIR", "/env/dir", "TSO_CLUSTER", "from-env"));
    assertThat(c.port()).isEqualTo(9000);
    assertThat(c.followerMode()).isEqualTo(Config.FollowerMode.REDIRECT);
    assertThat(c.dataDir()).isEqualTo(Path.of("/flag/dir"));
    assertThat(c.cluster()).isEqualTo("from-env"); // no flag: the variable still counts
  }

  @Test
  void aValidFlagHidesABadVariable() {
    Config c = Config.resolve(flag(Setting.PORT, "9000"), env("TSO_PORT", "not-a-port"));
    assertThat(c.port()).isEqualTo(9000);
  }

  @Test
  void aBadFlagIsReportedByItsFlagNameEvenWhenTheVariableIsValid() {
    ConfigException e = catchThrowableOfType(ConfigException.class,
        () -> Config.resolve(flag(Setting.PORT, "0"), env("TSO_PORT", "9000")));
    assertThat(e).isNotNull();
    assertThat(e.getMessage()).contains("--port").contains("'0'").doesNotContain("TSO_PORT");
  }

  @ParameterizedTest
  @ValueSource(strings = {"TSO_PORT", "TSO_CLUSTER", "TSO_FOLLOWER_MODE", "TSO_DATA_DIR", "TSO_MAX_COUNT",
      "TSO_WINDOW_MS", "TSO_LEASE_TTL_MS", "TSO_REDIS_URL", "TSO_NODE_ID", "TSO_ADVERTISE", "TSO_EVENT_LOOPS",
      "TSO_HOST", "TSO_CLOCK_OFFSET_MS"})
  void emptyVariableCountsAsUnset(String name) {
    assertThat(fromEnv(name, "")).isEqualTo(Config.resolve(NO_FLAGS, NO_ENV));
  }

  @Test
  void anEmptyFlagIsAValueNotAnAbsence() {
    ConfigException e = failsWithFlag(Setting.PORT, "");
    assertThat(e.getMessage()).contains("''");
  }

  // ---------------------------------------------------------------- numbers

  record Numeric(Setting setting, long min, long max, ToLongFunction<Config> read) {
    @Override
    public String toString() {
      return setting.name();
    }
  }

  static Stream<Numeric> numerics() {
    return Stream.of(
        new Numeric(Setting.PORT, 1, 65535, Config::port),
        new Numeric(Setting.LEASE_TTL_MS, 100, 600_000, Config::leaseTtlMs),
        new Numeric(Setting.MAX_COUNT, 1, 262_144, Config::maxCount),
        new Numeric(Setting.WINDOW_MS, 30, 3_600_000, Config::windowMs),
        new Numeric(Setting.QUEUE_LIMIT, 1, 10_000_000, Config::queueLimit),
        new Numeric(Setting.REQUEST_TIMEOUT_MS, 1, 600_000, Config::requestTimeoutMs),
        new Numeric(Setting.EVENT_LOOPS, 1, 1024, Config::eventLoops),
        new Numeric(Setting.SHUTDOWN_GRACE_MS, 0, 600_000, Config::shutdownGraceMs),
        new Numeric(Setting.WARMUP_MS, 0, 60_000, Config::warmupMs),
        new Numeric(Setting.CLOCK_OFFSET_MS, -3_153_600_000_000L, 3_153_600_000_000L, Config::clockOffsetMs));
  }

  static Stream<Arguments> numericsWithBadValues() {
    return numerics().flatMap(n -> Stream.of(
        Arguments.of(n, "abc"),
        Arguments.of(n, "12x"),
        Arguments.of(n, "1.5"),
        Arguments.of(n, "0x10"),
        Arguments.of(n, "99999999999999999999999"),
        Arguments.of(n, Long.toString(n.min() - 1)),
        Arguments.of(n, Long.toString(n.max() + 1))));
  }

  @ParameterizedTest(name = "{0}={1}")
  @MethodSource("numericsWithBadValues")
  void badNumberFromEnvironmentNamesVariableValueAndRange(Numeric n, String value) {
    ConfigException e = failsWithEnv(n.setting(), value);
    assertThat(e.getMessage())
        .contains("'" + value + "'")
        .contains(Long.toString(n.min()))
        .contains(Long.toString(n.max()));
  }

  @ParameterizedTest(name = "{0}={1}")
  @MethodSource("numericsWithBadValues")
  void badNumberFromFlagNamesFlagValueAndRange(Numeric n, String value) {
    ConfigException e = failsWithFlag(n.setting(), value);
    assertThat(e.getMessage())
        .contains("'" + value + "'")
        .contains(Long.toString(n.min()))
        .contains(Long.toString(n.max()));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("numerics")
  void rangeEndsAreAccepted(Numeric n) {
    assertThat(n.read().applyAsLong(fromEnv(n.setting().env, Long.toString(n.min())))).isEqualTo(n.min());
    assertThat(n.read().applyAsLong(fromEnv(n.setting().env, Long.toString(n.max())))).isEqualTo(n.max());
    assertThat(n.read().applyAsLong(Config.resolve(flag(n.setting(), Long.toString(n.max())), NO_ENV)))
        .isEqualTo(n.max());
  }

  @Test
  void aValueWithANewlineStillGivesAOneLineMessage() {
    failsWithEnv(Setting.PORT, "80\n80");
  }

  // ---------------------------------------------------------------- other settings

  @ParameterizedTest
  @ValueSource(strings = {"sideways", "FORWARDS", "forward ", " redirect", "forward,redirect"})
  void badFollowerMode(String value) {
    assertThat(failsWithEnv(Setting.FOLLOWER_MODE, value).getMessage())
        .contains("'" + value + "'").contains("forward").contains("redirect");
    assertThat(failsWithFlag(Setting.FOLLOWER_MODE, value).getMessage()).contains("'" + value + "'");
  }

  @ParameterizedTest
  @ValueSource(strings = {"my cluster", "a/b", "a:b", "ümlaut", "{x}",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})
  void badClusterName(String value) {
    assertThat(failsWithEnv(Setting.CLUSTER, value).getMessage()).contains("'" + value + "'").contains("64");
    assertThat(failsWithFlag(Setting.CLUSTER, value).getMessage()).contains("'" + value + "'");
  }

  @Test
  void clusterNameOfSixtyFourCharactersIsAccepted() {
    String name = "a".repeat(64);
    assertThat(fromEnv("TSO_CLUSTER", name).cluster()).isEqualTo(name);
  }

  @ParameterizedTest
  @ValueSource(strings = {"nohost", "host:", ":8080", "host:port", "http://host:80", "host:123456", "a b:80",
      "host:80/path", "[::1]", "::1:8080"})
  void badAdvertise(String value) {
    assertThat(failsWithEnv(Setting.ADVERTISE, value).getMessage()).contains("'" + value + "'").contains("host:port");
    assertThat(failsWithFlag(Setting.ADVERTISE, value).getMessage()).contains("'" + value + "'");
  }

  @ParameterizedTest
  @ValueSource(strings = {"node1:8080", "10.0.0.1:1", "[::1]:8080", "tso-2.svc.cluster.local:65535"})
  void goodAdvertise(String value) {
    assertThat(fromEnv("TSO_ADVERTISE", value).advertise()).isEqualTo(value);
  }

  @ParameterizedTest
  @ValueSource(strings = {"host:0", "host:65536", "host:99999"})
  void advertisePortOutOfRange(String value) {
    failsWithEnv(Setting.ADVERTISE, value);
  }

  static Stream<String> badNodeIds() {
    return Stream.of("has space", "a/b", "nöde", "x@y", "n".repeat(129));
  }

  @ParameterizedTest
  @MethodSource("badNodeIds")
  void badNodeId(String value) {
    assertThat(failsWithEnv(Setting.NODE_ID, value).getMessage()).contains("'" + value + "'").contains("128");
    assertThat(failsWithFlag(Setting.NODE_ID, value).getMessage()).contains("'" + value + "'");
  }

  @Test
  void nodeIdOf128CharactersIsAccepted() {
    String id = "n".repeat(128);
    assertThat(fromEnv("TSO_NODE_ID", id).nodeId()).isEqualTo(id);
  }

  @ParameterizedTest
  @ValueSource(strings = {"http://host:6379", "tcp://host:6379", "host:6379", "redis://", "redis:///0",
      "redis://host:6379/abc", "redis://host:6379/0/1", "not a url", "redis://ho st:6379"})
  void badRedisUrl(String value) {
    assertThat(failsWithEnv(Setting.REDIS_URL, value).getMessage()).contains("'" + value + "'").contains("redis://");
    assertThat(failsWithFlag(Setting.REDIS_URL, value).getMessage()).contains("'" + value + "'");
  }

  @ParameterizedTest
  @ValueSource(strings = {"redis://localhost:6379", "redis://localhost", "rediss://:pw@cache.example.com:6380/2",
      "redis://user:pw@10.0.0.5:6379/0", "redis://[::1]:6379"})
  void goodRedisUrl(String value) {
    Config c = fromEnv("TSO_REDIS_URL", value);
    assertThat(c.redisUrl()).isEqualTo(value);
    assertThat(c.standalone()).isFalse();
  }

  /** Each is refused; the password is always the text between the "s3" and "PW" markers. */
  @ParameterizedTest
  @ValueSource(strings = {
      "http://:s3cretPW@host:6379",
      "redis://:s3cretPW@",
      "redis://user:s3cretPW@host:6379/db",
      "redis://:s3cretPW@host:6379/0 x",
      "tcp://admin:s3cretPW@host",
      "redis://:s3cr#etPW@host:0",
      "redis://:s3cr?etPW@host:99999"})
  void passwordNeverShownForBadRedisUrl(String value) {
    String fromEnv = failsWithEnv(Setting.REDIS_URL, value).getMessage();
    String fromFlag = failsWithFlag(Setting.REDIS_URL, value).getMessage();
    for (String m : new String[] {fromEnv, fromFlag}) {
      assertThat(m).doesNotContain("s3").doesNotContain("PW").doesNotContain("etPW");
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"redis://:s3cr/etPW@host:99999", "redis://:s3cr@etPW@host:99999",
      "redis://user:s3Ab+/cdPW@host:99999/0"})
  void passwordWithSlashOrAtNeverShown(String value) {
    String m = failsWithEnv(Setting.REDIS_URL, value).getMessage();
    assertThat(m).doesNotContain("s3").doesNotContain("PW");
  }

  @Test
  void redactionHidesUserAndPassword() {
    assertThat(Config.redacted("redis://user:pw@host:6379/0")).isEqualTo("redis://***@host:6379/0");
    assertThat(Config.redacted("redis://host:6379")).isEqualTo("redis://host:6379");
  }

  @Test
  void badDataDir() {
    ConfigException e = failsWithEnv(Setting.DATA_DIR, "bad\0dir");
    assertThat(e.getMessage()).contains("bad");
  }
}
