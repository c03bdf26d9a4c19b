package tso.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

import tso.core.TsoError;

/**
 * Every meter of the node, registered once and handed out as fields so the hot path never looks a
 * meter up by name. Names follow Prometheus style with units.
 */
public final class TsoMetrics {

  /** How a request reached the node. */
  public enum Api {
    HTTP("http"), GRPC_UNARY("grpc_unary"), GRPC_STREAM("grpc_stream");

    public final String tag;

    Api(String tag) {
      this.tag = tag;
    }
  }

  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Map<Api, Counter> ok = new EnumMap<>(Api.class);
  private final Map<Api, Map<TsoError, Counter>> failed = new EnumMap<>(Api.class);
  private final Map<Api, Timer> latency = new EnumMap<>(Api.class);
  private final Map<String, Timer> loopLag = new ConcurrentHashMap<>();

  public final Counter timestamps;
  public final DistributionSummary batchSize;
  public final Counter boundExtensions;
  public final Counter boundExtensionFailures;
  public final Timer boundExtensionLatency;
  public final Counter clockBehind;
  public final Counter logicalExhausted;
  public final Timer queueWait;
  public final Counter shed;
  public final Counter leadershipChanges;
  public final Timer renewLatency;
  public final Counter renewFailures;
  public final Counter fencedWritesRefused;
  public final Counter redisErrors;
  private final Map<String, Counter> campaigns = new ConcurrentHashMap<>();
  private final Map<String, Counter> invalidRecords = new ConcurrentHashMap<>();
  private final Map<String, Counter> forwarded = new ConcurrentHashMap<>();

  public TsoMetrics() {
    this(true);
  }

  /**
   * Request meters only, without the JVM and process meters: a registry nobody scrapes, for
   * requests that must cost what real ones cost but not count among them (the no-op baseline).
   */
  public static TsoMetrics unscraped() {
    return new TsoMetrics(false);
  }

  private TsoMetrics(boolean jvm) {
    for (Api api : Api.values()) {
      ok.put(api, Counter.builder("tso_requests_total").description("Timestamp requests by API and outcome")
          .tag("api", api.tag).tag("outcome", "ok").register(registry));
      Map<TsoError, Counter> byError = new EnumMap<>(TsoError.class);
      for (TsoError e : TsoError.values()) {
        byError.put(e, Counter.builder("tso_requests_total").description("Timestamp requests by API and outcome")
            .tag("api", api.tag).tag("outcome", e.name().toLowerCase()).register(registry));
      }
      failed.put(api, byError);
      latency.put(api, Timer.builder("tso_request_duration_seconds")
          .description("Time from a request's arrival to its answer, by API")
          .tag("api", api.tag)
          .publishPercentileHistogram()
          .minimumExpectedValue(Duration.ofNanos(10_000))
          .maximumExpectedValue(Duration.ofSeconds(10))
          .register(registry));
    }
    timestamps = Counter.builder("tso_timestamps_total").description("Timestamps handed out").register(registry);
    batchSize = DistributionSummary.builder("tso_batch_size")
        .description("Requests answered by one allocation (group commit)")
        .publishPercentileHistogram().minimumExpectedValue(1.0).maximumExpectedValue(100_000.0)
        .register(registry);
    boundExtensions = Counter.builder("tso_bound_extensions_total").description("Bound extensions persisted")
        .register(registry);
    boundExtensionFailures = Counter.builder("tso_bound_extension_failures_total")
        .description("Bound extensions that failed to persist").register(registry);
    boundExtensionLatency = Timer.builder("tso_bound_extension_duration_seconds")
        .description("Time to persist a bound extension").publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofNanos(10_000)).maximumExpectedValue(Duration.ofSeconds(30))
        .register(registry);
    clockBehind = Counter.builder("tso_clock_behind_total")
        .description("Allocations that saw the wall clock behind the previous reading").register(registry);
    logicalExhausted = Counter.builder("tso_logical_exhausted_total")
        .description("Allocations that moved physical forward because a millisecond's logical part ran out")
        .register(registry);
    queueWait = Timer.builder("tso_queue_wait_seconds")
        .description("Time a request waited for the allocator after hand-off").publishPercentileHistogram()
        .minimumExpectedValue(Duration.ofNanos(1_000)).maximumExpectedValue(Duration.ofSeconds(10))
        .register(registry);
    shed = Counter.builder("tso_requests_shed_total")
        .description("Requests refused at once because the queueing delay stayed above its target").register(registry);
    leadershipChanges = Counter.builder("tso_leadership_changes_total")
        .description("Times this node became leader or stopped being leader").register(registry);
    renewLatency = Timer.builder("tso_lease_renew_seconds").description("Lease renewal round trips")
        .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(10_000))
        .maximumExpectedValue(Duration.ofSeconds(10)).register(registry);
    renewFailures = Counter.builder("tso_lease_renew_failures_total")
        .description("Lease renewals that failed (error or timeout)").register(registry);
    fencedWritesRefused = Counter.builder("tso_fenced_writes_refused_total")
        .description("Bound writes Redis refused because this node no longer held the lease").register(registry);
    redisErrors = Counter.builder("tso_redis_errors_total").description("Redis calls that failed or timed out")
        .register(registry);
    if (jvm) {
      new JvmMemoryMetrics().bindTo(registry);
      new JvmGcMetrics().bindTo(registry);
      new JvmThreadMetrics().bindTo(registry);
      new ProcessorMetrics().bindTo(registry);
      new UptimeMetrics().bindTo(registry);
    }
  }

  /** Records a request that got timestamps. */
  public void ok(Api api, long elapsedNanos) {
    ok.get(api).increment();
    latency.get(api).record(elapsedNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  /** Records a request that got an error. */
  public void failed(Api api, TsoError error, long elapsedNanos) {
    failed.get(api).get(error).increment();
    latency.get(api).record(elapsedNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  /** Records how late a periodic tick ran on an event loop. */
  public void loopLag(String loop, long lagNanos) {
    loopLag.computeIfAbsent(loop, l -> Timer.builder("tso_event_loop_lag_seconds")
            .description("How late a periodic tick ran on each event loop").tag("loop", l)
            .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(10_000))
            .maximumExpectedValue(Duration.ofSeconds(10)).register(registry))
        .record(lagNanos, java.util.concurrent.TimeUnit.NANOSECONDS);
  }

  /** Counts a campaign by result: won, held, error, refused. */
  public void campaign(String result) {
    campaigns.computeIfAbsent(result, r -> Counter.builder("tso_campaigns_total")
        .description("Election campaigns by result").tag("result", r).register(registry)).increment();
  }

  /** Counts an election record this node could not trust, by kind. */
  public void invalidRecord(String kind) {
    invalidRecords.computeIfAbsent(kind, k -> Counter.builder("tso_election_record_invalid_total")
        .description("Election key values that are not a valid record, by kind").tag("kind", k)
        .register(registry)).increment();
  }

  /** Counts requests a follower forwarded to the leader, by outcome. */
  public void forwarded(String outcome, int n) {
    forwarded.computeIfAbsent(outcome, o -> Counter.builder("tso_forwarded_requests_total")
        .description("Requests forwarded to the leader, by outcome").tag("outcome", o)
        .register(registry)).increment(n);
  }

  /**
   * Counts a leader this node would not forward to: its TLS handshake failed (a certificate that
   * does not name the address in the election record, or not from a trusted CA).
   */
  public void leaderRefused() {
    Counter.builder("tso_forward_leader_refused_total")
        .description("Connections to the recorded leader refused because its TLS certificate did not verify")
        .register(registry).increment();
  }

  /** Registers a gauge read on scrape. */
  public void gauge(String name, String description, Supplier<Number> value) {
    Gauge.builder(name, value).description(description).register(registry);
  }

  /** The Prometheus text exposition. */
  public String scrape() {
    return registry.scrape();
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }
}
