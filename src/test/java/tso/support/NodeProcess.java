package tso.support;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.awaitility.Awaitility.await;

/**
 * {@code tso server} as a separate process (the test class path, the real main class), so tests
 * can SIGKILL and SIGTERM it and read its exit code and output.
 */
public final class NodeProcess implements AutoCloseable {

  public final int port;
  public final Path log;
  private final Process process;

  private NodeProcess(int port, Path log, Process process) {
    this.port = port;
    this.log = log;
    this.process = process;
  }

  /** Starts {@code tso server} with the given flags (host, port and node id are added). */
  public static NodeProcess start(Path workDir, int port, String... flags) throws IOException {
    return start(workDir, port, java.util.Map.of(), flags);
  }

  /** As {@link #start(Path, int, String...)}, with extra environment variables. */
  public static NodeProcess start(Path workDir, int port, java.util.Map<String, String> env, String... flags)
      throws IOException {
    List<String> cmd = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
        "-cp", System.getProperty("java.class.path"),
        "tso.Main", "server",
        "--host", "127.0.0.1", "--port", Integer.toString(port), "--node-id", "proc-" + port));
    cmd.addAll(List.of(flags));
    Files.createDirectories(workDir);
    Path log = Files.createTempFile(workDir, "node-" + port + "-", ".log");
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    pb.environment().keySet().removeIf(k -> k.startsWith("TSO_"));
    pb.environment().put("TSO_WARMUP_MS", "0"); // unless the test asks for it
    pb.environment().putAll(env);
    return new NodeProcess(port, log, pb.start());
  }

  public String url() {
    return "http://127.0.0.1:" + port;
  }

  /** Waits until /health/ready answers 200. */
  public NodeProcess awaitReady() {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
    await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(50)).until(() -> {
      if (!process.isAlive()) {
        throw new AssertionError("node exited with " + process.exitValue() + ": " + output());
      }
      try {
        return http.send(HttpRequest.newBuilder(URI.create(url() + "/health/ready")).build(),
            HttpResponse.BodyHandlers.discarding()).statusCode() == 200;
      } catch (IOException e) {
        return false;
      }
    });
    return this;
  }

  public Process process() {
    return process;
  }

  /** SIGKILL: no clean stop of any kind. */
  public void kill9() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(30, TimeUnit.SECONDS);
  }

  /** SIGTERM. */
  public void term() {
    process.destroy();
  }

  /** Waits for the exit and returns its code. */
  public int awaitExit(long seconds) throws InterruptedException {
    if (!process.waitFor(seconds, TimeUnit.SECONDS)) {
      throw new AssertionError("node did not exit within " + seconds + " s: " + output());
    }
    return process.exitValue();
  }

  public String output() {
    try {
      return Files.readString(log);
    } catch (IOException e) {
      return "(no output: " + e + ")";
    }
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      kill9();
    }
  }
}
