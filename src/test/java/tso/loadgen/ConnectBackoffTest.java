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

import tso.support.InProcessNode;
import tso.support.Ports;

/**
 * {@code --connect-backoff-ms}: with one of two members down, its connections sit out between
 * attempts and the member that is up gets the load; without it, the connections that fail at once
 * take most of the requests.
 */
class ConnectBackoffTest {

  @TempDir
  static Path dir;
  static InProcessNode node;

  @BeforeAll
  static void start() throws Exception {
    node = new InProcessNode(dir, Map.of());
  }

  @AfterAll
  static void stop() throws Exception {
    node.close();
  }

  private static Report run(String protocol, long backoffMs) throws Exception {
    String down = "http://127.0.0.1:" + Ports.free(); // nothing listens there
    Settings s = new Settings(List.of(node.url(), down), protocol, 1000, 4, 1, 1, 3000, 500, null, null, null, null,
        true, false, 1);
    return new LoadGenerator(s, new PrintStream(new ByteArrayOutputStream())).connectBackoff(backoffMs).run();
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc-stream"})
  void aMemberThatIsDownIsTriedNowAndThen(String protocol) throws Exception {
    Report with = run(protocol, 200);
    // two connections to the member that is down, one attempt each per 200 ms at most, over 3 s
    assertThat(with.errorTotal()).isLessThanOrEqualTo(2 * (3000 / 200 + 2));
    assertThat(with.errors().keySet()).isSubsetOf("connection_refused");
    // the member that is up took the load (bounds that a stalled machine, answering less, still meets)
    assertThat(with.errorTotal()).isLessThanOrEqualTo(5 + with.responses() / 10);
    Report without = run(protocol, 0);
    // its connections fail at once, so they are idle first, again and again: they take much of it
    assertThat(without.errorTotal()).isGreaterThanOrEqualTo(3 * with.errorTotal());
    assertThat(without.errorTotal() * 4).isGreaterThanOrEqualTo(without.responses());
  }
}
