package tso.loadgen;

import java.nio.file.Path;
import java.util.List;

/**
 * One run of the load generator.
 *
 * @param targets     base URLs of the members (http://host:port, or https://host:port for TLS; one
 *                    scheme for all)
 * @param protocol    http, grpc or grpc-stream
 * @param rate        requests per second, open loop; 0 for closed loop
 * @param connections connections in all, spread over the targets
 * @param concurrency requests outstanding per connection at most (HTTP/1.1: pipelined)
 * @param count       timestamps per request
 * @param noop        drive the server's no-op baseline (POST /v1/noop, gRPC tso.v1.Noop) instead of
 *                    the timestamp API; its constant answers are not checked
 * @param threads     event-loop threads of the generator (each drives a share of the connections)
 * @param tls         what https targets are dialled with ({@link Tls#DEFAULT} when null)
 */
public record Settings(List<String> targets, String protocol, double rate, int connections, int concurrency,
    int count, long durationMs, long warmupMs, String json, String hgrm, Double maxP99Ms, Long maxErrors,
    boolean quiet, boolean noop, int threads, Tls tls) {

  public Settings {
    tls = tls == null ? Tls.DEFAULT : tls;
  }

  /** Without TLS material: plain http targets, or https ones checked against the JDK's trust store. */
  public Settings(List<String> targets, String protocol, double rate, int connections, int concurrency,
      int count, long durationMs, long warmupMs, String json, String hgrm, Double maxP99Ms, Long maxErrors,
      boolean quiet, boolean noop, int threads) {
    this(targets, protocol, rate, connections, concurrency, count, durationMs, warmupMs, json, hgrm, maxP99Ms,
        maxErrors, quiet, noop, threads, Tls.DEFAULT);
  }

  public long outstandingLimit() {
    return (long) connections * concurrency;
  }

  /** True when the targets are https:// ones (TLS). */
  public boolean https() {
    return !targets.isEmpty() && targets.get(0).startsWith("https://");
  }

  /**
   * TLS for https targets: the server's certificate must chain to {@code ca} and name the host
   * dialled; {@code cert} and {@code key} are presented when the server asks (mutual TLS).
   *
   * @param ca   PEM bundle to trust, or null for the JDK's trust store
   * @param cert PEM client certificate (chain), or null for none
   * @param key  its PEM private key (PKCS#8), set with {@code cert}
   * @param verifyHost check that the server's certificate names the host dialled (always, from the
   *     command line; a node's warm-up dials its own port on loopback, which its certificate need
   *     not name, and trusts only that certificate)
   */
  public record Tls(Path ca, Path cert, Path key, boolean verifyHost) {
    public static final Tls DEFAULT = new Tls(null, null, null);

    public Tls {
      if ((cert == null) != (key == null)) {
        throw new IllegalArgumentException("a client certificate and its key go together");
      }
    }

    public Tls(Path ca, Path cert, Path key) {
      this(ca, cert, key, true);
    }
  }
}
