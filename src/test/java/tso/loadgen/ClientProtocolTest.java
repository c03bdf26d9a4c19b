package tso.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.support.InProcessNode;

/**
 * {@code --protocol client}: the generator drives one client of the library with C × N callers,
 * paced open loop at the call rate, each call asking for K timestamps; the report counts calls and
 * timestamps, and every answer goes through the same checks (and history file) as the other
 * protocols.
 */
class ClientProtocolTest {

  @TempDir
  Path dir;

  @Test
  void oneClientOverCConnectionsPacedAtTheCallRateWithEveryAnswerChecked() throws Exception {
    try (InProcessNode node = new InProcessNode(dir.resolve("n"))) {
      Settings s = new Settings(List.of(node.url()), "client", 5_000, 2, 50, 3, 2_000, 1_000, null, null, null, null,
          true, false, 2);
      Path history = dir.resolve("history.bin");
      Report r = new LoadGenerator(s, new PrintStream(new ByteArrayOutputStream())).history(history).run();
      JsonObject j = r.json();
      assertThat(j.getString("protocol")).isEqualTo("client");
      assertThat(r.errorTotal()).isZero();
      assertThat(r.verdict().violations()).isZero();
      assertThat(r.responsesPerSecond()).as("open loop at 5,000 calls/s").isBetween(4_500.0, 5_500.0);
      assertThat(j.getDouble("timestampsPerSecond")).isEqualTo(3 * r.responsesPerSecond(), org.assertj.core.data.Offset.offset(1.0));
      assertThat(r.ms(99)).isLessThan(1_000);
      HistoryCheck check = HistoryCheck.load(List.of(history));
      assertThat(check.check().total()).isZero();
    }
  }
}
