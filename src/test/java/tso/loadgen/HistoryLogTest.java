package tso.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import tso.config.Setting;
import tso.support.InProcessNode;

/**
 * {@code --history} against a real node, over every transport: every answer of the run is in the
 * file, warm-up included, with its epoch and connection, and the file passes the checker.
 */
class HistoryLogTest {

  @TempDir
  static Path dir;
  static InProcessNode node;

  @BeforeAll
  static void start() throws Exception {
    node = new InProcessNode(dir.resolve("node"), Map.of(Setting.NOOP_ENDPOINT, "true"));
  }

  @AfterAll
  static void stop() throws Exception {
    node.close();
  }

  private static String epoch() throws Exception {
    HttpResponse<String> r = HttpClient.newHttpClient().send(
        HttpRequest.newBuilder(URI.create(node.url() + "/v1/leader")).build(), HttpResponse.BodyHandlers.ofString());
    return new JsonObject(r.body()).getString("epoch");
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc", "grpc-stream"})
  void everyAnswerIsWrittenWithItsEpochAndConnection(String protocol) throws Exception {
    Path file = dir.resolve(protocol + ".history");
    Settings s = new Settings(List.of(node.url()), protocol, 3000, 3, 2, 4, 700, 300, null, null, null, null, true,
        false, 2);
    Report r = new LoadGenerator(s, new PrintStream(new ByteArrayOutputStream())).history(file).run();
    HistoryCheck h = HistoryCheck.load(List.of(file));
    assertThat(h.check().total()).isZero();
    // the measured answers, and the warm-up's before them
    assertThat((long) h.size).isGreaterThan(r.responses());
    String expected = epoch();
    JsonObject json = h.json(h.check());
    assertThat(json.getJsonArray("epochs").size()).isEqualTo(1);
    assertThat(json.getJsonArray("epochs").getJsonObject(0).getString("epoch")).isEqualTo(expected);
    assertThat(h.connNames).containsExactlyInAnyOrder("0:0", "0:1", "0:2");
    for (int i = 0; i < h.size; i++) {
      assertThat(h.count[i]).isEqualTo(4);
      assertThat(h.done[i]).isGreaterThan(h.sent[i]);
    }
  }

  @Test
  void theNoopBaselineWritesNoHistory() throws Exception {
    Path file = dir.resolve("noop.history");
    Settings s = new Settings(List.of(node.url()), "http", 500, 2, 1, 1, 300, 100, null, null, null, null, true,
        true, 1);
    new LoadGenerator(s, new PrintStream(new ByteArrayOutputStream())).history(file).run();
    assertThat(file).doesNotExist();
  }

  @Test
  void theHttpParserReadsTheEpochWhereverItIs() {
    Answers a = new Answers();
    a.append(Buffer.buffer(AnswersTest.answer(200, "{\"timestamp\":\"12\",\"count\":1,\"epoch\":\"7\"}")
        + AnswersTest.answer(200, "{\"epoch\":9,\"timestamp\":13}")
        + AnswersTest.answer(200, "{\"timestamp\":\"14\"}")));
    assertThat(a.next()).isEqualTo(200);
    assertThat(a.timestamp).isEqualTo(12);
    assertThat(a.epoch).isEqualTo(7);
    assertThat(a.next()).isEqualTo(200);
    assertThat(a.timestamp).isEqualTo(13);
    assertThat(a.epoch).isEqualTo(9);
    assertThat(a.next()).isEqualTo(200);
    assertThat(a.epoch).isZero();
  }
}
