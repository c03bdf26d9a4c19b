package tso.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The LD_PRELOAD clock shift against a real redis-server (the Debian one is linked with jemalloc,
 * which deadlocks under libfaketime) and a child JVM: the wall clock moves both ways within
 * {@link ClockShift#PICKUP}, keys with a TTL expire on the moved clock, the monotonic clock does
 * not move, and the process keeps answering while the offset flips under load.
 */
@Tag("integration")
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ClockShiftTest {

  /** Loopback round trip, clock granularity and the cached time inside Redis, with room to spare. */
  static final long TOLERANCE_MS = 20;

  @BeforeAll
  static void needsGcc() {
    assumeTrue(ClockShift.available(), ClockShift.UNAVAILABLE);
  }

  /**
   * Redis's wall clock minus ours, from the TIME call with the shortest round trip of a few (the
   * one least disturbed by scheduling), taken at the middle of that round trip.
   */
  static long skewMs(RedisServer redis) {
    long best = Long.MAX_VALUE;
    long skew = 0;
    try (Resp.Connection c = redis.connect()) {
      for (int i = 0; i < 5; i++) {
        long t0 = System.currentTimeMillis();
        long n0 = System.nanoTime();
        Resp.Array time = (Resp.Array) c.call(Duration.ofSeconds(2), "TIME");
        long rtt = System.nanoTime() - n0;
        long redisMs = Long.parseLong(time.items().get(0).text()) * 1000
            + Long.parseLong(time.items().get(1).text()) / 1000;
        if (rtt < best) {
          best = rtt;
          skew = redisMs - (t0 + rtt / 2_000_000);
        }
      }
    }
    return skew;
  }

  static void pickUp() throws InterruptedException {
    Thread.sleep(ClockShift.PICKUP.toMillis());
  }

  /** The redis-server on PATH (7.x, jemalloc) and the embedded-redis jar's (6.2). */
  static Stream<Path> binaries() {
    return Stream.of(RedisServer.binary(), RedisServer.binaryFromJar()).distinct();
  }

  @ParameterizedTest
  @MethodSource("binaries")
  void redisTimeMovesForwardAndBackWithTheOffset(Path binary) throws Exception {
    try (ClockShift shift = ClockShift.create(); RedisServer redis = RedisServer.start(binary, 0, shift.env())) {
      assertThat(skewMs(redis)).isCloseTo(0L, within(TOLERANCE_MS));
      shift.set(5_000);
      pickUp();
      assertThat(skewMs(redis)).isCloseTo(5_000L, within(TOLERANCE_MS));
      shift.set(-5_000);
      pickUp();
      assertThat(skewMs(redis)).isCloseTo(-5_000L, within(TOLERANCE_MS));
      shift.set(1_234);
      pickUp();
      assertThat(skewMs(redis)).isCloseTo(1_234L, within(TOLERANCE_MS));
      shift.set(0);
      pickUp();
      assertThat(skewMs(redis)).isCloseTo(0L, within(TOLERANCE_MS));
    }
  }

  @Test
  void garbageOrAMissingFileMeansNoShift() throws Exception {
    try (ClockShift shift = ClockShift.create(); RedisServer redis = RedisServer.start(shift.env())) {
      shift.set(5_000);
      pickUp();
      assertThat(skewMs(redis)).isCloseTo(5_000L, within(TOLERANCE_MS));
      for (String garbage : List.of("", "five seconds\n", "5000ms", "--5000", "1234567890123456789", "+\n")) {
        shift.set(5_000);
        pickUp();
        Files.writeString(shift.file(), garbage, StandardCharsets.US_ASCII);
        pickUp();
        assertThat(skewMs(redis)).as("offset file holding '%s'", garbage).isCloseTo(0L, within(TOLERANCE_MS));
      }
      Files.writeString(shift.file(), "  +2500 \n", StandardCharsets.US_ASCII);
      pickUp();
      assertThat(skewMs(redis)).isCloseTo(2_500L, within(TOLERANCE_MS));
      Files.delete(shift.file());
      pickUp();
      assertThat(skewMs(redis)).isCloseTo(0L, within(TOLERANCE_MS));
    }
  }

  @Test
  void keysWithATtlExpireOnTheShiftedClock() throws Exception {
    try (ClockShift shift = ClockShift.create(); RedisServer redis = RedisServer.start(shift.env())) {
      redis.command("SET", "short", "v", "PX", "3000");
      redis.command("SET", "long", "v", "PX", "60000");
      shift.set(5_000);
      pickUp();
      // A jump forward on Redis's clock ends a 3 s TTL at once, after a few milliseconds of real time.
      assertThat(redis.command("GET", "short")).isNull();
      assertThat(redis.command("GET", "long")).isEqualTo("v");
      assertThat(Long.parseLong(redis.command("PTTL", "long"))).isBetween(50_000L, 55_000L);
    }
  }

  @Test
  void restartEmptyKeepsTheShift() throws Exception {
    try (ClockShift shift = ClockShift.create(); RedisServer redis = RedisServer.start(shift.env())) {
      shift.set(-3_000);
      long pid = redis.pid();
      redis.restartEmpty();
      assertThat(redis.pid()).isNotEqualTo(pid);
      assertThat(redis.env()).isEqualTo(shift.env());
      assertThat(skewMs(redis)).isCloseTo(-3_000L, within(TOLERANCE_MS));
    }
  }

  @Test
  void redisKeepsAnsweringWhileTheOffsetFlipsUnderLoad() throws Exception {
    int clients = 4;
    int rounds = 2_000;
    ExecutorService pool = Executors.newFixedThreadPool(clients);
    AtomicBoolean flipping = new AtomicBoolean(true);
    try (ClockShift shift = ClockShift.create(); RedisServer redis = RedisServer.start(shift.env())) {
      List<Future<Integer>> done = new ArrayList<>();
      for (int c = 0; c < clients; c++) {
        String key = "k" + c;
        done.add(pool.submit(() -> {
          int ok = 0;
          try (Resp.Connection conn = redis.connect()) {
            for (int i = 0; i < rounds; i++) {
              String v = Integer.toString(i);
              // A TTL makes Redis read its clock for every key, and expire keys as it goes.
              conn.call(Duration.ofSeconds(2), "SET", key, v, "PX", "100000");
              if (v.equals(conn.call(Duration.ofSeconds(2), "GET", key).text())) {
                ok++;
              }
            }
          }
          return ok;
        }));
      }
      Thread flipper = new Thread(() -> {
        long offset = 0;
        while (flipping.get()) {
          offset = offset == 0 ? 3_000 : offset > 0 ? -3_000 : 0;
          shift.set(offset);
          try {
            Thread.sleep(2);
          } catch (InterruptedException e) {
            return;
          }
        }
      }, "clock-flipper");
      flipper.start();
      try {
        for (Future<Integer> f : done) {
          // Each worker's SETs and GETs all answered, in time: no deadlock inside Redis.
          assertThat(f.get(30, TimeUnit.SECONDS)).isEqualTo(rounds);
        }
      } finally {
        flipping.set(false);
        flipper.join();
      }
      assertThat(redis.command("PING")).isEqualTo("PONG");
      shift.set(0);
      pickUp();
      assertThat(skewMs(redis)).isCloseTo(0L, within(TOLERANCE_MS));
    } finally {
      pool.shutdownNow();
    }
  }

  /** Run in a child JVM: prints nanoTime, currentTimeMillis, nanoTime. */
  public static final class Probe {
    public static void main(String[] args) {
      long n0 = System.nanoTime();
      long wall = System.currentTimeMillis();
      long n1 = System.nanoTime();
      System.out.println(n0 + " " + wall + " " + n1);
    }
  }

  @Test
  void aJvmUnderTheShiftSeesItInCurrentTimeMillisAndNotInNanoTime() throws Exception {
    try (ClockShift shift = ClockShift.create()) {
      shift.set(7_000);
      String java = ProcessHandle.current().info().command().orElse("java");
      ProcessBuilder pb = new ProcessBuilder(java, "-XX:TieredStopAtLevel=1",
          "-cp", System.getProperty("java.class.path"), Probe.class.getName()).redirectErrorStream(true);
      pb.environment().putAll(shift.env());
      long before = System.nanoTime();
      long wallBefore = System.currentTimeMillis();
      Process p = pb.start();
      assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
      long after = System.nanoTime();
      long wallAfter = System.currentTimeMillis();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      assertThat(p.exitValue()).as(out).isZero();
      String[] f = out.lines().reduce((a, b) -> b).orElseThrow().split(" ");
      long n0 = Long.parseLong(f[0]);
      long wall = Long.parseLong(f[1]);
      long n1 = Long.parseLong(f[2]);
      // CLOCK_MONOTONIC is one clock for the whole machine: the child's lies inside our interval.
      assertThat(n0).isBetween(before, after);
      assertThat(n1).isBetween(n0, after);
      // Its wall clock is ours plus the offset, at the moment it read it.
      long ourWallThen = wallBefore + (n0 - before) / 1_000_000;
      assertThat(wall - ourWallThen).isCloseTo(7_000L, within(TOLERANCE_MS));
      assertThat(wall).isBetween(wallBefore + 7_000, wallAfter + 7_000);
    }
  }

  @Test
  void theLibraryIsBuiltOnceAndReused() throws IOException {
    Path lib = ClockShift.library();
    assertThat(lib).isRegularFile().hasFileName("libclockshift.so");
    assertThat(lib.getParent().getFileName()).hasToString("clockshift");
    var modified = Files.getLastModifiedTime(lib);
    assertThat(ClockShift.library()).isEqualTo(lib);
    assertThat(Files.getLastModifiedTime(lib)).isEqualTo(modified);
  }
}
