package tso.store;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import java.util.zip.CRC32;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

@Tag("unit")
@net.jqwik.api.Tag("unit")
class FileBoundStoreTest {

  @TempDir
  Path tmp;

  /** For the child process's stderr, outside the data directory. */
  @TempDir
  Path scratch;

  private Vertx vertx;
  private final List<FileBoundStore> stores = new ArrayList<>();
  private Process child;

  @BeforeEach
  void startVertx() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void closeAll() throws Exception {
    if (child != null) {
      child.destroyForcibly().waitFor(10, SECONDS);
    }
    for (FileBoundStore s : stores) {
      await(s.close());
    }
    await(vertx.close());
  }

  // ---------------------------------------------------------------- helpers

  private FileBoundStore store(Path dir) {
    FileBoundStore s = new FileBoundStore(vertx, dir);
    stores.add(s);
    return s;
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(10, SECONDS);
  }

  /** The failure of {@code f}, which must fail. */
  private static Throwable failure(Future<?> f) throws Exception {
    try {
      Object v = await(f);
      throw new AssertionError("expected a failure, got " + v);
    } catch (ExecutionException e) {
      return e.getCause();
    }
  }

  /** The documented line, with the checksum computed here independently of the store. */
  private static String line(long epoch, long bound) {
    String body = "tso-bound v1 epoch=" + epoch + " bound=" + bound;
    CRC32 crc = new CRC32();
    crc.update(body.getBytes(StandardCharsets.US_ASCII));
    return body + " crc32=" + String.format("%08x", crc.getValue()) + "\n";
  }

  private void assertRefusesCorrupt(Path dir) throws Exception {
    Throwable t = failure(store(dir).load());
    assertThat(t).isInstanceOf(StoreException.class);
    assertThat(t.getMessage())
        .contains(dir.resolve("bound").toString())
        .contains("refusing to start from zero")
        .doesNotContain("\n");
  }

  // ---------------------------------------------------------------- round trip

  @Test
  void savedBoundIsLoadedBackByTheSameStore() throws Exception {
    FileBoundStore s = store(tmp);
    assertThat(await(s.load())).isEqualTo(StoredBound.NONE);
    await(s.save(new StoredBound(3, 1_700_000_003_000L)));
    assertThat(await(s.load())).isEqualTo(new StoredBound(3, 1_700_000_003_000L));
  }

  @Test
  void savedBoundSurvivesANewStoreAndANewVertx() throws Exception {
    FileBoundStore first = store(tmp);
    await(first.load());
    await(first.save(new StoredBound(1, 1_700_000_000_000L)));
    await(first.close());

    Vertx other = Vertx.vertx();
    try {
      FileBoundStore second = new FileBoundStore(other, tmp);
      assertThat(await(second.load())).isEqualTo(new StoredBound(1, 1_700_000_000_000L));
      await(second.close());
    } finally {
      await(other.close());
    }
  }

  @Test
  void laterSaveReplacesTheEarlierOne() throws Exception {
    FileBoundStore s = store(tmp);
    await(s.load());
    await(s.save(new StoredBound(1, 1000)));
    await(s.save(new StoredBound(1, 2000)));
    await(s.save(new StoredBound(2, 3000)));
    assertThat(await(s.load())).isEqualTo(new StoredBound(2, 3000));
    assertThat(Files.readString(tmp.resolve("bound"))).isEqualTo(line(2, 3000));
  }

  @Test
  void fileOnDiskIsExactlyOneLineInTheDocumentedFormat() throws Exception {
    FileBoundStore s = store(tmp);
    await(s.load());
    await(s.save(new StoredBound(7, 1_700_000_000_123L)));

    byte[] bytes = Files.readAllBytes(tmp.resolve("bound"));
    String text = new String(bytes, StandardCharsets.US_ASCII);
    assertThat(text).isEqualTo(line(7, 1_700_000_000_123L));
    assertThat(text).matches("tso-bound v1 epoch=7 bound=1700000000123 crc32=[0-9a-f]{8}\n");
    assertThat(text.chars().filter(c -> c == '\n').count()).isEqualTo(1);
    // the write went through the temp file, which is gone after the rename
    assertThat(tmp.resolve("bound.tmp")).doesNotExist();
  }

  @Test
  void aFileWrittenByHandInTheDocumentedFormatIsLoaded() throws Exception {
    Files.writeString(tmp.resolve("bound"), line(42, 1_234_567_890_123L));
    assertThat(await(store(tmp).load())).isEqualTo(new StoredBound(42, 1_234_567_890_123L));
  }

  @Property(tries = 300)
  void encodeDecodeRoundTrip(@ForAll @LongRange(min = 0, max = 999_999_999_999_999_999L) long epoch,
      @ForAll @LongRange(min = 0, max = 999_999_999_999_999_999L) long bound) {
    StoredBound s = new StoredBound(epoch, bound);
    String encoded = FileBoundStore.encode(s);
    assertThat(encoded).isEqualTo(line(epoch, bound));
    assertThat(FileBoundStore.decode(encoded.getBytes(StandardCharsets.US_ASCII), Path.of("bound")))
        .isEqualTo(s);
  }

  @Test
  void aBoundOfNineteenDigitsThatCanBeSavedCanBeLoaded() throws Exception {
    FileBoundStore s = store(tmp);
    await(s.load());
    await(s.save(new StoredBound(Long.MAX_VALUE, Long.MAX_VALUE)));
    assertThat(await(s.load())).isEqualTo(new StoredBound(Long.MAX_VALUE, Long.MAX_VALUE));
  }

  // ---------------------------------------------------------------- fresh start

  @Test
  void newEmptyDirectoryLoadsAsNone() throws Exception {
    assertThat(await(store(tmp).load())).isSameAs(StoredBound.NONE);
  }

  @Test
  void missingDirectoryIsCreatedAndLoadsAsNone() throws Exception {
    Path dir = tmp.resolve("a").resolve("b");
    assertThat(await(store(dir).load())).isSameAs(StoredBound.NONE);
    assertThat(dir).isDirectory();
  }

  @Test
  void directoryWithOnlyAnOldLockFileLoadsAsNone() throws Exception {
    Files.createFile(tmp.resolve("LOCK"));
    assertThat(await(store(tmp).load())).isSameAs(StoredBound.NONE);
  }

  @Test
  void leftoverTempFileAloneIsIgnoredAndDeleted() throws Exception {
    Files.writeString(tmp.resolve("bound.tmp"), line(5, 9_000_000_000_000L));
    assertThat(await(store(tmp).load())).isSameAs(StoredBound.NONE);
    assertThat(tmp.resolve("bound.tmp")).doesNotExist();
  }

  @Test
  void leftoverTempFileNextToABoundIsIgnoredAndDeleted() throws Exception {
    Files.writeString(tmp.resolve("bound"), line(1, 1000));
    Files.writeString(tmp.resolve("bound.tmp"), line(9, 9_999_999));
    assertThat(await(store(tmp).load())).isEqualTo(new StoredBound(1, 1000));
    assertThat(tmp.resolve("bound.tmp")).doesNotExist();
  }

  @Test
  void directoryWithOtherFilesButNoBoundFails() throws Exception {
    Files.writeString(tmp.resolve("notes.txt"), "hello");
    Files.createDirectory(tmp.resolve("sub"));
    Throwable t = failure(store(tmp).load());
    assertThat(t).isInstanceOf(StoreException.class);
    assertThat(t.getMessage())
        .contains(tmp.toString())
        .contains("notes.txt")
        .contains("sub")
        .contains("refusing to start from zero")
        .doesNotContain("\n");
  }

  // ---------------------------------------------------------------- corruption

  @ParameterizedTest(name = "{0}")
  @MethodSource("garbage")
  void garbageContentFails(String name, byte[] content) throws Exception {
    Files.write(tmp.resolve("bound"), content);
    assertRefusesCorrupt(tmp);
  }

  static Stream<Arguments> garbage() {
    String valid = line(1, 1_700_000_000_000L);
    byte[] binary = new byte[64];
    for (int i = 0; i < binary.length; i++) {
      binary[i] = (byte) (i * 37 + 11);
    }
    return Stream.of(
        Arguments.of("text", "hello world\n".getBytes(StandardCharsets.US_ASCII)),
        Arguments.of("binary", binary),
        Arguments.of("only a number", "1700000000000\n".getBytes(StandardCharsets.US_ASCII)),
        Arguments.of("other version", valid.replace(" v1 ", " v2 ").getBytes(StandardCharsets.US_ASCII)),
        Arguments.of("two lines", (valid + valid).getBytes(StandardCharsets.US_ASCII)),
        Arguments.of("CRLF", valid.replace("\n", "\r\n").getBytes(StandardCharsets.US_ASCII)),
        Arguments.of("leading space", (" " + valid).getBytes(StandardCharsets.US_ASCII)),
        Arguments.of("upper-case crc", upperCrc(valid).getBytes(StandardCharsets.US_ASCII)),
        Arguments.of("negative bound", valid.replace("bound=", "bound=-").getBytes(StandardCharsets.US_ASCII)),
        Arguments.of("NUL bytes", new byte[32]));
  }

  private static String upperCrc(String line) {
    int i = line.indexOf("crc32=") + 6;
    String upper = line.substring(0, i) + line.substring(i).toUpperCase();
    // make sure the case change did change something, or the case proves nothing
    return upper.equals(line) ? line.substring(0, i) + "ABCDEF12\n" : upper;
  }

  @ParameterizedTest(name = "first {0} bytes")
  @MethodSource("truncations")
  void truncatedLineFails(int length) throws Exception {
    byte[] full = line(12, 1_700_000_000_000L).getBytes(StandardCharsets.US_ASCII);
    Files.write(tmp.resolve("bound"), Arrays.copyOf(full, length));
    assertRefusesCorrupt(tmp);
  }

  /** Every proper prefix that loses more than the final newline. */
  static IntStream truncations() {
    int len = line(12, 1_700_000_000_000L).length();
    return IntStream.range(1, len - 1);
  }

  @Test
  void aLineWithoutItsFinalNewlineIsStillComplete() throws Exception {
    String valid = line(12, 1_700_000_000_000L);
    Files.writeString(tmp.resolve("bound"), valid.substring(0, valid.length() - 1));
    assertThat(await(store(tmp).load())).isEqualTo(new StoredBound(12, 1_700_000_000_000L));
  }

  @Test
  void emptyBoundFileFails() throws Exception {
    Files.createFile(tmp.resolve("bound"));
    assertRefusesCorrupt(tmp);
  }

  @Test
  void checksumMismatchFails() throws Exception {
    String valid = line(3, 1_700_000_000_000L);
    // one digit of the bound changed, the old checksum kept
    String edited = valid.replace("bound=1700000000000", "bound=1700000000001");
    assertThat(edited).isNotEqualTo(valid);
    Files.writeString(tmp.resolve("bound"), edited);
    assertRefusesCorrupt(tmp);
  }

  @Test
  void checksumMismatchOnTheEpochFails() throws Exception {
    String edited = line(3, 1_700_000_000_000L).replace("epoch=3 ", "epoch=4 ");
    Files.writeString(tmp.resolve("bound"), edited);
    Throwable t = failure(store(tmp).load());
    assertThat(t).isInstanceOf(StoreException.class);
    assertThat(t.getMessage()).contains(tmp.resolve("bound").toString()).contains("checksum");
  }

  @Test
  void oversizedFileFails() throws Exception {
    // a valid line followed by a lot of padding: must be refused, not read as the line
    Files.writeString(tmp.resolve("bound"), line(1, 1000) + " ".repeat(1000));
    assertRefusesCorrupt(tmp);
  }

  @Test
  void largeFileFails() throws Exception {
    byte[] big = new byte[1 << 20];
    Arrays.fill(big, (byte) 'x');
    Files.write(tmp.resolve("bound"), big);
    assertRefusesCorrupt(tmp);
  }

  @Test
  void corruptFileIsLeftUntouched() throws Exception {
    byte[] garbage = "not a bound\n".getBytes(StandardCharsets.US_ASCII);
    Files.write(tmp.resolve("bound"), garbage);
    failure(store(tmp).load());
    assertThat(Files.readAllBytes(tmp.resolve("bound"))).isEqualTo(garbage);
  }

  // ---------------------------------------------------------------- the lock

  @Test
  void secondStoreCannotLoadWhileTheFirstHoldsTheLockAndCanAfterItCloses() throws Exception {
    FileBoundStore first = store(tmp);
    await(first.load());
    await(first.save(new StoredBound(1, 5000)));

    FileBoundStore second = store(tmp);
    failure(second.load());

    await(first.close());
    assertThat(await(second.load())).isEqualTo(new StoredBound(1, 5000));
  }

  @Test
  void secondStoreInTheSameJvmFailsWithAClearMessageAndLeavesTheLockHeld() throws Exception {
    await(store(tmp).load());
    for (int i = 0; i < 3; i++) {
      Throwable t = failure(store(tmp).load());
      assertThat(t).isInstanceOf(StoreException.class);
      assertThat(t.getMessage()).contains("in use by another tso process").contains(tmp.resolve("LOCK").toString());
    }
    System.gc();
    Thread.sleep(200);
    System.gc();
    // the first store still holds the directory against other processes
    startLockHolder(tmp, scratch.resolve("child.err"));
    assertThat(child.waitFor(60, SECONDS)).isTrue();
    assertThat(new String(child.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).startsWith("refused");
    assertThat(child.exitValue()).isEqualTo(3);
  }

  private void startLockHolder(Path dir, Path err) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
        LockHolder.class.getName(), dir.toString())
        .redirectError(err.toFile())
        .start();
  }

  @Test
  void storeInAnotherProcessKeepsThisOneOffTheDirectoryUntilItExits() throws Exception {
    Files.writeString(tmp.resolve("bound"), line(2, 7000));
    Path err = scratch.resolve("child.err");
    startLockHolder(tmp, err);
    BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.US_ASCII));
    String first = CompletableFuture.supplyAsync(() -> {
      try {
        return out.readLine();
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }).get(60, SECONDS);
    assertThat(first).as("child stderr: %s", Files.readString(err)).isEqualTo("locked 2 7000");

    FileBoundStore mine = store(tmp);
    Throwable t = failure(mine.load());
    assertThat(t).isInstanceOf(StoreException.class);
    assertThat(t.getMessage())
        .contains(tmp.toString())
        .contains("in use by another tso process")
        .contains(tmp.resolve("LOCK").toString());

    child.getOutputStream().close(); // the child closes its store and exits
    assertThat(child.waitFor(30, SECONDS)).isTrue();
    assertThat(child.exitValue()).as("child stderr: %s", Files.readString(err)).isZero();
    assertThat(await(mine.load())).isEqualTo(new StoredBound(2, 7000));
  }

  /**
   * Runs in a child JVM: loads a store on args[0], prints "locked epoch bound" and holds it until stdin
   * closes; prints "refused" and exits 3 when the directory is in use.
   */
  public static final class LockHolder {
    public static void main(String[] args) throws Exception {
      Vertx v = Vertx.vertx();
      FileBoundStore s = new FileBoundStore(v, Path.of(args[0]));
      StoredBound b;
      try {
        b = await(s.load());
      } catch (ExecutionException e) {
        System.out.println(e.getCause() instanceof StoreException ? "refused " + e.getCause().getMessage() : "error " + e.getCause());
        System.out.flush();
        System.exit(3);
        return;
      }
      System.out.println("locked " + b.epoch() + " " + b.boundMs());
      System.out.flush();
      while (System.in.read() >= 0) {
        // wait for the parent to close our stdin
      }
      await(s.close());
      await(v.close());
      System.exit(0);
    }
  }
}
