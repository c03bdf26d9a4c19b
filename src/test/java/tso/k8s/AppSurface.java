package tso.k8s;

import static org.awaitility.Awaitility.await;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

import tso.config.Setting;
import tso.support.InProcessNode;
import tso.support.LocalCluster;
import tso.support.Ports;
import tso.support.RedisServer;

/**
 * What the app really serves, for the manifests to be checked against: how a standalone node
 * answers GET on given paths, on its TSO port and on a TSO_HEALTH_PORT; and the metric names of a
 * real scrape of it plus of two Redis-mode members that have elected a leader, forwarded a
 * request and seen an invalid election record, after a garbage collection (the meters that exist
 * only after such events).
 */
final class AppSurface {

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  /** Status of GET path on the TSO port. */
  final Map<String, Integer> onTsoPort = new TreeMap<>();
  /** Status of GET path on the health port. */
  final Map<String, Integer> onHealthPort = new TreeMap<>();
  final Set<String> metricNames = new TreeSet<>();

  private AppSurface() {
  }

  static AppSurface observe(Path dir, Set<String> paths) throws Exception {
    AppSurface s = new AppSurface();
    int healthPort = Ports.free();
    try (InProcessNode node = new InProcessNode(dir.resolve("standalone"),
        Map.of(Setting.HEALTH_PORT, Integer.toString(healthPort)))) {
      post(node.url());
      for (String path : paths) {
        s.onTsoPort.put(path, get(node.url() + path).statusCode());
        s.onHealthPort.put(path, get("http://127.0.0.1:" + healthPort + path).statusCode());
      }
      // The GC pause timer is registered at the first collection the node sees.
      await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(200)).until(() -> {
        System.gc();
        return names(scrape(node)).contains("jvm_gc_pause_seconds_count");
      });
      s.metricNames.addAll(names(scrape(node)));
    }
    s.observeRedisMode(dir.resolve("cluster"));
    return s;
  }

  private void observeRedisMode(Path dir) throws Exception {
    try (RedisServer redis = RedisServer.start();
        LocalCluster c = LocalCluster.start(dir, 2, 500, i -> redis.url(), Map.of())) {
      InProcessNode leader = c.awaitLeader(Duration.ofSeconds(15));
      InProcessNode follower = c.nodes.stream().filter(n -> n != leader).findFirst().orElseThrow();
      await().atMost(Duration.ofSeconds(10)).until(() -> post(follower.url()) == 200);
      // Not a record: every member counts it (tso_election_record_invalid_total) and none serves.
      redis.command("SET", "{tso:test}:leader", "not-a-record");
      await().atMost(Duration.ofSeconds(10)).pollInterval(Duration.ofMillis(100)).until(() -> c.nodes.stream()
          .anyMatch(n -> names(scrape(n)).contains("tso_election_record_invalid_total")));
      for (InProcessNode n : c.nodes) {
        metricNames.addAll(names(scrape(n)));
      }
    }
  }

  private static String scrape(InProcessNode n) {
    try {
      return get(n.url() + "/metrics").body();
    } catch (Exception e) {
      return "";
    }
  }

  /** The sample names of a Prometheus text exposition (with _bucket, _count, _sum, _max). */
  static Set<String> names(String exposition) {
    Set<String> out = new TreeSet<>();
    for (String line : exposition.split("\n")) {
      if (!line.isBlank() && !line.startsWith("#")) {
        int end = line.length();
        for (char c : new char[] {'{', ' '}) {
          int i = line.indexOf(c);
          if (i >= 0 && i < end) {
            end = i;
          }
        }
        out.add(line.substring(0, end));
      }
    }
    return out;
  }

  /** The status of GET path on the TSO port, or on the health port (0: not asked). */
  int status(boolean healthPort, String path) {
    return (healthPort ? onHealthPort : onTsoPort).getOrDefault(path, 0);
  }

  private static HttpResponse<String> get(String url) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static int post(String base) throws Exception {
    return HTTP.send(HttpRequest.newBuilder(URI.create(base + "/v1/timestamps")).timeout(Duration.ofSeconds(10))
        .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
  }
}
