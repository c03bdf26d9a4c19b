package tso.support;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Shifts the wall clock of one child process (a redis-server, a node, a soak tool's JVM), as an
 * NTP step or a VM migration would, leaving its monotonic clock and every other process alone.
 *
 * <p>It is the LD_PRELOAD library {@code src/test/c/clockshift.c}, compiled with the machine's
 * gcc into {@code target/clockshift/libclockshift.so} the first time a JVM asks for it (again only
 * when the source is newer). Each instance owns one offset file: start the process with
 * {@link #env()} added to its environment, then {@link #set} moves its clock; the process sees a
 * new offset within {@link #PICKUP}.
 *
 * <pre>{@code
 * assumeTrue(ClockShift.available(), ClockShift.UNAVAILABLE);
 * try (ClockShift shift = ClockShift.create();
 *      RedisServer redis = RedisServer.start(shift.env())) {
 *   shift.set(5_000); // Redis's TIME is now 5 s ahead
 * }
 * }</pre>
 *
 * <p>Linux only, and only for dynamically linked programs (LD_PRELOAD); {@link #env()} replaces
 * any LD_PRELOAD the child would inherit. Without gcc, {@link #available()} is false and tests
 * skip; with gcc, a library that does not compile is an error, not a skip.
 */
public final class ClockShift implements AutoCloseable {

  /** The environment variable naming the offset file; the C library reads the same name. */
  public static final String FILE_VARIABLE = "CLOCKSHIFT_FILE";
  /**
   * How long after {@link #set} every clock call in the process sees the new offset: the library
   * re-reads the file at most every 5 ms, doubled for the read itself and scheduling.
   */
  public static final Duration PICKUP = Duration.ofMillis(10);
  /** The message for a skipped test. */
  public static final String UNAVAILABLE = "ClockShift needs Linux and gcc on PATH to build its LD_PRELOAD library";

  private static final Duration COMPILE_TIMEOUT = Duration.ofSeconds(60);
  private static Path built;

  private final Path file;
  private final boolean ownsDirectory;
  private long offsetMs;

  private ClockShift(Path file, boolean ownsDirectory) {
    this.file = file;
    this.ownsDirectory = ownsDirectory;
  }

  /** True on Linux with gcc on PATH: then {@link #library()} can build the library. */
  public static boolean available() {
    return System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux") && gcc().isPresent();
  }

  /** A shift with its own offset file in a new temporary directory, at offset 0. */
  public static ClockShift create() {
    try {
      return create(Files.createTempDirectory("tso-clockshift-").resolve("offset-ms"), true);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A shift whose offset file is {@code file} (its directory must exist), at offset 0. */
  public static ClockShift create(Path file) {
    return create(file, false);
  }

  private static ClockShift create(Path file, boolean ownsDirectory) {
    library(); // fail here, not when the process starts without its shift
    ClockShift shift = new ClockShift(file.toAbsolutePath(), ownsDirectory);
    shift.set(0);
    return shift;
  }

  /** The environment that puts a process under this shift: {@code LD_PRELOAD} and {@value #FILE_VARIABLE}. */
  public Map<String, String> env() {
    return Map.of("LD_PRELOAD", library().toString(), FILE_VARIABLE, file.toString());
  }

  /**
   * Sets the offset of the process's wall clock to {@code offsetMs} from the real one (not added
   * to the last offset). The file is replaced by rename, so the library never reads half a value.
   */
  public synchronized void set(long offsetMs) {
    Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
    try {
      Files.writeString(tmp, Long.toString(offsetMs) + "\n", StandardCharsets.US_ASCII);
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (IOException e) {
      throw new UncheckedIOException("writing clock offset to " + file, e);
    }
    this.offsetMs = offsetMs;
  }

  /** The offset last {@link #set}. */
  public synchronized long offsetMs() {
    return offsetMs;
  }

  public Path file() {
    return file;
  }

  /**
   * Deletes the offset file (a process still running under it goes back to the real clock within
   * {@link #PICKUP}) and the directory if {@link #create()} made it.
   */
  @Override
  public synchronized void close() {
    try {
      Files.deleteIfExists(file.resolveSibling(file.getFileName() + ".tmp"));
      Files.deleteIfExists(file);
      if (ownsDirectory) {
        Files.deleteIfExists(file.getParent());
      }
    } catch (IOException e) {
      // best effort: a temporary file
    }
  }

  @Override
  public String toString() {
    return "ClockShift[" + file + ", " + offsetMs() + " ms]";
  }

  // ---------------------------------------------------------------------------------------------
  // Building the library

  /**
   * The built library, compiling it first if it is missing or older than its source. Once per
   * JVM; the result is written under a temporary name and renamed, so a second JVM building at
   * the same time never loads half a file.
   */
  public static synchronized Path library() {
    if (built != null && Files.isRegularFile(built)) {
      return built;
    }
    Path target = targetDir();
    Path source = target.getParent().resolve(Path.of("src", "test", "c", "clockshift.c"));
    Path out = target.resolve(Path.of("clockshift", "libclockshift.so"));
    if (!Files.isRegularFile(source)) {
      throw new IllegalStateException("no " + source + ": ClockShift compiles its library from the source tree");
    }
    try {
      if (!Files.isRegularFile(out)
          || Files.getLastModifiedTime(out).compareTo(Files.getLastModifiedTime(source)) < 0) {
        compile(source, out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    built = out;
    return out;
  }

  private static void compile(Path source, Path out) throws IOException {
    Path gcc = gcc().orElseThrow(() -> new IllegalStateException(UNAVAILABLE));
    Files.createDirectories(out.getParent());
    // A name of its own that gcc creates (so with the usual mode, not a temporary file's 0600).
    Path tmp = out.resolveSibling("libclockshift-" + ProcessHandle.current().pid() + "-" + System.nanoTime()
        + ".so.tmp");
    List<String> cmd = new ArrayList<>(List.of(gcc.toString(), "-shared", "-fPIC", "-O2", "-Wall",
        "-o", tmp.toString(), source.toString()));
    // gcc's output goes to a file: read from a pipe only after the wait, a long one would block gcc.
    Path log = tmp.resolveSibling(tmp.getFileName() + ".log");
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      try {
        if (!p.waitFor(COMPILE_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
          p.destroyForcibly();
          throw new IllegalStateException(String.join(" ", cmd) + " took more than "
              + COMPILE_TIMEOUT.toSeconds() + " s");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        p.destroyForcibly();
        throw new IllegalStateException(e);
      }
      if (p.exitValue() != 0) {
        throw new IllegalStateException(String.join(" ", cmd) + " failed:\n" + Files.readString(log));
      }
      Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } finally {
      Files.deleteIfExists(tmp);
      Files.deleteIfExists(log);
    }
  }

  /** Maven's {@code target}: the parent of the directory this class was loaded from. */
  private static Path targetDir() {
    try {
      Path classes = Path.of(ClockShift.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      if (Files.isDirectory(classes) && classes.getParent() != null
          && classes.getParent().getFileName().toString().equals("target")) {
        return classes.getParent();
      }
    } catch (URISyntaxException | RuntimeException e) {
      // not loaded from a directory: fall back to the working directory
    }
    return Path.of("target").toAbsolutePath();
  }

  /** {@code gcc} on PATH, if any. */
  private static Optional<Path> gcc() {
    String path = System.getenv("PATH");
    if (path == null) {
      return Optional.empty();
    }
    for (String d : path.split(Pattern.quote(File.pathSeparator))) {
      Path p = d.isEmpty() ? null : Path.of(d, "gcc");
      if (p != null && Files.isRegularFile(p) && Files.isExecutable(p)) {
        return Optional.of(p);
      }
    }
    return Optional.empty();
  }
}
