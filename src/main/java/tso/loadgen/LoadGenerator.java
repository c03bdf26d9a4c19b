package tso.loadgen;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

import tso.client.TsoClient;
import tso.client.TsoClientOptions;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * Drives members with timestamp requests and measures them.
 *
 * <p>Open loop (rate &gt; 0): request k is due at {@code start + k / rate}, whatever happened to
 * the ones before; when every connection is busy it waits in a backlog, and its latency is still
 * measured from the time it was due, so a stalled server shows up in the latency instead of
 * slowing the sender down (no coordinated omission). Closed loop (rate 0): each connection sends
 * its next request when the last one is answered, and latency is measured from the send.
 *
 * <p>The work is split into lanes, one per event loop, each with its share of the connections
 * and of the rate. Every answer is kept and checked at the end for timestamps handed out twice and
 * for real-time order, and, with {@link #history(Path)}, also streamed to a file for a checker
 * that looks at several generators together.
 */
public final class LoadGenerator {

  /** How often an open-loop lane checks what is due. */
  static final long PACE_NANOS = 50_000;
  /** Largest latency the histograms hold: a minute. */
  static final long MAX_LATENCY_NANOS = TimeUnit.MINUTES.toNanos(1);

  private final Settings s;
  private final PrintStream out;
  private final Recorder interval = new Recorder(MAX_LATENCY_NANOS, 3);
  private final LongAdder intervalErrors = new LongAdder();
  private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
  private final LongAdder responses = new LongAdder();
  private final LongAdder unsent = new LongAdder();
  /** One entry per second of the run: what the per-second line says. */
  private final List<Report.Second> timeline = java.util.Collections.synchronizedList(new ArrayList<>());
  private Path historyFile;
  private long connectBackoffMs;

  public LoadGenerator(Settings settings, PrintStream out) {
    if (settings.targets().stream().map(t -> t.startsWith("https://")).distinct().count() > 1) {
      throw new IllegalArgumentException("targets mix http:// and https://: use one scheme for every member");
    }
    this.s = settings;
    this.out = out;
  }

  /**
   * Also writes every successful answer of the run, warm-up included, to this file
   * ({@link HistoryLog}); not for the no-op baseline, whose answers are constant.
   */
  public LoadGenerator history(Path file) {
    this.historyFile = file;
    return this;
  }

  /**
   * After a connection could not be opened (refused, or failed to connect), leave it unused for
   * this long, as a client backs off before it reconnects; 0 (the default) tries again with the
   * next request. Without it, a member that is down takes most of the load: its connections fail
   * at once and so are idle first, again and again.
   */
  public LoadGenerator connectBackoff(long ms) {
    this.connectBackoffMs = ms;
    return this;
  }

  /** Runs to the end and returns the report. */
  public Report run() throws Exception {
    int lanes = Math.max(1, Math.min(s.connections(), s.threads()));
    HistoryLog history = historyFile == null || s.noop() ? null : new HistoryLog(historyFile);
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(lanes).setPreferNativeTransport(true));
    List<Lane> all = new ArrayList<>();
    TsoClient client = null;
    try {
      // TLS for https targets, made once: the connections share it.
      Transports.Secure secure = s.https() ? Transports.Secure.create(vertx, s.tls(), s.protocol()) : null;
      for (int i = 0; i < lanes; i++) {
        all.add(new Lane(vertx, i, lanes, history == null ? null : history.sink(), secure));
      }
      if (s.protocol().equals("client")) {
        // After the lanes, whose contexts took the event loops in turn: the client's connections
        // take them in turn too, so each lane's callers find connections on their own event loop.
        client = TsoClient.create(vertx, s.targets().stream().map(t -> java.net.URI.create(t).getAuthority()).toList(),
            clientOptions());
        for (Lane lane : all) {
          lane.useClient(client);
        }
      }
      long start = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(100);
      long measuredStartEpochMs = System.currentTimeMillis() + 100 + s.warmupMs();
      long warmupEnd = start + TimeUnit.MILLISECONDS.toNanos(s.warmupMs());
      long end = warmupEnd + TimeUnit.MILLISECONDS.toNanos(s.durationMs());
      List<Future<Void>> finished = new ArrayList<>();
      for (Lane lane : all) {
        finished.add(lane.start(start, warmupEnd, end));
      }
      long second = vertx.setPeriodic(1000, id -> progress(start, warmupEnd));
      Future.all(finished).toCompletionStage().toCompletableFuture()
          .get(s.warmupMs() + s.durationMs() + 60_000, TimeUnit.MILLISECONDS);
      vertx.cancelTimer(second);
      List<Operations> parts = new ArrayList<>();
      Histogram total = new Histogram(MAX_LATENCY_NANOS, 3);
      Histogram failed = new Histogram(MAX_LATENCY_NANOS, 3);
      java.util.BitSet answered = new java.util.BitSet();
      for (Lane lane : all) {
        lane.copyInto(parts, total, failed, answered);
      }
      int measuredMs = (int) TimeUnit.NANOSECONDS.toMillis(end - warmupEnd);
      if (history != null) {
        HistoryLog h = history;
        history = null; // closed once, here, or below when the run failed
        closeHistory(h, all);
      }
      return new Report(s, total, responses.sum(), errorCounts(), unsent.sum(), Operations.merged(parts).check(), (end - warmupEnd) / 1e9,
          failed, longestGapMs(answered, measuredMs), measuredStartEpochMs, List.copyOf(timeline));
    } finally {
      if (client != null) {
        client.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      if (history != null) {
        // A run that failed still leaves what it saw (the event loops are closed now); the
        // run's own failure is the one reported.
        try {
          closeHistory(history, all);
        } catch (IOException e) {
          out.println("history: " + e.getMessage());
        }
      }
    }
  }

  /** The client's options for {@code --protocol client}: the run's connections, and its TLS. */
  private TsoClientOptions clientOptions() {
    TsoClientOptions o = new TsoClientOptions().setConnections(s.connections())
        .setMaxBatchSize(Math.max(TsoClientOptions.DEFAULT_MAX_BATCH_SIZE, s.count()));
    if (s.https()) {
      o.setSsl(true).setVerifyHost(s.tls().verifyHost());
      if (s.tls().ca() != null) {
        o.setTrustOptions(new io.vertx.core.net.PemTrustOptions().addCertPath(s.tls().ca().toString()));
      }
      if (s.tls().cert() != null) {
        o.setKeyCertOptions(new io.vertx.core.net.PemKeyCertOptions().setCertPath(s.tls().cert().toString())
            .setKeyPath(s.tls().key().toString()));
      }
    }
    return o;
  }

  private static void closeHistory(HistoryLog history, List<Lane> lanes) throws IOException {
    for (Lane lane : lanes) {
      lane.sink.flush();
    }
    history.close();
    if (history.failure() != null) {
      throw new IOException("history " + history.path() + ": " + history.failure(), history.failure());
    }
  }

  /**
   * The longest stretch of whole milliseconds of the measured time in which no answer succeeded:
   * {length, start} in milliseconds from the start of the measured time.
   */
  static int[] longestGapMs(java.util.BitSet answered, int measuredMs) {
    int longest = 0;
    int at = 0;
    int from = 0;
    while (from < measuredMs) {
      int gapStart = answered.nextClearBit(from);
      if (gapStart >= measuredMs) {
        break;
      }
      int gapEnd = Math.min(measuredMs, answered.nextSetBit(gapStart) < 0 ? measuredMs : answered.nextSetBit(gapStart));
      if (gapEnd - gapStart > longest) {
        longest = gapEnd - gapStart;
        at = gapStart;
      }
      from = gapEnd;
    }
    return new int[] {longest, at};
  }

  private Map<String, Long> errorCounts() {
    Map<String, Long> m = new java.util.TreeMap<>();
    errors.forEach((k, v) -> m.put(k, v.sum()));
    return m;
  }

  private void progress(long start, long warmupEnd) {
    Histogram h = interval.getIntervalHistogram();
    long now = System.nanoTime();
    long t = (now - start) / 1_000_000_000L;
    long errs = intervalErrors.sumThenReset();
    timeline.add(new Report.Second(t, now < warmupEnd, h.getTotalCount(), errs, h.getValueAtPercentile(50) / 1e6,
        h.getValueAtPercentile(99) / 1e6, h.getMaxValue() / 1e6));
    if (!s.quiet()) {
      out.printf("%4ds%s rate=%d/s p50=%.3fms p99=%.3fms max=%.3fms errors=%d%n", t,
          now < warmupEnd ? " (warm-up)" : "", h.getTotalCount(), h.getValueAtPercentile(50) / 1e6,
          h.getValueAtPercentile(99) / 1e6, h.getMaxValue() / 1e6, errs);
    }
  }

  /** A share of the connections and of the rate, on one event loop. */
  private final class Lane {
    private final Vertx vertx;
    private final List<Transport> connections = new ArrayList<>();
    private final ArrayDeque<Transport> idle = new ArrayDeque<>();
    private final ArrayDeque<Long> backlog = new ArrayDeque<>();
    private final Operations ops = new Operations();
    private final Histogram histogram = new Histogram(MAX_LATENCY_NANOS, 3);
    private final Histogram failedHistogram = new Histogram(MAX_LATENCY_NANOS, 3);
    /** Milliseconds of the measured time (from its start) in which an answer succeeded. */
    private final java.util.BitSet answered = new java.util.BitSet();
    private final double rate;
    private Context context;
    private long start;
    private long warmupEnd;
    private long end;
    /** When the next request is due, in nanoseconds after {@link #start}. */
    private double nextDue;
    private long outstanding;
    private volatile boolean stopped;
    private boolean warm;
    private final Promise<Void> done = Promise.promise();
    /** Where this lane's answers are written ({@code --history}), or null. */
    private final HistoryLog.Sink sink;
    /** Each connection's index in the run, as the history names it. */
    private final java.util.IdentityHashMap<Transport, Integer> ids = new java.util.IdentityHashMap<>();

    Lane(Vertx vertx, int index, int lanes, HistoryLog.Sink sink, Transports.Secure secure) {
      this.vertx = vertx;
      this.sink = sink;
      int mine = 0;
      for (int c = index; c < s.connections(); c += lanes) {
        mine++;
        if (!s.protocol().equals("client")) {
          Transport t = Transports.create(vertx, s.protocol(), s.targets().get(c % s.targets().size()), s.noop(),
              secure);
          connections.add(t);
          ids.put(t, c);
        }
      }
      this.rate = s.rate() * mine / s.connections();
      this.share = mine;
      this.first = index;
      this.lanes = lanes;
      fillIdle();
    }

    private final int share;
    private final int first;
    private final int lanes;

    /** With {@code --protocol client}: this lane's callers, as C × N callers of the one client in all. */
    void useClient(TsoClient client) {
      for (int k = 0, c = first; k < share; k++, c += lanes) {
        Transport t = new ClientTransport(client);
        connections.add(t);
        ids.put(t, c);
      }
      fillIdle();
    }

    private void fillIdle() {
      idle.clear();
      for (int k = 0; k < s.concurrency(); k++) {
        idle.addAll(connections);
      }
    }

    Future<Void> start(long start, long warmupEnd, long end) {
      this.start = start;
      this.warmupEnd = warmupEnd;
      this.end = end;
      context = vertx.getOrCreateContext();
      context.runOnContext(v -> {
        if (rate > 0) {
          startPacer();
        } else {
          long wait = Math.max(1, TimeUnit.NANOSECONDS.toMillis(start - System.nanoTime()));
          vertx.setTimer(wait, id -> {
            while (!idle.isEmpty()) {
              fire(idle.pollFirst(), System.nanoTime());
            }
          });
        }
      });
      return done.future();
    }

    /**
     * Vert.x timers tick every millisecond at best, and a request sent up to a millisecond after
     * it was due would carry that delay in its latency; the lane schedules itself on its event
     * loop's own timer queue instead, which takes nanosecond delays (epoll's timer is
     * finer than a millisecond), every {@link #PACE_NANOS} or sooner when a request is due sooner.
     * No extra thread and no cross-thread wake-up: on a machine the generator shares with the
     * server, those cost the server CPU.
     */
    private void startPacer() {
      io.netty.channel.EventLoop loop = ((io.vertx.core.internal.ContextInternal) context).nettyEventLoop();
      Runnable[] self = new Runnable[1];
      self[0] = () -> {
        tick();
        if (!stopped) {
          long delay = Math.max(1_000, Math.min(PACE_NANOS, start + (long) nextDue - System.nanoTime()));
          loop.schedule(self[0], delay, TimeUnit.NANOSECONDS);
        }
      };
      self[0].run();
    }

    private void tick() {
      if (stopped) {
        return;
      }
      long now = System.nanoTime();
      if (now - end >= 0) {
        stopped = true;
        unsent.add(backlog.size());
        backlog.clear();
        maybeDone();
        return;
      }
      if (now - start < 0) {
        return;
      }
      if (!warm && now - warmupEnd >= 0) {
        // Requests due during the warm-up and not yet sent are dropped: a backlog built while the
        // JVMs were still compiling must not spill into the measured time. A backlog that builds
        // again after this is the system's own, and is measured.
        warm = true;
        while (!backlog.isEmpty() && backlog.peekFirst() - warmupEnd < 0) {
          backlog.pollFirst();
        }
      }
      long elapsed = now - start;
      while (nextDue <= elapsed) {
        long intended = start + (long) nextDue;
        nextDue += 1e9 / rateAt(intended);
        Transport c = idle.pollFirst();
        if (c == null) {
          backlog.addLast(intended);
        } else {
          fire(c, intended);
        }
      }
    }

    /**
     * The rate at a moment: the target once measuring, and during the warm-up a ramp from a tenth
     * of it to all of it over the first half, then the target. Both JVMs are still compiling then;
     * at the full rate from the first instant their threads would take the cores from the compiler
     * threads and the warm-up would end before the code is compiled.
     */
    private double rateAt(long t) {
      long ramp = (warmupEnd - start) / 2;
      if (t - warmupEnd >= 0 || ramp <= 0 || t - start >= ramp) {
        return rate;
      }
      return rate * (0.1 + 0.9 * (double) (t - start) / ramp);
    }

    private void fire(Transport c, long intended) {
      outstanding++;
      long sent = System.nanoTime();
      c.send(s.count()).onComplete(ar -> {
        outstanding--;
        long now = System.nanoTime();
        long latency = now - (rate > 0 ? intended : sent);
        boolean measured = intended - warmupEnd >= 0;
        if (ar.succeeded()) {
          if (!s.noop()) {
            ops.add(sent, now, ar.result(), s.count());
            if (sink != null) {
              sink.add(sent, now, ar.result(), c.epoch(), s.count(), ids.get(c));
            }
          }
          if (measured) {
            record(latency);
            responses.increment();
            long ms = (now - warmupEnd) / 1_000_000;
            if (ms >= 0 && ms < Integer.MAX_VALUE) {
              answered.set((int) ms);
            }
          } else {
            interval.recordValue(Math.min(latency, MAX_LATENCY_NANOS));
          }
        } else {
          intervalErrors.increment();
          if (measured) {
            String code = ar.cause() instanceof Transport.Failure f ? f.code : ar.cause().getClass().getSimpleName();
            errors.computeIfAbsent(code, k -> new LongAdder()).increment();
            failedHistogram.recordValue(Math.min(latency, MAX_LATENCY_NANOS));
          }
          if (connectBackoffMs > 0 && ar.cause() instanceof Transport.Failure f
              && (f.code.equals("connection_refused") || f.code.equals("connect_failed"))) {
            // The member is not there: this connection sits out a while instead of taking every
            // request due (it fails at once, so it would be idle first, again and again).
            ((io.vertx.core.internal.ContextInternal) context).nettyEventLoop()
                .schedule(() -> next(c, System.nanoTime()), connectBackoffMs, TimeUnit.MILLISECONDS);
            return;
          }
        }
        next(c, now);
      });
    }

    private void next(Transport c, long now) {
      if (now - end >= 0) {
        idle.addLast(c);
        maybeDone();
        return;
      }
      if (rate == 0) {
        fire(c, now);
      } else if (!backlog.isEmpty()) {
        fire(c, backlog.pollFirst());
      } else {
        idle.addLast(c);
      }
    }

    private void record(long latency) {
      long v = Math.min(latency, MAX_LATENCY_NANOS);
      interval.recordValue(v);
      histogram.recordValue(v);
    }

    private void maybeDone() {
      if (outstanding == 0 && System.nanoTime() - end >= 0 && !done.future().isComplete()) {
        List<Future<Void>> closes = new ArrayList<>();
        for (Transport t : connections) {
          closes.add(t.close());
        }
        Future.all(closes).onComplete(ar -> done.tryComplete());
      }
    }

    /** Read once the lane has finished (its future completed). */
    void copyInto(List<Operations> all, Histogram into, Histogram failedInto, java.util.BitSet answeredInto) {
      all.add(ops);
      into.add(histogram);
      failedInto.add(failedHistogram);
      answeredInto.or(answered);
    }
  }
}
