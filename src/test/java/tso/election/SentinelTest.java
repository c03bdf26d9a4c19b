package tso.election;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.support.History;
import tso.support.Load;
import tso.support.LocalCluster;
import tso.support.Ports;
import tso.support.RedisServer;

/** Redis mode through Sentinel: the nodes find the master by asking a real redis-sentinel. */
class SentinelTest {

  @TempDir
  Path dir;

  @Test
  void nodesFindTheMasterThroughSentinel() throws Exception {
    History history = new History();
    try (RedisServer master = RedisServer.start()) {
      int port = Ports.free();
      Path conf = dir.resolve("sentinel.conf");
      Files.writeString(conf, "port " + port + "\nbind 127.0.0.1\nsentinel monitor main 127.0.0.1 " + master.port()
          + " 1\nsentinel down-after-milliseconds main 1000\n");
      Process sentinel = new ProcessBuilder(RedisServer.binary().toString(), conf.toString(), "--sentinel")
          .redirectErrorStream(true).redirectOutput(dir.resolve("sentinel.log").toFile()).start();
      try {
        await().atMost(Duration.ofSeconds(10)).until(() -> answers(port));
        String url = "redis://127.0.0.1:" + port;
        try (LocalCluster c = LocalCluster.start(dir.resolve("nodes"), 2, 600, i -> url,
            Map.of(Setting.REDIS_SENTINEL_MASTER, "main"));
            Load load = Load.start(history, c.urls(), 2)) {
          c.awaitLeader(Duration.ofSeconds(15));
          await().atMost(Duration.ofSeconds(10)).until(() -> load.successCount() > 100);
          assertThat(master.command("GET", "{tso:test}:leader")).startsWith("tso-leader/1;");
        }
      } finally {
        sentinel.destroyForcibly().waitFor();
      }
    }
    history.check();
  }

  private static boolean answers(int port) {
    try (Socket s = new Socket("127.0.0.1", port)) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }
}
