package tso.server;

import java.lang.System.Logger.Level;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.List;

import tso.config.Config;
import tso.core.NodeView;
import tso.loadgen.LoadGenerator;
import tso.loadgen.Settings;

/**
 * The start-up warm-up: before the node reports ready, it drives its own stack (HTTP/1.1, gRPC
 * unary, gRPC stream, closed loop, from a generator inside this JVM) for {@code TSO_WARMUP_MS},
 * so the JIT has compiled the request path before real traffic comes. A cold JVM answered its
 * first gRPC requests hundreds of times slower: on 2 cores it took about 7 s to serve 30,000
 * requests/s at all, and a client that arrived then saw seconds of latency.
 *
 * <p>A node that hands out timestamps itself (standalone) is driven through its real timestamp
 * API: the timestamps it hands out to itself are merely skipped. Driving only the no-op endpoint
 * left the allocator's path and the real answers cold, and the first real load still paid seconds
 * of compiling. A node in Redis mode is driven through the no-op endpoint, which hands out no
 * timestamps and asks nothing of the allocator, the leader or Redis; it is served only while this
 * runs (or when configured), and then only to connections from this host. On a TLS port the
 * generator dials TLS ({@link #tls}).
 *
 * <p>On a small machine the one C2 compiler thread falls behind under the warm-up's own load and
 * leaves methods queued at a lower tier, to be compiled under the first real load. So after
 * {@code TSO_WARMUP_MS} further rounds of traffic follow while the compiler worked more than
 * {@link #QUIET_SHARE} of the last one (up to {@link #MAX_FACTOR} times {@code TSO_WARMUP_MS} in
 * all), and then the warm-up waits (up to {@link #SETTLE_MAX_MS}) until the compiler has been
 * idle for {@link #SETTLE_QUIET_MS}. The node serves timestamps during the
 * warm-up already; only readiness waits for it.
 */
public final class WarmUp {

  private static final System.Logger LOG = System.getLogger(WarmUp.class.getName());

  /** The warm-up drives traffic for at most this many times {@code TSO_WARMUP_MS}. */
  static final long MAX_FACTOR = 3;
  /** Shortest extra round of traffic. */
  static final long ROUND_MIN_MS = 1000;
  /** A round in which the compiler worked less than this share of its time ends the traffic. */
  static final double QUIET_SHARE = 0.1;
  /** The longest the warm-up waits for the JIT compiler to go idle. */
  static final long SETTLE_MAX_MS = 3000;
  /** How long the compiler must have done nothing for the warm-up to count it settled. */
  static final long SETTLE_QUIET_MS = 300;

  private final Config config;
  private volatile boolean running;
  private volatile boolean done;

  public WarmUp(Config config) {
    this.config = config;
    this.done = config.warmupMs() == 0;
  }

  /**
   * True while the warm-up drives the no-op endpoint (a node in Redis mode), which is open for it
   * then; a standalone node warms up through its real API and keeps the endpoint closed.
   */
  public boolean drivesNoop() {
    return running && !config.standalone();
  }

  /**
   * True when a connection comes from this host: its peer is a loopback address, or the very
   * address it reached (a node dialling its own non-loopback listening address). The no-op
   * endpoint that the warm-up opens is served to such connections only: its constant answer is not
   * for clients, which could take it for a timestamp.
   */
  static boolean fromThisHost(io.vertx.core.net.SocketAddress local, io.vertx.core.net.SocketAddress remote) {
    java.net.InetAddress peer = remote == null || remote.host() == null ? null
        : io.netty.util.NetUtil.createInetAddressFromIpAddressString(remote.host());
    if (peer == null) {
      return false;
    }
    if (peer.isLoopbackAddress()) {
      return true;
    }
    java.net.InetAddress self = local == null || local.host() == null ? null
        : io.netty.util.NetUtil.createInetAddressFromIpAddressString(local.host());
    return peer.equals(self);
  }

  /** True once it has finished, or when there is none. */
  public boolean done() {
    return done;
  }

  /** Starts the warm-up on a thread of its own; the node is listening already. */
  public void start() {
    if (done) {
      return;
    }
    running = true;
    Thread t = new Thread(this::run, "tso-warmup");
    t.setDaemon(true);
    t.start();
  }

  private void run() {
    long t0 = System.nanoTime();
    long total = 0;
    String host = config.host();
    if (host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]")) {
      host = "127.0.0.1";
    } else if (host.contains(":") && !host.startsWith("[")) {
      host = "[" + host + "]";
    }
    String url = (config.security().tls() ? "https://" : "http://") + host + ":" + config.port();
    Settings.Tls tls = tls(config.security());
    try {
      boolean noop = !config.standalone();
      java.lang.management.CompilationMXBean jit = java.lang.management.ManagementFactory.getCompilationMXBean();
      boolean watchJit = jit != null && jit.isCompilationTimeMonitoringSupported();
      total += drive(url, tls, noop, config.warmupMs());
      // More rounds while the compiler keeps working under the load: on a small machine its one
      // C2 thread falls behind, methods wait in its queue at a lower tier, and they would be
      // compiled under the first real load instead.
      long round = Math.max(ROUND_MIN_MS, config.warmupMs() / 5);
      int rounds = 0;
      while (watchJit && (System.nanoTime() - t0) / 1_000_000 + round <= config.warmupMs() * MAX_FACTOR) {
        long before = jit.getTotalCompilationTime();
        total += drive(url, tls, noop, round);
        rounds++;
        if (jit.getTotalCompilationTime() - before < round * QUIET_SHARE) {
          break;
        }
      }
      long traffic = System.nanoTime();
      long settledMs = watchJit ? settle(jit) : 0;
      LOG.log(Level.INFO, "warmed up: {0} requests through this node''s own {1} in {2,number,#} ms ({3} rounds after "
              + "the first, until the JIT compiler kept up), then the compiler {4} in {5,number,#} ms; ready", total,
          noop ? "stack (no-op endpoint)" : "timestamp API", (traffic - t0) / 1_000_000, rounds,
          settledMs < 0 ? "was still busy" : "went idle", Math.abs(settledMs));
    } catch (Exception e) {
      LOG.log(Level.WARNING, "warm-up cut short ({0}); ready anyway", e.toString());
    } finally {
      running = false;
      done = true;
    }
  }

  /**
   * Closed-loop traffic for {@code ms}: HTTP/1.1, gRPC unary and a gRPC stream, 32 connections
   * each; gRPC unary has the longest path (a stream, headers and trailers per call): half the
   * time. Returns the requests answered.
   */
  private static long drive(String url, Settings.Tls tls, boolean noop, long ms) throws Exception {
    long answered = 0;
    for (String[] phase : new String[][] {{"http", "1", "30"}, {"grpc", "1", "50"}, {"grpc-stream", "16", "20"}}) {
      long phaseMs = Math.max(100, ms * Integer.parseInt(phase[2]) / 100);
      Settings s = new Settings(List.of(url), phase[0], 0, 32, Integer.parseInt(phase[1]), 1, phaseMs, 0, null, null,
          null, null, true, noop, 1, tls);
      answered += new LoadGenerator(s, new PrintStream(OutputStream.nullOutputStream())).run().responses();
    }
    return answered;
  }

  /**
   * How the warm-up dials a TLS port: it trusts only the node's own certificate (whoever issued
   * it), presents it too (a port with mutual TLS requires a client certificate, and a member's
   * certificate is made for both ends, as the forwarder already needs), and does not check the
   * name, since it dials its own port on loopback, which the certificate need not name.
   */
  static Settings.Tls tls(tso.config.Security security) {
    return security.tls() ? new Settings.Tls(security.tlsCert(), security.tlsCert(), security.tlsKey(), false)
        : Settings.Tls.DEFAULT;
  }

  /**
   * Waits until the JIT compiler has been idle for {@link #SETTLE_QUIET_MS}, at most
   * {@link #SETTLE_MAX_MS}; returns the milliseconds waited, negative when it gave up.
   */
  private static long settle(java.lang.management.CompilationMXBean jit) throws InterruptedException {
    long t0 = System.nanoTime();
    long last = jit.getTotalCompilationTime();
    long quietSince = System.nanoTime();
    while (true) {
      Thread.sleep(50);
      long now = System.nanoTime();
      long total = jit.getTotalCompilationTime();
      if (total != last) {
        last = total;
        quietSince = now;
      } else if ((now - quietSince) / 1_000_000 >= SETTLE_QUIET_MS) {
        return (now - t0) / 1_000_000;
      }
      if ((now - t0) / 1_000_000 >= SETTLE_MAX_MS) {
        return -(now - t0) / 1_000_000;
      }
    }
  }

  /** A node view whose readiness also waits for the warm-up. */
  record Gated(NodeView inner, WarmUp warmUp) implements NodeView {
    @Override
    public String role() {
      return inner.role();
    }

    @Override
    public String nodeId() {
      return inner.nodeId();
    }

    @Override
    public long epoch() {
      return inner.epoch();
    }

    @Override
    public Member leader() {
      return inner.leader();
    }

    @Override
    public boolean ready() {
      return warmUp.done() && inner.ready();
    }
  }
}
