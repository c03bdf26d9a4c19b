package tso.loadgen;

import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManagerFactory;

import java.net.URI;
import java.util.ArrayDeque;
import java.util.List;

/** The transports: HTTP/1.1 keep-alive (pipelined up to --concurrency), gRPC unary, and one gRPC stream per connection. */
final class Transports {

  private Transports() {
  }

  /** @param noop the server's no-op baseline instead of the timestamp API */
  static Transport create(Vertx vertx, String protocol, String target, boolean noop) {
    return create(vertx, protocol, target, noop, null);
  }

  /**
   * @param noop   the server's no-op baseline instead of the timestamp API
   * @param secure what an https target is dialled with (made once per run), or null when the
   *               targets are http
   */
  static Transport create(Vertx vertx, String protocol, String target, boolean noop, Secure secure) {
    URI uri = URI.create(target);
    String host = uri.getHost();
    boolean tls = "https".equals(uri.getScheme());
    if (tls && secure == null) {
      throw new IllegalArgumentException("no TLS settings for " + target);
    }
    int port = uri.getPort() < 0 ? (tls ? 443 : 80) : uri.getPort();
    String service = noop ? "tso.v1.Noop" : "tso.v1.TimestampOracle";
    return switch (protocol) {
      case "http" -> tls
          ? new Http(secure.http, false, host, port, noop ? "/v1/noop" : "/v1/timestamps")
          : new Http(vertx, host, port, noop ? "/v1/noop" : "/v1/timestamps");
      case "grpc", "grpc-stream" -> new GrpcH2(vertx, host, port, service, protocol.equals("grpc-stream"),
          tls ? secure.h2 : null);
      default -> throw new IllegalArgumentException("protocol " + protocol);
    };
  }

  /**
   * TLS for a run's https targets, made once and shared by its connections: one Vert.x NetClient
   * for HTTP/1.1 (ALPN offering http/1.1), and one Netty SslContext for the hand-framed gRPC
   * connections (ALPN offering h2 only). Either way the server's certificate must chain to the CA
   * given (else the JDK's trust store) and name the host dialled (endpoint identification
   * "HTTPS": a DNS name or an IP address in its subject alternative names), and the client
   * certificate, when given, is presented to a server that asks for one.
   */
  static final class Secure {
    /** TLS 1.0 and 1.1 are deprecated (RFC 8996). */
    static final List<String> PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

    final NetClient http;
    final SslContext h2;

    private Secure(NetClient http, SslContext h2) {
      this.http = http;
      this.h2 = h2;
    }

    /** A TLS file that could not be used: the run cannot start. */
    static final class BadFile extends IllegalArgumentException {
      BadFile(String message, Throwable cause) {
        super(message, cause);
      }
    }

    /**
     * What {@code protocol} needs (nothing for {@code client}, which dials with its own options).
     * The files are read now: one that does not parse fails the run at once ({@link BadFile},
     * naming the flag), not every connection later.
     */
    static Secure create(Vertx vertx, Settings.Tls tls, String protocol) {
      PemTrustOptions trust = tls.ca() == null ? null : new PemTrustOptions().addCertPath(tls.ca().toString());
      PemKeyCertOptions keyCert = tls.cert() == null ? null
          : new PemKeyCertOptions().setCertPath(tls.cert().toString()).setKeyPath(tls.key().toString());
      TrustManagerFactory trustManagers;
      KeyManagerFactory keyManagers;
      try {
        trustManagers = trust == null ? null : trust.getTrustManagerFactory(vertx);
      } catch (Exception e) {
        throw new BadFile("bad --tls-ca '" + tls.ca() + "': " + e.getMessage(), e);
      }
      try {
        keyManagers = keyCert == null ? null : keyCert.getKeyManagerFactory(vertx);
      } catch (Exception e) {
        throw new BadFile("bad --tls-cert '" + tls.cert() + "' or --tls-key '" + tls.key() + "': " + e.getMessage(), e);
      }
      if (protocol.equals("client")) {
        return new Secure(null, null);
      }
      if (protocol.equals("http")) {
        NetClientOptions o = new NetClientOptions().setTcpNoDelay(true).setConnectTimeout(5000).setSsl(true)
            .setHostnameVerificationAlgorithm(tls.verifyHost() ? "HTTPS" : "").setUseAlpn(true)
            .setApplicationLayerProtocols(List.of("http/1.1"));
        o.setEnabledSecureTransportProtocols(new java.util.LinkedHashSet<>(PROTOCOLS));
        if (trust != null) {
          o.setTrustOptions(trust);
        }
        if (keyCert != null) {
          o.setKeyCertOptions(keyCert);
        }
        return new Secure(vertx.createNetClient(o), null);
      }
      SslContextBuilder b = SslContextBuilder.forClient().endpointIdentificationAlgorithm(tls.verifyHost() ? "HTTPS" : null)
          .protocols(PROTOCOLS)
          .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
              ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
              ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, "h2"));
      if (trustManagers != null) {
        b.trustManager(trustManagers);
      }
      if (keyManagers != null) {
        b.keyManager(keyManagers);
      }
      try {
        return new Secure(null, b.build());
      } catch (javax.net.ssl.SSLException e) {
        throw new BadFile("TLS: " + e.getMessage(), e);
      }
    }

    /** True when {@code t}, or what caused it, is a TLS failure (a handshake or an alert). */
    static boolean isTls(Throwable t) {
      for (int i = 0; t != null && i < 8; i++, t = t.getCause()) {
        if (t instanceof javax.net.ssl.SSLException) {
          return true;
        }
      }
      return false;
    }
  }

  /**
   * One keep-alive HTTP/1.1 connection, spoken directly over a socket the way wrk does: the
   * request bytes are built once, and answers are parsed in place (status line, content-length,
   * body). Up to {@code --concurrency} requests may be in flight on it (pipelining); answers come
   * back in request order. Chunked answers are not expected from the server and count as
   * {@code bad_answer}. A closed connection fails what was in flight and is opened again on the
   * next request. Over TLS the socket is the run's shared TLS client's; a failed handshake fails
   * what waited with {@code tls_handshake_failed}, a TLS alert later (a client certificate the
   * server refused, under TLS 1.3) with {@code tls_error}.
   */
  static final class Http implements Transport {
    private final NetClient client;
    /** Close the client with the connection: it is this connection's own. */
    private final boolean ownClient;
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
      this(vertx.createNetClient(new NetClientOptions().setTcpNoDelay(true).setConnectTimeout(5000)), true, host, port,
          path);
    }

    Http(NetClient client, boolean ownClient, String host, int port, String path) {
      this.client = client;
      this.ownClient = ownClient;
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
          String[] code = {"connection_closed"};
          so.handler(this::received);
          so.closeHandler(v -> broken(s, code[0]));
          so.exceptionHandler(e -> {
            if (Secure.isTls(e)) {
              code[0] = "tls_error";
            }
            so.close();
          });
        }).onFailure(e -> broken(s, e.getMessage() != null && e.getMessage().contains("refused")
            ? "connection_refused" : Secure.isTls(e) ? "tls_handshake_failed" : "connect_failed"));
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
      if (ownClient) {
        return client.close();
      }
      Future<NetSocket> s = socket;
      return s == null || !s.succeeded() ? Future.succeededFuture() : s.result().close();
    }
  }
}
