package tso.election;

import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;

import java.lang.System.Logger.Level;

import tso.log.RateLimited;

/**
 * The resign notices on the events channel: a planned handover, so candidates look now rather
 * than at their next poll. Only a hint: nothing is decided on a notice alone. Reconnects after
 * every loss, every {@code retryMs}.
 */
final class ResignNotices {

  private static final System.Logger LOG = System.getLogger(ResignNotices.class.getName());

  private final Vertx vertx;
  private final Redis redis;
  private final String channel;
  private final long retryMs;
  private final Runnable onResign;
  private final RateLimited limited = new RateLimited();
  private RedisConnection subscriber;
  private boolean stopped;

  ResignNotices(Vertx vertx, Redis redis, String channel, long retryMs, Runnable onResign) {
    this.vertx = vertx;
    this.redis = redis;
    this.channel = channel;
    this.retryMs = retryMs;
    this.onResign = onResign;
  }

  void start() {
    if (stopped) {
      return;
    }
    redis.connect().onComplete(ar -> {
      if (ar.failed() || stopped) {
        if (ar.succeeded()) {
          ar.result().close();
        }
        if (!stopped) {
          vertx.setTimer(retryMs, id -> start());
        }
        return;
      }
      RedisConnection conn = ar.result();
      subscriber = conn;
      conn.handler(this::onMessage);
      conn.exceptionHandler(e -> { });
      conn.endHandler(v -> {
        if (subscriber == conn) {
          subscriber = null;
          if (!stopped) {
            vertx.setTimer(retryMs, id -> start());
          }
        }
      });
      conn.send(Request.cmd(Command.SUBSCRIBE).arg(channel)).onFailure(e -> refused(conn, e.getMessage()));
    });
  }

  io.vertx.core.Future<Void> stop() {
    stopped = true;
    RedisConnection c = subscriber;
    subscriber = null;
    return c == null ? io.vertx.core.Future.succeededFuture() : c.close();
  }

  /**
   * SUBSCRIBE failed (Redis answers a refusal as a message, not as the reply): said once per
   * interval, then tried again after {@code retryMs}. Without notices the followers still find a
   * handover at their next poll, only later.
   */
  private void refused(RedisConnection conn, String error) {
    String m = String.valueOf(error);
    boolean noPerm = m.contains("NOPERM");
    limited.log(LOG, noPerm ? Level.ERROR : Level.WARNING, "subscribe", RateLimited.DEFAULT_INTERVAL_NANOS,
        "no resign notices: SUBSCRIBE {0} failed: {1}{2}", channel, m,
        noPerm ? "; the Redis user needs the ACL rule " + RedisAcl.RULE : "");
    conn.close();
  }

  private void onMessage(Response msg) {
    if (msg != null && msg.type() == ResponseType.ERROR) {
      RedisConnection c = subscriber;
      if (c != null) {
        refused(c, msg.toString());
      }
      return;
    }
    if (msg == null || msg.type() != ResponseType.PUSH && msg.type() != ResponseType.MULTI || msg.size() < 3) {
      return;
    }
    if ("message".equals(msg.get(0).toString()) && msg.get(2).toString().startsWith("resign:")) {
      onResign.run();
    }
  }
}
