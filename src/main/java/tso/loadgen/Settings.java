package tso.loadgen;

import java.util.List;

/**
 * One run of the load generator.
 *
 * @param targets     base URLs of the members (http://host:port)
 * @param protocol    http, grpc or grpc-stream
 * @param rate        requests per second, open loop; 0 for closed loop
 * @param connections connections in all, spread over the targets
 * @param concurrency requests outstanding per connection at most (HTTP/1.1: pipelined)
 * @param count       timestamps per request
 * @param noop        drive the server's no-op baseline (POST /v1/noop, gRPC tso.v1.Noop) instead of
 *                    the timestamp API; its constant answers are not checked
 * @param threads     event-loop threads of the generator (each drives a share of the connections)
 */
public record Settings(List<String> targets, String protocol, double rate, int connections, int concurrency,
    int count, long durationMs, long warmupMs, String json, String hgrm, Double maxP99Ms, Long maxErrors,
    boolean quiet, boolean noop, int threads) {

  public long outstandingLimit() {
    return (long) connections * concurrency;
  }
}
