package tso.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import tso.config.Setting;
import tso.support.InProcessNode;

/**
 * Every transport of the generator against a real node: HTTP/1.1 (one at a time and pipelined),
 * gRPC unary and gRPC stream, on the timestamp API and on the no-op baseline, and the server's
 * refusals reported by their codes.
 */
class TransportsTest {

  @TempDir
  static Path dir;
  static InProcessNode node;

  @BeforeAll
  static void start() throws Exception {
    node = new InProcessNode(dir, Map.of(Setting.NOOP_ENDPOINT, "true", Setting.MAX_COUNT, "1000"));
  }

  @AfterAll
  static void stop() throws Exception {
    node.close();
  }

  private static Report run(String protocol, int concurrency, int count, boolean noop, double rate) throws Exception {
    Settings s = new Settings(List.of(node.url()), protocol, rate, 4, concurrency, count, 1000, 200, null, null,
        null, null, true, noop, 2);
    return new LoadGenerator(s, new PrintStream(new ByteArrayOutputStream())).run();
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc", "grpc-stream"})
  void timestampsComeBackCheckedAndInOrder(String protocol) throws Exception {
    Report r = run(protocol, 1, 3, false, 0);
    assertThat(r.errors()).isEmpty();
    assertThat(r.responses()).isGreaterThan(100);
    assertThat(r.verdict().violations()).isZero();
    assertThat(r.json().getBoolean("checked")).isTrue();
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc", "grpc-stream"})
  void manyInFlightPerConnection(String protocol) throws Exception {
    Report r = run(protocol, 8, 1, false, 2000);
    assertThat(r.errors()).isEmpty();
    assertThat(r.responses()).isBetween(1800L, 2200L);
    assertThat(r.verdict().violations()).isZero();
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc", "grpc-stream"})
  void theNoopBaselineIsServedAndNotChecked(String protocol) throws Exception {
    Report r = run(protocol, 2, 1, true, 0);
    assertThat(r.errors()).isEmpty();
    assertThat(r.responses()).isGreaterThan(100);
    assertThat(r.json().getBoolean("checked")).isFalse();
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc", "grpc-stream"})
  void refusalsAreCountedByTheirCode(String protocol) throws Exception {
    Report r = run(protocol, 1, 5000, false, 200); // above TSO_MAX_COUNT
    assertThat(r.responses()).isZero();
    assertThat(r.errors()).containsOnlyKeys(protocol.equals("http") ? "http_400" : "grpc_INVALID_ARGUMENT");
  }
}
