package tso.server;

import io.vertx.core.Future;
import io.vertx.core.VerticleBase;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.Http2Settings;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.grpc.health.HealthService;
import io.vertx.grpc.reflection.ReflectionService;
import io.vertx.grpc.server.GrpcServer;
import io.vertx.grpc.server.GrpcServerOptions;

import java.util.concurrent.TimeUnit;

import tso.api.grpc.DirectUnary;
import tso.api.grpc.GrpcApi;
import tso.api.http.HttpApi;
import tso.config.Config;
import tso.core.NodeView;
import tso.core.TimestampSink;
import tso.metrics.TsoMetrics;
import tso.proto.v1.NoopGrpcService;
import tso.proto.v1.TimestampOracleGrpcService;

/**
 * One instance per event loop: HTTP/JSON and gRPC (h2c) on one port. Requests whose
 * content-type is {@code application/grpc*} go to the gRPC server, all others to the HTTP API;
 * the plain unary {@code GetTimestamps} call is answered by {@link DirectUnary} on the stream
 * itself, without the gRPC server's per-call machinery.
 * It also measures its event loop's lag with a periodic tick.
 */
public final class ApiVerticle extends VerticleBase {

  /** Largest gRPC message accepted; a valid request is a few bytes. */
  static final int MAX_GRPC_MESSAGE_BYTES = 64 * 1024;
  /** HTTP/2 streams one connection may have open; more are refused by the protocol itself. */
  static final int MAX_CONCURRENT_STREAMS = 1024;
  /** Answers a gRPC stream may have outstanding before the server stops reading it. */
  static final int STREAM_WINDOW = 1024;
  /** Period of the event-loop lag probe. */
  static final long LAG_PROBE_MS = 100;
  /** Request headers larger than this are refused (431): ours are a few hundred bytes. */
  static final int MAX_HEADER_BYTES = 8 * 1024;
  /** Connections the probe port (TSO_HEALTH_PORT) keeps open at most: a kubelet uses one or two. */
  static final int MAX_PROBE_CONNECTIONS = 64;

  private final Config config;
  private final TimestampSink service;
  private final NodeView view;
  private final TsoMetrics metrics;
  private final WarmUp warmUp;
  private final Connections connections;
  private HttpServer server;
  private HttpServer probes;
  private GrpcApi grpcApi;
  private GrpcApi noopApi;
  private CertReloader reloader;

  /** One instance alone, with its own connection limit. */
  public ApiVerticle(Config config, TimestampSink service, NodeView view, TsoMetrics metrics, WarmUp warmUp) {
    this(config, service, view, metrics, warmUp, new Connections(config.security().maxConnections()));
  }

  /**
   * @param view        what the transports say of this node; readiness is also held back by {@code warmUp}
   * @param connections the node's count of open connections, shared by every instance
   */
  public ApiVerticle(Config config, TimestampSink service, NodeView view, TsoMetrics metrics, WarmUp warmUp,
      Connections connections) {
    this.connections = connections;
    this.config = config;
    this.service = service;
    this.view = new WarmUp.Gated(view, warmUp);
    this.metrics = metrics;
    this.warmUp = warmUp;
  }

  @Override
  public Future<?> start() {
    if (!config.security().tls()) {
      return listen(null, null);
    }
    Future<Buffer> cert = vertx.fileSystem().readFile(config.security().tlsCert().toString());
    Future<Buffer> key = vertx.fileSystem().readFile(config.security().tlsKey().toString());
    return Future.all(cert, key).compose(v -> listen(cert.result(), key.result()));
  }

  private Future<?> listen(Buffer cert, Buffer key) {
    GrpcServer grpc = GrpcServer.server(vertx, new GrpcServerOptions().setMaxMessageSize(MAX_GRPC_MESSAGE_BYTES));
    grpcApi = new GrpcApi(service, view, metrics, config.maxCount(), STREAM_WINDOW);
    grpc.addService(grpcApi.service());
    HealthService health = HealthService.create(vertx);
    health.register("", () -> Future.succeededFuture(view.ready()));
    health.register(TimestampOracleGrpcService.SERVICE_NAME, () -> Future.succeededFuture(view.ready()));
    grpc.addService(health);
    grpc.addService(ReflectionService.v1());
    // The no-op baseline: served when configured, and while a Redis-mode node's start-up warm-up
    // drives it (the node is not ready then), to connections from this host only. Its requests
    // are recorded like real ones, into metrics nobody scrapes.
    TsoMetrics unseen = TsoMetrics.unscraped();
    NoopSink noop = new NoopSink();
    java.util.function.Predicate<io.vertx.core.http.HttpConnection> noopOpen = conn -> config.noopEndpoint()
        || warmUp.drivesNoop() && WarmUp.fromThisHost(conn.localAddress(), conn.remoteAddress());
    noopApi = new GrpcApi(noop, view, unseen, config.maxCount(), STREAM_WINDOW);
    grpc.addService(noopApi.noopService(noopOpen));
    HttpApi http = new HttpApi(service, view, metrics, config.maxCount(), noop, unseen, noopOpen);

    HttpServerOptions options = Tls.apply(new HttpServerOptions()
        .setHost(config.host())
        .setPort(config.port())
        .setHttp2ClearTextEnabled(true)
        .setInitialSettings(new Http2Settings().setMaxConcurrentStreams(MAX_CONCURRENT_STREAMS))
        .setMaxHeaderSize(MAX_HEADER_BYTES)
        .setTcpNoDelay(true), config.security(), cert, key);
    DirectUnary direct = new DirectUnary(service, view, metrics, config.maxCount(), MAX_GRPC_MESSAGE_BYTES);
    DirectUnary directNoop = new DirectUnary(noop, view, unseen, config.maxCount(), MAX_GRPC_MESSAGE_BYTES);
    String directPath = TimestampOracleGrpcService.SERVICE_NAME.pathOf("GetTimestamps");
    String directNoopPath = NoopGrpcService.SERVICE_NAME.pathOf("GetTimestamps");
    server = vertx.createHttpServer(options).requestHandler(req -> {
      if (isGrpc(req)) {
        String path = req.path();
        if (directPath.equals(path) && DirectUnary.takes(req)) {
          direct.handle(req);
        } else if (directNoopPath.equals(path) && noopOpen.test(req.connection()) && DirectUnary.takes(req)) {
          directNoop.handle(req);
        } else {
          grpc.handle(req);
        }
      } else {
        http.handle(req);
      }
    });
    server.connectionHandler(connections::opened);

    String loop = Thread.currentThread().getName();
    long periodNanos = TimeUnit.MILLISECONDS.toNanos(LAG_PROBE_MS);
    long[] expected = {System.nanoTime() + periodNanos};
    vertx.setPeriodic(LAG_PROBE_MS, id -> {
      long now = System.nanoTime();
      metrics.loopLag(loop, Math.max(0, now - expected[0]));
      expected[0] = now + periodNanos;
    });
    Future<?> listening = server.listen();
    if (config.security().tls()) {
      reloader = new CertReloader(vertx, config.security(), server, cert, key);
      listening = listening.onSuccess(s -> reloader.start());
    }
    if (config.security().healthPort() != 0) {
      Connections probeConnections = new Connections(MAX_PROBE_CONNECTIONS);
      probes = vertx.createHttpServer(new HttpServerOptions().setHost(config.host()).setPort(config.security().healthPort())
              .setMaxHeaderSize(MAX_HEADER_BYTES).setTcpNoDelay(true))
          .requestHandler(http::handleProbe);
      probes.connectionHandler(probeConnections::opened);
      listening = listening.compose(s -> probes.listen());
    }
    return listening;
  }

  /** Stops accepting, lets requests in flight finish (up to the grace period), then closes. */
  @Override
  public Future<?> stop() {
    if (reloader != null) {
      reloader.stop();
    }
    // A member's streams end once answered, so that their clients go to the leader, instead of
    // holding the shutdown for its whole grace period. A standalone node has nowhere to send them:
    // it serves them on through the grace period.
    if (grpcApi != null && !config.standalone()) {
      grpcApi.closeStreams();
      noopApi.closeStreams();
    }
    Future<Void> probesClosed = probes == null ? Future.succeededFuture() : probes.close();
    return probesClosed.transform(ar -> server == null ? Future.succeededFuture()
        : server.shutdown(config.shutdownGraceMs(), TimeUnit.MILLISECONDS));
  }

  private static boolean isGrpc(HttpServerRequest req) {
    String ct = req.getHeader(HttpHeaders.CONTENT_TYPE);
    return ct != null && ct.regionMatches(true, 0, "application/grpc", 0, 16);
  }
}
