package tso.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The history file and its checker, on histories written by hand: each kind of violation found
 * across files, concurrent answers in any order accepted, a file cut short by a killed writer
 * still read, and recovery measured from given moments.
 */
class HistoryCheckTest {

  @TempDir
  Path dir;

  /** {sent, received, timestamp, epoch, count, connection} per answer. */
  private Path history(String name, long[]... answers) throws IOException {
    Path p = dir.resolve(name);
    try (HistoryLog log = new HistoryLog(p)) {
      HistoryLog.Sink sink = log.sink();
      for (long[] a : answers) {
        sink.add(a[0], a[1], a[2], a[3], (int) a[4], (int) a[5]);
      }
      sink.flush();
    }
    return p;
  }

  private static HistoryCheck.Verdict check(Path... files) throws IOException {
    return HistoryCheck.load(List.of(files)).check();
  }

  @Test
  void aCleanHistoryAcrossFilesPasses() throws IOException {
    Path a = history("a", new long[] {0, 10, 100, 1, 5, 0}, new long[] {20, 30, 110, 1, 1, 0});
    Path b = history("b", new long[] {5, 25, 105, 1, 5, 0}, // concurrent with both above: any order is fine
        new long[] {31, 40, 200, 2, 1, 1});
    HistoryCheck.Verdict v = check(a, b);
    assertThat(v.total()).isZero();
    assertThat(v.examples()).isEmpty();
  }

  @Test
  void aTimestampInTwoAnswersOfTwoProcessesIsADuplicate() throws IOException {
    Path a = history("a", new long[] {0, 10, 100, 1, 5, 0});
    Path b = history("b", new long[] {0, 10, 104, 1, 1, 0}); // 104 is inside 100..104
    HistoryCheck.Verdict v = check(a, b);
    assertThat(v.violations().get("duplicate")).isEqualTo(1);
    assertThat(v.examples().get(0).getString("text")).contains("[104 +1").contains("[100 +5");
  }

  @Test
  void aSmallerTimestampSentAfterAnAnswerInAnotherProcessBreaksRealTimeOrder() throws IOException {
    Path a = history("a", new long[] {0, 10, 200, 1, 1, 0});
    Path b = history("b", new long[] {11, 20, 150, 1, 1, 3}, // sent after 200 arrived: must be above it
        new long[] {5, 30, 120, 1, 1, 4}); // sent before 200 arrived: fine
    HistoryCheck.Verdict v = check(a, b);
    assertThat(v.violations().get("realTimeOrder")).isEqualTo(1);
    assertThat(v.total()).isEqualTo(1);
    JsonObject x = v.examples().get(0);
    assertThat(x.getJsonObject("answer").getString("connection")).isEqualTo("1:3");
    assertThat(x.getJsonObject("against").getString("timestamp")).isEqualTo("200");
  }

  @Test
  void epochsMustNotGoDownOnAConnectionNorInRealTime() throws IOException {
    // Connection 0 pipelines: the second request goes before the first answer, then gets an
    // older epoch. Connection 1 is sent after an epoch-3 answer arrived and gets epoch 2.
    Path a = history("a", new long[] {0, 10, 100, 3, 1, 0}, new long[] {1, 11, 101, 2, 1, 0},
        new long[] {20, 30, 102, 2, 1, 1});
    HistoryCheck.Verdict v = check(a);
    assertThat(v.violations().get("epochOnConnection")).isEqualTo(1);
    assertThat(v.violations().get("epochRealTime")).isEqualTo(1); // only the one on connection 1
    assertThat(v.violations().get("realTimeOrder")).isZero();
  }

  @Test
  void unsignedTimestampsAboveTwoToTheSixtyThreeSortAsUnsigned() throws IOException {
    long high = Long.MIN_VALUE + 10; // 2^63 + 10
    Path a = history("a", new long[] {0, 10, 5, 1, 1, 0}, new long[] {20, 30, high, 1, 1, 0},
        new long[] {40, 50, high + 1, 1, 1, 0});
    assertThat(check(a).total()).isZero();
    Path b = history("b", new long[] {0, 10, high, 1, 1, 0}, new long[] {20, 30, 5, 1, 1, 0});
    assertThat(check(b).violations().get("realTimeOrder")).isEqualTo(1);
  }

  @Test
  void aFileCutShortInARecordIsReadUpToIt() throws IOException {
    Path a = history("a", new long[] {0, 10, 100, 1, 1, 0}, new long[] {20, 30, 101, 1, 1, 0});
    byte[] bytes = Files.readAllBytes(a);
    Files.write(a, java.util.Arrays.copyOf(bytes, bytes.length - 7));
    HistoryCheck h = HistoryCheck.load(List.of(a));
    assertThat(h.size).isEqualTo(1);
    assertThat(h.json(h.check()).getJsonArray("files").getJsonObject(0).getLong("truncatedBytes"))
        .isEqualTo(HistoryLog.RECORD - 7L);
  }

  @Test
  void somethingElseIsRefused() throws IOException {
    Path junk = dir.resolve("junk");
    Files.writeString(junk, "not a history at all, no sir");
    int code = HistoryCheck.run(new String[] {junk.toString()}, new PrintStream(new ByteArrayOutputStream()));
    assertThat(code).isEqualTo(2);
    assertThat(HistoryCheck.run(new String[0], new PrintStream(new ByteArrayOutputStream()))).isEqualTo(2);
  }

  @Test
  void recoveryIsMeasuredFromAMoment() throws IOException {
    // Answers every 1 ms on connection 0 until 100 ms, none until 350 ms, then again; connection 1
    // answers throughout, so only connection 0 saw the outage.
    long ms = 1_000_000;
    java.util.List<long[]> answers = new java.util.ArrayList<>();
    long ts = 1000;
    for (long t = 0; t < 500; t++) {
      if (t < 100 || t >= 350) {
        answers.add(new long[] {t * ms, t * ms + ms / 2, ts++, 1, 1, 0});
      }
      answers.add(new long[] {t * ms + ms / 4, t * ms + ms / 3, ts++, 1, 1, 1});
    }
    Path a = history("a", answers.toArray(new long[0][]));
    HistoryCheck h = HistoryCheck.load(List.of(a));
    assertThat(h.check().total()).isZero();
    JsonObject all = h.after(100 * ms, 400 * ms, null);
    assertThat(all.getDouble("longestGapMs")).isLessThan(1.5);
    JsonObject zero = h.after(100 * ms, 400 * ms, h.members(List.of("0:0")));
    assertThat(zero.getDouble("longestGapMs")).isBetween(249.0, 251.0);
    assertThat(zero.getDouble("recoveryMs")).isBetween(250.0, 251.0);
    assertThat(zero.getDouble("firstAnswerMs")).isBetween(250.0, 251.0);
  }

  @Test
  void theCommandWritesItsVerdictAndFailsOnAViolation() throws IOException {
    Path a = history("a", new long[] {0, 10, 200, 1, 1, 0}, new long[] {11, 20, 150, 1, 1, 0});
    Path events = dir.resolve("events");
    Files.writeString(events, "{\"id\":\"f1\",\"ns\":5,\"untilNs\":20,\"connections\":[\"0:0\"]}\n");
    Path json = dir.resolve("out.json");
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    int code = HistoryCheck.run(new String[] {"--events", events.toString(), "--json", json.toString(), a.toString()},
        new PrintStream(text));
    assertThat(code).isEqualTo(1);
    JsonObject out = new JsonObject(Files.readString(json));
    assertThat(out.getJsonObject("violations").getLong("realTimeOrder")).isEqualTo(1);
    assertThat(out.getJsonArray("events").getJsonObject(0).getString("id")).isEqualTo("f1");
    assertThat(out.getJsonArray("epochs").size()).isEqualTo(1);
    assertThat(out.getString("highestTimestamp")).isEqualTo("200");
    assertThat(out.getJsonArray("violationWindows").getJsonObject(0).getLong("fromNs")).isEqualTo(11);
    assertThat(text.toString()).contains("realTimeOrder");
  }

  @Test
  void violationsAreGroupedInWindowsOfTime() throws IOException {
    long s = 1_000_000_000L;
    Path a = history("a", new long[] {0, 10, 200, 1, 1, 0}, new long[] {11, 20, 150, 1, 1, 0}, // one at 11 ns
        new long[] {s / 2, s / 2 + 10, 151, 1, 1, 0}, // 0.5 s later: the same window
        new long[] {5 * s, 5 * s + 10, 152, 1, 1, 0}); // 5 s later: another
    java.util.List<long[]> w = check(a).windows();
    assertThat(w).hasSize(2);
    assertThat(w.get(0)).containsExactly(11, s / 2, 2);
    assertThat(w.get(1)).containsExactly(5 * s, 5 * s, 1);
  }

  @Test
  void theIndexSortIsAStableSort() {
    Random r = new Random(7);
    for (int n : new int[] {0, 1, 31, 32, 33, 1000, 100_003}) {
      long[] key = new long[n];
      for (int i = 0; i < n; i++) {
        key[i] = r.nextInt(n / 3 + 1) - n / 6;
      }
      int[] order = IndexSort.order(key);
      for (int i = 1; i < n; i++) {
        long a = key[order[i - 1]];
        long b = key[order[i]];
        assertThat(a < b || (a == b && order[i - 1] < order[i])).isTrue();
      }
    }
  }
}
