package tso.election;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.redis.client.Redis;

import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.LongSupplier;

import tso.core.NodeView;
import tso.log.RateLimited;
import tso.metrics.TsoMetrics;
import tso.service.TimestampService;
import tso.store.BoundStore;
import tso.store.FileBoundStore;
import tso.store.StoredBound;

/**
 * The election's role state machine, run on one event loop: candidate, follower, leader.
 *
 * <p>At most one Redis operation of the election is in flight at a time (look, campaign, renew),
 * so no answer about the key can overtake another: a node never mistakes the record its own
 * campaign has just written for a stale one. Followers and candidates look at the key about every
 * TTL/3 and campaign when {@link Succession} allows; a leader renews about every TTL/3. Whether
 * the leader may answer is its {@link Term}'s to say; what to do with a value that is not a record
 * is {@link InvalidRecords}'s.
 *
 * <p>A term ends, and the allocator verticle with it (what waits is answered UNAVAILABLE, memory
 * is cleared), when the lease runs out without a renewal, the record changes or vanishes, a fenced
 * write is refused, or the bound cannot be persisted; then the node campaigns again after a
 * jittered backoff (longer after a persistence failure, so a healthy member wins). Nothing here
 * ever exits the process.
 */
public final class Leadership extends VerticleBase implements NodeView {

  private static final System.Logger LOG = System.getLogger(Leadership.class.getName());
  /** Warnings that repeat every poll while a fault lasts: one per key per interval. */
  private static final long WARN_INTERVAL_NANOS = RateLimited.DEFAULT_INTERVAL_NANOS;

  /** The election's slice of the configuration. */
  public record Settings(long ttlMs, long marginMs, long graceMs, long lossMarginMs, boolean forwardFollowers) {
    /**
     * Drift margin: a tenth of the TTL, at least 20 ms; grace for a TTL-less value: three TTLs;
     * when Redis has lost the bound, start a window plus a TTL above the last bound known (the
     * most the last leader can have extended since it was seen).
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
  private final BiFunction<BoundStore, TimestampService.Lease, TimestampService> services;
  private final Consumer<Member> onLeaderChange;
  private final Succession succession;
  private final InvalidRecords invalids;
  private final RateLimited limited = new RateLimited();

  private volatile Role role = Role.CANDIDATE;
  private volatile Member leader;
  private volatile Term term;
  private volatile TimestampService service;
  private volatile boolean draining;
  private volatile boolean handingOver;

  private ResignNotices notices;
  private String serviceDeployment;
  private long timer = -1;
  private long deadlineTimer = -1;
  /** An election operation is in flight; a tick meanwhile only asks for another look after it. */
  private boolean busy;
  private boolean again;
  private long grants;
  private long minEpoch;
  /** After a step-down, no campaign before this (a resign notice must not cut the backoff short). */
  private long campaignNotBeforeNanos = System.nanoTime();
  private boolean stopped;
  /** Looks at the key that failed in a row. */
  private int failedLooks;

  /**
   * @param services       makes the allocator verticle of a new term from its fenced store and lease
   * @param onLeaderChange told on this verticle's context whenever the known leader changes
   */
  public Leadership(Settings settings, Identity me, Redis redis, RedisCoordinator coordinator, FileBoundStore local,
      TsoMetrics metrics, LongSupplier clockMs,
      BiFunction<BoundStore, TimestampService.Lease, TimestampService> services, Consumer<Member> onLeaderChange) {
    this.settings = settings;
    this.me = me;
    this.redis = redis;
    this.coordinator = coordinator;
    this.local = local;
    this.metrics = metrics;
    this.clockMs = clockMs;
    this.services = services;
    this.onLeaderChange = onLeaderChange;
    this.succession = new Succession(settings.ttlMs());
    this.invalids = new InvalidRecords(coordinator.keys().leader(), settings.graceMs(), metrics);
    metrics.gauge("tso_lease_remaining_seconds", "Time left on this node's lease (0 when not leader)", () -> {
      Term t = term;
      return t == null ? 0 : Math.max(0, t.deadlineNanos() - System.nanoTime()) / 1e9;
    });
    metrics.gauge("tso_is_leader", "1 while this node serves as leader", () -> service != null ? 1 : 0);
  }

  @Override
  public Future<?> start() {
    return local.load().onSuccess(stored -> {
      minEpoch = stored.epoch();
      notices = new ResignNotices(vertx, redis, coordinator.keys().events(), third(), () -> {
        if (role != Role.LEADER && !stopped) {
          schedule(0); // a planned handover: look now, not at the next poll
        }
      });
      notices.start();
      schedule(0);
    });
  }

  @Override
  public Future<?> stop() {
    stopped = true;
    cancelTimers();
    Future<Void> resigned = role == Role.LEADER ? stepDown("stopping", true, 0) : Future.succeededFuture();
    return resigned.transform(ar -> notices == null ? Future.succeededFuture() : notices.stop())
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
    Term t = term;
    return role == Role.LEADER && t != null ? t.epoch() : 0;
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
    if (role == Role.LEADER) {
      TimestampService s = service;
      Term t = term;
      return s != null && t != null && s.serving() && t.valid();
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

  /**
   * Hands the lease over at once (SIGTERM on the leader): this node stops serving (what waits is
   * answered UNAVAILABLE, retryable), then deletes its record by compare-and-delete and tells the
   * followers, so one of them takes over now without waiting out the lease. It campaigns no more.
   */
  public Future<Void> resign() {
    Promise<Void> done = Promise.promise();
    context.runOnContext(v -> {
      handingOver = true;
      cancelTimers();
      (role == Role.LEADER ? stepDown("resigning", true, 0) : Future.<Void>succeededFuture())
          .onComplete(ar -> done.complete());
    });
    return done.future();
  }

  // ---- the loop ----

  private void schedule(long delayMs) {
    if (stopped || handingOver) {
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
    if (handingOver || stopped) {
      return;
    }
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    if (role == Role.LEADER) {
      renew();
    } else {
      observe();
    }
  }

  /** The operation in flight was abandoned (its term ended meanwhile); a look asked for meanwhile happens now. */
  private void release() {
    busy = false;
    if (again) {
      again = false;
      schedule(1);
    }
  }

  /** The operation in flight is over; the next tick in {@code delayMs} (at once when one was asked for meanwhile). */
  private void finish(long delayMs) {
    busy = false;
    boolean soon = again;
    again = false;
    schedule(soon ? 1 : delayMs);
  }

  private long third() {
    return Math.max(1, settings.ttlMs() / 3);
  }

  private long backoff() {
    return settings.ttlMs() / 10 + ThreadLocalRandom.current().nextLong(settings.ttlMs() / 5 + 1);
  }

  private String newGrant() {
    return me.incarnation() + "." + ++grants;
  }

  private void observe() {
    coordinator.inspect().onComplete(ar -> {
      if (stopped) {
        busy = false;
        return;
      }
      if (ar.failed()) {
        metrics.redisErrors.increment();
        // One slow first connection is no news; a Redis that keeps failing, or refuses this user, is.
        redisFailed("look", "reading the election key", ar.cause(), ++failedLooks >= 3);
        finish(third());
        return;
      }
      failedLooks = 0;
      RedisCoordinator.Observation o = ar.result();
      long now = System.nanoTime();
      succession.observed(o, now);
      noteLimit(o.limit());
      if (o.absent()) {
        invalids.clear();
        setLeader(null, Role.CANDIDATE);
        long backoffLeft = campaignNotBeforeNanos - now;
        if (backoffLeft > 0) {
          finish(Math.min(third(), TimeUnit.NANOSECONDS.toMillis(backoffLeft) + 1));
          return;
        }
        campaign(o, null);
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
      invalids.clear();
      if (rec.node().equals(me.node()) && rec.incarnation().equals(me.incarnation())) {
        // Ours from this start, yet no campaign of ours is in flight and we do not serve on it (a
        // renew or a campaign landed after its reply was given up for lost): give it back, not as
        // released, so that the next holder still waits out whatever it could have granted.
        setLeader(null, Role.CANDIDATE);
        coordinator.resign(new String(o.value(), StandardCharsets.US_ASCII), "resign:" + me.node(), false)
            .onComplete(x -> finish(1));
        return;
      }
      setLeader(new Member(rec.node(), rec.address(), rec.epoch()), Role.FOLLOWER);
      long quietLeft = succession.quietLeftNanos(now);
      if (quietLeft == 0) {
        limited.log(LOG, Level.WARNING, "quiet", WARN_INTERVAL_NANOS, "{0} (epoch {1}) has not renewed for a whole"
            + " TTL on this node''s clock, though its key still has {2} ms to live on Redis''s: taking over",
            rec.node(), rec.epoch(), o.pttlMs());
        campaign(o, o.value());
        return;
      }
      finish(Math.min(Math.min(third(), o.pttlMs() + 1), TimeUnit.NANOSECONDS.toMillis(quietLeft) + 1));
    });
  }

  private void invalid(ElectionRecord.Invalid kind, RedisCoordinator.Observation o) {
    setLeader(null, Role.CANDIDATE);
    InvalidRecords.Decision d = invalids.seen(kind, o, third());
    if (!d.replace()) {
      finish(d.delayMs());
      return;
    }
    long sent = System.nanoTime();
    coordinator.takeover(o, me, settings.ttlMs(), clockMs.getAsLong(), minEpoch, newGrant()).onComplete(ar -> {
      invalids.clear();
      campaignDone(ar.succeeded() ? ar.result() : null, ar.cause(), sent, "takeover");
    });
  }

  /** @param expected null to take an absent key; else the exact record seen quiet for a TTL */
  private void campaign(RedisCoordinator.Observation seen, byte[] expected) {
    long sent = System.nanoTime();
    coordinator.campaign(me, settings.ttlMs(), clockMs.getAsLong(), minEpoch, seen, newGrant(), expected)
        .onComplete(ar -> campaignDone(ar.succeeded() ? ar.result() : null, ar.cause(), sent, "campaign"));
  }

  private void campaignDone(RedisCoordinator.Campaign c, Throwable err, long sentNanos, String what) {
    if (c != null && c.won() && (stopped || handingOver)) {
      // won while stopping: give it back at once rather than hold it unserved
      metrics.campaign("won");
      coordinator.resign(c.record(), "resign:" + me.node(), false);
      busy = false;
      return;
    }
    if (stopped) {
      busy = false;
      return;
    }
    if (c == null) {
      metrics.campaign("error");
      metrics.redisErrors.increment();
      redisFailed("campaign-error", what, err, true);
      finish(backoff());
    } else if (c.won() && !c.replicated()) {
      metrics.campaign("unreplicated");
      limited.log(LOG, Level.WARNING, "unreplicated", WARN_INTERVAL_NANOS,
          "{0} won, but fewer replicas than asked acknowledged it: giving it back", what);
      coordinator.resign(c.record(), "resign:" + me.node(), false).onComplete(x -> finish(backoff()));
    } else if (c.won()) {
      metrics.campaign("won");
      becomeLeader(c.record(), sentNanos);
    } else if (c.changed()) {
      metrics.campaign("changed");
      finish(1);
    } else if (c.refusal() != null) {
      metrics.campaign("refused");
      limited.log(LOG, Level.WARNING, "refused", WARN_INTERVAL_NANOS, "{0} refused: {1}", what, c.refusal());
      finish(third());
    } else {
      metrics.campaign("held");
      finish(1);
    }
  }

  private void becomeLeader(String won, long sentNanos) {
    ElectionRecord.Parsed p = ElectionRecord.parse(won.getBytes(StandardCharsets.US_ASCII));
    if (!p.valid()) { // the script built it: a mismatch between the Lua and Java formats
      limited.log(LOG, Level.ERROR, "unreadable", WARN_INTERVAL_NANOS, "won a record this node cannot read ({0});"
          + " resigning", p.invalid());
      coordinator.resign(won, "resign:" + me.node(), false).onComplete(x -> finish(backoff()));
      return;
    }
    long epoch = p.record().epoch();
    noteEpoch(epoch);
    long now = System.nanoTime();
    long servingFrom = succession.servingFromNanos(now);
    succession.forget();
    Term[] self = new Term[1];
    Term t = new Term(epoch, won, sentNanos, servingFrom, settings.ttlMs() - settings.marginMs(),
        cause -> context.runOnContext(v -> {
          if (term == self[0]) {
            stepDown("the bound cannot be persisted (" + cause.getMessage() + ")", true, settings.ttlMs());
          }
        }));
    self[0] = t;
    term = t;
    role = Role.LEADER;
    setLeader(new Member(me.node(), me.address(), epoch), Role.LEADER);
    metrics.leadershipChanges.increment();
    long waitMs = TimeUnit.NANOSECONDS.toMillis(servingFrom - now);
    LOG.log(Level.INFO, "won the election: epoch {0}; serving in {1} ms, when every earlier holder has surely stopped",
        epoch, waitMs);
    armDeadline(t);
    FencedBoundStore store = new FencedBoundStore(coordinator, local, me, epoch, settings.lossMarginMs(), clockMs,
        () -> context.runOnContext(v -> {
          if (term == t) {
            metrics.fencedWritesRefused.increment();
            stepDown("a fenced bound write was refused", false, 0);
          }
        }));
    TimestampService svc = services.apply(store, t);
    vertx.deployVerticle(svc).onComplete(ar -> {
      if (ar.failed()) {
        if (term == t) {
          limited.log(LOG, Level.WARNING, "start", WARN_INTERVAL_NANOS, "could not start serving: {0}",
              ar.cause().getMessage());
          stepDown("could not start serving", true, settings.ttlMs());
        }
        return;
      }
      if (term != t) {
        vertx.undeploy(ar.result());
        return;
      }
      serviceDeployment = ar.result();
      long left = TimeUnit.NANOSECONDS.toMillis(t.servingFromNanos() - System.nanoTime());
      vertx.setTimer(Math.max(1, left + 1), id -> {
        if (term == t && serviceDeployment != null) {
          service = svc;
          LOG.log(Level.INFO, "serving as leader, epoch {0}", epoch);
        }
      });
    });
    finish(third());
  }

  private void renew() {
    Term t = term;
    long sent = System.nanoTime();
    coordinator.renew(t.record(), settings.ttlMs(), clockMs.getAsLong(), newGrant()).onComplete(ar -> {
      if (stopped || handingOver || term != t) {
        release();
        return;
      }
      metrics.renewLatency.record(System.nanoTime() - sent, TimeUnit.NANOSECONDS);
      if (ar.failed()) {
        metrics.renewFailures.increment();
        metrics.redisErrors.increment();
        long left = TimeUnit.NANOSECONDS.toMillis(t.deadlineNanos() - System.nanoTime());
        finish(Math.max(1, Math.min(third() / 2, left)));
        return;
      }
      if (ar.result() == null) {
        busy = false;
        stepDown("the election record changed or vanished", false, 0);
        return;
      }
      t.renewed(ar.result(), sent);
      armDeadline(t);
      finish(third());
    });
  }

  /** Steps down at the instant the term's lease runs out, unless a renewal moves it first. */
  private void armDeadline(Term t) {
    if (deadlineTimer >= 0) {
      vertx.cancelTimer(deadlineTimer);
    }
    long ms = Math.max(1, TimeUnit.NANOSECONDS.toMillis(t.deadlineNanos() - System.nanoTime()) + 1);
    deadlineTimer = vertx.setTimer(ms, id -> {
      deadlineTimer = -1;
      if (term == t && System.nanoTime() - t.deadlineNanos() >= 0) {
        stepDown("the lease ran out without a successful renewal", true, 0);
      }
    });
  }

  /**
   * Ends the term at once: it is revoked (no answer leaves after this), the allocator verticle
   * goes (answering what waits with UNAVAILABLE, forgetting its memory), the record is given back
   * when {@code giveBack}, then a campaign follows after a jittered backoff plus {@code extraBackoffMs}.
   */
  private Future<Void> stepDown(String reason, boolean giveBack, long extraBackoffMs) {
    Term t = term;
    if (role != Role.LEADER || t == null) {
      return Future.succeededFuture();
    }
    LOG.log(Level.WARNING, "stepping down from epoch {0}: {1}", t.epoch(), reason);
    t.revoke();
    boolean clean = t.waited();
    term = null;
    role = Role.CANDIDATE;
    service = null;
    metrics.leadershipChanges.increment();
    setLeader(null, Role.CANDIDATE);
    if (deadlineTimer >= 0) {
      vertx.cancelTimer(deadlineTimer);
      deadlineTimer = -1;
    }
    String deployment = serviceDeployment;
    serviceDeployment = null;
    Future<Void> undeployed = deployment == null ? Future.succeededFuture() : vertx.undeploy(deployment);
    // The record goes only once the allocator is gone: the next holder need not wait for us.
    Future<Void> resigned = !giveBack ? undeployed : undeployed.transform(ar ->
        coordinator.resign(t.record(), "resign:" + me.node() + ":" + t.epoch(), clean).<Void>mapEmpty()
            .recover(e -> {
              redisFailed("give-back", "giving the record back", e, true);
              return Future.succeededFuture();
            }));
    long backoffMs = backoff() + extraBackoffMs;
    campaignNotBeforeNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(backoffMs);
    schedule(backoffMs);
    return resigned;
  }

  /**
   * A Redis call of the election failed: one line per {@code key} every interval, when {@code
   * warn}. Redis refusing a command, key or channel to this user (NOPERM) is a setup error that no
   * retry mends: always said, one line for every kind of call, with what the user needs.
   */
  private void redisFailed(String key, String what, Throwable err, boolean warn) {
    String m = err == null ? "?" : String.valueOf(err.getMessage());
    Throwable root = err;
    while (root != null && root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    if (root != err && root.getMessage() != null && !m.contains(root.getMessage())) {
      m += " (" + root.getMessage() + ")"; // "Failed to create SSL connection" says little alone
    }
    if (m.contains("NOPERM")) {
      limited.log(LOG, Level.ERROR, "noperm", WARN_INTERVAL_NANOS, "{0} failed: {1}; the Redis user needs the ACL"
          + " rule {2}", what, m, RedisAcl.RULE);
    } else if (warn) {
      limited.log(LOG, Level.WARNING, key, WARN_INTERVAL_NANOS, "{0} failed: {1}", what, m);
    }
  }

  private void setLeader(Member m, Role r) {
    if (role != Role.LEADER || r == Role.LEADER) {
      role = r;
    }
    Member before = leader;
    leader = m;
    if (before == null ? m != null : !before.equals(m)) {
      if (m == null) {
        LOG.log(Level.INFO, "no leader known now (was {0}, epoch {1})", before.nodeId(), before.epoch());
      } else {
        LOG.log(Level.INFO, "leader is now {0} at {1}, epoch {2}", m.nodeId(), m.address(), m.epoch());
      }
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
}
