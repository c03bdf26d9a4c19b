package tso.log;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.text.MessageFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.ResourceBundle;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("unit")
class RateLimitedTest {

  private static final long SECOND = 1_000_000_000L;

  private final AtomicLong now = new AtomicLong(123 * SECOND);
  private final RateLimited limited = new RateLimited(now::get);
  private final Recording log = new Recording(Level.INFO);

  @Test
  void logsTheFirstRecordThenNothingWithinTheInterval() {
    assertThat(warn("expired", 10 * SECOND, "{0} requests timed out", 3)).isTrue();
    for (int i = 0; i < 199; i++) {
      now.addAndGet(SECOND / 20); // one per 50 ms tick, for 9.95 s
      assertThat(warn("expired", 10 * SECOND, "{0} requests timed out", i)).isFalse();
    }
    assertThat(log.lines).containsExactly("WARNING 3 requests timed out");
    assertThat(limited.suppressed("expired")).isEqualTo(199);
  }

  @Test
  void theNextRecordAfterTheIntervalCarriesTheSuppressedCount() {
    warn("expired", 10 * SECOND, "{0} requests timed out", 3);
    for (int i = 0; i < 5; i++) {
      now.addAndGet(SECOND);
      warn("expired", 10 * SECOND, "{0} requests timed out", 4);
    }
    now.addAndGet(5 * SECOND); // exactly 10 s after the first record
    assertThat(warn("expired", 10 * SECOND, "{0} requests timed out", 7)).isTrue();
    now.addAndGet(60 * SECOND);
    assertThat(warn("expired", 10 * SECOND, "{0} requests timed out", 8)).isTrue();

    assertThat(log.lines).containsExactly(
        "WARNING 3 requests timed out",
        "WARNING 7 requests timed out (5 similar suppressed)",
        "WARNING 8 requests timed out");
    assertThat(limited.suppressed("expired")).isZero();
  }

  @Test
  void keysAreLimitedIndependently() {
    warn("expired", 10 * SECOND, "expired {0}", 1);
    warn("persist", 10 * SECOND, "persist {0}", 1);
    now.addAndGet(SECOND);
    warn("expired", 10 * SECOND, "expired {0}", 2);
    warn("persist", SECOND, "persist {0}", 2); // its own, shorter interval has passed
    warn("other", 10 * SECOND, "other");

    assertThat(log.lines).containsExactly("WARNING expired 1", "WARNING persist 1", "WARNING persist 2",
        "WARNING other");
    assertThat(limited.suppressed("expired")).isEqualTo(1);
    assertThat(limited.suppressed("persist")).isZero();
  }

  @Test
  void aPatternWithoutArgumentsKeepsItsQuotesAndGetsTheCountToo() {
    warn("k", SECOND, "can't reach it");
    warn("k", SECOND, "can't reach it");
    now.addAndGet(SECOND);
    warn("k", SECOND, "can't reach it");
    assertThat(log.lines).containsExactly("WARNING can't reach it", "WARNING can't reach it (1 similar suppressed)");
  }

  @Test
  void aLevelTheLoggerDoesNotPrintIsNeitherLoggedNorCounted() {
    assertThat(limited.log(log, Level.DEBUG, "k", SECOND, "noise")).isFalse();
    assertThat(limited.log(log, Level.DEBUG, "k", SECOND, "noise")).isFalse();
    assertThat(limited.suppressed("k")).isZero();
    assertThat(warn("k", SECOND, "signal")).isTrue();
    assertThat(log.lines).containsExactly("WARNING signal");
  }

  @Test
  void theClockMayStartAnywhereIncludingNegativeValues() {
    now.set(Long.MIN_VALUE + 1); // System.nanoTime() has an arbitrary origin
    assertThat(warn("k", SECOND, "a")).isTrue();
    now.addAndGet(SECOND - 1);
    assertThat(warn("k", SECOND, "b")).isFalse();
    now.addAndGet(1);
    assertThat(warn("k", SECOND, "c")).isTrue();
  }

  private boolean warn(String key, long interval, String format, Object... args) {
    return limited.log(log, Level.WARNING, key, interval, format, args);
  }

  /** A logger that keeps "LEVEL message" lines, formatted as the JDK's logging does. */
  private static final class Recording implements Logger {
    final List<String> lines = new ArrayList<>();
    private final Level threshold;

    Recording(Level threshold) {
      this.threshold = threshold;
    }

    @Override
    public String getName() {
      return "recording";
    }

    @Override
    public boolean isLoggable(Level level) {
      return level.getSeverity() >= threshold.getSeverity();
    }

    @Override
    public void log(Level level, ResourceBundle bundle, String msg, Throwable thrown) {
      lines.add(level + " " + msg);
    }

    @Override
    public void log(Level level, ResourceBundle bundle, String format, Object... params) {
      // java.util.logging applies MessageFormat only when there are parameters.
      String msg = params == null || params.length == 0 ? format : MessageFormat.format(format, params);
      lines.add(level + " " + msg);
    }
  }
}
