package tso.election;

import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;

import tso.store.StoredBound;

/**
 * Every Redis operation of the election, each one Lua script run atomically in Redis: campaign,
 * renew, resign (compare-and-delete), the fenced bound write, inspect and takeover. Scripts are
 * called by EVALSHA and sent whole with EVAL when Redis answers NOSCRIPT (its script cache
 * empties on restart). Every call has a timeout: a paused or unreachable Redis is an error,
 * never a wait without end.
 */
public final class RedisCoordinator {

  /** What campaign and takeover answer. */
  /**
   * @param waitMs when won: serve only after this long, what is left of the previous holder's
   *     lease on Redis's clock (0 after an expiry or a resign; the whole TTL when unknown)
   */
  public record Campaign(boolean won, String record, long waitMs, String refusal) {
  }

  /** What the leader key holds now, and the stored limit. */
  public record Observation(String type, long pttlMs, byte[] value, StoredBound limit, boolean limitCorrupt) {
    public boolean absent() {
      return "none".equals(type);
    }
  }

  /** Why a fenced write was refused (null when it was written). */
  public record Fence(boolean written, String refusal) {
  }

  private final Redis redis;
  private final RedisKeys keys;
  private final long timeoutMs;

  public RedisCoordinator(Redis redis, RedisKeys keys, long timeoutMs) {
    this.redis = redis;
    this.keys = keys;
    this.timeoutMs = timeoutMs;
  }

  public RedisKeys keys() {
    return keys;
  }

  public Future<Campaign> campaign(Identity me, long ttlMs, long nowMs, long minEpoch) {
    return eval(Script.CAMPAIGN, List.of(keys.leader(), keys.epoch(), keys.limit(), keys.transitions(), keys.lease()),
        me.node(), me.address(), me.incarnation(), Long.toString(ttlMs), Long.toString(nowMs), Long.toString(minEpoch))
        .map(RedisCoordinator::campaignResult);
  }

  public Future<Campaign> takeover(Observation seen, Identity me, long ttlMs, long nowMs, long minEpoch) {
    return evalBytes(Script.TAKEOVER, List.of(keys.leader(), keys.epoch(), keys.limit(), keys.transitions(),
        keys.lease()),
        List.of(bytes(seen.type()), seen.value(), bytes(me.node()), bytes(me.address()), bytes(me.incarnation()),
            bytes(Long.toString(ttlMs)), bytes(Long.toString(nowMs)), bytes(Long.toString(minEpoch))))
        .map(RedisCoordinator::campaignResult);
  }

  private static Campaign campaignResult(Response r) {
    long code = r.get(0).toLong();
    if (code == 1) {
      return new Campaign(true, r.get(1).toString(), r.get(2).toLong(), null);
    }
    return new Campaign(false, null, 0, code < 0 ? r.get(1).toString() : null);
  }

  /** The new record when renewed; null when the record is not ours any more. */
  public Future<String> renew(String expected, long ttlMs, long nowMs) {
    return eval(Script.RENEW, List.of(keys.leader(), keys.lease()), expected, Long.toString(ttlMs), Long.toString(nowMs))
        .map(r -> r.get(0).toLong() == 1 ? r.get(1).toString() : null);
  }

  /**
   * True when our record was deleted and the followers told. Call only once this node has
   * stopped serving: the next holder will not wait.
   */
  public Future<Boolean> resign(String expected, String message) {
    return eval(Script.RESIGN, List.of(keys.leader(), keys.lease()), expected, keys.events(), message)
        .map(r -> r.toLong() == 1);
  }

  /** Raises the stored bound, fenced by the holder's incarnation and epoch. */
  public Future<Fence> fence(String incarnation, long epoch, long boundMs) {
    return eval(Script.FENCE, List.of(keys.leader(), keys.limit()), incarnation, Long.toString(epoch),
        Long.toString(boundMs))
        .map(r -> r.get(0).toLong() == 1 ? new Fence(true, null) : new Fence(false, r.get(1).toString()));
  }

  public Future<Observation> inspect() {
    return eval(Script.INSPECT, List.of(keys.leader(), keys.limit())).map(r -> {
      String type = r.get(0).toString();
      long pttl = r.get(1).toLong();
      Response v = r.get(2);
      byte[] value = v == null || v.type() != ResponseType.BULK ? null : v.toBytes();
      Response l = r.get(3);
      StoredBound limit = StoredBound.NONE;
      boolean corrupt = false;
      if (l != null && l.type() == ResponseType.BULK) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("bound=(\\d{1,18});epoch=(\\d{1,18})")
            .matcher(l.toString());
        if (m.matches()) {
          limit = new StoredBound(Long.parseLong(m.group(2)), Long.parseLong(m.group(1)));
        } else {
          corrupt = true;
        }
      }
      return new Observation(type, pttl, value, limit, corrupt);
    });
  }

  private Future<Response> eval(Script script, List<String> keyList, String... args) {
    List<byte[]> a = new java.util.ArrayList<>(args.length);
    for (String s : args) {
      a.add(bytes(s));
    }
    return evalBytes(script, keyList, a);
  }

  private Future<Response> evalBytes(Script script, List<String> keyList, List<byte[]> args) {
    return send(request(Command.EVALSHA, script.sha1, keyList, args)).recover(err -> {
      String m = err.getMessage();
      if (m != null && m.startsWith("NOSCRIPT")) {
        return send(request(Command.EVAL, script.source, keyList, args));
      }
      return Future.failedFuture(err);
    });
  }

  private Future<Response> send(Request req) {
    return redis.send(req).timeout(timeoutMs, TimeUnit.MILLISECONDS);
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
