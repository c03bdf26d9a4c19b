package tso.election;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;

import java.lang.System.Logger.Level;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

import tso.metrics.TsoMetrics;
import tso.core.NodeView;
import tso.service.TimestampService;
import tso.store.BoundStore;
import tso.store.FileBoundStore;
import tso.store.StoredBound;

/**
 * The election: a Redis lease with fencing tokens, run on one event loop.
 *
 * <p>Followers and candidates inspect the leader key about every TTL/3 and campaign when it is
 * absent. A leader renews about every TTL/3; its lease ends at the renew's <em>send</em> time on
 * the monotonic clock plus the TTL minus a drift margin, and {@link #leaseValid()} is checked
 * before every batch. On losing the lease, the record changing or vanishing, Redis errors past
 * the deadline, or a refused fenced write, the leader stops serving at once (the allocator
 * verticle is undeployed: waiting requests get UNAVAILABLE, memory is cleared) and campaigns
 * again with jittered backoff. Nothing here ever exits the process.
 *
 * <p>A value in the key that is not a valid record is never served on and never fatal: it is
 * counted by kind, logged once per distinct value, and treated as held until its TTL runs out; a
 * value without a TTL that stays unchanged past a grace period is replaced by compare-and-set on
 * its exact bytes, with a new epoch.
 */
public final class Leadership extends VerticleBase implements NodeView {

  private static final System.Logger LOG = System.getLogger(Leadership.class.getName());
  /** Distinct invalid values remembered for log-once; past it the memory starts again. */
  private static final int LOGGED_VALUES = 256;

  /** The election's slice of the configuration. */
  public record Settings(long ttlMs, long marginMs, long graceMs, long lossMarginMs, boolean forwardFollowers) {
    /**
     * Drift margin: a tenth of the TTL, at least 20 ms; grace for a TTL-less value: three TTLs;
     * when Redis has lost the bound, start a window plus a TTL above the local copy (the most the
     * last leader can have extended since this node last saw the bound).
     */
    public static Settings of(long ttlMs, long windowMs, boolean forwardFollowers) {
      return new Settings(ttlMs, Math.max(20, ttlMs / 10), 3 * ttlMs, windowMs + ttlMs, forwardFollowers);
    }
  }

  private enum Role { CANDIDATE, FOLLOWER, LEADER }

  private final Settings settings;
  private final Identity me;
  private final Redis redis;
  private final RedisCoordinator coordinator;
  private final FileBoundStore local;
  private final TsoMetrics metrics;
  private final LongSupplier clockMs;
  private final BiFunction<BoundStore, BooleanSupplier, TimestampService> services;
  private final Consumer<Member> onLeaderChange;

  private volatile Role role = Role.CANDIDATE;
  private volatile Member leader;
  private volatile long epoch;
  private volatile long leaseDeadlineNanos;
  private volatile long servingFromNanos;
  private volatile TimestampService service;
  private volatile boolean draining;

  private String record;
  private String serviceDeployment;
  private long timer = -1;
  private long deadlineTimer = -1;
  private long minEpoch;
  private byte[] graceValue;
  private long graceSinceNanos;
  private final Set<String> logged = new LinkedHashSet<>();
  private RedisConnection subscriber;
  private boolean stopped;
  private volatile boolean handingOver;
  private long lastCampaignErrorLogNanos;

  /**
   * @param services       makes the allocator verticle of a new term from its fenced store and lease check
   * @param onLeaderChange told on this verticle's context whenever the known leader changes
   */
  public Leadership(Settings settings, Identity me, Redis redis, RedisCoordinator coordinator, FileBoundStore local,
      TsoMetrics metrics, LongSupplier clockMs, BiFunction<BoundStore, BooleanSupplier, TimestampService> services,
      Consumer<Member> onLeaderChange) {
    this.settings = settings;
    this.me = me;
    this.redis = redis;
    this.coordinator = coordinator;
    this.local = local;
    this.metrics = metrics;
    this.clockMs = clockMs;
    this.services = services;
    this.onLeaderChange = onLeaderChange;
    metrics.gauge("tso_lease_remaining_seconds", "Time left on this node's lease (0 when not leader)",
        () -> Math.max(0, leaseDeadlineNanos - System.nanoTime()) / 1e9);
    metrics.gauge("tso_is_leader", "1 while this node serves as leader", () -> service != null ? 1 : 0);
  }

  @Override
  public Future<?> start() {
    return local.load().onSuccess(stored -> {
      minEpoch = stored.epoch();
      subscribe();
      schedule(0);
    });
  }

  @Override
  public Future<?> stop() {
    stopped = true;
    cancelTimers();
    Future<Void> resigned = role == Role.LEADER ? stepDown("stopping", true) : Future.succeededFuture();
    return resigned.transform(ar -> subscriber == null ? Future.succeededFuture() : subscriber.close())
        .transform(ar -> local.close());
  }

  // ---- NodeView ----

  @Override
  public String role() {
    Role r = role;
    if (r == Role.LEADER) {
      return "leader";
    }
    return r == Role.FOLLOWER ? "follower" : "candidate";
  }

  @Override
  public String nodeId() {
    return me.node();
  }

  @Override
  public long epoch() {
    return role == Role.LEADER ? epoch : 0;
  }

  @Override
  public Member leader() {
    return leader;
  }

  @Override
  public boolean ready() {
    if (draining) {
      return false;
    }
    TimestampService s = service;
    if (role == Role.LEADER) {
      return s != null && s.serving() && leaseValid();
    }
    return role == Role.FOLLOWER && leader != null && settings.forwardFollowers();
  }

  /** From now on the node reports not ready (SIGTERM). */
  public void drain() {
    draining = true;
  }

  /** The allocator of the current term, or null when this node does not serve. */
  public TimestampService service() {
    return role == Role.LEADER ? service : null;
  }

  /** True while this node holds a lease that its own monotonic clock says is still valid. */
  public boolean leaseValid() {
    long now = System.nanoTime();
    return role == Role.LEADER && !handingOver && now - leaseDeadlineNanos < 0 && now - servingFromNanos >= 0;
  }

  /**
   * Hands the lease over at once (SIGTERM on the leader): this node stops serving (what waits is
   * answered UNAVAILABLE, retryable), then deletes its record by compare-and-delete and tells the
   * followers, so one of them takes over now without waiting out the lease. It campaigns no more.
   */
  public Future<Void> resign() {
    io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
    context.runOnContext(v -> {
      handingOver = true;
      cancelTimers();
      (role == Role.LEADER ? stepDown("resigning", true) : Future.<Void>succeededFuture())
          .onComplete(ar -> done.complete());
    });
    return done.future();
  }

  // ---- the loop ----

  private void schedule(long delayMs) {
    if (stopped) {
      return;
    }
    if (timer >= 0) {
      vertx.cancelTimer(timer);
    }
    timer = vertx.setTimer(Math.max(1, delayMs), id -> {
      timer = -1;
      tick();
    });
  }

  private void cancelTimers() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
    if (deadlineTimer >= 0) {
      vertx.cancelTimer(deadlineTimer);
      deadlineTimer = -1;
    }
  }

  private void tick() {
    if (handingOver) {
      return;
    }
    if (role == Role.LEADER) {
      renew();
    } else {
      observe();
    }
  }

  private long third() {
    return Math.max(1, settings.ttlMs() / 3);
  }

  private long backoff() {
    return settings.ttlMs() / 10 + ThreadLocalRandom.current().nextLong(settings.ttlMs() / 5 + 1);
  }

  private void observe() {
    coordinator.inspect().onComplete(ar -> {
      if (stopped || role == Role.LEADER) {
        return;
      }
      if (ar.failed()) {
        metrics.redisErrors.increment();
        schedule(third());
        return;
      }
      RedisCoordinator.Observation o = ar.result();
      noteLimit(o.limit());
      if (o.absent()) {
        graceValue = null;
        setLeader(null, Role.CANDIDATE);
        campaign();
        return;
      }
      if (!"string".equals(o.type())) {
        invalid(ElectionRecord.Invalid.WRONG_TYPE, o);
        return;
      }
      ElectionRecord.Parsed p = ElectionRecord.parse(o.value());
      if (!p.valid()) {
        invalid(p.invalid(), o);
        return;
      }
      ElectionRecord rec = p.record();
      noteEpoch(rec.epoch());
      if (o.pttlMs() < 0) {
        invalid(ElectionRecord.Invalid.NO_TTL, o);
        return;
      }
      graceValue = null;
      if (rec.node().equals(me.node()) && rec.incarnation().equals(me.incarnation())) {
        // Our own record from this start, though we do not serve on it (a step-down raced a
        // renew): give it back so an election can run now rather than at its expiry.
        coordinator.resign(new String(o.value(), java.nio.charset.StandardCharsets.US_ASCII), "resign:" + me.node())
            .onComplete(x -> schedule(1));
        return;
      }
      setLeader(new Member(rec.node(), rec.address(), rec.epoch()), Role.FOLLOWER);
      schedule(Math.min(third(), o.pttlMs() + 1));
    });
  }

  private void invalid(ElectionRecord.Invalid kind, RedisCoordinator.Observation o) {
    metrics.invalidRecord(kind.label());
    byte[] value = o.value() == null ? new byte[0] : o.value();
    String preview = ElectionRecord.preview(value);
    if (logged.size() >= LOGGED_VALUES) {
      logged.clear();
    }
    if (logged.add(o.type() + ":" + preview + ":" + Arrays.hashCode(value))) {
      LOG.log(Level.WARNING, "election key {0} holds a value that is not a valid record ({1}, type {2}, ttl {3} ms): {4};"
          + " not serving on it, waiting for it to expire", coordinator.keys().leader(), kind.label(), o.type(),
          o.pttlMs(), preview);
    }
    setLeader(null, Role.CANDIDATE);
    if (o.pttlMs() >= 0) {
      graceValue = null;
      schedule(Math.min(third(), o.pttlMs() + 1));
      return;
    }
    // No TTL: it would never expire. Replace it once it has stayed exactly the same past the grace.
    long now = System.nanoTime();
    if (graceValue == null || !Arrays.equals(graceValue, value)) {
      graceValue = value;
      graceSinceNanos = now;
      schedule(third());
      return;
    }
    if (now - graceSinceNanos < TimeUnit.MILLISECONDS.toNanos(settings.graceMs())) {
      schedule(third());
      return;
    }
    long sent = System.nanoTime();
    coordinator.takeover(o, me, settings.ttlMs(), clockMs.getAsLong(), minEpoch).onComplete(ar -> {
      graceValue = null;
      campaignDone(ar.succeeded() ? ar.result() : null, ar.cause(), sent, "takeover");
    });
  }

  private void campaign() {
    long sent = System.nanoTime();
    coordinator.campaign(me, settings.ttlMs(), clockMs.getAsLong(), minEpoch)
        .onComplete(ar -> campaignDone(ar.succeeded() ? ar.result() : null, ar.cause(), sent, "campaign"));
  }

  private void campaignDone(RedisCoordinator.Campaign c, Throwable err, long sentNanos, String what) {
    if (stopped) {
      return;
    }
    if (c == null) {
      metrics.campaign("error");
      metrics.redisErrors.increment();
      long now = System.nanoTime();
      if (now - lastCampaignErrorLogNanos > TimeUnit.SECONDS.toNanos(1)) {
        lastCampaignErrorLogNanos = now;
        LOG.log(Level.WARNING, "{0} failed: {1}", what, err == null ? "?" : err.getMessage());
      }
      schedule(backoff());
    } else if (c.won() && handingOver) {
      // won while stopping: give it back at once rather than hold it unserved
      metrics.campaign("won");
      coordinator.resign(c.record(), "resign:" + me.node());
    } else if (c.won()) {
      metrics.campaign("won");
      becomeLeader(c.record(), sentNanos, c.waitMs());
    } else if (c.refusal() != null) {
      metrics.campaign("refused");
      LOG.log(Level.WARNING, "{0} refused: {1}", what, c.refusal());
      schedule(third());
    } else {
      metrics.campaign("held");
      schedule(1);
    }
  }

  private void becomeLeader(String won, long sentNanos, long waitMs) {
    ElectionRecord.Parsed p = ElectionRecord.parse(won.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    if (!p.valid()) { // the script built it: a mismatch between the Lua and Java formats
      LOG.log(Level.ERROR, "won a record this node cannot read ({0}); resigning", p.invalid());
      coordinator.resign(won, "resign:" + me.node()).onComplete(x -> schedule(backoff()));
      return;
    }
    record = won;
    epoch = p.record().epoch();
    noteEpoch(epoch);
    extendLease(sentNanos);
    // What is left of the previous holder's lease (its record may have been deleted, or lost by
    // Redis, while it still served): no answer before it has surely ended.
    servingFromNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitMs);
    role = Role.LEADER;
    setLeader(new Member(me.node(), me.address(), epoch), Role.LEADER);
    metrics.leadershipChanges.increment();
    LOG.log(Level.INFO, "won the election: epoch {0}", epoch);
    long term = epoch; // the renewals change the record's bytes, not its epoch
    FencedBoundStore store = new FencedBoundStore(coordinator, local, me, epoch, settings.lossMarginMs(),
        () -> context.runOnContext(v -> {
          if (term == epoch && role == Role.LEADER) {
            metrics.fencedWritesRefused.increment();
            stepDown("a fenced bound write was refused", false);
          }
        }));
    TimestampService svc = services.apply(store, this::leaseValid);
    vertx.deployVerticle(svc).onComplete(ar -> {
      if (ar.failed()) {
        if (term == epoch && role == Role.LEADER) {
          LOG.log(Level.WARNING, "could not start serving: {0}", ar.cause().getMessage());
          stepDown("could not start serving", true);
        }
        return;
      }
      if (term != epoch || role != Role.LEADER) {
        vertx.undeploy(ar.result());
        return;
      }
      serviceDeployment = ar.result();
      long waitLeft = TimeUnit.NANOSECONDS.toMillis(servingFromNanos - System.nanoTime());
      if (waitLeft <= 0) {
        service = svc;
        LOG.log(Level.INFO, "serving as leader, epoch {0}", epoch);
      } else {
        LOG.log(Level.INFO, "leader at epoch {0}: serving in {1} ms, when the previous lease has surely ended",
            epoch, waitLeft);
        vertx.setTimer(waitLeft + 1, id -> {
          if (term == epoch && role == Role.LEADER && serviceDeployment != null) {
            service = svc;
            LOG.log(Level.INFO, "serving as leader, epoch {0}", epoch);
          }
        });
      }
    });
    schedule(third());
  }

  private void renew() {
    long sent = System.nanoTime();
    String expected = record;
    coordinator.renew(expected, settings.ttlMs(), clockMs.getAsLong()).onComplete(ar -> {
      if (stopped || handingOver || role != Role.LEADER || !expected.equals(record)) {
        return;
      }
      metrics.renewLatency.record(System.nanoTime() - sent, TimeUnit.NANOSECONDS);
      if (ar.failed()) {
        metrics.renewFailures.increment();
        metrics.redisErrors.increment();
        long left = TimeUnit.NANOSECONDS.toMillis(leaseDeadlineNanos - System.nanoTime());
        schedule(Math.max(1, Math.min(third() / 2, left)));
        return;
      }
      if (ar.result() == null) {
        stepDown("the election record changed or vanished", false);
        return;
      }
      record = ar.result();
      extendLease(sent);
      schedule(third());
    });
  }

  private void extendLease(long sentNanos) {
    leaseDeadlineNanos = sentNanos + TimeUnit.MILLISECONDS.toNanos(settings.ttlMs() - settings.marginMs());
    if (deadlineTimer >= 0) {
      vertx.cancelTimer(deadlineTimer);
    }
    long ms = Math.max(1, TimeUnit.NANOSECONDS.toMillis(leaseDeadlineNanos - System.nanoTime()) + 1);
    deadlineTimer = vertx.setTimer(ms, id -> {
      deadlineTimer = -1;
      if (role == Role.LEADER && System.nanoTime() - leaseDeadlineNanos >= 0) {
        stepDown("the lease ran out without a successful renewal", true);
      }
    });
  }

  /**
   * Stops serving at once: the allocator verticle goes (answering what waits with UNAVAILABLE,
   * forgetting its memory), then a campaign follows after a jittered backoff.
   */
  private Future<Void> stepDown(String reason, boolean giveBack) {
    if (role != Role.LEADER) {
      return Future.succeededFuture();
    }
    LOG.log(Level.WARNING, "stepping down from epoch {0}: {1}", epoch, reason);
    role = Role.CANDIDATE;
    leaseDeadlineNanos = System.nanoTime();
    metrics.leadershipChanges.increment();
    String mine = record;
    record = null;
    service = null;
    setLeader(null, Role.CANDIDATE);
    String deployment = serviceDeployment;
    serviceDeployment = null;
    Future<Void> undeployed = deployment == null ? Future.succeededFuture() : vertx.undeploy(deployment);
    long term = epoch;
    // The record goes only once the allocator is gone: the next holder need not wait for us.
    Future<Void> resigned = !giveBack || mine == null ? undeployed : undeployed.transform(ar ->
        coordinator.resign(mine, "resign:" + me.node() + ":" + term).<Void>mapEmpty()
            .recover(e -> Future.succeededFuture()));
    if (!stopped && !handingOver) {
      schedule(backoff());
    }
    return resigned;
  }

  private void setLeader(Member m, Role r) {
    if (role != Role.LEADER || r == Role.LEADER) {
      role = r;
    }
    Member before = leader;
    leader = m;
    if (before == null ? m != null : !before.equals(m)) {
      onLeaderChange.accept(m);
    }
  }

  private void noteEpoch(long e) {
    if (e > minEpoch) {
      minEpoch = e;
    }
  }

  /** Keeps the local copy of the largest bound and epoch seen, so a Redis restarted empty cannot go back. */
  private void noteLimit(StoredBound limit) {
    StoredBound mine = local.current();
    if (limit.boundMs() > mine.boundMs() || limit.epoch() > mine.epoch() || minEpoch > mine.epoch()) {
      local.save(new StoredBound(Math.max(minEpoch, Math.max(limit.epoch(), mine.epoch())),
          Math.max(limit.boundMs(), mine.boundMs())));
    }
  }

  // ---- resign notices ----

  private void subscribe() {
    if (stopped) {
      return;
    }
    redis.connect().onComplete(ar -> {
      if (ar.failed() || stopped) {
        if (ar.succeeded()) {
          ar.result().close();
        }
        vertx.setTimer(third(), id -> subscribe());
        return;
      }
      RedisConnection conn = ar.result();
      subscriber = conn;
      conn.handler(this::onMessage);
      conn.exceptionHandler(e -> { });
      conn.endHandler(v -> {
        if (subscriber == conn) {
          subscriber = null;
          vertx.setTimer(third(), id -> subscribe());
        }
      });
      conn.send(Request.cmd(Command.SUBSCRIBE).arg(coordinator.keys().events()))
          .onFailure(e -> conn.close());
    });
  }

  private void onMessage(Response msg) {
    if (msg == null || msg.type() != ResponseType.PUSH && msg.type() != ResponseType.MULTI || msg.size() < 3) {
      return;
    }
    if (!"message".equals(msg.get(0).toString())) {
      return;
    }
    String text = msg.get(2).toString();
    if (text.startsWith("resign:") && role != Role.LEADER && !stopped) {
      schedule(0); // a planned handover: campaign now, not at the next poll
    }
  }
}
