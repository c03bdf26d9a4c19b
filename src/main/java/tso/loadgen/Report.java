package tso.loadgen;

import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.HdrHistogram.Histogram;

/** The outcome of a run: wrk2-style text, the contract's JSON summary, and the full spectrum. */
public record Report(Settings settings, Histogram latency, long responses, Map<String, Long> errors, long unsent,
    Operations.Verdict verdict, double seconds, Histogram failedLatency, int[] longestGap,
    long measuredStartEpochMs, java.util.List<Second> timeline) {

  /** One second of the run, as its per-second line shows it. */
  public record Second(long t, boolean warmup, long responses, long errors, double p50Ms, double p99Ms,
      double maxMs) {
    JsonObject json() {
      return new JsonObject().put("t", t).put("warmup", warmup).put("responses", responses).put("errors", errors)
          .put("p50", p50Ms).put("p99", p99Ms).put("max", maxMs);
    }
  }

  private static double ms(Histogram h, double percentile) {
    return h.getTotalCount() == 0 ? 0 : h.getValueAtPercentile(percentile) / 1e6;
  }

  public long errorTotal() {
    return errors.values().stream().mapToLong(Long::longValue).sum();
  }

  public double ms(double percentile) {
    return latency.getTotalCount() == 0 ? 0 : latency.getValueAtPercentile(percentile) / 1e6;
  }

  public double maxMs() {
    return latency.getMaxValue() / 1e6;
  }

  public double responsesPerSecond() {
    return responses / seconds;
  }

  public JsonObject json() {
    JsonObject byCode = new JsonObject();
    errors.forEach(byCode::put);
    return new JsonObject()
        .put("protocol", settings.protocol())
        .put("targets", String.join(",", settings.targets()))
        .put("rateTarget", settings.rate())
        .put("connections", settings.connections())
        .put("concurrency", settings.concurrency())
        .put("count", settings.count())
        .put("durationSeconds", seconds)
        .put("requests", responses + errorTotal())
        .put("responsesPerSecond", responsesPerSecond())
        .put("timestampsPerSecond", responsesPerSecond() * settings.count())
        .put("latencyMs", new JsonObject().put("p50", ms(50)).put("p90", ms(90)).put("p99", ms(99))
            .put("p999", ms(99.9)).put("p9999", ms(99.99)).put("max", maxMs()))
        .put("errors", new JsonObject().put("total", errorTotal()).put("byCode", byCode))
        .put("unsent", unsent)
        .put("errorLatencyMs", new JsonObject().put("p50", ms(failedLatency, 50)).put("p99", ms(failedLatency, 99))
            .put("max", failedLatency.getMaxValue() / 1e6))
        .put("longestGapMs", longestGap[0])
        .put("longestGapStartMs", longestGap[1])
        .put("measuredStartEpochMs", measuredStartEpochMs)
        .put("timeline", new io.vertx.core.json.JsonArray(timeline.stream().map(Second::json).toList()))
        .put("violations", verdict.violations())
        .put("checked", !settings.noop());
  }

  public void print(PrintStream out) {
    out.printf("%n%s%s, %s, rate %s, %d connections x %d, count %d, %.1f s measured%n", settings.protocol(), settings.noop() ? " (no-op baseline)" : "",
        String.join(",", settings.targets()), settings.rate() > 0 ? String.format("%.0f/s", settings.rate()) : "closed loop",
        settings.connections(), settings.concurrency(), settings.count(), seconds);
    out.println("  Latency Distribution (from the intended send time)");
    for (double p : new double[] {50, 75, 90, 99, 99.9, 99.99, 100}) {
      out.printf("  %7.3f%% %10.3f ms%n", p, p == 100 ? maxMs() : ms(p));
    }
    out.printf("  %d responses, %.0f responses/s, %.0f timestamps/s%n", responses, responsesPerSecond(),
        responsesPerSecond() * settings.count());
    out.printf("  errors: %d %s%s%n", errorTotal(), errors, unsent > 0 ? ", unsent at the end: " + unsent : "");
    if (errorTotal() > 0) {
      out.printf("  errors answered in: p50 %.3f ms, p99 %.3f ms, max %.3f ms%n", ms(failedLatency, 50),
          ms(failedLatency, 99), failedLatency.getMaxValue() / 1e6);
    }
    out.printf("  longest time without a successful answer: %d ms%n", longestGap[0]);
    if (settings.noop()) {
      out.println("  violations: not checked (the no-op baseline answers a constant)");
    } else {
      out.printf("  violations: %d%s%n", verdict.violations(), verdict.first() == null ? "" : " (first: " + verdict.first() + ")");
    }
  }

  public void writeFiles() throws IOException {
    if (settings.json() != null) {
      Files.writeString(Path.of(settings.json()), json().encodePrettily() + "\n");
    }
    if (settings.hgrm() != null) {
      try (PrintStream p = new PrintStream(Files.newOutputStream(Path.of(settings.hgrm())), true,
          StandardCharsets.UTF_8)) {
        latency.outputPercentileDistribution(p, 1e6); // in milliseconds
      }
    }
  }

  /** The reasons this run fails its thresholds (empty: it passes). */
  public java.util.List<String> failures() {
    java.util.List<String> f = new java.util.ArrayList<>();
    if (verdict.violations() > 0) {
      f.add(verdict.violations() + " violations: " + verdict.first());
    }
    if (settings.maxP99Ms() != null && ms(99) > settings.maxP99Ms()) {
      f.add(String.format("p99 %.3f ms > %.3f ms", ms(99), settings.maxP99Ms()));
    }
    if (settings.maxErrors() != null && errorTotal() > settings.maxErrors()) {
      f.add("errors " + errorTotal() + " > " + settings.maxErrors());
    }
    return f;
  }
}
