package tso.log;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.LogRecord;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.support.NodeProcess;
import tso.support.Ports;
import tso.support.RedisServer;

/**
 * {@code TSO_LOG_FORMAT=json}: one JSON object a line with time, level, logger and message, and
 * the node, its role and epoch; escaping keeps any message on its line; a node in Redis mode logs
 * its election with the epoch.
 */
class JsonLogTest {

  @TempDir
  Path dir;

  @Test
  void aRecordIsOneEscapedObjectWithTheContextAndTheError() {
    JsonFormatter f = new JsonFormatter();
    f.context(() -> Map.of("node", "n1", "epoch", 7L));
    LogRecord r = new LogRecord(Level.WARNING, "value {0} \"quoted\"\nsecond line\t\u0001");
    r.setParameters(new Object[] {"x\\y"});
    r.setLoggerName("tso.test");
    r.setThrown(new IllegalStateException("boom"));
    String line = f.format(r);
    assertThat(line).endsWith("}\n");
    assertThat(line.substring(0, line.length() - 1)).doesNotContain("\n");
    JsonObject j = new JsonObject(line);
    assertThat(j.getString("level")).isEqualTo("WARNING");
    assertThat(j.getString("logger")).isEqualTo("tso.test");
    assertThat(j.getString("message")).isEqualTo("value x\\y \"quoted\"\nsecond line\t\u0001");
    assertThat(j.getString("node")).isEqualTo("n1");
    assertThat(j.getLong("epoch")).isEqualTo(7L);
    assertThat(j.getString("error")).contains("IllegalStateException: boom");
    assertThat(j.getString("time")).matches("\\d{4}-\\d\\d-\\d\\dT.*Z");
  }

  @Test
  void aNodeWritesOnlyJsonLinesAndLogsItsElectionWithTheEpoch() throws Exception {
    try (RedisServer redis = RedisServer.start()) {
      int port = Ports.free();
      NodeProcess p = NodeProcess.start(dir, port, Map.of("TSO_LOG_FORMAT", "json", "TSO_REDIS_URL",
          "redis://127.0.0.1:" + redis.port(), "TSO_LEASE_TTL_MS", "1000"));
      try {
        p.awaitReady();
        HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(p.url() + "/v1/timestamps"))
            .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.discarding());
      } finally {
        p.term();
        p.awaitExit(30);
      }
      List<String> lines = p.output().lines().filter(l -> !l.isBlank()).toList();
      assertThat(lines).isNotEmpty();
      boolean won = false;
      for (String l : lines) {
        JsonObject j = new JsonObject(l); // every line is one object
        assertThat(j.fieldNames()).contains("time", "level", "logger", "message", "node", "role", "epoch");
        assertThat(j.getString("node")).isEqualTo("proc-" + port);
        if (j.getString("message").startsWith("won the election: epoch ")) {
          won = true;
        }
      }
      assertThat(won).as("the election is logged with its epoch").isTrue();
    }
  }
}
