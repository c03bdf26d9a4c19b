package tso.loadgen;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.common.GrpcStatus;

import java.net.URI;
import java.util.ArrayDeque;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.proto.v1.TimestampRange;

/** The transports: HTTP/1.1 keep-alive, gRPC unary, and one gRPC stream per connection. */
final class Transports {

  private static final Pattern TIMESTAMP = Pattern.compile("\"timestamp\":\"?(\\d+)");

  private Transports() {
  }

  static Transport create(Vertx vertx, String protocol, String target) {
    URI uri = URI.create(target);
    String host = uri.getHost();
    int port = uri.getPort() < 0 ? 80 : uri.getPort();
    return switch (protocol) {
      case "http" -> new Http(vertx, host, port);
      case "grpc" -> new Unary(vertx, host, port);
      case "grpc-stream" -> new Stream(vertx, host, port);
      default -> throw new IllegalArgumentException("protocol " + protocol);
    };
  }

  /** One keep-alive HTTP/1.1 connection: one request at a time. */
  static final class Http implements Transport {
    private final HttpClient client;
    private final RequestOptions options;

    Http(Vertx vertx, String host, int port) {
      client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setTcpNoDelay(true),
          new PoolOptions().setHttp1MaxSize(1).setMaxWaitQueueSize(-1));
      options = new RequestOptions().setMethod(HttpMethod.POST).setHost(host).setPort(port)
          .setURI("/v1/timestamps").putHeader("content-type", "application/json");
    }

    @Override
    public Future<Long> send(int count) {
      Buffer body = Buffer.buffer(count == 1 ? "" : "{\"count\":" + count + "}");
      return client.request(options)
          .compose(req -> req.send(body))
          .compose(resp -> resp.body().map(b -> {
            if (resp.statusCode() != 200) {
              throw new Failure("http_" + resp.statusCode());
            }
            Matcher m = TIMESTAMP.matcher(b.toString());
            if (!m.find()) {
              throw new Failure("bad_answer");
            }
            return Long.parseUnsignedLong(m.group(1));
          }))
          .recover(Transports::code);
    }

    @Override
    public Future<Void> close() {
      return client.close();
    }
  }

  /** GetTimestamps calls over one HTTP/2 connection. */
  static final class Unary implements Transport {
    private final GrpcClient client;
    private final TimestampOracleGrpcClient stub;

    Unary(Vertx vertx, String host, int port) {
      client = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
          .setHttp2ClearTextUpgrade(false).setTcpNoDelay(true));
      stub = TimestampOracleGrpcClient.create(client, SocketAddress.inetSocketAddress(port, host));
    }

    @Override
    public Future<Long> send(int count) {
      return stub.getTimestamps(GetTimestampsRequest.newBuilder().setCount(count).build())
          .map(TimestampRange::getTimestamp)
          .recover(Transports::code);
    }

    @Override
    public Future<Void> close() {
      return client.close();
    }
  }

  /** One StreamTimestamps call: answers come in request order. */
  static final class Stream implements Transport {
    private final GrpcClient client;
    private final SocketAddress address;
    private final ArrayDeque<io.vertx.core.Promise<Long>> waiting = new ArrayDeque<>();
    private Future<GrpcClientRequest<GetTimestampsRequest, TimestampRange>> call;

    Stream(Vertx vertx, String host, int port) {
      client = GrpcClient.client(vertx, new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
          .setHttp2ClearTextUpgrade(false).setTcpNoDelay(true));
      address = SocketAddress.inetSocketAddress(port, host);
    }

    private Future<GrpcClientRequest<GetTimestampsRequest, TimestampRange>> call() {
      if (call == null) {
        call = client.request(address, TimestampOracleGrpcClient.StreamTimestamps).onSuccess(req ->
            req.response().onComplete(ar -> {
              if (ar.failed()) {
                broken("stream_failed");
                return;
              }
              ar.result().handler(r -> {
                io.vertx.core.Promise<Long> p = waiting.pollFirst();
                if (p != null) {
                  p.tryComplete(r.getTimestamp());
                }
              });
              ar.result().endHandler(v -> {
                GrpcStatus st = ar.result().status();
                broken(st == null || st == GrpcStatus.OK ? "stream_ended" : "grpc_" + st.name());
              });
              ar.result().exceptionHandler(e -> broken("stream_failed"));
            })).onFailure(e -> broken("connect_failed"));
      }
      return call;
    }

    private void broken(String code) {
      call = null;
      io.vertx.core.Promise<Long> p;
      while ((p = waiting.pollFirst()) != null) {
        p.tryFail(new Failure(code));
      }
    }

    @Override
    public Future<Long> send(int count) {
      io.vertx.core.Promise<Long> p = io.vertx.core.Promise.promise();
      call().onSuccess(req -> {
        waiting.addLast(p);
        req.write(GetTimestampsRequest.newBuilder().setCount(count).build());
      }).onFailure(e -> p.tryFail(new Failure("connect_failed")));
      return p.future();
    }

    @Override
    public Future<Void> close() {
      return client.close();
    }
  }

  /** Every failure becomes a {@link Transport.Failure} with a short code. */
  static Future<Long> code(Throwable t) {
    if (t instanceof Transport.Failure) {
      return Future.failedFuture(t);
    }
    String m = String.valueOf(t.getMessage());
    if (t instanceof io.vertx.grpc.client.InvalidStatusException e) {
      return Future.failedFuture(new Transport.Failure("grpc_" + e.actualStatus().name()));
    }
    if (t instanceof io.vertx.grpc.common.GrpcErrorException e) {
      return Future.failedFuture(new Transport.Failure("grpc_" + e.status().name()));
    }
    if (m.contains("Connection refused")) {
      return Future.failedFuture(new Transport.Failure("connection_refused"));
    }
    return Future.failedFuture(new Transport.Failure(t.getClass().getSimpleName()));
  }
}
