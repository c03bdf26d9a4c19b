package tso.client;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The client's metrics in an application's Micrometer registry, registered once per client. Only
 * loaded when a registry is given, so an application without Micrometer on its class path never
 * touches it.
 */
final class ClientMetrics implements Batcher.Events {

  private final MeterRegistry registry;
  private final DistributionSummary batchSize;
  private final Timer rpc;
  private final Counter retries;
  private final Counter failovers;
  private final Map<String, Counter> refused = new ConcurrentHashMap<>();
  private final Map<TsoClientException.Code, Counter> failed = new EnumMap<>(TsoClientException.Code.class);

  ClientMetrics(MeterRegistry registry, Supplier<Number> queueDepth) {
    this.registry = registry;
    batchSize = DistributionSummary.builder("tso_client_batch_size").description("Timestamps per batch sent")
        .baseUnit("timestamps").publishPercentileHistogram().register(registry);
    rpc = Timer.builder("tso_client_rpc_seconds").description("From a batch sent to its answer")
        .publishPercentileHistogram().register(registry);
    retries = Counter.builder("tso_client_retries_total")
        .description("Calls sent again after their stream failed or their answer was refused").register(registry);
    failovers = Counter.builder("tso_client_failovers_total")
        .description("Times the serving member changed").register(registry);
    for (TsoClientException.Code c : TsoClientException.Code.values()) {
      failed.put(c, Counter.builder("tso_client_calls_failed_total").description("Calls that failed, by code")
          .tag("code", c.name()).register(registry));
    }
    Gauge.builder("tso_client_queue_depth", () -> queueDepth.get()).description("Calls waiting, queued or in flight")
        .register(registry);
  }

  void failover() {
    failovers.increment();
  }

  @Override
  public void sent(int calls, int timestamps) {
    batchSize.record(timestamps);
  }

  @Override
  public void answered(long rpcNanos, int calls) {
    rpc.record(rpcNanos, TimeUnit.NANOSECONDS);
  }

  @Override
  public void retried(int calls) {
    retries.increment(calls);
  }

  @Override
  public void refused(String why) {
    refused.computeIfAbsent(why, w -> Counter.builder("tso_client_answers_refused_total")
        .description("Answers refused: a count that does not match, a lower epoch, or a range not above what was handed out")
        .tag("reason", w).register(registry)).increment();
  }

  @Override
  public void failed(TsoClientException.Code code, int calls) {
    failed.get(code).increment(calls);
  }
}
