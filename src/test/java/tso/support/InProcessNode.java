package tso.support;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import tso.config.Config;
import tso.config.Setting;
import tso.server.Node;

/** A whole node in this JVM on a free loopback port, with its own data directory. */
public final class InProcessNode implements AutoCloseable {

  public final int port;
  public final Node node;
  public final Config config;

  public InProcessNode(Path dataDir, Map<Setting, String> extra) throws Exception {
    port = Ports.free();
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(Setting.HOST, "127.0.0.1");
    flags.put(Setting.PORT, Integer.toString(port));
    flags.put(Setting.DATA_DIR, dataDir.toString());
    flags.put(Setting.NODE_ID, "test-node");
    flags.put(Setting.WARMUP_MS, "0"); // a test's node is driven by the test at once
    flags.putAll(extra);
    flags.putIfAbsent(Setting.ADVERTISE, "127.0.0.1:" + port);
    config = Config.resolve(flags, Map.of());
    node = new Node(config);
    node.start().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  public InProcessNode(Path dataDir) throws Exception {
    this(dataDir, Map.of());
  }

  public String url() {
    return "http://127.0.0.1:" + port;
  }

  @Override
  public void close() throws Exception {
    node.stop().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }
}
