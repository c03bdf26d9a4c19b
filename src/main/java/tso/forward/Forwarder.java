package tso.forward;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.grpc.client.GrpcClient;

import java.util.concurrent.TimeUnit;

import tso.client.Batcher;
import tso.client.Call;
import tso.client.GrpcTransport;
import tso.client.OrderGuard;
import tso.client.TsoClientException;
import tso.core.Replies;
import tso.core.TsoError;
import tso.core.TsoRequest;
import tso.log.RateLimited;
import tso.metrics.TsoMetrics;

/**
 * A follower's path to the leader, on the client's {@link Batcher}: requests from every event loop
 * are merged into batched upstream requests on one {@code StreamTimestamps} call, each answer split
 * back into the requests it served (the ranges stay contiguous and inside one millisecond, and an
 * answer that would go back is refused). At most {@code maxInflight} batches are outstanding and at
 * most {@code queueLimit} requests wait; beyond that the answer is RESOURCE_EXHAUSTED at once.
 * Unlike the client, the forwarder does not retry: when the stream fails or the leader changes,
 * what it carried is answered UNAVAILABLE (retryable, the caller's client retries) and the next
 * batch opens a new stream to the leader then known.
 */
public final class Forwarder {

  private final Context context;
  private final Batcher batcher;
  private final Replies replies = new Replies();
  private final TsoMetrics metrics;
  private final long timeoutNanos;
  private static final System.Logger LOG = System.getLogger(Forwarder.class.getName());
  /** Used on the forwarder's context only. */
  private final RateLimited refusals = new RateLimited();
  /** The leader to forward to; written on any thread, read on the context. */
  private volatile String target;

  /**
   * @param timeoutMs an upstream whose oldest batch has waited this long is closed (a silent
   *     partition must not hold requests until TCP gives up)
   */
  public Forwarder(Context context, GrpcClient client, int maxCount, int queueLimit, int maxInflight,
      long timeoutMs, TsoMetrics metrics) {
    this.context = context;
    this.metrics = metrics;
    this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    Batcher.Settings settings = new Batcher.Settings().maxInflight(maxInflight).maxBatch(maxCount)
        .queueLimit(queueLimit).rpcTimeout(TimeUnit.MILLISECONDS.toNanos(timeoutMs)).retry(false);
    Batcher.Route route = new Batcher.Route() {
      @Override
      public Future<String> target() {
        String t = target;
        return t == null ? Future.failedFuture("no leader is known now") : Future.succeededFuture(t);
      }

      @Override
      public void ended(String address, String code, String leader) {
        // The leader is whoever the election says it is; a stream's word does not change it.
      }
    };
    Batcher.Events events = new Batcher.Events() {
      @Override
      public void answered(long rpcNanos, int calls) {
        metrics.forwarded("ok", calls);
      }

      @Override
      public void failed(TsoClientException.Code code, int calls) {
        metrics.forwarded(error(code).name().toLowerCase(), calls);
      }

      @Override
      public void unreachable(String address, Throwable cause) {
        if (tlsRefused(cause)) {
          metrics.leaderRefused();
          refusals.log(LOG, System.Logger.Level.WARNING, "tls", RateLimited.DEFAULT_INTERVAL_NANOS,
              "not forwarding to the recorded leader {0}: its TLS certificate did not verify ({1}); answering UNAVAILABLE",
              address, cause.getMessage());
        }
      }
    };
    this.batcher = new Batcher(context, new GrpcTransport(client, timeoutMs, false), settings, route,
        new OrderGuard(), events, () -> replies.flush(context));
  }

  /** True when the connection failed in its TLS handshake (the peer's certificate did not verify). */
  static boolean tlsRefused(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof javax.net.ssl.SSLException || c instanceof java.security.cert.CertificateException) {
        return true;
      }
    }
    return false;
  }

  /** Safe from any thread. */
  public void submit(TsoRequest r) {
    batcher.offer(new Forwarded(r));
  }

  /** The leader to forward to (host:port), or null when none is known. Safe from any thread. */
  public void leader(String address) {
    String was = target;
    target = address;
    if (address == null ? was != null : !address.equals(was)) {
      batcher.reroute("the leader changed");
    }
  }

  private static TsoError error(TsoClientException.Code code) {
    return switch (code) {
      case RESOURCE_EXHAUSTED -> TsoError.RESOURCE_EXHAUSTED;
      case INVALID_ARGUMENT -> TsoError.INVALID_ARGUMENT;
      default -> TsoError.UNAVAILABLE;
    };
  }

  /** One request on its way to the leader; answered back on its own event loop. */
  private final class Forwarded extends Call {
    final TsoRequest request;

    Forwarded(TsoRequest request) {
      // A deadline, so that a request does not wait on a connection that is still opening (a TLS
      // handshake with a peer that stalls) longer than one in flight may.
      super(request.count, System.nanoTime() + timeoutNanos);
      this.request = request;
    }

    @Override
    protected void succeed(long first, long epoch) {
      request.succeed(first, epoch);
      replies.add(request);
    }

    @Override
    protected void fail(TsoClientException e) {
      request.fail(error(e.code()), message(e));
      replies.add(request);
    }

    @Override
    protected void rejected(TsoClientException e) {
      request.fail(error(e.code()), message(e));
      request.answer(); // on the submitting thread, before submit returns
    }

    private String message(TsoClientException e) {
      return e.code() == TsoClientException.Code.RESOURCE_EXHAUSTED ? "too many requests waiting for the leader"
          : e.getMessage();
    }
  }
}
