package tso.support;

import java.io.UncheckedIOException;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The proxy in front of a real Redis: forward, cut, blackhole, restore, and the server dying behind it. */
@Tag("integration")
@Timeout(value = 20, unit = TimeUnit.SECONDS)
class TcpProxyTest {

  private static final Duration SHORT = Duration.ofMillis(200);
  private static final Duration LONG = Duration.ofSeconds(5);
  private static RedisServer redis;

  @BeforeAll
  static void startRedis() {
    redis = RedisServer.start();
  }

  @AfterAll
  static void stopRedis() {
    redis.close();
  }

  @BeforeEach
  void flush() {
    if (!redis.isAlive()) {
      redis.restartEmpty();
    }
    redis.command("FLUSHALL");
  }

  private static String ping(Resp.Connection c) {
    return c.call(LONG, "PING").text();
  }

  @Test
  void forwardsBothWays() {
    try (TcpProxy proxy = TcpProxy.start(redis.port());
         Resp.Connection c = Resp.Connection.open(proxy.port(), LONG)) {
      assertThat(proxy.url()).isEqualTo("redis://127.0.0.1:" + proxy.port());
      assertThat(ping(c)).isEqualTo("PONG");
      assertThat(c.call(LONG, "SET", "via", "proxy").text()).isEqualTo("OK");
      assertThat(redis.command("GET", "via")).isEqualTo("proxy");
      // A bigger reply than one buffer.
      String big = "x".repeat(200_000);
      redis.command("SET", "big", big);
      assertThat(c.call(LONG, "GET", "big").text()).isEqualTo(big);
      assertThat(proxy.openConnections()).isEqualTo(1);
      // Counted after each write, so possibly a moment after the client has the bytes.
      await().atMost(LONG).pollInterval(Duration.ofMillis(1)).until(() -> proxy.forwardedBytes() > 200_000);
    }
  }

  @Test
  void cutResetsThisLinkOnlyAndRestoreLetsClientsReconnect() {
    try (TcpProxy cutOne = TcpProxy.start(redis.port());
         TcpProxy other = TcpProxy.start(redis.port());
         Resp.Connection c = Resp.Connection.open(cutOne.port(), LONG);
         Resp.Connection o = Resp.Connection.open(other.port(), LONG)) {
      assertThat(ping(c)).isEqualTo("PONG");
      assertThat(ping(o)).isEqualTo("PONG");

      cutOne.cut();
      assertThat(cutOne.mode()).isEqualTo(TcpProxy.Mode.CUT);
      // The open connection is gone: reset or end of stream, never a timeout.
      assertThatThrownBy(() -> c.call(LONG, "PING"))
          .isInstanceOf(UncheckedIOException.class)
          .satisfies(e -> assertThat(e.getCause()).isNotInstanceOf(SocketTimeoutException.class));
      assertThat(cutOne.openConnections()).isZero();
      // New ones are reset at once.
      assertThatThrownBy(() -> Resp.call(cutOne.port(), LONG, "PING"))
          .isInstanceOf(UncheckedIOException.class)
          .satisfies(e -> assertThat(e.getCause()).isNotInstanceOf(SocketTimeoutException.class));
      // The other client, and the server itself, are untouched.
      assertThat(ping(o)).isEqualTo("PONG");
      assertThat(redis.command("PING")).isEqualTo("PONG");

      cutOne.restore();
      try (Resp.Connection again = Resp.Connection.open(cutOne.port(), LONG)) {
        assertThat(ping(again)).isEqualTo("PONG");
      }
    }
  }

  @Test
  void blackholeForwardsNothingClosesNothingAndRestoreDeliversWhatWasHeld() {
    try (TcpProxy proxy = TcpProxy.start(redis.port());
         Resp.Connection c = Resp.Connection.open(proxy.port(), LONG)) {
      assertThat(ping(c)).isEqualTo("PONG");

      proxy.blackhole();
      // A write reaches nothing; no reply and no error, however long one waits for it.
      c.send("SET", "during", "partition");
      assertThatThrownBy(() -> c.read(SHORT)).hasCauseInstanceOf(SocketTimeoutException.class);
      assertThatThrownBy(() -> c.read(SHORT)).hasCauseInstanceOf(SocketTimeoutException.class);
      assertThat(redis.command("EXISTS", "during")).isEqualTo("0");
      // A new connection completes (the kernel accepts it) and reaches nothing either.
      Resp.Connection late = Resp.Connection.open(proxy.port(), LONG);
      try {
        late.send("PING");
        assertThatThrownBy(() -> late.read(SHORT)).hasCauseInstanceOf(SocketTimeoutException.class);
        // The server is fine for everyone else.
        assertThat(redis.command("PING")).isEqualTo("PONG");
        assertThat(redis.command("EXISTS", "during")).isEqualTo("0");

        proxy.restore();
        assertThat(c.read(LONG).text()).isEqualTo("OK");
        assertThat(late.read(LONG).text()).isEqualTo("PONG");
        assertThat(redis.command("GET", "during")).isEqualTo("partition");
        assertThat(ping(c)).isEqualTo("PONG");
      } finally {
        late.close();
      }
    }
  }

  @Test
  void serverRepliesAreHeldToo() {
    try (TcpProxy proxy = TcpProxy.start(redis.port());
         Resp.Connection c = Resp.Connection.open(proxy.port(), LONG)) {
      // A reply on its way when the partition starts: BLPOP answers only when a push comes.
      c.send("BLPOP", "q", "0");
      await().atMost(LONG).pollInterval(Duration.ofMillis(5))
          .until(() -> redis.command("CLIENT", "LIST").contains("cmd=blpop"));
      proxy.blackhole();
      redis.command("LPUSH", "q", "item");
      assertThatThrownBy(() -> c.read(SHORT)).hasCauseInstanceOf(SocketTimeoutException.class);
      proxy.restore();
      assertThat(c.read(LONG).text()).isEqualTo("[q, item]");
    }
  }

  @Test
  void cutDuringABlackholeResetsEverything() {
    try (TcpProxy proxy = TcpProxy.start(redis.port());
         Resp.Connection c = Resp.Connection.open(proxy.port(), LONG)) {
      assertThat(ping(c)).isEqualTo("PONG");
      proxy.blackhole();
      c.send("PING");
      assertThatThrownBy(() -> c.read(SHORT)).hasCauseInstanceOf(SocketTimeoutException.class);
      proxy.cut();
      assertThatThrownBy(() -> c.read(LONG))
          .isInstanceOf(UncheckedIOException.class)
          .satisfies(e -> assertThat(e.getCause()).isNotInstanceOf(SocketTimeoutException.class));
      proxy.restore();
      assertThat(Resp.call(proxy.port(), LONG, "PING").text()).isEqualTo("PONG");
    }
  }

  @Test
  void serverDeathPassesThroughAndTheProxyFollowsARestart() {
    try (TcpProxy proxy = TcpProxy.start(redis.port());
         Resp.Connection c = Resp.Connection.open(proxy.port(), LONG)) {
      assertThat(ping(c)).isEqualTo("PONG");
      redis.kill9();
      // As with a direct connection: the link ends, it does not hang.
      assertThatThrownBy(() -> c.call(LONG, "PING"))
          .isInstanceOf(UncheckedIOException.class)
          .satisfies(e -> assertThat(e.getCause()).isNotInstanceOf(SocketTimeoutException.class));
      await().atMost(LONG).pollInterval(Duration.ofMillis(5)).until(() -> proxy.openConnections() == 0);
      // Nothing listens behind it: connections through it are reset.
      assertThatThrownBy(() -> Resp.call(proxy.port(), LONG, "PING")).isInstanceOf(UncheckedIOException.class);
      redis.restartEmpty();
      assertThat(Resp.call(proxy.port(), LONG, "PING").text()).isEqualTo("PONG");
    }
  }

  @Test
  void closeResetsConnectionsAndFreesThePort() {
    TcpProxy proxy = TcpProxy.start(redis.port());
    Resp.Connection c = Resp.Connection.open(proxy.port(), LONG);
    try {
      assertThat(ping(c)).isEqualTo("PONG");
      proxy.close();
      assertThatThrownBy(() -> c.call(LONG, "PING")).isInstanceOf(UncheckedIOException.class);
      assertThatThrownBy(() -> Resp.Connection.open(proxy.port(), LONG)).isInstanceOf(UncheckedIOException.class);
    } finally {
      c.close();
    }
  }
}
