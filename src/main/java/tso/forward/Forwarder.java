package tso.forward;

import io.vertx.core.Context;
import io.vertx.core.Handler;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.common.GrpcStatus;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import tso.core.HandOff;
import tso.core.Replies;
import tso.core.TsoError;
import tso.core.TsoRequest;
import tso.metrics.TsoMetrics;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.proto.v1.TimestampRange;

/**
 * A follower's path to the leader: requests from every event loop are merged into batched
 * upstream requests on one {@code StreamTimestamps} call, each answer split back into the
 * requests it served (the ranges stay contiguous and inside one millisecond). At most
 * {@code maxInflight} batches are outstanding and at most {@code queueLimit} requests wait;
 * beyond that the answer is RESOURCE_EXHAUSTED at once. When the stream fails or the leader
 * changes, what it carried is answered UNAVAILABLE (retryable) and the next batch opens a new
 * stream to the leader then known.
 */
public final class Forwarder {

  private final Context context;
  private final GrpcClient client;
  private final int maxCount;
  private final int queueLimit;
  private final int maxInflight;
  private final TsoMetrics metrics;
  private final long timeoutNanos;

  private final HandOff<TsoRequest> inbox = new HandOff<>();
  private final AtomicInteger queued = new AtomicInteger();
  private final Handler<Void> drainTask = v -> drain();

  // Owned by the context.
  private final ArrayDeque<TsoRequest> pending = new ArrayDeque<>();
  private final Replies replies = new Replies();
  private String target;
  private Upstream upstream;

  /** One StreamTimestamps call and the batches it carries, in order. */
  private final class Upstream {
    final String address;
    final ArrayDeque<List<TsoRequest>> inflight = new ArrayDeque<>();
    final ArrayDeque<Long> sentAt = new ArrayDeque<>();
    GrpcClientRequest<GetTimestampsRequest, TimestampRange> call;
    boolean closed;

    Upstream(String address) {
      this.address = address;
    }
  }

  /**
   * @param timeoutMs an upstream whose oldest batch has waited this long is closed (a silent
   *     partition must not hold requests until TCP gives up)
   */
  public Forwarder(Context context, GrpcClient client, int maxCount, int queueLimit, int maxInflight,
      long timeoutMs, TsoMetrics metrics) {
    this.context = context;
    this.timeoutNanos = java.util.concurrent.TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    context.owner().setPeriodic(Math.max(10, timeoutMs / 4), id -> context.runOnContext(v -> expire()));
    this.client = client;
    this.maxCount = maxCount;
    this.queueLimit = queueLimit;
    this.maxInflight = maxInflight;
    this.metrics = metrics;
  }

  /** Safe from any thread. */
  public void submit(TsoRequest r) {
    if (queued.incrementAndGet() > queueLimit) {
      queued.decrementAndGet();
      metrics.forwarded("resource_exhausted", 1);
      r.fail(TsoError.RESOURCE_EXHAUSTED, "too many requests waiting for the leader");
      r.answer();
      return;
    }
    if (inbox.offer(r)) {
      context.runOnContext(drainTask);
    }
  }

  /** The leader to forward to (host:port), or null when none is known. Safe from any thread. */
  public void leader(String address) {
    context.runOnContext(v -> {
      if (address == null ? target == null : address.equals(target)) {
        return;
      }
      target = address;
      if (upstream != null) {
        close(upstream, "the leader changed");
      }
      drain();
    });
  }

  private void drain() {
    inbox.drainTo(pending);
    if (pending.isEmpty()) {
      return;
    }
    if (target == null) {
      failPending(TsoError.UNAVAILABLE, "no leader is known now");
      return;
    }
    if (upstream == null) {
      open(target);
      return;
    }
    if (upstream.call == null) {
      return; // opening: the drain after it sends
    }
    while (!pending.isEmpty() && upstream.inflight.size() < maxInflight) {
      List<TsoRequest> batch = new ArrayList<>();
      int total = 0;
      while (!pending.isEmpty() && total + pending.peekFirst().count <= maxCount) {
        TsoRequest q = pending.pollFirst();
        batch.add(q);
        total += q.count;
      }
      upstream.inflight.addLast(batch);
      upstream.sentAt.addLast(System.nanoTime());
      upstream.call.write(GetTimestampsRequest.newBuilder().setCount(total).build());
    }
  }

  private void open(String address) {
    Upstream u = new Upstream(address);
    upstream = u;
    SocketAddress to;
    try {
      int colon = address.lastIndexOf(':');
      to = SocketAddress.inetSocketAddress(Integer.parseInt(address.substring(colon + 1)),
          address.substring(0, colon).replace("[", "").replace("]", ""));
    } catch (RuntimeException e) {
      close(u, "the leader's address is not host:port: " + address);
      failPending(TsoError.UNAVAILABLE, "the leader's address is not host:port: " + address);
      return;
    }
    client.request(to, TimestampOracleGrpcClient.StreamTimestamps).onComplete(ar -> {
      if (ar.failed()) {
        close(u, "cannot reach the leader at " + address + ": " + ar.cause().getMessage());
        return;
      }
      u.call = ar.result();
      u.call.exceptionHandler(e -> close(u, "the stream to the leader failed: " + e.getMessage()));
      u.call.response().onComplete(rr -> {
        if (rr.failed()) {
          close(u, "the stream to the leader failed: " + rr.cause().getMessage());
          return;
        }
        rr.result().handler(range -> answer(u, range));
        rr.result().exceptionHandler(e -> close(u, "the stream to the leader failed: " + e.getMessage()));
        rr.result().endHandler(v -> {
          GrpcStatus st = rr.result().status();
          close(u, "the leader ended the stream" + (st == null ? "" : ": " + st + " " + rr.result().statusMessage()));
        });
      });
      if (u.closed) {
        u.call.cancel();
        return;
      }
      drain();
    });
  }

  private void answer(Upstream u, TimestampRange range) {
    List<TsoRequest> batch = u.inflight.peekFirst();
    int asked = 0;
    if (batch != null) {
      for (TsoRequest q : batch) {
        asked += q.count;
      }
    }
    if (batch == null || range.getCount() != asked) {
      close(u, "the leader's answer does not match the request");
      return;
    }
    u.inflight.pollFirst();
    u.sentAt.pollFirst();
    long ts = range.getTimestamp();
    for (TsoRequest q : batch) {
      q.succeed(ts, range.getEpoch());
      ts += q.count;
      replies.add(q);
    }
    queued.addAndGet(-batch.size());
    metrics.forwarded("ok", batch.size());
    replies.flush(context);
    if (!pending.isEmpty()) {
      drain();
    }
  }

  private void close(Upstream u, String why) {
    if (u.closed) {
      return;
    }
    u.closed = true;
    if (upstream == u) {
      upstream = null;
    }
    int n = 0;
    List<TsoRequest> batch;
    while ((batch = u.inflight.pollFirst()) != null) {
      for (TsoRequest q : batch) {
        q.fail(TsoError.UNAVAILABLE, why);
        replies.add(q);
        n++;
      }
    }
    if (u.call != null) {
      u.call.cancel();
    }
    if (n > 0) {
      queued.addAndGet(-n);
      metrics.forwarded("unavailable", n);
      replies.flush(context);
    }
    if (!pending.isEmpty()) {
      if (u.call == null) {
        failPending(TsoError.UNAVAILABLE, why); // could not even connect: do not spin
      } else {
        drain();
      }
    }
  }

  private void expire() {
    Upstream u = upstream;
    Long oldest = u == null ? null : u.sentAt.peekFirst();
    if (oldest != null && System.nanoTime() - oldest > timeoutNanos) {
      close(u, "the leader did not answer in time");
    }
  }

  private void failPending(TsoError error, String why) {
    int n = 0;
    TsoRequest q;
    while ((q = pending.pollFirst()) != null) {
      q.fail(error, why);
      replies.add(q);
      n++;
    }
    queued.addAndGet(-n);
    metrics.forwarded(error.name().toLowerCase(), n);
    replies.flush(context);
  }
}
