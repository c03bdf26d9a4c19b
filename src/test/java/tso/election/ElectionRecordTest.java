package tso.election;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

import tso.election.ElectionRecord.Invalid;

/** The record format in Java: round trip, and every invalid form classified, never thrown. */
class ElectionRecordTest {

  private static final ElectionRecord REC =
      new ElectionRecord("node-1", "10.0.0.1:8080", "0123456789abcdef", 42, 2000, 1_700_000_000_000L,
          1_700_000_001_000L, 7);

  private static ElectionRecord.Parsed parse(String s) {
    return ElectionRecord.parse(s.getBytes(StandardCharsets.ISO_8859_1));
  }

  @Test
  void aRecordSurvivesItsOwnEncoding() {
    String text = REC.encode();
    assertThat(text).startsWith("tso-leader/1;node=node-1;addr=10.0.0.1:8080;inc=0123456789abcdef;epoch=42;")
        .matches(".*;crc=[0-9a-f]{8}");
    ElectionRecord.Parsed p = parse(text);
    assertThat(p.valid()).isTrue();
    assertThat(p.record()).isEqualTo(REC);
  }

  @Test
  void everyInvalidFormIsClassified() {
    String good = REC.encode();
    assertThat(parse("").invalid()).isEqualTo(Invalid.EMPTY);
    assertThat(parse("x".repeat(ElectionRecord.MAX_BYTES + 1)).invalid()).isEqualTo(Invalid.HUGE);
    assertThat(parse("\u0000\u00ff\u0013garbage").invalid()).isEqualTo(Invalid.GARBAGE);
    assertThat(parse("hello world").invalid()).isEqualTo(Invalid.GARBAGE);
    assertThat(parse("etcd-leader/3;holder=a").invalid()).isEqualTo(Invalid.OTHER_MAGIC);
    assertThat(parse(good.replace("tso-leader/1;", "tso-leader/2;")).invalid()).isEqualTo(Invalid.NEWER_VERSION);
    assertThat(parse(good.replace("epoch=42", "epoch=43")).invalid()).isEqualTo(Invalid.BAD_CHECKSUM);
    for (int cut = "tso-leader/".length(); cut < good.length(); cut += 7) {
      Invalid kind = parse(good.substring(0, cut)).invalid();
      assertThat(kind).as("cut at %d", cut).isIn(Invalid.TRUNCATED, Invalid.BAD_CHECKSUM);
    }
    assertThat(parse(good.substring(0, good.length() - 1)).invalid()).isEqualTo(Invalid.TRUNCATED);
  }

  @Test
  void aValidChecksumOverAMalformedBodyIsStillRefused() {
    String body = "tso-leader/1;node=bad node;addr=x:1;inc=00;epoch=1;ttl=1;acquired=1;renewed=1;transitions=1";
    assertThat(parse(body + ";crc=" + ElectionRecord.crc(body)).invalid()).isEqualTo(Invalid.GARBAGE);
  }

  @Test
  void previewIsShortHex() {
    assertThat(ElectionRecord.preview(new byte[] {0x00, 0x7f, (byte) 0xff})).isEqualTo("007fff");
    assertThat(ElectionRecord.preview(new byte[100])).startsWith("0000").endsWith("…(100 bytes)");
  }
}
