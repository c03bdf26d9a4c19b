package tso.server;

import io.vertx.core.Vertx;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import tso.config.Config;
import tso.config.Setting;
import tso.metrics.TsoMetrics;
import tso.service.TimestampService;
import tso.support.Ports;

/**
 * The API verticle alone, in front of an allocator a test built itself (over a fake store it
 * can hold), on a free loopback port with no warm-up: what {@code InProcessNode} gives, minus
 * the real store.
 */
final class ApiOver {

  private ApiOver() {
  }

  /** Deploys the API over {@code service}; returns its port. */
  static int deploy(Vertx vertx, TimestampService service, Path dataDir, Map<Setting, String> extra) throws Exception {
    int port = Ports.free();
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(Setting.HOST, "127.0.0.1");
    flags.put(Setting.PORT, Integer.toString(port));
    flags.put(Setting.DATA_DIR, dataDir.toString());
    flags.put(Setting.WARMUP_MS, "0");
    flags.putAll(extra);
    Config config = Config.resolve(flags, Map.of());
    vertx.deployVerticle(new ApiVerticle(config, service, new StandaloneView("n1", "127.0.0.1:" + port, service),
        new TsoMetrics(), new WarmUp(config))).toCompletionStage().toCompletableFuture().get(20, TimeUnit.SECONDS);
    return port;
  }
}
