package tso.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.support.NodeProcess;
import tso.support.Ports;

/**
 * Backpressure end to end: a node process (256 MiB heap) flooded far beyond its bounds, with
 * HTTP/1.1 pipelined 64 deep on 32 connections and gRPC streams 4,096 deep on 16 connections at
 * once, in closed loop. The excess is refused with 429 / RESOURCE_EXHAUSTED well before any
 * timeout, the node keeps answering its health check, what it does accept is correct, its
 * memory stays bounded, and it serves normally afterwards.
 */
class FloodTest {

  @TempDir
  Path dir;

  @Test
  void aFloodGetsFastRefusalsAndTheNodeStaysUpWithBoundedMemory() throws Exception {
    // Two event loops, so requests queue for the allocator across threads; a small queue limit
    // and a request timeout far above what a refusal may take.
    try (NodeProcess node = NodeProcess.start(dir, Ports.free(),
        Map.of("TSO_EVENT_LOOPS", "2", "TSO_QUEUE_LIMIT", "128", "TSO_REQUEST_TIMEOUT_MS", "5000"),
        "--data-dir", dir.resolve("data").toString()).awaitReady()) {
      long pid = node.process().pid();
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
      long rssBefore = rssKiB(pid);

      AtomicBoolean flooding = new AtomicBoolean(true);
      AtomicLong healthChecks = new AtomicLong();
      AtomicLong slowestHealthMs = new AtomicLong();
      AtomicLong maxRss = new AtomicLong(rssBefore);
      CompletableFuture<Void> watcher = CompletableFuture.runAsync(() -> {
        while (flooding.get()) {
          long t0 = System.nanoTime();
          try {
            int status = http.send(HttpRequest.newBuilder(URI.create(node.url() + "/health/live"))
                .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
            assertThat(status).isEqualTo(200);
          } catch (Exception e) {
            throw new AssertionError("health check failed during the flood", e);
          }
          healthChecks.incrementAndGet();
          slowestHealthMs.accumulateAndGet((System.nanoTime() - t0) / 1_000_000, Math::max);
          maxRss.accumulateAndGet(rssKiB(pid), Math::max);
          sleep(200);
        }
      });

      CompletableFuture<Report> pipelined = CompletableFuture.supplyAsync(() -> flood(node.url(), "http", 32, 64));
      CompletableFuture<Report> streams = CompletableFuture.supplyAsync(() -> flood(node.url(), "grpc-stream", 16, 4096));
      Report h = pipelined.get();
      Report g = streams.get();
      flooding.set(false);
      watcher.get();

      assertThat(h.errors().keySet()).as("HTTP outcomes").isSubsetOf("http_429");
      assertThat(g.errors().keySet()).as("gRPC outcomes").isSubsetOf("grpc_RESOURCE_EXHAUSTED");
      assertThat(h.errorTotal() + g.errorTotal()).as("refusals").isPositive();
      assertThat(h.responses() + g.responses()).as("served").isGreaterThan(10_000);
      // Refused at once, not after the 5 s request timeout (the latency also holds the wait
      // behind the other requests pipelined on the same connection).
      assertThat(h.failedLatency().getValueAtPercentile(99) / 1e6).as("HTTP refusal p99 ms").isLessThan(1000);
      assertThat(h.verdict().violations() + g.verdict().violations()).isZero();
      assertThat(healthChecks.get()).isGreaterThan(5);
      assertThat(slowestHealthMs.get()).as("slowest health check ms").isLessThan(2000);
      assertThat(maxRss.get()).as("largest RSS KiB (before: %d)", rssBefore).isLessThan(640 * 1024);
      assertThat(node.process().isAlive()).isTrue();

      HttpResponse<String> after = http.send(HttpRequest.newBuilder(URI.create(node.url() + "/v1/timestamps"))
          .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(after.statusCode()).isEqualTo(200);
      System.out.printf("flood: HTTP %d served, %d refused (refusal p50 %.1f ms, p99 %.1f ms); gRPC stream %d served,"
              + " %d refused; slowest health check %d ms; RSS %d -> max %d MiB%n",
          h.responses(), h.errorTotal(), h.failedLatency().getValueAtPercentile(50) / 1e6,
          h.failedLatency().getValueAtPercentile(99) / 1e6, g.responses(), g.errorTotal(), slowestHealthMs.get(),
          rssBefore / 1024, maxRss.get() / 1024);
    }
  }

  private static Report flood(String url, String protocol, int connections, int concurrency) {
    Settings s = new Settings(List.of(url), protocol, 0, connections, concurrency, 1, 6000, 500, null, null, null, null,
        true, false, 1);
    try {
      return new LoadGenerator(s, new PrintStream(new ByteArrayOutputStream())).run();
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  private static long rssKiB(long pid) {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("\\D", ""));
        }
      }
    } catch (Exception e) {
      // the process is gone: the assertions on it say so
    }
    return 0;
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
