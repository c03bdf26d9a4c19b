package tso.log;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.support.NodeProcess;
import tso.support.Ports;

/** The handler in a real process: installed by {@code tso server}, and drained on the way out. */
@Tag("integration")
class LogProcessTest {

  /** The line format tso.Main configures: ISO time, level, logger, message. */
  private static final String LINE = "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z [A-Z]+ +[\\w.$]+: .*";

  @TempDir
  Path dir;

  @Test
  void linesQueuedWhenTheProcessExitsAreStillWritten() throws Exception {
    int lines = 2_000; // within the queue's capacity, far more than the writer empties at once
    Path err = dir.resolve("stderr");
    Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Djava.util.logging.SimpleFormatter.format=%5$s%n", // the message alone
        "-cp", System.getProperty("java.class.path"), LogThenExit.class.getName(), Integer.toString(lines))
        .redirectError(err.toFile())
        .start();
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).isZero();

    assertThat(Files.readAllLines(err)).containsExactlyElementsOf(IntStream.range(0, lines).mapToObj(i -> "line " + i).toList());
  }

  @Test
  void theServerLogsThroughItInTheProjectsFormatUpToItsLastLine() throws Exception {
    try (NodeProcess node = NodeProcess.start(dir, Ports.free(), "--data-dir", dir.resolve("data").toString())
        .awaitReady()) {
      node.term();
      assertThat(node.awaitExit(30)).isZero();
      List<String> lines = node.output().lines().toList();
      assertThat(lines).isNotEmpty().allMatch(l -> l.matches(LINE));
      assertThat(lines.get(lines.size() - 1)).endsWith("INFO    tso.cli.ServerCommand: stopped");
    }
  }
}
