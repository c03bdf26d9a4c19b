package tso.client;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;

import java.util.ArrayDeque;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Batching over a stream: calls from anywhere are merged into requests on one
 * {@code StreamTimestamps} call, and each answered range is split among the calls it served, in
 * call order. One batcher is one connection; it runs on one context, and everything below except
 * {@link #offer} and {@link #queued} happens there. The client and a follower's forwarder both use
 * it; they differ in where the stream goes ({@link Route}) and in what a failure does
 * ({@link Settings#retry}).
 *
 * <p>Invariants:
 * <ol>
 *   <li>At most {@code maxInflight} batches are out at once; the next batch forms while they are,
 *       so batches grow with load. A batch holds at most {@code maxBatch} timestamps.</li>
 *   <li>At most {@code queueLimit} calls wait in the batcher (queued or in flight); one more is
 *       refused at once with RESOURCE_EXHAUSTED.</li>
 *   <li>An answer is accepted only when it matches the oldest batch out (same count), is at no
 *       lower epoch than any handed out before the batch was sent, and lies above every timestamp
 *       handed out before that and above the stream's previous answer ({@link OrderGuard}).
 *       Anything else is refused, counted, and the stream closed: the batch is not handed out.</li>
 *   <li>When a stream fails (or an answer is refused, or the oldest batch waited
 *       {@code rpcTimeout}), its unanswered batches go back to the front of the queue in order and
 *       are sent again on a new stream after a jittered backoff ({@code retry}), or fail with
 *       UNAVAILABLE (not {@code retry}). Sending again is safe: a lost answer only wastes a range.</li>
 *   <li>With {@code retry}, a call that reaches its deadline while queued fails with
 *       DEADLINE_EXCEEDED; in flight it waits at most {@code rpcTimeout} more.</li>
 * </ol>
 */
public final class Batcher {

  /** Where streams go. Called on the batcher's context. */
  public interface Route {
    /** The address the next stream should open to, or a failed future when none is known. */
    Future<String> target();

    /** The stream to {@code address} ended; {@code leader} is who it said leads, or null. */
    void ended(String address, String code, String leader);

    /** The stream to {@code address} answered: it serves. */
    default void served(String address) {
    }
  }

  /** What the batcher counts (metrics). Called on the batcher's context. */
  public interface Events {
    default void sent(int calls, int timestamps) {
    }

    default void answered(long rpcNanos, int calls) {
    }

    /** Calls sent again after their stream failed. */
    default void retried(int calls) {
    }

    /** A stream to {@code address} could not be opened. */
    default void unreachable(String address, Throwable cause) {
    }

    /** An answer refused: {@code why} is count, epoch or order. */
    default void refused(String why) {
    }

    default void failed(TsoClientException.Code code, int calls) {
    }
  }

  /** Limits and policy, fluent; copied by the batcher. */
  public static final class Settings {
    int maxInflight = 1;
    int maxBatch = 10_000;
    long maxWaitNanos;
    int queueLimit = 100_000;
    long rpcTimeoutNanos = TimeUnit.SECONDS.toNanos(1);
    boolean retry = true;
    long backoffMinNanos = TimeUnit.MILLISECONDS.toNanos(10);
    long backoffMaxNanos = TimeUnit.MILLISECONDS.toNanos(500);

    public Settings maxInflight(int n) {
      maxInflight = n;
      return this;
    }

    public Settings maxBatch(int n) {
      maxBatch = n;
      return this;
    }

    public Settings maxWait(long nanos) {
      maxWaitNanos = nanos;
      return this;
    }

    public Settings queueLimit(int n) {
      queueLimit = n;
      return this;
    }

    public Settings rpcTimeout(long nanos) {
      rpcTimeoutNanos = nanos;
      return this;
    }

    /** True: a failed stream's calls are sent again until their deadline; false: they fail UNAVAILABLE. */
    public Settings retry(boolean r) {
      retry = r;
      return this;
    }

    public Settings backoff(long minNanos, long maxNanos) {
      backoffMinNanos = minNanos;
      backoffMaxNanos = maxNanos;
      return this;
    }

    Settings copy() {
      return new Settings().maxInflight(maxInflight).maxBatch(maxBatch).maxWait(maxWaitNanos).queueLimit(queueLimit)
          .rpcTimeout(rpcTimeoutNanos).retry(retry).backoff(backoffMinNanos, backoffMaxNanos);
    }
  }

  /** Calls sent together, answered by one range. */
  private static final class Batch {
    final Call[] calls;
    final int timestamps;
    final long sentNanos;
    final long floor;
    final long epochFloor;

    Batch(Call[] calls, int timestamps, long sentNanos, long floor, long epochFloor) {
      this.calls = calls;
      this.timestamps = timestamps;
      this.sentNanos = sentNanos;
      this.floor = floor;
      this.epochFloor = epochFloor;
    }
  }

  private final Context context;
  private final Transport transport;
  private final Settings s;
  private final Route route;
  private final OrderGuard guard;
  private final Events events;
  private final Runnable delivered;
  private final HandOff<Call> inbox = new HandOff<>();
  private final AtomicInteger queued = new AtomicInteger();
  private final Handler<Void> drainTask = v -> {
    inbox.drain(this::enqueue);
    drain();
  };
  private final long tickId;

  // Owned by the context.
  private final ArrayDeque<Call> pending = new ArrayDeque<>();
  private int pendingTimestamps;
  private Link link;
  private boolean connecting;
  private long backoffTimer = -1;
  private long waitTimer = -1;
  private int failures;
  private boolean delivering;
  private boolean closed;

  /**
   * @param delivered run after each round of answers, on the context (to flush answers a caller
   *                  collects for other threads)
   */
  public Batcher(Context context, Transport transport, Settings settings, Route route, OrderGuard guard,
      Events events, Runnable delivered) {
    this.context = context;
    this.transport = transport;
    this.s = settings.copy();
    this.route = route;
    this.guard = guard;
    this.events = events;
    this.delivered = delivered;
    long tickMs = Math.max(5, Math.min(100, TimeUnit.NANOSECONDS.toMillis(s.rpcTimeoutNanos) / 4));
    this.tickId = context.owner().setPeriodic(tickMs, id -> context.runOnContext(v -> tick()));
  }

  public Context context() {
    return context;
  }

  /** Calls waiting here now, queued or in flight. Safe from any thread. */
  public int queued() {
    return queued.get();
  }

  /** Takes a call on the batcher's own thread (no hand-over). */
  public void submit(Call c) {
    if (!admit(c)) {
      return;
    }
    c.queuedNanos = System.nanoTime();
    enqueue(c);
    if (!delivering) {
      drain();
    }
  }

  /** Takes a call from any thread. */
  public void offer(Call c) {
    if (!admit(c)) {
      return;
    }
    c.queuedNanos = System.nanoTime();
    if (inbox.offer(c)) {
      context.runOnContext(drainTask);
    }
  }

  private boolean admit(Call c) {
    if (closed) {
      c.rejected(new TsoClientException(TsoClientException.Code.CLOSED, "the client is closed"));
      return false;
    }
    if (queued.incrementAndGet() > s.queueLimit) {
      queued.decrementAndGet();
      events.failed(TsoClientException.Code.RESOURCE_EXHAUSTED, 1);
      c.rejected(new TsoClientException(TsoClientException.Code.RESOURCE_EXHAUSTED,
          "too many calls waiting (" + s.queueLimit + " on this connection); retry later"));
      return false;
    }
    return true;
  }

  /** Closes the stream now (the leader changed); what it carried is retried or failed. */
  public void reroute(String why) {
    context.runOnContext(v -> {
      if (link != null) {
        linkFailed(link, "UNAVAILABLE", why, null);
      }
      drain();
    });
  }

  /** Fails every call with CLOSED and stops. On the batcher's context. */
  public Future<Void> close() {
    io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
    context.runOnContext(v -> {
      closed = true;
      context.owner().cancelTimer(tickId);
      if (link != null) {
        Link l = link;
        link = null;
        l.closed = true;
        if (l.stream != null) {
          l.stream.cancel();
        }
        for (Batch b : l.inflight) {
          for (Call c : b.calls) {
            pending.addFirst(c);
          }
        }
      }
      inbox.drain(pending::addLast);
      failAll(pending, TsoClientException.Code.CLOSED, "the client is closed");
      done.complete();
    });
    return done.future();
  }

  /**
   * Sends what waits, as far as the limits allow. Calls handed over from other threads are taken
   * by the task their hand-over scheduled, not here: this runs for every call made on the
   * batcher's own thread, and taking the hand-over costs a memory fence.
   */
  private void drain() {
    if (closed) {
      return;
    }
    if (pending.isEmpty()) {
      return;
    }
    if (link == null) {
      if (!connecting && backoffTimer < 0) {
        connect();
      }
      return;
    }
    if (link.stream == null) {
      return; // opening: the drain after it sends
    }
    long now = System.nanoTime();
    while (!pending.isEmpty() && link.inflight.size() < s.maxInflight) {
      if (s.maxWaitNanos > 0 && pendingTimestamps < s.maxBatch && now - pending.peekFirst().queuedNanos < s.maxWaitNanos) {
        if (waitTimer < 0) {
          long ms = Math.max(1, TimeUnit.NANOSECONDS.toMillis(s.maxWaitNanos - (now - pending.peekFirst().queuedNanos)));
          waitTimer = context.owner().setTimer(ms, id -> context.runOnContext(v -> {
            waitTimer = -1;
            drain();
          }));
        }
        return;
      }
      send(now);
    }
  }

  private void enqueue(Call c) {
    pending.addLast(c);
    pendingTimestamps += c.count;
  }

  private void send(long now) {
    int total = 0;
    int calls = 0;
    for (Call c : pending) {
      if (total + c.count > s.maxBatch) {
        break;
      }
      total += c.count;
      calls++;
    }
    if (calls == 0) { // a call larger than a batch: the client refuses those; send it alone
      calls = 1;
      total = pending.peekFirst().count;
    }
    Call[] batch = new Call[calls];
    for (int i = 0; i < calls; i++) {
      batch[i] = pending.pollFirst();
    }
    pendingTimestamps -= total;
    Link l = link;
    l.inflight.addLast(new Batch(batch, total, now, guard.highest(), guard.epoch()));
    events.sent(calls, total);
    l.stream.request(total);
  }

  private void connect() {
    connecting = true;
    route.target().onComplete(ar -> {
      connecting = false;
      if (closed) {
        return;
      }
      if (ar.failed()) {
        String why = ar.cause().getMessage();
        if (s.retry) {
          backoff();
        } else {
          failAll(pending, TsoClientException.Code.UNAVAILABLE, why);
        }
        return;
      }
      open(ar.result());
    });
  }

  private void open(String address) {
    Link l = new Link(address);
    link = l;
    transport.open(address, l).onComplete(ar -> {
      if (ar.failed()) {
        events.unreachable(address, ar.cause());
        linkFailed(l, "TRANSPORT", "cannot reach " + address + ": " + ar.cause().getMessage(), null);
        return;
      }
      l.stream = ar.result();
      if (l.closed) {
        l.stream.cancel();
        return;
      }
      drain();
    });
  }

  private void backoff() {
    if (backoffTimer >= 0 || closed) {
      return;
    }
    long cap = Math.min(s.backoffMaxNanos, s.backoffMinNanos << Math.min(20, failures));
    failures++;
    long nanos = cap / 2 + ThreadLocalRandom.current().nextLong(cap / 2 + 1);
    backoffTimer = context.owner().setTimer(Math.max(1, TimeUnit.NANOSECONDS.toMillis(nanos)),
        id -> context.runOnContext(v -> {
          backoffTimer = -1;
          drain();
        }));
  }

  /** One stream and the batches it carries, oldest first. */
  private final class Link implements Transport.Listener {
    final String address;
    final ArrayDeque<Batch> inflight = new ArrayDeque<>();
    final long openedNanos = System.nanoTime();
    Transport.Stream stream;
    long last = Long.MIN_VALUE;
    boolean closed;

    Link(String address) {
      this.address = address;
    }

    @Override
    public void range(long first, int count, long epoch) {
      if (closed) {
        return;
      }
      Batch b = inflight.peekFirst();
      if (b == null || count != b.timestamps) {
        refuse(this, "count", "the answer (" + count + " timestamps) does not match the request ("
            + (b == null ? "none" : b.timestamps) + ")");
      } else if (epoch < b.epochFloor) {
        refuse(this, "epoch", "epoch " + epoch + " is below " + b.epochFloor + ", already handed out");
      } else if (!OrderGuard.above(first, b.floor) || !OrderGuard.above(first, last)) {
        refuse(this, "order", "range " + Long.toUnsignedString(first) + " is not above "
            + Long.toUnsignedString(OrderGuard.above(b.floor, last) ? b.floor : last) + ", already handed out");
      } else {
        accept(this, b, first, count, epoch);
      }
    }

    @Override
    public void ended(String code, String message, String leader) {
      linkFailed(this, code, message, leader);
    }
  }

  private void accept(Link l, Batch b, long first, int count, long epoch) {
    l.inflight.pollFirst();
    long lastTs = first + count - 1;
    l.last = lastTs;
    guard.handedOut(lastTs, epoch);
    failures = 0;
    long now = System.nanoTime();
    events.answered(now - b.sentNanos, b.calls.length);
    route.served(l.address);
    delivering = true;
    try {
      long ts = first;
      for (Call c : b.calls) {
        c.succeed(ts, epoch);
        ts += c.count;
      }
    } finally {
      delivering = false;
    }
    queued.addAndGet(-b.calls.length);
    delivered.run();
    drain();
  }

  private void refuse(Link l, String kind, String why) {
    events.refused(kind);
    linkFailed(l, "REFUSED", "refused an answer from " + l.address + ": " + why, null);
  }

  private void linkFailed(Link l, String code, String why, String leader) {
    if (l.closed) {
      return;
    }
    l.closed = true;
    boolean current = link == l;
    if (current) {
      link = null;
    }
    if (l.stream != null) {
      l.stream.cancel();
    }
    route.ended(l.address, code, leader);
    if (closed) {
      return;
    }
    ArrayDeque<Call> carried = new ArrayDeque<>();
    boolean first = true;
    for (Batch b : l.inflight) {
      if (first && code.equals("INVALID_ARGUMENT")) {
        // The member refused the oldest request outright: sending it again cannot help.
        ArrayDeque<Call> bad = new ArrayDeque<>(java.util.List.of(b.calls));
        failAll(bad, TsoClientException.Code.INVALID_ARGUMENT, why);
      } else {
        for (Call c : b.calls) {
          carried.addLast(c);
        }
      }
      first = false;
    }
    l.inflight.clear();
    if (s.retry) {
      if (!carried.isEmpty()) {
        events.retried(carried.size());
      }
      int n = 0;
      for (java.util.Iterator<Call> it = carried.descendingIterator(); it.hasNext(); ) {
        Call c = it.next();
        pending.addFirst(c);
        n += c.count;
      }
      pendingTimestamps += n;
      if (leader != null && !leader.equals(l.address) && failures == 0) {
        failures++; // follow a named leader at once, once; then back off
        drain();
      } else {
        backoff();
      }
      return;
    }
    failAll(carried, TsoClientException.Code.UNAVAILABLE, why);
    if (l.stream == null) {
      failAll(pending, TsoClientException.Code.UNAVAILABLE, why); // could not even connect: do not spin
    } else if (current) {
      drain();
    }
  }

  private void tick() {
    if (closed) {
      return;
    }
    long now = System.nanoTime();
    Link l = link;
    Batch oldest = l == null ? null : l.inflight.peekFirst();
    if (oldest != null && now - oldest.sentNanos > s.rpcTimeoutNanos) {
      linkFailed(l, "DEADLINE_EXCEEDED", l.address + " did not answer within "
          + TimeUnit.NANOSECONDS.toMillis(s.rpcTimeoutNanos) + " ms", null);
    } else if (l != null && l.stream == null && now - l.openedNanos > s.rpcTimeoutNanos) {
      // Opening took longer than an answer may: a connect or handshake that never completes
      // (or whose outcome was lost) must not hold the batcher for good.
      linkFailed(l, "DEADLINE_EXCEEDED", "a stream to " + l.address + " did not open within "
          + TimeUnit.NANOSECONDS.toMillis(s.rpcTimeoutNanos) + " ms", null);
    }
    inbox.drain(this::enqueue);
    int expired = 0;
    ArrayDeque<Call> late = null;
    // Deadlines follow arrival order (one deadline per client), and calls sent again go back to
    // the front, older still: the expired ones are at the front.
    while (!pending.isEmpty() && pending.peekFirst().deadlineNanos != Long.MAX_VALUE
        && now - pending.peekFirst().deadlineNanos >= 0) {
      if (late == null) {
        late = new ArrayDeque<>();
      }
      Call c = pending.pollFirst();
      pendingTimestamps -= c.count;
      late.addLast(c);
      expired++;
    }
    if (expired > 0) {
      failAll(late, TsoClientException.Code.DEADLINE_EXCEEDED, "no answer within the call's deadline");
    }
    drain();
  }

  private void failAll(ArrayDeque<Call> calls, TsoClientException.Code code, String why) {
    if (calls.isEmpty()) {
      return;
    }
    int n = calls.size();
    TsoClientException e = new TsoClientException(code, why);
    Call c;
    delivering = true;
    try {
      while ((c = calls.pollFirst()) != null) {
        c.fail(e);
      }
    } finally {
      delivering = false;
    }
    if (calls == pending) {
      pendingTimestamps = 0;
    }
    queued.addAndGet(-n);
    events.failed(code, n);
    delivered.run();
  }
}
