package tso.server;

import java.lang.System.Logger.Level;
import java.io.OutputStream;
import java.io.PrintStream;
import java.util.List;

import tso.config.Config;
import tso.loadgen.LoadGenerator;
import tso.loadgen.Report;
import tso.loadgen.Settings;

/**
 * The start-up warm-up: before the node reports ready, it drives its own stack through the no-op
 * endpoint (HTTP/1.1, gRPC unary, gRPC stream, closed loop, from a generator inside this JVM) for
 * {@code TSO_WARMUP_MS}, so the JIT has compiled the request path before real traffic comes. A
 * cold JVM answered its first gRPC requests hundreds of times slower: on 2 cores it took about
 * 7 s to serve 30,000 requests/s at all, and a client that arrived then saw seconds of latency.
 * The no-op sink hands out no timestamps, asks nothing of the allocator or of Redis, and is
 * served only while this runs (or when configured). The node serves timestamps during the
 * warm-up already; only readiness waits for it.
 */
public final class WarmUp {

  private static final System.Logger LOG = System.getLogger(WarmUp.class.getName());

  private final Config config;
  private volatile boolean running;
  private volatile boolean done;

  public WarmUp(Config config) {
    this.config = config;
    this.done = config.warmupMs() == 0;
  }

  /** True while the warm-up traffic runs (the no-op endpoint is open for it). */
  public boolean running() {
    return running;
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
    String url = "http://" + host + ":" + config.port();
    try {
      // gRPC unary has the longest path (a stream, headers and trailers per call): half the time.
      for (String[] phase : new String[][] {{"http", "1", "30"}, {"grpc", "1", "50"}, {"grpc-stream", "16", "20"}}) {
        long ms = Math.max(100, config.warmupMs() * Integer.parseInt(phase[2]) / 100);
        Settings s = new Settings(List.of(url), phase[0], 0, 32, Integer.parseInt(phase[1]), 1, ms, 0, null, null,
            null, null, true, true, 1);
        Report r = new LoadGenerator(s, new PrintStream(OutputStream.nullOutputStream())).run();
        total += r.responses();
      }
      LOG.log(Level.INFO, "warmed up: {0} requests through this node''s own stack in {1,number,#} ms; ready",
          total, (System.nanoTime() - t0) / 1_000_000);
    } catch (Exception e) {
      LOG.log(Level.WARNING, "warm-up cut short ({0}); ready anyway", e.toString());
    } finally {
      running = false;
      done = true;
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
