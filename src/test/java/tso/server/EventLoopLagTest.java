package tso.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.support.InProcessNode;

import static org.awaitility.Awaitility.await;

/** Every event loop's lag is watched: the probe's histogram shows up in /metrics, one per loop. */
class EventLoopLagTest {

  @Test
  void eachEventLoopReportsItsLag(@TempDir Path dir) throws Exception {
    try (InProcessNode node = new InProcessNode(dir, Map.of(Setting.EVENT_LOOPS, "2"))) {
      HttpClient http = HttpClient.newHttpClient();
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> {
        String metrics = http.send(HttpRequest.newBuilder(URI.create(node.url() + "/metrics")).build(),
            HttpResponse.BodyHandlers.ofString()).body();
        long loops = metrics.lines().filter(l -> l.startsWith("tso_event_loop_lag_seconds_count{")).count();
        assertThat(loops).isEqualTo(2);
      });
    }
  }
}
