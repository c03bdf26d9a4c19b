package tso.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import picocli.CommandLine;

/**
 * The load generator against a test server that answers like a node, with known delays, a stall,
 * duplicates and errors: scheduling accuracy, latency from the intended send time (a stall is
 * not hidden), violation detection, and thresholds deciding the exit code.
 */
class LoadGeneratorTest {

  @TempDir
  Path dir;
  Vertx vertx;

  /** How the test server misbehaves. */
  static final class Behaviour {
    volatile long delayMs;
    volatile long stallUntilNanos;
    volatile int duplicateEvery;
    volatile int failEvery;
  }

  final Behaviour behaviour = new Behaviour();
  final AtomicLong next = new AtomicLong(1L << 40);
  final AtomicLong served = new AtomicLong();

  private int server() throws Exception {
    vertx = Vertx.vertx();
    HttpServer s = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(b -> {
      long n = served.incrementAndGet();
      Runnable answer = () -> {
        if (behaviour.failEvery > 0 && n % behaviour.failEvery == 0) {
          req.response().setStatusCode(503).end("{\"error\":{\"code\":\"UNAVAILABLE\",\"message\":\"x\"}}");
          return;
        }
        long ts = behaviour.duplicateEvery > 0 && n % behaviour.duplicateEvery == 0 ? next.get() - 1 : next.getAndIncrement();
        req.response().putHeader("content-type", "application/json")
            .end("{\"timestamp\":\"" + ts + "\",\"count\":1,\"epoch\":\"1\",\"physicalMs\":0,\"logical\":0}");
      };
      long stall = TimeUnit.NANOSECONDS.toMillis(behaviour.stallUntilNanos - System.nanoTime());
      long wait = Math.max(behaviour.delayMs, stall);
      if (wait > 0) {
        vertx.setTimer(wait, id -> answer.run());
      } else {
        answer.run();
      }
    }));
    return s.listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS).actualPort();
  }

  @AfterEach
  void close() throws Exception {
    if (vertx != null) {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private static Report run(int port, double rate, int connections, long durationMs, long warmupMs) throws Exception {
    Settings s = new Settings(java.util.List.of("http://127.0.0.1:" + port), "http", rate, connections, 1, 1,
        durationMs, warmupMs, null, null, null, null, true, false, 2);
    return new LoadGenerator(s, new PrintStream(new ByteArrayOutputStream())).run();
  }

  @Test
  void openLoopKeepsTheRate() throws Exception {
    int port = server();
    Report r = run(port, 2000, 8, 2000, 500);
    assertThat(r.responses()).isBetween(3880L, 4120L);
    assertThat(r.errorTotal()).isZero();
    assertThat(r.verdict().violations()).isZero();
  }

  @Test
  void aKnownDelayShowsInTheLatency() throws Exception {
    int port = server();
    behaviour.delayMs = 20;
    Report r = run(port, 500, 32, 2000, 300);
    assertThat(r.ms(50)).isBetween(19.0, 30.0);
    assertThat(r.ms(99)).isLessThan(60.0);
  }

  @Test
  void aStallShowsInTheLatencyOfEveryRequestDueDuringIt() throws Exception {
    int port = server();
    // Every answer after 1 s into the measured window waits until 1.4 s: a 400 ms stall.
    long startsIn = 300 + 100 + 1000;
    vertx.setTimer(startsIn, id -> behaviour.stallUntilNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(400));
    Report open = run(port, 1000, 4, 2500, 300);
    // About 400 requests were due during the stall; measured from when they were due, their
    // latencies spread from 0 to 400 ms: a fifth of the run is above 100 ms.
    assertThat(open.ms(90)).isGreaterThan(100.0);
    assertThat(open.maxMs()).isGreaterThan(350.0);
  }

  @Test
  void closedLoopWouldHideTheSameStall() throws Exception {
    int port = server();
    long startsIn = 300 + 100 + 1000;
    vertx.setTimer(startsIn, id -> behaviour.stallUntilNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(400));
    behaviour.delayMs = 2;
    Report closed = run(port, 0, 4, 2500, 300);
    // four requests saw the stall, out of about a thousand: the tail says little (coordinated omission)
    assertThat(closed.maxMs()).isGreaterThan(350.0);
    assertThat(closed.ms(90)).isLessThan(50.0);
  }

  @Test
  void duplicatesAndReversalsAreViolations() {
    Operations ops = new Operations();
    ops.add(0, 10, 100, 5);
    ops.add(20, 30, 103, 1); // inside 100..104, and sent after the first was answered
    assertThat(ops.check().violations()).isEqualTo(2);
    Operations reversed = new Operations();
    reversed.add(0, 10, 200, 1);
    reversed.add(20, 30, 150, 1); // sent after 200 was answered, but below it
    assertThat(reversed.check().violations()).isEqualTo(1);
    assertThat(reversed.check().first()).contains("out of order");
    Operations concurrent = new Operations();
    concurrent.add(0, 30, 200, 1);
    concurrent.add(10, 20, 150, 1); // overlapping in time: any order is fine
    assertThat(concurrent.check().violations()).isZero();
  }

  @Test
  void aServerHandingOutDuplicatesMakesTheRunFail() throws Exception {
    int port = server();
    behaviour.duplicateEvery = 50;
    int code = command("--target", "http://127.0.0.1:" + port, "--rate", "1000", "--connections", "4",
        "--duration", "1s", "--warmup", "200ms", "--quiet", "--json", dir.resolve("r.json").toString());
    assertThat(code).isEqualTo(1);
    JsonObject json = new JsonObject(Files.readString(dir.resolve("r.json")));
    assertThat(json.getLong("violations")).isPositive();
  }

  @Test
  void thresholdsDecideTheExitCodeAndTheFilesAreWritten() throws Exception {
    int port = server();
    behaviour.delayMs = 10;
    String t = "http://127.0.0.1:" + port;
    Path json = dir.resolve("ok.json");
    Path hgrm = dir.resolve("ok.hgrm");
    assertThat(command("--target", t, "--rate", "500", "--connections", "16", "--duration", "1s", "--warmup", "200ms",
        "--quiet", "--max-p99-ms", "1000", "--max-errors", "0", "--json", json.toString(), "--hgrm", hgrm.toString()))
        .isZero();
    JsonObject j = new JsonObject(Files.readString(json));
    assertThat(j.fieldNames()).contains("protocol", "rateTarget", "requests", "responsesPerSecond",
        "timestampsPerSecond", "latencyMs", "errors", "violations");
    assertThat(j.getJsonObject("latencyMs").fieldNames()).contains("p50", "p90", "p99", "p999", "p9999", "max");
    assertThat(j.getJsonObject("errors").fieldNames()).contains("total", "byCode");
    assertThat(Files.readString(hgrm)).contains("Value     Percentile TotalCount 1/(1-Percentile)");
    assertThat(command("--target", t, "--rate", "500", "--connections", "16", "--duration", "1s", "--warmup", "200ms",
        "--quiet", "--max-p99-ms", "2")).isEqualTo(1);
    behaviour.delayMs = 0;
    behaviour.failEvery = 10;
    assertThat(command("--target", t, "--rate", "500", "--connections", "4", "--duration", "1s", "--warmup", "200ms",
        "--quiet", "--max-errors", "0")).isEqualTo(1);
    assertThat(command("--target", "ftp://x", "--quiet")).isEqualTo(2);
  }

  private static int command(String... args) {
    CommandLine cli = new CommandLine(LoadgenCommand.spec());
    return LoadgenCommand.run(cli.parseArgs(args));
  }
}
