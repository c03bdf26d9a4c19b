package tso.server;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.redis.client.Redis;

import java.lang.System.Logger.Level;
import java.util.function.LongSupplier;

import tso.config.Config;
import tso.core.NodeView;
import tso.core.TimestampSink;
import tso.election.Identity;
import tso.election.Leadership;
import tso.election.RedisCoordinator;
import tso.election.RedisKeys;
import tso.forward.Forwarder;
import tso.metrics.TsoMetrics;
import tso.service.TimestampService;
import tso.store.FileBoundStore;

/**
 * A whole node: the Vert.x instance, one API verticle per event loop, and either the allocator
 * verticle itself (standalone) or the election that deploys one per leadership term (Redis
 * mode). Lifecycle: {@link #start()} once, then {@link #stop()} once.
 */
public final class Node {

  private static final System.Logger LOG = System.getLogger(Node.class.getName());
  /** Allocator tick (PD's updater ticks every 50 ms). */
  private static final long TICK_MS = 50;
  /** Batches a follower may have outstanding at the leader. */
  private static final int FORWARD_INFLIGHT = 64;

  private enum State { NEW, STARTED, STOPPED }

  private final Config config;
  private final Vertx vertx;
  private final TsoMetrics metrics = new TsoMetrics();
  private final LongSupplier clock;
  private final TimestampService standalone;
  private final StandaloneView standaloneView;
  private final Leadership leadership;
  private final Redis redis;
  private final GrpcClient grpcClient;
  private final TimestampSink sink;
  private final NodeView view;
  private final WarmUp warmUp;
  private State state = State.NEW;
  private String coreDeployment;
  private String apiDeployment;

  public Node(Config config) {
    this.config = config;
    this.warmUp = new WarmUp(config);
    this.vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(config.eventLoops()).setPreferNativeTransport(true));
    long offset = config.clockOffsetMs();
    this.clock = offset == 0 ? System::currentTimeMillis : () -> System.currentTimeMillis() + offset;
    TimestampService.Settings settings = new TimestampService.Settings(config.windowMs(), config.queueLimit(),
        config.requestTimeoutMs(), TICK_MS, config.queueTargetMs());
    FileBoundStore local = new FileBoundStore(vertx, config.dataDir());
    if (config.standalone()) {
      standalone = new TimestampService(settings, local, clock, metrics);
      standaloneView = new StandaloneView(config.nodeId(), config.advertise(), standalone);
      leadership = null;
      redis = null;
      grpcClient = null;
      sink = standalone;
      view = standaloneView;
    } else {
      standalone = null;
      standaloneView = null;
      redis = Redis.createClient(vertx, RedisConnection.options(config));
      // Every Redis call ends within a third of the lease: a slow Redis must not hold a renewal.
      RedisCoordinator coordinator = new RedisCoordinator(redis, RedisKeys.of(config.cluster()),
          Math.max(50, config.leaseTtlMs() / 3), config.redisMinReplicas());
      grpcClient = GrpcClient.client(vertx, Tls.member(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
          .setHttp2ClearTextUpgrade(false).setConnectTimeout((int) Math.max(100, config.leaseTtlMs())), config.security()));
      Forwarder forwarder = new Forwarder(vertx.getOrCreateContext(), grpcClient, config.maxCount(),
          config.queueLimit(), FORWARD_INFLIGHT, config.requestTimeoutMs(), metrics);
      Identity me = Identity.create(config.nodeId(), config.advertise());
      leadership = new Leadership(
          Leadership.Settings.of(config.leaseTtlMs(), config.windowMs(),
              config.followerMode() == Config.FollowerMode.FORWARD),
          me, redis, coordinator, local, metrics, clock,
          (store, lease) -> new TimestampService(settings, store, clock, metrics, lease),
          leader -> forwarder.leader(leader == null || leader.nodeId().equals(me.node()) ? null : leader.address()));
      sink = new Router(leadership, forwarder, config.followerMode() == Config.FollowerMode.FORWARD);
      view = leadership;
    }
    metrics.gauge("tso_queue_depth", "Requests handed to the allocator and not yet answered", () -> {
      TimestampService s = standalone != null ? standalone : leadership.service();
      return s == null ? 0 : s.queueDepth();
    });
    metrics.gauge("tso_epoch", "Fencing token of the answers this node gives (0 when it gives none)", view::epoch);
  }

  /** Starts the allocator (standalone: its first bound durable) or the election, then the APIs. */
  public synchronized Future<Void> start() {
    if (state != State.NEW) {
      return Future.failedFuture(new IllegalStateException("node already " + state.name().toLowerCase()));
    }
    state = State.STARTED;
    Promise<Void> started = Promise.promise(); // bound to no context: see closeVertx
    Future<String> core = standalone != null
        ? vertx.deployVerticle(standalone, new DeploymentOptions().setThreadingModel(ThreadingModel.EVENT_LOOP))
        : vertx.deployVerticle(leadership);
    core.compose(id -> {
          coreDeployment = id;
          Connections connections = new Connections(config.security().maxConnections());
          return vertx.deployVerticle(() -> new ApiVerticle(config, sink, view, metrics, warmUp, connections),
              new DeploymentOptions().setInstances(config.eventLoops()));
        })
        .onSuccess(id -> {
          apiDeployment = id;
          LOG.log(Level.INFO, "node {0} listening on {1}:{2,number,#} (advertised as {3}), {4}, {5} event loops on {6}",
              config.nodeId(), config.host(), config.port(), config.advertise(),
              standalone != null ? "standalone, epoch " + standalone.epoch() : "Redis mode, cluster " + config.cluster(),
              config.eventLoops(), vertx.isNativeTransportEnabled() ? "epoll" : "Java NIO");
          warmUp.start();
          started.complete();
        })
        .onFailure(err -> closeVertx(started, err));
    return started.future();
  }

  /**
   * Graceful stop: report not ready; a leader resigns at once so a follower takes over; stop
   * accepting and answer what is in flight; stop the allocator or the election; close Vert.x.
   */
  public synchronized Future<Void> stop() {
    if (state != State.STARTED) {
      return Future.succeededFuture();
    }
    state = State.STOPPED;
    Promise<Void> stopped = Promise.promise();
    Future<Void> handover;
    if (standaloneView != null) {
      standaloneView.drain();
      handover = Future.succeededFuture();
    } else {
      leadership.drain();
      handover = coreDeployment == null ? Future.succeededFuture() : leadership.resign();
    }
    handover
        .transform(ar -> apiDeployment == null ? Future.<Void>succeededFuture() : vertx.undeploy(apiDeployment))
        .transform(ar -> coreDeployment == null ? Future.<Void>succeededFuture() : vertx.undeploy(coreDeployment))
        .transform(ar -> redis == null ? Future.<Void>succeededFuture() : redis.close())
        .onComplete(ar -> closeVertx(stopped, null));
    return stopped.future();
  }

  /**
   * Closes Vert.x from a thread of its own, then completes {@code done} (a promise bound to no
   * context: a listener dispatched to one of the closed event loops would never run).
   */
  private void closeVertx(Promise<Void> done, Throwable failure) {
    Thread t = new Thread(() -> vertx.close().onComplete(ar -> {
      if (failure == null) {
        done.complete();
      } else {
        done.fail(failure);
      }
    }), "tso-close");
    t.setDaemon(true);
    t.start();
  }

  public TsoMetrics metrics() {
    return metrics;
  }

  public NodeView view() {
    return view;
  }
}
