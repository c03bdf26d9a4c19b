package tso.server;

import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.ThreadingModel;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;

import java.lang.System.Logger.Level;
import java.util.function.LongSupplier;

import tso.config.Config;
import tso.metrics.TsoMetrics;
import tso.store.FileBoundStore;

/**
 * A whole node: the Vert.x instance, the allocator verticle and one API verticle per event loop.
 * Lifecycle: {@link #start()} once, then {@link #stop()} once.
 */
public final class Node {

  private static final System.Logger LOG = System.getLogger(Node.class.getName());

  private enum State { NEW, STARTED, STOPPED }

  private final Config config;
  private final Vertx vertx;
  private final TsoMetrics metrics = new TsoMetrics();
  private final TimestampService service;
  private final StandaloneView view;
  private State state = State.NEW;
  private String serviceDeployment;
  private String apiDeployment;

  public Node(Config config) {
    this.config = config;
    this.vertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(config.eventLoops()));
    long offset = config.clockOffsetMs();
    LongSupplier clock = offset == 0 ? System::currentTimeMillis : () -> System.currentTimeMillis() + offset;
    this.service = new TimestampService(
        new TimestampService.Settings(config.windowMs(), config.queueLimit(), config.requestTimeoutMs(), 50),
        new FileBoundStore(vertx, config.dataDir()), clock, metrics);
    this.view = new StandaloneView(config.nodeId(), config.advertise(), service);
  }

  /** Starts the allocator (its first bound durable), then the APIs. */
  public synchronized Future<Void> start() {
    if (state != State.NEW) {
      return Future.failedFuture(new IllegalStateException("node already " + state.name().toLowerCase()));
    }
    state = State.STARTED;
    Promise<Void> started = Promise.promise(); // bound to no context: see closeVertx
    vertx.deployVerticle(service, new DeploymentOptions().setThreadingModel(ThreadingModel.EVENT_LOOP))
        .compose(id -> {
          serviceDeployment = id;
          return vertx.deployVerticle(() -> new ApiVerticle(config, service, view, metrics),
              new DeploymentOptions().setInstances(config.eventLoops()));
        })
        .onSuccess(id -> {
          apiDeployment = id;
          LOG.log(Level.INFO, "node {0} listening on {1}:{2,number,#} (advertised as {3}), epoch {4}",
              config.nodeId(), config.host(), config.port(), config.advertise(), service.epoch());
          started.complete();
        })
        .onFailure(err -> closeVertx(started, err));
    return started.future();
  }

  /**
   * Graceful stop: report not ready, stop accepting, answer what is in flight, stop the
   * allocator, close Vert.x.
   */
  public synchronized Future<Void> stop() {
    if (state != State.STARTED) {
      return Future.succeededFuture();
    }
    state = State.STOPPED;
    view.drain();
    Promise<Void> stopped = Promise.promise();
    Future<Void> apis = apiDeployment == null ? Future.succeededFuture() : vertx.undeploy(apiDeployment);
    apis.transform(ar -> serviceDeployment == null ? Future.<Void>succeededFuture() : vertx.undeploy(serviceDeployment))
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

  public TimestampService service() {
    return service;
  }
}
