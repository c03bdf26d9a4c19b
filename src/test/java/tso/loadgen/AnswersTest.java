package tso.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.buffer.Buffer;

import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

/** The generator's HTTP/1.1 answer parser: pipelined, split anywhere, and what it refuses. */
class AnswersTest {

  static String answer(int status, String body) {
    return "HTTP/1.1 " + status + " X\r\nContent-Type: application/json\r\nContent-Length: "
        + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body;
  }

  static final String OK = answer(200, "{\"timestamp\":\"470590678790144001\",\"count\":1,\"epoch\":\"3\"}");
  static final String BUSY = answer(429, "{\"error\":{\"code\":\"RESOURCE_EXHAUSTED\",\"message\":\"busy\"}}");

  @Test
  void pipelinedAnswersInOneReadComeOutInOrder() {
    Answers a = new Answers();
    a.append(Buffer.buffer(OK + BUSY + OK.replace("001", "002")));
    assertThat(a.next()).isEqualTo(200);
    assertThat(a.hasTimestamp).isTrue();
    assertThat(a.timestamp).isEqualTo(470590678790144001L);
    assertThat(a.next()).isEqualTo(429);
    assertThat(a.hasTimestamp).isFalse();
    assertThat(a.next()).isEqualTo(200);
    assertThat(a.timestamp).isEqualTo(470590678790144002L);
    assertThat(a.next()).isEqualTo(Answers.INCOMPLETE);
  }

  @Test
  void anAnswerSplitAtEveryByteIsStillOneAnswer() {
    byte[] bytes = (OK + OK).getBytes(StandardCharsets.US_ASCII);
    for (int cut = 1; cut < bytes.length; cut++) {
      Answers a = new Answers();
      int seen = 0;
      a.append(Buffer.buffer(java.util.Arrays.copyOfRange(bytes, 0, cut)));
      while (a.next() == 200) {
        seen++;
      }
      a.append(Buffer.buffer(java.util.Arrays.copyOfRange(bytes, cut, bytes.length)));
      int status;
      while ((status = a.next()) == 200) {
        seen++;
      }
      assertThat(status).as("cut at %d", cut).isEqualTo(Answers.INCOMPLETE);
      assertThat(seen).as("cut at %d", cut).isEqualTo(2);
    }
  }

  @Test
  void aLargeTimestampAndAnUnquotedOneAreRead() {
    Answers a = new Answers();
    a.append(Buffer.buffer(answer(200, "{\"timestamp\":18446744073709551615}")));
    assertThat(a.next()).isEqualTo(200);
    assertThat(Long.toUnsignedString(a.timestamp)).isEqualTo("18446744073709551615");
  }

  @Test
  void whatTheGeneratorCannotReadIsMalformed() {
    for (String bad : new String[] {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n",
        "SMTP 220 hello there\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-length: 12a\r\n\r\n"}) {
      Answers a = new Answers();
      a.append(Buffer.buffer(bad));
      assertThat(a.next()).as(bad).isEqualTo(Answers.MALFORMED);
    }
    Answers endless = new Answers();
    endless.append(Buffer.buffer("HTTP/1.1 200 OK\r\nx: " + "y".repeat(70_000)));
    assertThat(endless.next()).isEqualTo(Answers.MALFORMED);
  }
}
