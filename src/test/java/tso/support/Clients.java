package tso.support;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;

import java.util.ArrayDeque;
import java.util.function.IntSupplier;

import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.proto.v1.TimestampRange;

/**
 * Closed-loop test clients over the three timestamp APIs, recording into a {@link History}.
 * Each runs until it has received at least a given number of timestamps.
 */
public final class Clients implements AutoCloseable {

  private final Vertx vertx;
  private final int port;
  private final HttpClient http;
  private final GrpcClient grpc;
  private final SocketAddress address;

  public Clients(int port, int httpConnections) {
    this.vertx = Vertx.vertx();
    this.port = port;
    this.http = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true),
        new PoolOptions().setHttp1MaxSize(httpConnections));
    this.grpc = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
        .setHttp2ClearTextUpgrade(false));
    this.address = SocketAddress.inetSocketAddress(port, "127.0.0.1");
  }

  /** POST /v1/timestamps in a loop. */
  public Future<Void> http(String name, long wanted, IntSupplier counts, History history) {
    Promise<Void> done = Promise.promise();
    vertx.runOnContext(v -> httpNext(name, wanted, counts, history, done, 0));
    return done.future();
  }

  private void httpNext(String name, long wanted, IntSupplier counts, History history, Promise<Void> done, long got) {
    if (got >= wanted) {
      done.complete();
      return;
    }
    int count = counts.getAsInt();
    long t0 = System.nanoTime();
    http.request(new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1").setPort(port)
            .setURI("/v1/timestamps").putHeader("content-type", "application/json"))
        .compose(req -> req.send(new JsonObject().put("count", count).encode()))
        .compose(resp -> resp.body().map(body -> {
          if (resp.statusCode() != 200) {
            throw new AssertionError(name + ": HTTP " + resp.statusCode() + " " + body);
          }
          return new JsonObject(body);
        }))
        .onSuccess(json -> {
          long first = Long.parseUnsignedLong(json.getString("timestamp"));
          if (json.getInteger("count") != count) {
            done.tryFail(new AssertionError(name + ": asked " + count + ", got " + json));
            return;
          }
          history.add(t0, System.nanoTime(), first, count, name);
          httpNext(name, wanted, counts, history, done, got + count);
        })
        .onFailure(done::tryFail);
  }

  /** GetTimestamps in a loop. */
  public Future<Void> unary(String name, long wanted, IntSupplier counts, History history) {
    Promise<Void> done = Promise.promise();
    TimestampOracleGrpcClient stub = TimestampOracleGrpcClient.create(grpc, address);
    vertx.runOnContext(v -> unaryNext(stub, name, wanted, counts, history, done, 0));
    return done.future();
  }

  private void unaryNext(TimestampOracleGrpcClient stub, String name, long wanted, IntSupplier counts,
      History history, Promise<Void> done, long got) {
    if (got >= wanted) {
      done.complete();
      return;
    }
    int count = counts.getAsInt();
    long t0 = System.nanoTime();
    stub.getTimestamps(GetTimestampsRequest.newBuilder().setCount(count).build())
        .onSuccess(r -> {
          if (r.getCount() != count) {
            done.tryFail(new AssertionError(name + ": asked " + count + ", got " + r));
            return;
          }
          history.add(t0, System.nanoTime(), r.getTimestamp(), count, name);
          unaryNext(stub, name, wanted, counts, history, done, got + count);
        })
        .onFailure(done::tryFail);
  }

  /** One StreamTimestamps call with up to {@code window} requests outstanding; answers come in order. */
  public Future<Void> stream(String name, long wanted, int window, IntSupplier counts, History history) {
    Promise<Void> done = Promise.promise();
    vertx.runOnContext(v -> grpc.request(address, TimestampOracleGrpcClient.StreamTimestamps).onSuccess(req -> {
      ArrayDeque<long[]> outstanding = new ArrayDeque<>(); // {sentNanos, count}
      long[] sent = {0};
      long[] got = {0};
      Runnable fill = () -> {
        while (outstanding.size() < window && sent[0] < wanted) {
          int count = counts.getAsInt();
          outstanding.addLast(new long[] {System.nanoTime(), count});
          sent[0] += count;
          req.write(GetTimestampsRequest.newBuilder().setCount(count).build());
        }
        if (sent[0] >= wanted && outstanding.size() == 0) {
          req.end();
        }
      };
      req.response().onSuccess(resp -> {
        resp.handler((TimestampRange r) -> {
          long[] o = outstanding.pollFirst();
          if (o == null || r.getCount() != o[1]) {
            done.tryFail(new AssertionError(name + ": unexpected answer " + r));
            return;
          }
          history.add(o[0], System.nanoTime(), r.getTimestamp(), r.getCount(), name);
          got[0] += r.getCount();
          fill.run();
        });
        resp.endHandler(x -> {
          if (resp.status() != null && resp.status().code != 0) {
            done.tryFail(new AssertionError(name + ": stream ended with " + resp.status() + " " + resp.statusMessage()));
          } else if (got[0] < wanted) {
            done.tryFail(new AssertionError(name + ": stream ended after " + got[0] + " of " + wanted));
          } else {
            done.tryComplete();
          }
        });
        resp.exceptionHandler(done::tryFail);
      }).onFailure(done::tryFail);
      fill.run();
    }).onFailure(done::tryFail));
    return done.future();
  }

  public GrpcClient grpc() {
    return grpc;
  }

  public HttpClient http() {
    return http;
  }

  public Vertx vertx() {
    return vertx;
  }

  public SocketAddress address() {
    return address;
  }

  /** A raw gRPC request for sending bytes that are not a valid message. */
  public Future<GrpcClientRequest<io.vertx.core.buffer.Buffer, io.vertx.core.buffer.Buffer>> raw() {
    return grpc.request(address);
  }

  @Override
  public void close() {
    vertx.close().toCompletionStage().toCompletableFuture().join();
  }
}
