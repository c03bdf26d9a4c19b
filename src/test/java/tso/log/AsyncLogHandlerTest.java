package tso.log;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogRecord;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Tag("unit")
// A handler that blocks its callers fails these tests instead of hanging the build: the test runs
// on a thread of its own, abandoned if it outlives the limit.
@Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class AsyncLogHandlerTest {

  /** The message and the logger's last name segment, one line each: easy to parse back. */
  private static final Formatter PLAIN = new Formatter() {
    @Override
    public String format(LogRecord r) {
      String name = r.getLoggerName() == null ? "-" : r.getLoggerName();
      return name.substring(name.lastIndexOf('.') + 1) + " " + formatMessage(r) + "\n";
    }
  };

  private final List<AsyncLogHandler> handlers = new ArrayList<>();

  @AfterEach
  void closeHandlers() {
    handlers.forEach(AsyncLogHandler::close);
  }

  @Test
  void publishNeverWaitsForAStuckWriterAndCountsWhatItDrops() throws Exception {
    StuckStream stderr = new StuckStream();
    AsyncLogHandler handler = handler(stderr, 1_024);
    handler.publish(record("first"));
    assertThat(stderr.entered.await(5, TimeUnit.SECONDS)).as("the writer reached the stream").isTrue();

    // Waiting even once for the writer (stuck until released) would never return, so the bound
    // is generous (a slow machine) and preemptive (a failure, not a hung build).
    assertTimeoutPreemptively(Duration.ofSeconds(5), () -> {
      for (int i = 0; i < 100_000; i++) {
        handler.publish(record("r" + i));
      }
    });
    // The writer holds "first"; the queue took exactly its capacity; every other record dropped.
    assertThat(handler.droppedTotal()).isEqualTo(100_000 - 1_024);
    assertThat(stderr.text()).isEmpty();

    stderr.release();
    handler.flush();

    List<String> lines = stderr.lines();
    List<String> expected = new ArrayList<>();
    expected.add("AsyncLogHandlerTest first");
    for (int i = 0; i < 1_024; i++) {
      expected.add("AsyncLogHandlerTest r" + i);
    }
    expected.add("AsyncLogHandler " + (100_000 - 1_024) + " log records dropped (the log queue was full)");
    assertThat(lines).containsExactlyElementsOf(expected);
  }

  @Test
  void dropsAreReportedEvenWhenNothingIsLoggedAfterThem() throws Exception {
    StuckStream stderr = new StuckStream();
    AsyncLogHandler handler = handler(stderr, 4);
    handler.publish(record("first"));
    assertThat(stderr.entered.await(5, TimeUnit.SECONDS)).isTrue();
    for (int i = 0; i < 10; i++) {
      handler.publish(record("r" + i));
    }
    stderr.release();
    handler.flush();
    assertThat(stderr.lines()).filteredOn(l -> l.contains("dropped"))
        .containsExactly("AsyncLogHandler 6 log records dropped (the log queue was full)");

    // A second loss, after the first was reported, is reported on its own.
    stderr.jam();
    handler.publish(record("second"));
    assertThat(stderr.entered.await(5, TimeUnit.SECONDS)).isTrue();
    for (int i = 0; i < 7; i++) {
      handler.publish(record("s" + i));
    }
    stderr.release();
    handler.flush();
    assertThat(stderr.lines()).filteredOn(l -> l.contains("dropped")).containsExactly(
        "AsyncLogHandler 6 log records dropped (the log queue was full)",
        "AsyncLogHandler 3 log records dropped (the log queue was full)");
    assertThat(handler.droppedTotal()).isEqualTo(9);
  }

  @Test
  void flushWaitsUntilASlowStreamHasEverything() {
    SlowStream stderr = new SlowStream(5);
    AsyncLogHandler handler = handler(stderr, 8_192);
    for (int i = 0; i < 2_000; i++) {
      handler.publish(record("r" + i));
    }
    handler.flush();
    assertThat(stderr.lines()).hasSize(2_000).startsWith("AsyncLogHandlerTest r0").endsWith("AsyncLogHandlerTest r1999");
  }

  @Test
  void flushGivesUpAfterItsBoundedWaitWhenTheStreamNeverMoves() throws Exception {
    StuckStream stderr = new StuckStream();
    AsyncLogHandler handler = handler(stderr, 16);
    handler.publish(record("first"));
    assertThat(stderr.entered.await(5, TimeUnit.SECONDS)).isTrue();
    handler.publish(record("second"));

    long start = System.nanoTime();
    handler.flush();
    Duration took = Duration.ofNanos(System.nanoTime() - start);

    assertThat(took).isBetween(Duration.ofNanos(AsyncLogHandler.DRAIN_STALL_NANOS).minusMillis(50),
        Duration.ofNanos(AsyncLogHandler.DRAIN_STALL_NANOS).plusSeconds(3));
    stderr.release();
  }

  @Test
  void flushKeepsWaitingPastTheStallLimitWhileTheWriterMovesOn() {
    // About 1 ms per record (a loaded machine): the whole queue takes longer than the stall limit.
    int records = (int) (TimeUnit.NANOSECONDS.toMillis(AsyncLogHandler.DRAIN_STALL_NANOS) * 3 / 2);
    ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    AsyncLogHandler handler = new AsyncLogHandler(stderr, new Formatter() {
      @Override
      public String format(LogRecord r) {
        try {
          Thread.sleep(1);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        return PLAIN.format(r);
      }
    }, 8_192);
    handlers.add(handler);
    for (int i = 0; i < records; i++) {
      handler.publish(record("r" + i));
    }
    long start = System.nanoTime();
    handler.flush();
    Duration took = Duration.ofNanos(System.nanoTime() - start);

    assertThat(took).isGreaterThan(Duration.ofNanos(AsyncLogHandler.DRAIN_STALL_NANOS));
    assertThat(stderr.toString(StandardCharsets.UTF_8).split("\n")).hasSize(records);
  }

  @Test
  void eachThreadsRecordsComeOutInTheOrderItLoggedThem() throws Exception {
    ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    AsyncLogHandler handler = handler(stderr, 8_192);
    int threads = 4;
    int each = 2_000;
    List<Thread> loggers = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      String name = "t" + t;
      loggers.add(new Thread(() -> {
        for (int i = 0; i < each; i++) {
          handler.publish(record(name + " " + i));
        }
      }));
    }
    loggers.forEach(Thread::start);
    for (Thread t : loggers) {
      t.join();
    }
    handler.flush();

    Map<String, Integer> next = new HashMap<>();
    String[] lines = stderr.toString(StandardCharsets.UTF_8).split("\n");
    assertThat(lines).hasSize(threads * each);
    for (String line : lines) {
      String[] parts = line.split(" ");
      int expected = next.getOrDefault(parts[1], 0);
      assertThat(Integer.parseInt(parts[2])).as(line).isEqualTo(expected);
      next.put(parts[1], expected + 1);
    }
    assertThat(next.values()).containsOnly(each);
    assertThat(handler.droppedTotal()).isZero();
  }

  @Test
  void closeDrainsAndLaterRecordsAreIgnored() throws Exception {
    SlowStream stderr = new SlowStream(5);
    AsyncLogHandler handler = handler(stderr, 8_192);
    for (int i = 0; i < 500; i++) {
      handler.publish(record("r" + i));
    }
    handler.close();
    handler.publish(record("late"));
    handler.close(); // twice is harmless

    assertThat(stderr.lines()).hasSize(500).endsWith("AsyncLogHandlerTest r499");
    Thread.sleep(200); // long enough for a writer that was still running to write "late"
    assertThat(stderr.lines()).hasSize(500);
  }

  @Test
  void recordsBelowTheHandlersLevelAreNotQueued() {
    ByteArrayOutputStream stderr = new ByteArrayOutputStream();
    AsyncLogHandler handler = handler(stderr, 8_192);
    handler.setLevel(Level.INFO);
    LogRecord fine = record("fine");
    fine.setLevel(Level.FINE);
    handler.publish(fine);
    handler.publish(record("info"));
    handler.flush();
    assertThat(stderr.toString(StandardCharsets.UTF_8)).isEqualTo("AsyncLogHandlerTest info\n");
  }

  private AsyncLogHandler handler(OutputStream out, int capacity) {
    AsyncLogHandler h = new AsyncLogHandler(out, PLAIN, capacity);
    handlers.add(h);
    return h;
  }

  private static LogRecord record(String message) {
    LogRecord r = new LogRecord(Level.INFO, message);
    r.setLoggerName(AsyncLogHandlerTest.class.getName());
    return r;
  }

  /** A stream whose writes block until released, as stderr does when its reader stops reading. */
  private static final class StuckStream extends OutputStream {
    volatile CountDownLatch entered = new CountDownLatch(1);
    private volatile CountDownLatch gate = new CountDownLatch(1);
    private final ByteArrayOutputStream written = new ByteArrayOutputStream();

    @Override
    public void write(int b) {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) {
      entered.countDown();
      try {
        gate.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      synchronized (written) {
        written.write(b, off, len);
      }
    }

    void release() {
      gate.countDown();
    }

    /** Blocks the next write again. */
    void jam() {
      entered = new CountDownLatch(1);
      gate = new CountDownLatch(1);
    }

    String text() {
      synchronized (written) {
        return written.toString(StandardCharsets.UTF_8);
      }
    }

    List<String> lines() {
      String t = text();
      return t.isEmpty() ? List.of() : Arrays.asList(t.split("\n"));
    }
  }

  /** A stream that takes a few milliseconds per write, as a slow terminal or pipe does. */
  private static final class SlowStream extends OutputStream {
    private final long millisPerWrite;
    private final ByteArrayOutputStream written = new ByteArrayOutputStream();

    SlowStream(long millisPerWrite) {
      this.millisPerWrite = millisPerWrite;
    }

    @Override
    public void write(int b) {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) {
      try {
        Thread.sleep(millisPerWrite);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      synchronized (written) {
        written.write(b, off, len);
      }
    }

    List<String> lines() {
      String t;
      synchronized (written) {
        t = written.toString(StandardCharsets.UTF_8);
      }
      return t.isEmpty() ? List.of() : Arrays.asList(t.split("\n"));
    }
  }
}
