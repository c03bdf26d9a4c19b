package tso.loadgen;

import java.util.List;

/**
 * One run of the load generator.
 *
 * @param targets     base URLs of the members (http://host:port)
 * @param protocol    http, grpc or grpc-stream
 * @param rate        requests per second, open loop; 0 for closed loop
 * @param connections connections in all, spread over the targets
 * @param concurrency requests outstanding per connection at most (HTTP/1.1: 1)
 * @param count       timestamps per request
 */
public record Settings(List<String> targets, String protocol, double rate, int connections, int concurrency,
    int count, long durationMs, long warmupMs, String json, String hgrm, Double maxP99Ms, Long maxErrors,
    boolean quiet) {

  public long outstandingLimit() {
    return (long) connections * ("http".equals(protocol) ? 1 : concurrency);
  }
}
