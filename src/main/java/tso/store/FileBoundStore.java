package tso.store;

import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32;

/**
 * The standalone store: the bound lives in {@code <dataDir>/bound}, one line of text
 * {@code tso-bound v1 epoch=<e> bound=<ms> crc32=<hex>}, written atomically (temp file, fsync,
 * rename, fsync of the directory) on a worker thread, never on an event loop.
 *
 * <p>An exclusive lock on {@code <dataDir>/LOCK} keeps a second process off the same directory. A
 * file that exists but does not parse, or whose checksum does not match, stops start-up: a silent
 * reset to zero could hand out timestamps twice. Only a directory without a bound file and
 * without foreign files starts fresh.
 */
public final class FileBoundStore implements BoundStore {

  static final String FILE = "bound";
  static final String TEMP = "bound.tmp";
  static final String LOCK = "LOCK";
  private static final Pattern LINE =
      Pattern.compile("tso-bound v1 epoch=(\\d{1,19}) bound=(\\d{1,19}) crc32=([0-9a-f]{8})\n?");
  /** Larger than any valid line; a bigger file is corrupt without reading it whole. */
  private static final int MAX_FILE_BYTES = 256;

  private final Vertx vertx;
  private final Path dir;
  /** Directories locked by a store of this process (see {@link #acquireLock}). */
  private static final java.util.Set<Path> LOCKED_IN_THIS_JVM = java.util.concurrent.ConcurrentHashMap.newKeySet();

  private FileChannel lockChannel;
  /** The last state written or read: a save never goes below it. */
  private volatile StoredBound written = StoredBound.NONE;
  private Path lockedDir;
  private FileLock lock;

  public FileBoundStore(Vertx vertx, Path dir) {
    this.vertx = vertx;
    this.dir = dir;
  }

  @Override
  public Future<StoredBound> load() {
    return vertx.executeBlocking(this::loadBlocking, false);
  }

  @Override
  public Future<Void> save(StoredBound state) {
    return vertx.executeBlocking(() -> {
      saveBlocking(state);
      return null;
    }, false);
  }

  @Override
  public Future<Void> close() {
    return vertx.executeBlocking(() -> {
      releaseLock();
      return null;
    }, false);
  }

  /**
   * The last state written or loaded (what the file holds once pending saves are done); never
   * waits for a save in progress, so it is safe on an event loop.
   */
  public StoredBound current() {
    return written;
  }

  /** Encodes one record, checksum included. */
  static String encode(StoredBound s) {
    String body = "tso-bound v1 epoch=" + s.epoch() + " bound=" + s.boundMs();
    return body + " crc32=" + String.format("%08x", crc(body)) + "\n";
  }

  /** Decodes one record; any deviation is corruption. */
  static StoredBound decode(byte[] bytes, Path where) {
    String text = new String(bytes, StandardCharsets.US_ASCII);
    Matcher m = LINE.matcher(text);
    if (!m.matches()) {
      throw new StoreException(where + " is corrupt (unrecognised content, " + bytes.length
          + " bytes); refusing to start from zero. Restore it from a backup, or remove the data directory only if this node's timestamps are no longer in use");
    }
    String body = "tso-bound v1 epoch=" + m.group(1) + " bound=" + m.group(2);
    if (!String.format("%08x", crc(body)).equals(m.group(3))) {
      throw new StoreException(where + " is corrupt (checksum mismatch); refusing to start from zero");
    }
    try {
      return new StoredBound(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)));
    } catch (NumberFormatException e) {
      throw new StoreException(where + " is corrupt (a number out of range); refusing to start from zero");
    }
  }

  private static long crc(String body) {
    CRC32 crc = new CRC32();
    crc.update(body.getBytes(StandardCharsets.US_ASCII));
    return crc.getValue();
  }

  private StoredBound loadBlocking() throws IOException {
    Files.createDirectories(dir);
    acquireLock();
    try {
      return readBlocking();
    } catch (IOException | RuntimeException e) {
      releaseLock(); // a store that cannot load holds nothing
      throw e;
    }
  }

  private StoredBound readBlocking() throws IOException {
    Path file = dir.resolve(FILE);
    Files.deleteIfExists(dir.resolve(TEMP)); // a write that crashed before its rename never counted
    byte[] bytes;
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      if (ch.size() > MAX_FILE_BYTES) {
        throw new StoreException(file + " is corrupt (" + ch.size() + " bytes); refusing to start from zero");
      }
      ByteBuffer buf = ByteBuffer.allocate((int) ch.size());
      while (buf.hasRemaining() && ch.read(buf) >= 0) {
        // read it all
      }
      bytes = buf.array();
    } catch (NoSuchFileException e) {
      List<String> foreign;
      try (Stream<Path> files = Files.list(dir)) {
        foreign = files.map(p -> p.getFileName().toString()).filter(n -> !n.equals(LOCK)).sorted().toList();
      }
      if (!foreign.isEmpty()) {
        throw new StoreException(dir + " has no bound file but is not empty (" + String.join(", ", foreign)
            + "); refusing to start from zero: point TSO_DATA_DIR at this node's data or an empty directory");
      }
      return StoredBound.NONE;
    }
    StoredBound stored = decode(bytes, file);
    synchronized (this) {
      written = stored;
    }
    return stored;
  }

  /**
   * Writes the larger of {@code state} and what was written before, field by field: the stored
   * epoch and bound only grow, whoever calls and in whatever order the workers run.
   */
  private synchronized void saveBlocking(StoredBound requested) throws IOException {
    StoredBound state = new StoredBound(Math.max(requested.epoch(), written.epoch()),
        Math.max(requested.boundMs(), written.boundMs()));
    if (state.equals(written)) {
      return;
    }
    Path temp = dir.resolve(TEMP);
    byte[] bytes = encode(state).getBytes(StandardCharsets.US_ASCII);
    try (FileChannel ch = FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      ByteBuffer buf = ByteBuffer.wrap(bytes);
      while (buf.hasRemaining()) {
        ch.write(buf);
      }
      ch.force(true);
    }
    try {
      Files.move(temp, dir.resolve(FILE), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("the file system of " + dir + " cannot rename atomically", e);
    }
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true); // makes the rename itself durable
    }
    written = state;
  }

  private void acquireLock() throws IOException {
    if (lock != null) {
      return;
    }
    // File locks belong to the process, and closing any channel on the file drops them: a second
    // store in this JVM must be refused before it opens a channel of its own.
    lockedDir = dir.toRealPath();
    if (!LOCKED_IN_THIS_JVM.add(lockedDir)) {
      lockedDir = null;
      throw new StoreException(dir + " is in use by another tso process (" + dir.resolve(LOCK) + " is held by this process)");
    }
    try {
      lockChannel = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      lock = lockChannel.tryLock();
    } catch (IOException | RuntimeException e) {
      releaseLock();
      throw e;
    }
    if (lock == null) {
      releaseLock();
      throw new StoreException(dir + " is in use by another tso process (" + dir.resolve(LOCK) + " is locked)");
    }
  }

  private void releaseLock() throws IOException {
    try {
      if (lock != null) {
        lock.release();
      }
      if (lockChannel != null) {
        lockChannel.close();
      }
    } finally {
      lock = null;
      lockChannel = null;
      if (lockedDir != null) {
        LOCKED_IN_THIS_JVM.remove(lockedDir);
        lockedDir = null;
      }
    }
  }
}
