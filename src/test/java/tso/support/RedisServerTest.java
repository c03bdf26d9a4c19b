package tso.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A real redis-server: start, kill, pause, restart, garbage. Runs against every binary there is:
 * the one {@link RedisServer#binary()} picks (PATH, 7.x on Debian 12) and the embedded-redis
 * jar's (6.2), so the fallback is exercised on every run.
 */
@Tag("integration")
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class RedisServerTest {

  static Stream<Path> binaries() {
    return Stream.of(RedisServer.binary(), RedisServer.binaryFromJar()).distinct();
  }

  @ParameterizedTest
  @MethodSource("binaries")
  void startsOnAFreePortAndAnswersPing(Path binary) {
    try (RedisServer redis = RedisServer.start(binary, 0)) {
      assertThat(redis.command("PING")).isEqualTo("PONG");
      assertThat(redis.url()).isEqualTo("redis://127.0.0.1:" + redis.port());
      assertThat(redis.version()).matches("\\d+\\.\\d+\\.\\d+");
      // The flags it was started with: no persistence, loopback only.
      assertThat(redis.raw("CONFIG", "GET", "save").text()).isEqualTo("[save, ]");
      assertThat(redis.raw("CONFIG", "GET", "appendonly").text()).isEqualTo("[appendonly, no]");
      assertThat(redis.raw("CONFIG", "GET", "bind").text()).startsWith("[bind, 127.0.0.1");
    }
  }

  @Test
  void jarFallbackIsRedis62AndIsChosenByTheProperty() {
    String before = System.getProperty(RedisServer.FROM_JAR_PROPERTY);
    System.setProperty(RedisServer.FROM_JAR_PROPERTY, "true");
    try {
      assertThat(RedisServer.binary()).isEqualTo(RedisServer.binaryFromJar());
      assertThat(Files.isExecutable(RedisServer.binary())).isTrue();
      try (RedisServer redis = RedisServer.start()) {
        assertThat(redis.binaryPath()).isEqualTo(RedisServer.binaryFromJar());
        assertThat(redis.version()).startsWith("6.2.");
        assertThat(redis.command("SET", "k", "v")).isEqualTo("OK");
        assertThat(redis.command("GET", "k")).isEqualTo("v");
      }
    } finally {
      if (before == null) {
        System.clearProperty(RedisServer.FROM_JAR_PROPERTY);
      } else {
        System.setProperty(RedisServer.FROM_JAR_PROPERTY, before);
      }
    }
  }

  @Test
  void explicitPortAndExtraArguments() {
    int port = Ports.free();
    try (RedisServer redis = RedisServer.start(port, "--maxmemory", "10mb", "--databases", "2")) {
      assertThat(redis.port()).isEqualTo(port);
      assertThat(redis.raw("CONFIG", "GET", "maxmemory").text()).isEqualTo("[maxmemory, 10485760]");
      assertThat(redis.raw("SELECT", "2").isError()).isTrue();
    }
  }

  @Test
  void aTakenPortIsReportedAndLeavesNothingRunning() throws IOException {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      assertThatThrownBy(() -> RedisServer.start(taken.getLocalPort()))
          .hasMessageContaining("Address already in use");
    }
  }

  @ParameterizedTest
  @MethodSource("binaries")
  void testsCanWriteGarbageWrongTypesAndTtlLessValues(Path binary) {
    try (RedisServer redis = RedisServer.start(binary, 0)) {
      assertThat(redis.command("SET", "plain", "v")).isEqualTo("OK");
      assertThat(redis.command("PTTL", "plain")).isEqualTo("-1");
      assertThat(redis.command("SET", "ttl", "v", "PX", "60000")).isEqualTo("OK");
      assertThat(Long.parseLong(redis.command("PTTL", "ttl"))).isBetween(1L, 60_000L);
      assertThat(redis.command("PERSIST", "ttl")).isEqualTo("1");
      assertThat(redis.command("PTTL", "ttl")).isEqualTo("-1");
      assertThat(redis.command("PTTL", "missing")).isEqualTo("-2");

      assertThat(redis.command("HSET", "h", "f", "1")).isEqualTo("1");
      assertThat(redis.command("LPUSH", "l", "a", "b")).isEqualTo("2");
      assertThat(redis.command("TYPE", "h")).isEqualTo("hash");
      assertThat(redis.command("TYPE", "l")).isEqualTo("list");
      Resp.Reply wrong = redis.raw("GET", "l");
      assertThat(wrong.isError()).isTrue();
      assertThat(wrong.text()).startsWith("WRONGTYPE");
      assertThatThrownBy(() -> redis.command("GET", "h"))
          .isInstanceOf(Resp.RedisError.class).hasMessageStartingWith("WRONGTYPE");
      assertThat(redis.raw("LRANGE", "l", "0", "-1").text()).isEqualTo("[b, a]");

      byte[] garbage = {0, (byte) 0xff, '\r', '\n', '$', '-', '1', (byte) 0x80};
      assertThat(redis.raw(Duration.ofSeconds(2), "SET".getBytes(StandardCharsets.UTF_8),
          "bin".getBytes(StandardCharsets.UTF_8), garbage).text())
          .isEqualTo("OK");
      Resp.Reply back = redis.raw(Duration.ofSeconds(2), "GET".getBytes(StandardCharsets.UTF_8),
          "bin".getBytes(StandardCharsets.UTF_8));
      assertThat(back).isInstanceOf(Resp.Bulk.class);
      assertThat(((Resp.Bulk) back).bytes()).containsExactly(garbage);

      assertThat(redis.command("DEL", "plain", "h", "missing")).isEqualTo("2");
      assertThat(redis.command("GET", "plain")).isNull();
      assertThat(redis.raw("GET", "plain").isNil()).isTrue();
    }
  }

  @ParameterizedTest
  @MethodSource("binaries")
  void kill9ThenRestartEmptyLosesDataAndAnswersAgain(Path binary) {
    try (RedisServer redis = RedisServer.start(binary, 0)) {
      int port = redis.port();
      long pid = redis.pid();
      redis.command("SET", "k", "v");
      redis.kill9();
      assertThat(redis.isAlive()).isFalse();
      assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
      assertThatThrownBy(() -> redis.command("PING")).isInstanceOf(UncheckedIOException.class);

      redis.restartEmpty();
      assertThat(redis.port()).isEqualTo(port);
      assertThat(redis.pid()).isNotEqualTo(pid);
      assertThat(redis.starts()).isEqualTo(2);
      assertThat(redis.command("GET", "k")).isNull();
      assertThat(redis.command("DBSIZE")).isEqualTo("0");

      // restartEmpty also kills a running one.
      redis.command("SET", "k", "v2");
      redis.restartEmpty();
      assertThat(redis.command("GET", "k")).isNull();
    }
  }

  @ParameterizedTest
  @MethodSource("binaries")
  void pauseMakesCommandsTimeOutAndResumeAnswersThem(Path binary) {
    try (RedisServer redis = RedisServer.start(binary, 0);
         Resp.Connection open = redis.connect()) {
      assertThat(open.call(Duration.ofSeconds(2), "PING").text()).isEqualTo("PONG");
      redis.pause();
      assertThat(redis.isPaused()).isTrue();

      // A new connection still connects (the kernel accepts it) but gets no answer.
      assertThatThrownBy(() -> redis.raw(Duration.ofMillis(200), "PING"))
          .isInstanceOf(UncheckedIOException.class)
          .hasCauseInstanceOf(SocketTimeoutException.class);
      // Nor does an open one; what was sent stays queued.
      open.send("SET", "during", "pause");
      assertThatThrownBy(() -> open.read(Duration.ofMillis(200)))
          .hasCauseInstanceOf(SocketTimeoutException.class);

      redis.resume();
      assertThat(redis.isPaused()).isFalse();
      assertThat(open.read(Duration.ofSeconds(2)).text()).isEqualTo("OK");
      assertThat(redis.command("GET", "during")).isEqualTo("pause");
    }
  }

  @Test
  void killAndCloseWorkWhilePaused() {
    RedisServer redis = RedisServer.start();
    long pid = redis.pid();
    redis.pause();
    redis.close();
    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
    assertThat(redis.isAlive()).isFalse();
  }

  @Test
  void stopIsGracefulAndCloseLeavesNothing() {
    RedisServer redis = RedisServer.start();
    long pid = redis.pid();
    redis.pause();
    redis.stop(); // resumes first, then SIGTERM
    assertThat(redis.isAlive()).isFalse();
    assertThat(redis.output()).contains("Received SIGTERM");
    assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)).isFalse();
    redis.close();
    assertThat(Files.exists(redis.log())).isFalse();
  }

  @Test
  void manyAtOnce() {
    List<RedisServer> servers = Stream.generate(() -> RedisServer.start()).limit(3).toList();
    try {
      assertThat(servers).extracting(RedisServer::port).doesNotHaveDuplicates();
      for (RedisServer s : servers) {
        s.command("SET", "port", Integer.toString(s.port()));
      }
      for (RedisServer s : servers) {
        assertThat(s.command("GET", "port")).isEqualTo(Integer.toString(s.port()));
      }
    } finally {
      servers.forEach(RedisServer::close);
    }
  }
}
