package tso.election;

import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.RedisConnection;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import io.vertx.redis.client.ResponseType;

/**
 * The resign notices on the events channel: a planned handover, so candidates look now rather
 * than at their next poll. Only a hint: nothing is decided on a notice alone. Reconnects after
 * every loss, every {@code retryMs}.
 */
final class ResignNotices {

  private final Vertx vertx;
  private final Redis redis;
  private final String channel;
  private final long retryMs;
  private final Runnable onResign;
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
      conn.send(Request.cmd(Command.SUBSCRIBE).arg(channel)).onFailure(e -> conn.close());
    });
  }

  io.vertx.core.Future<Void> stop() {
    stopped = true;
    RedisConnection c = subscriber;
    subscriber = null;
    return c == null ? io.vertx.core.Future.succeededFuture() : c.close();
  }

  private void onMessage(Response msg) {
    if (msg == null || msg.type() != ResponseType.PUSH && msg.type() != ResponseType.MULTI || msg.size() < 3) {
      return;
    }
    if ("message".equals(msg.get(0).toString()) && msg.get(2).toString().startsWith("resign:")) {
      onResign.run();
    }
  }
}
