package tso.loadgen;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;

import java.net.URI;
import java.util.ArrayDeque;

/** The transports: HTTP/1.1 keep-alive (pipelined up to --concurrency), gRPC unary, and one gRPC stream per connection. */
final class Transports {

  private Transports() {
  }

  /** @param noop the server's no-op baseline instead of the timestamp API */
  static Transport create(Vertx vertx, String protocol, String target, boolean noop) {
    URI uri = URI.create(target);
    String host = uri.getHost();
    int port = uri.getPort() < 0 ? 80 : uri.getPort();
    return switch (protocol) {
      case "http" -> new Http(vertx, host, port, noop ? "/v1/noop" : "/v1/timestamps");
      case "grpc", "grpc-stream" -> new GrpcH2(vertx, host, port, noop ? "tso.v1.Noop" : "tso.v1.TimestampOracle",
          protocol.equals("grpc-stream"));
      default -> throw new IllegalArgumentException("protocol " + protocol);
    };
  }

  /**
   * One keep-alive HTTP/1.1 connection, spoken directly over a socket the way wrk does: the
   * request bytes are built once, and answers are parsed in place (status line, content-length,
   * body). Up to {@code --concurrency} requests may be in flight on it (pipelining); answers come
   * back in request order. Chunked answers are not expected from the server and count as
   * {@code bad_answer}. A closed connection fails what was in flight and is opened again on the
   * next request.
   */
  static final class Http implements Transport {
    private final NetClient client;
    private final String host;
    private final int port;
    private final String path;
    private final Buffer single;
    private final ArrayDeque<Promise<Long>> waiting = new ArrayDeque<>();
    private final Answers answers = new Answers();
    private Future<NetSocket> socket;
    private Buffer request;
    private int requestCount;
    private long epoch;

    Http(Vertx vertx, String host, int port, String path) {
      this.client = vertx.createNetClient(new NetClientOptions().setTcpNoDelay(true).setConnectTimeout(5000));
      this.host = host;
      this.port = port;
      this.path = path;
      this.single = request(host, port, path, 1);
    }

    static Buffer request(String host, int port, String path, int count) {
      String body = count == 1 ? "" : "{\"count\":" + count + "}";
      return Buffer.buffer("POST " + path + " HTTP/1.1\r\nhost: " + host + ":" + port
          + "\r\ncontent-type: application/json\r\ncontent-length: " + body.length() + "\r\n\r\n" + body);
    }

    private Future<NetSocket> socket() {
      if (socket == null) {
        Future<NetSocket> s = client.connect(port, host);
        socket = s;
        s.onSuccess(so -> {
          so.handler(this::received);
          so.closeHandler(v -> broken(s, "connection_closed"));
          so.exceptionHandler(e -> so.close());
        }).onFailure(e -> broken(s, e.getMessage() != null && e.getMessage().contains("refused")
            ? "connection_refused" : "connect_failed"));
      }
      return socket;
    }

    @Override
    public Future<Long> send(int count) {
      Buffer bytes = count == 1 ? single : cached(count);
      Promise<Long> p = Promise.promise();
      Future<NetSocket> s = socket();
      waiting.addLast(p);
      if (s.succeeded()) {
        s.result().write(bytes);
      } else {
        s.onSuccess(so -> so.write(bytes));
      }
      return p.future();
    }

    private Buffer cached(int count) {
      if (request == null || requestCount != count) {
        request = request(host, port, path, count);
        requestCount = count;
      }
      return request;
    }

    private void received(Buffer data) {
      answers.append(data);
      int status;
      while ((status = answers.next()) != Answers.INCOMPLETE) {
        Promise<Long> p = waiting.pollFirst();
        if (status == Answers.MALFORMED) {
          if (p != null) {
            p.tryFail(new Failure("bad_answer"));
          }
          socket.onSuccess(NetSocket::close);
          return;
        }
        if (p == null) {
          continue;
        }
        if (status != 200) {
          p.tryFail(new Failure("http_" + status));
        } else if (!answers.hasTimestamp) {
          p.tryFail(new Failure("bad_answer"));
        } else {
          epoch = answers.epoch;
          p.tryComplete(answers.timestamp);
        }
      }
    }

    private void broken(Future<NetSocket> which, String code) {
      if (socket != which) {
        return;
      }
      socket = null;
      answers.reset();
      Promise<Long> p;
      while ((p = waiting.pollFirst()) != null) {
        p.tryFail(new Failure(code));
      }
    }

    @Override
    public long epoch() {
      return epoch;
    }

    @Override
    public Future<Void> close() {
      return client.close();
    }
  }
}
