package tso.support;

import static org.awaitility.Awaitility.await;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.IntFunction;

import tso.config.Setting;

/**
 * Nodes in this JVM in Redis mode, each with its own data directory and its own Redis URL (so a
 * test can put a proxy in front of one node's link alone).
 */
public final class LocalCluster implements AutoCloseable {

  public final List<InProcessNode> nodes = new ArrayList<>();
  public final long ttlMs;

  private LocalCluster(long ttlMs) {
    this.ttlMs = ttlMs;
  }

  /**
   * @param redisUrlOf the Redis URL node i uses
   */
  public static LocalCluster start(Path dir, int n, long ttlMs, IntFunction<String> redisUrlOf,
      Map<Setting, String> extra) throws Exception {
    LocalCluster c = new LocalCluster(ttlMs);
    try {
      for (int i = 0; i < n; i++) {
        Map<Setting, String> flags = new EnumMap<>(Setting.class);
        flags.put(Setting.REDIS_URL, redisUrlOf.apply(i));
        flags.put(Setting.LEASE_TTL_MS, Long.toString(ttlMs));
        flags.put(Setting.NODE_ID, "n" + i);
        flags.put(Setting.CLUSTER, "test");
        flags.putAll(extra);
        c.nodes.add(new InProcessNode(dir.resolve("n" + i), flags));
      }
    } catch (Exception e) {
      c.close();
      throw e;
    }
    return c;
  }

  public List<String> urls() {
    return nodes.stream().map(InProcessNode::url).toList();
  }

  /** The node that serves as leader now, if any. */
  public Optional<InProcessNode> leader() {
    return nodes.stream().filter(n -> "leader".equals(n.node.view().role()) && n.node.view().ready()).findFirst();
  }

  /** Waits for a serving leader and returns it. */
  public InProcessNode awaitLeader(Duration within) {
    await().atMost(within).pollInterval(Duration.ofMillis(10)).until(() -> leader().isPresent());
    return leader().orElseThrow();
  }

  /** How many nodes call themselves leader right now. */
  public long leaders() {
    return nodes.stream().filter(n -> "leader".equals(n.node.view().role())).count();
  }

  @Override
  public void close() throws Exception {
    Exception first = null;
    for (InProcessNode n : nodes) {
      try {
        n.close();
      } catch (Exception e) {
        first = first == null ? e : first;
      }
    }
    if (first != null) {
      throw first;
    }
  }
}
