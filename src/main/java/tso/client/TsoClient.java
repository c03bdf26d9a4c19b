package tso.client;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.grpc.client.GrpcClient;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;

/**
 * The oracle's Java client: {@link #next()} from any number of threads or event loops; the client
 * merges concurrent calls into batches on one {@code StreamTimestamps} stream per connection
 * ({@link Batcher}), finds the leader, rides through failovers by sending unanswered batches
 * again, and refuses any answer that would hand out a timestamp out of order ({@link OrderGuard}).
 *
 * <p>Each connection lives on its own event-loop context. A call made on that event loop is queued
 * without any hand-over and answered on the spot; a call from another event loop is handed over and
 * answered back on its own context; a call from a plain thread is answered on the connection's
 * event loop. Every call ends by its deadline.
 *
 * <pre>{@code
 * TsoClient client = TsoClient.create(vertx, List.of("tso-0:8080", "tso-1:8080", "tso-2:8080"),
 *     new TsoClientOptions().setConnections(2));
 * client.next().onSuccess(ts -> System.out.println(ts.value()));
 * }</pre>
 */
public final class TsoClient {

  private final Vertx vertx;
  private final boolean ownVertx;
  private final TsoClientOptions options;
  private final List<String> members;
  private final Lane[] lanes;
  private final Batcher[] all;
  private final AtomicInteger spread = new AtomicInteger();
  private final long deadlineNanos;
  private final int maxCount;
  private final Discovery discovery;
  private final Counts counts;
  private final java.util.IdentityHashMap<Batcher, Outbox> outboxes = new java.util.IdentityHashMap<>();
  private final List<Transport> transports = new ArrayList<>();
  private volatile boolean closed;
  private Future<Void> closing;

  /** The batchers that share one event loop, and the choice among them (that loop's only). */
  private static final class Lane {
    final io.netty.channel.EventLoop loop;
    final List<Batcher> batchers = new ArrayList<>();
    int next;

    Lane(io.netty.channel.EventLoop loop) {
      this.loop = loop;
    }

    Batcher pick() {
      if (batchers.size() == 1) {
        return batchers.get(0);
      }
      Batcher b = batchers.get(next);
      next = next + 1 == batchers.size() ? 0 : next + 1;
      return b;
    }
  }

  /** A client on its own Vert.x instance (one event loop per connection), closed with it. */
  public static TsoClient create(List<String> members, TsoClientOptions options) {
    Vertx vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(options.getConnections())
        .setPreferNativeTransport(true));
    return new TsoClient(vertx, true, members, options);
  }

  /** A client on the caller's Vert.x instance; its connections take event loops in turn. */
  public static TsoClient create(Vertx vertx, List<String> members, TsoClientOptions options) {
    return new TsoClient(vertx, false, members, options);
  }

  private TsoClient(Vertx vertx, boolean ownVertx, List<String> members, TsoClientOptions options) {
    if (members.isEmpty()) {
      throw new IllegalArgumentException("no members given");
    }
    for (String m : members) {
      GrpcTransport.socketAddress(m); // host:port, or IllegalArgumentException
    }
    if (!options.isSsl() && (options.getTrustOptions() != null || options.getKeyCertOptions() != null)) {
      throw new IllegalArgumentException("trust or key/certificate options given with TLS off: setSsl(true)");
    }
    this.vertx = vertx;
    this.ownVertx = ownVertx;
    this.options = new TsoClientOptions(options);
    this.members = List.copyOf(members);
    this.deadlineNanos = TimeUnit.MILLISECONDS.toNanos(options.getDeadlineMs());
    this.maxCount = options.getMaxBatchSize();
    this.discovery = new Discovery(this.members);
    int n = options.getConnections();
    Batcher[] batchers = new Batcher[n];
    this.counts = new Counts(options.getMeterRegistry() == null ? null
        : new ClientMetrics(options.getMeterRegistry(), this::waiting));
    // A call in flight waits at most the RPC timeout past its deadline; keep that within it.
    long rpcTimeoutMs = Math.min(options.getRpcTimeoutMs(), Math.max(10, options.getDeadlineMs()));
    Batcher.Settings settings = new Batcher.Settings()
        .maxInflight(options.getMaxBatchesInFlight())
        .maxBatch(options.getMaxBatchSize())
        .maxWait(TimeUnit.MICROSECONDS.toNanos(options.getMaxBatchWaitMicros()))
        .queueLimit(Math.max(1, options.getMaxWaiting() / n))
        .rpcTimeout(TimeUnit.MILLISECONDS.toNanos(rpcTimeoutMs))
        .retry(true)
        .backoff(TimeUnit.MILLISECONDS.toNanos(options.getReconnectBackoffMinMs()),
            TimeUnit.MILLISECONDS.toNanos(options.getReconnectBackoffMaxMs()));
    OrderGuard guard = new OrderGuard();
    List<Lane> byLoop = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      ContextInternal ctx = ((VertxInternal) vertx).createEventLoopContext();
      // One gRPC client per connection: each has its own HTTP/2 connection to a member.
      GrpcClient grpc = GrpcClient.client(vertx, tls(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
          .setHttp2ClearTextUpgrade(false).setTcpNoDelay(true).setTcpKeepAlive(true)
          .setConnectTimeout((int) options.getConnectTimeoutMs()), options));
      Transport transport = new GrpcTransport(grpc, options.getConnectTimeoutMs(), true);
      Outbox outbox = new Outbox();
      Batcher b = new Batcher(ctx, transport, settings, discovery.route(transport), guard, counts, outbox::flush);
      batchers[i] = b;
      Lane lane = null;
      for (Lane l : byLoop) {
        if (l.loop == ctx.nettyEventLoop()) {
          lane = l;
        }
      }
      if (lane == null) {
        lane = new Lane(ctx.nettyEventLoop());
        byLoop.add(lane);
      }
      lane.batchers.add(b);
      outboxes.put(b, outbox);
      transports.add(transport);
    }
    this.all = batchers;
    this.lanes = byLoop.toArray(new Lane[0]);
  }

  /**
   * TLS on a connection's options when the client has it: ALPN offering h2 only (gRPC), TLS 1.2
   * or 1.3, the trust and client certificate given, and the member's certificate checked to name
   * the host dialled (endpoint identification "HTTPS") unless that was turned off.
   */
  private static HttpClientOptions tls(HttpClientOptions o, TsoClientOptions options) {
    if (!options.isSsl()) {
      return o;
    }
    o.setSsl(true).setUseAlpn(true).setAlpnVersions(List.of(HttpVersion.HTTP_2)).setVerifyHost(options.isVerifyHost())
        .setEnabledSecureTransportProtocols(java.util.Set.of("TLSv1.2", "TLSv1.3"));
    o.getSslOptions().setHostnameVerificationAlgorithm(options.isVerifyHost() ? "HTTPS" : "");
    if (options.getTrustOptions() != null) {
      o.setTrustOptions(options.getTrustOptions().copy());
    }
    if (options.getKeyCertOptions() != null) {
      o.setKeyCertOptions(options.getKeyCertOptions().copy());
    }
    return o;
  }

  /** One timestamp. */
  public Future<Timestamp> next() {
    return call(1, true);
  }

  /** {@code count} consecutive timestamps in one millisecond, 1 ≤ count ≤ the maximum batch size. */
  public Future<TimestampRange> next(int count) {
    return call(count, false);
  }

  /**
   * One timestamp, waiting for it on this thread; for plain threads, never an event loop.
   *
   * @throws TsoClientException    when the call fails (DEADLINE_EXCEEDED at the latest)
   * @throws IllegalStateException on an event-loop thread, where waiting would stall it
   */
  public Timestamp nextBlocking() {
    if (Context.isOnEventLoopThread()) {
      throw new IllegalStateException("nextBlocking() would block an event loop; use next()");
    }
    try {
      return next().toCompletionStage().toCompletableFuture()
          .get(options.getDeadlineMs() + options.getRpcTimeoutMs() + 1_000, TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof TsoClientException t) {
        throw t;
      }
      throw new TsoClientException(TsoClientException.Code.UNAVAILABLE, String.valueOf(e.getCause()));
    } catch (TimeoutException e) {
      throw new TsoClientException(TsoClientException.Code.DEADLINE_EXCEEDED, "no answer within the call's deadline");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TsoClientException(TsoClientException.Code.CLOSED, "interrupted while waiting");
    }
  }

  @SuppressWarnings("unchecked")
  private <T> Future<T> call(int count, boolean single) {
    if (count < 1 || count > maxCount) {
      return Future.failedFuture(new TsoClientException(TsoClientException.Code.INVALID_ARGUMENT,
          "count " + count + " is out of range 1.." + maxCount));
    }
    if (closed) {
      return Future.failedFuture(new TsoClientException(TsoClientException.Code.CLOSED, "the client is closed"));
    }
    long deadline = System.nanoTime() + deadlineNanos;
    for (Lane lane : lanes) {
      if (lane.loop.inEventLoop()) {
        Batcher b = lane.pick();
        ClientCall<T> c = new ClientCall<>(count, deadline, single, ContextInternal.current(), outboxes.get(b));
        b.submit(c);
        return c.promise.future();
      }
    }
    Batcher b = all[Math.floorMod(spread.getAndIncrement(), all.length)];
    ClientCall<T> c = new ClientCall<>(count, deadline, single, ContextInternal.current(), outboxes.get(b));
    b.offer(c);
    return c.promise.future();
  }

  /** Calls waiting in the client now, queued or in flight. */
  public int waiting() {
    int n = 0;
    for (Batcher b : all) {
      n += b.queued();
    }
    return n;
  }

  /** Answers refused so far (a count that did not match, a lower epoch, a range not above what was handed out). */
  public long refusedAnswers() {
    return counts.refused.sum();
  }

  /** Calls sent again so far after their stream failed or their answer was refused. */
  public long retries() {
    return counts.retried.sum();
  }

  /** Times the serving member changed. */
  public long failovers() {
    return discovery.failovers.sum();
  }

  /** The members given at creation. */
  public List<String> members() {
    return members;
  }

  /**
   * Fails what waits with CLOSED, closes the connections (and the Vert.x instance, if the client
   * made it). Calling it again returns the same future.
   */
  public synchronized Future<Void> close() {
    if (closing != null) {
      return closing;
    }
    closed = true;
    closing = closeAll();
    return closing;
  }

  private Future<Void> closeAll() {
    List<Future<Void>> closing = new ArrayList<>();
    for (Batcher b : all) {
      closing.add(b.close());
    }
    return Future.join(closing).transform(ar -> {
      List<Future<Void>> more = new ArrayList<>();
      for (Transport t : transports) {
        more.add(t.close());
      }
      return Future.join(more);
    }).transform(ar -> ownVertx ? vertx.close() : Future.<Void>succeededFuture());
  }

  /** A caller's call: answered inline on its own event loop, else handed back to its context. */
  private static final class ClientCall<T> extends Call {
    final Promise<T> promise = Promise.promise();
    final boolean single;
    final ContextInternal context;
    final Outbox outbox;
    Object result;

    ClientCall(int count, long deadlineNanos, boolean single, ContextInternal context, Outbox outbox) {
      super(count, deadlineNanos);
      this.single = single;
      this.context = context == null || !context.isEventLoopContext() ? null : context;
      this.outbox = outbox;
    }

    @Override
    protected void succeed(long first, long epoch) {
      deliver(single ? new Timestamp(first, epoch) : new TimestampRange(first, count, epoch));
    }

    @Override
    protected void fail(TsoClientException error) {
      deliver(error);
    }

    @Override
    protected void rejected(TsoClientException error) {
      promise.tryFail(error); // on the caller's own thread
    }

    void deliver(Object r) {
      if (context == null || context == ContextInternal.current()) {
        complete(r);
      } else if (context.inThread()) {
        context.dispatch(r, this::complete);
      } else {
        result = r;
        outbox.add(this);
      }
    }

    @SuppressWarnings("unchecked")
    void complete(Object r) {
      if (r instanceof TsoClientException e) {
        promise.tryFail(e);
      } else {
        promise.tryComplete((T) r);
      }
    }
  }

  /** Answers for callers on other event loops, handed back once per round: one task per context. */
  private static final class Outbox {
    private final ArrayList<ContextInternal> contexts = new ArrayList<>();
    private final ArrayList<ArrayList<ClientCall<?>>> lists = new ArrayList<>();

    void add(ClientCall<?> c) {
      for (int i = 0, n = contexts.size(); i < n; i++) {
        if (contexts.get(i) == c.context) {
          lists.get(i).add(c);
          return;
        }
      }
      contexts.add(c.context);
      ArrayList<ClientCall<?>> list = new ArrayList<>();
      list.add(c);
      lists.add(list);
    }

    void flush() {
      for (int i = 0, n = contexts.size(); i < n; i++) {
        ArrayList<ClientCall<?>> list = lists.get(i);
        contexts.get(i).runOnContext(v -> {
          for (ClientCall<?> c : list) {
            c.complete(c.result);
          }
        });
      }
      contexts.clear();
      lists.clear();
    }
  }

  /** Counts what the batchers report, and passes it on to the metrics when there are any. */
  private static final class Counts implements Batcher.Events {
    final LongAdder refused = new LongAdder();
    final LongAdder retried = new LongAdder();
    final ClientMetrics metrics;

    Counts(ClientMetrics metrics) {
      this.metrics = metrics;
    }

    @Override
    public void sent(int calls, int timestamps) {
      if (metrics != null) {
        metrics.sent(calls, timestamps);
      }
    }

    @Override
    public void answered(long rpcNanos, int calls) {
      if (metrics != null) {
        metrics.answered(rpcNanos, calls);
      }
    }

    @Override
    public void retried(int calls) {
      retried.add(calls);
      if (metrics != null) {
        metrics.retried(calls);
      }
    }

    @Override
    public void refused(String why) {
      refused.increment();
      if (metrics != null) {
        metrics.refused(why);
      }
    }

    @Override
    public void failed(TsoClientException.Code code, int calls) {
      if (metrics != null) {
        metrics.failed(code, calls);
      }
    }
  }

  /**
   * Finding the leader, shared by the connections: the last leader known (from an answer, a
   * {@code tso-leader} trailer, or {@code GetLeader}); when none is, members are asked in turn.
   */
  private final class Discovery {
    final List<String> members;
    final java.util.concurrent.atomic.AtomicReference<String> leader = new java.util.concurrent.atomic.AtomicReference<>();
    final java.util.concurrent.atomic.AtomicReference<String> serving = new java.util.concurrent.atomic.AtomicReference<>();
    final AtomicInteger start = new AtomicInteger();
    final LongAdder failovers = new LongAdder();

    Discovery(List<String> members) {
      this.members = members;
    }

    Batcher.Route route(Transport transport) {
      return new Batcher.Route() {
        @Override
        public Future<String> target() {
          String known = leader.get();
          if (known != null) {
            return Future.succeededFuture(known);
          }
          return ask(transport, Math.floorMod(start.getAndIncrement(), members.size()), 0, null);
        }

        @Override
        public void ended(String address, String code, String named) {
          if (named != null && !named.equals(address)) {
            leader.set(named);
          } else if (!code.equals("RESOURCE_EXHAUSTED") && !code.equals("INVALID_ARGUMENT")) {
            leader.compareAndSet(address, null);
          }
        }

        @Override
        public void served(String address) {
          String was = serving.get();
          if (!address.equals(was) && serving.compareAndSet(was, address) && was != null) {
            failovers.increment();
            if (counts.metrics != null) {
              counts.metrics.failover();
            }
          }
        }
      };
    }

    /** Asks members from {@code from} on, {@code tried} of them so far, until one names a leader. */
    private Future<String> ask(Transport transport, int from, int tried, String lastError) {
      if (tried == members.size()) {
        return Future.failedFuture("no member named a leader" + (lastError == null ? "" : " (" + lastError + ")"));
      }
      String member = members.get((from + tried) % members.size());
      Function<String, Future<String>> next = err -> ask(transport, from, tried + 1, err);
      return transport.leader(member).transform(ar -> {
        if (ar.succeeded() && ar.result() != null) {
          leader.compareAndSet(null, ar.result());
          return Future.succeededFuture(ar.result());
        }
        return next.apply(ar.failed() ? member + ": " + ar.cause().getMessage() : member + " knows no leader");
      });
    }
  }
}
