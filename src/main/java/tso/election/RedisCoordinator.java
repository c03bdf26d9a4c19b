package tso.election;

import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import tso.store.StoreException;
import tso.store.StoredBound;

/**
 * Every Redis operation of the election, each one Lua script run atomically in Redis: campaign,
 * renew, resign (compare-and-delete), the fenced bound write, inspect and takeover. Scripts are
 * called by EVALSHA and sent whole with EVAL when Redis answers NOSCRIPT (its script cache
 * empties on restart). Every call has a timeout: a paused or unreachable Redis is an error,
 * never a wait without end.
 *
 * <p>With {@code minReplicas > 0}, a campaign and a fenced write are followed by {@code WAIT} on
 * the same connection (one pipelined batch); fewer acknowledgements than asked count as not
 * persisted.
 */
public final class RedisCoordinator {

  private static final Pattern LIMIT = Pattern.compile("bound=(\\d{1,18});epoch=(\\d{1,18})");

  /**
   * What campaign and takeover answer.
   *
   * @param changed     Redis, or its last grant, is not the one the caller observed: inspect again
   * @param replicated  false when won but fewer replicas than asked acknowledged it
   */
  public record Campaign(boolean won, String record, String refusal, boolean changed, boolean replicated) {
  }

  /**
   * What the leader key holds now, the stored limit, and the lease's grant token.
   *
   * @param grant    the last grant's token ("" when none)
   * @param released the token of the last grant given back by a holder that had stopped serving ("" when none)
   * @param redisId  which Redis answered: its run id and replication id
   */
  public record Observation(String type, long pttlMs, byte[] value, StoredBound limit, boolean limitCorrupt,
      String grant, String released, String redisId) {
    public boolean absent() {
      return "none".equals(type);
    }

    /** What the candidates time a lease by: a grant on one Redis. */
    public String state() {
      return redisId + "|" + grant;
    }
  }

  /** Why a fenced write was refused (null when it was written). */
  public record Fence(boolean written, String refusal) {
  }

  private final Redis redis;
  private final RedisKeys keys;
  private final long timeoutMs;
  private final int minReplicas;

  public RedisCoordinator(Redis redis, RedisKeys keys, long timeoutMs) {
    this(redis, keys, timeoutMs, 0);
  }

  /** @param minReplicas replicas that must acknowledge a campaign or a fenced write (0: no WAIT) */
  public RedisCoordinator(Redis redis, RedisKeys keys, long timeoutMs, int minReplicas) {
    this.redis = redis;
    this.keys = keys;
    this.timeoutMs = timeoutMs;
    this.minReplicas = minReplicas;
  }

  public RedisKeys keys() {
    return keys;
  }

  private List<String> campaignKeys() {
    return List.of(keys.leader(), keys.epoch(), keys.limit(), keys.transitions(), keys.grant(), keys.released());
  }

  /**
   * Takes the key if it is still as {@code seen} showed it: absent ({@code expected} null), or
   * holding exactly {@code expected}; and only on the same Redis with the same last grant.
   */
  public Future<Campaign> campaign(Identity me, long ttlMs, long nowMs, long minEpoch, Observation seen,
      String newGrant, byte[] expected) {
    List<byte[]> args = List.of(bytes(me.node()), bytes(me.address()), bytes(me.incarnation()),
        bytes(Long.toString(ttlMs)), bytes(Long.toString(nowMs)), bytes(Long.toString(minEpoch)),
        bytes(seen.redisId()), bytes(seen.grant()), bytes(newGrant), expected == null ? new byte[0] : expected);
    return evalWaited(Script.CAMPAIGN, campaignKeys(), args).map(RedisCoordinator::campaignResult);
  }

  /** Replaces a value without a TTL that {@code seen} showed, on the same terms as {@link #campaign}. */
  public Future<Campaign> takeover(Observation seen, Identity me, long ttlMs, long nowMs, long minEpoch,
      String newGrant) {
    List<byte[]> args = List.of(bytes(seen.type()), seen.value(), bytes(me.node()), bytes(me.address()),
        bytes(me.incarnation()), bytes(Long.toString(ttlMs)), bytes(Long.toString(nowMs)),
        bytes(Long.toString(minEpoch)), bytes(seen.redisId()), bytes(seen.grant()), bytes(newGrant));
    return evalWaited(Script.TAKEOVER, campaignKeys(), args).map(RedisCoordinator::campaignResult);
  }

  private static Campaign campaignResult(Waited w) {
    Response r = w.response;
    long code = r.get(0).toLong();
    if (code == 1) {
      return new Campaign(true, r.get(1).toString(), null, false, w.replicated);
    }
    if (code == 2) {
      return new Campaign(false, null, null, true, true);
    }
    return new Campaign(false, null, code < 0 ? r.get(1).toString() : null, false, true);
  }

  /** The new record when renewed; null when the record is not ours any more. */
  public Future<String> renew(String expected, long ttlMs, long nowMs, String newGrant) {
    return eval(Script.RENEW, List.of(keys.leader(), keys.grant()), expected, Long.toString(ttlMs),
        Long.toString(nowMs), newGrant)
        .map(r -> r.get(0).toLong() == 1 ? r.get(1).toString() : null);
  }

  /**
   * True when our record was deleted and the followers told. Call only once this node has
   * stopped serving; {@code clean} only when it had served (every earlier holder had stopped):
   * the next holder then need not wait.
   */
  public Future<Boolean> resign(String expected, String message, boolean clean) {
    return eval(Script.RESIGN, List.of(keys.leader(), keys.grant(), keys.released()), expected, keys.events(),
        message, clean ? "1" : "0")
        .map(r -> r.toLong() == 1);
  }

  /**
   * Raises the stored bound, fenced by the holder's incarnation and epoch. Fails (not persisted)
   * when fewer than {@code minReplicas} replicas acknowledged it.
   */
  public Future<Fence> fence(String incarnation, long epoch, long boundMs) {
    List<byte[]> args = List.of(bytes(incarnation), bytes(Long.toString(epoch)), bytes(Long.toString(boundMs)));
    return evalWaited(Script.FENCE, List.of(keys.leader(), keys.limit()), args).compose(w -> {
      Response r = w.response;
      if (r.get(0).toLong() != 1) {
        return Future.succeededFuture(new Fence(false, r.get(1).toString()));
      }
      if (!w.replicated) {
        return Future.failedFuture(new StoreException("the bound reached fewer than " + minReplicas
            + " replicas in time; not persisted"));
      }
      return Future.succeededFuture(new Fence(true, null));
    });
  }

  public Future<Observation> inspect() {
    return eval(Script.INSPECT, List.of(keys.leader(), keys.limit(), keys.grant(), keys.released())).map(r -> {
      String type = r.get(0).toString();
      long pttl = r.get(1).toLong();
      Response v = r.get(2);
      byte[] value = v == null || v.type() != ResponseType.BULK ? null : v.toBytes();
      Response l = r.get(3);
      StoredBound limit = StoredBound.NONE;
      boolean corrupt = false;
      if (l != null && l.type() == ResponseType.BULK) {
        Matcher m = LIMIT.matcher(l.toString());
        if (m.matches()) {
          limit = new StoredBound(Long.parseLong(m.group(2)), Long.parseLong(m.group(1)));
        } else {
          corrupt = true;
        }
      }
      return new Observation(type, pttl, value, limit, corrupt, r.get(4).toString(), r.get(5).toString(),
          r.get(6).toString());
    });
  }

  /** A script's reply, and whether enough replicas acknowledged what it wrote. */
  private record Waited(Response response, boolean replicated) {
  }

  private Future<Response> eval(Script script, List<String> keyList, String... args) {
    List<byte[]> a = new ArrayList<>(args.length);
    for (String s : args) {
      a.add(bytes(s));
    }
    return evalBytes(script, keyList, a);
  }

  private Future<Response> evalBytes(Script script, List<String> keyList, List<byte[]> args) {
    return send(request(Command.EVALSHA, script.sha1, keyList, args)).recover(err -> {
      if (noScript(err)) {
        return send(request(Command.EVAL, script.source, keyList, args));
      }
      return Future.failedFuture(err);
    });
  }

  /**
   * The script, then {@code WAIT minReplicas timeout} on the same connection when replicas are
   * asked for: WAIT counts the acknowledgements of that connection's writes.
   */
  private Future<Waited> evalWaited(Script script, List<String> keyList, List<byte[]> args) {
    if (minReplicas <= 0) {
      return evalBytes(script, keyList, args).map(r -> new Waited(r, true));
    }
    // WAIT gets at most half the call's time, so a slow replica is reported, not a timeout.
    Request wait = Request.cmd(Command.WAIT).arg(minReplicas).arg(Math.max(1, timeoutMs / 2));
    return batch(List.of(request(Command.EVALSHA, script.sha1, keyList, args), wait)).recover(err -> {
      if (noScript(err)) {
        return batch(List.of(request(Command.EVAL, script.source, keyList, args), wait));
      }
      return Future.failedFuture(err);
    }).map(rs -> new Waited(rs.get(0), rs.get(1).toLong() >= minReplicas));
  }

  private static boolean noScript(Throwable err) {
    String m = err.getMessage();
    return m != null && m.contains("NOSCRIPT");
  }

  private Future<Response> send(Request req) {
    return redis.send(req).timeout(timeoutMs, TimeUnit.MILLISECONDS);
  }

  private Future<List<Response>> batch(List<Request> reqs) {
    return redis.batch(reqs).timeout(timeoutMs, TimeUnit.MILLISECONDS);
  }

  private static Request request(Command cmd, String scriptOrSha, List<String> keyList, List<byte[]> args) {
    Request req = Request.cmd(cmd).arg(scriptOrSha).arg(keyList.size());
    for (String k : keyList) {
      req.arg(k);
    }
    for (byte[] a : args) {
      req.arg(Buffer.buffer(a));
    }
    return req;
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
