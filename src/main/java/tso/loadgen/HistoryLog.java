package tso.loadgen;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Every successful answer of a run, streamed to a file ({@code --history FILE}) for a checker that
 * looks at the answers of several generator processes together ({@link HistoryCheck}).
 *
 * <p>The file is the 8 bytes {@link #MAGIC}, then one fixed-size record per answer, little-endian:
 * <pre>
 *   int64  sent        System.nanoTime() when the request was written
 *   int64  received    System.nanoTime() when the answer was read
 *   uint64 timestamp   the first timestamp of the range
 *   uint64 epoch       the answer's epoch (0 if it had none)
 *   uint32 count       timestamps in the range
 *   uint32 connection  the connection's index in this run (0 .. connections-1; connection c drives
 *                      target c mod the number of targets)
 * </pre>
 * Records are in no particular order (each event loop appends its own). System.nanoTime is
 * CLOCK_MONOTONIC on Linux, one clock for every process of the machine, so the histories of
 * several processes can be checked together for real-time order.
 *
 * <p>Memory stays bounded however long the run: each event loop fills a {@link Sink} of
 * {@link #SINK_RECORDS} records outside the Java heap and appends it whole to the file when full
 * (a few tens of microseconds of page-cache write every few thousand answers); the file is
 * written only in whole records, so a file cut short by a killed process still reads
 * ({@link #read}).
 */
public final class HistoryLog implements AutoCloseable {

  static final byte[] MAGIC = "tsohist1".getBytes(StandardCharsets.US_ASCII);
  static final int RECORD = 40;
  /** Records a sink holds before it writes them out: 160 KiB. */
  static final int SINK_RECORDS = 4096;

  private final Path path;
  private final FileChannel channel;
  private volatile IOException failure;

  /** Creates (or truncates) the file and writes its header. */
  public HistoryLog(Path path) throws IOException {
    this.path = path;
    this.channel = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
        StandardOpenOption.WRITE);
    write(ByteBuffer.wrap(MAGIC));
  }

  public Path path() {
    return path;
  }

  /** A buffer for one thread. */
  public Sink sink() {
    return new Sink();
  }

  private void write(ByteBuffer b) throws IOException {
    // FileChannel writes are serialised among themselves: whole buffers never interleave.
    synchronized (channel) {
      while (b.hasRemaining()) {
        channel.write(b);
      }
    }
  }

  /** The first write error, if any; a sink that failed drops what it holds. */
  public IOException failure() {
    return failure;
  }

  @Override
  public void close() throws IOException {
    channel.close();
  }

  /** One thread's records, written out when full and by {@link #flush()}. */
  public final class Sink {
    private final ByteBuffer buf = ByteBuffer.allocateDirect(RECORD * SINK_RECORDS).order(ByteOrder.LITTLE_ENDIAN);

    public void add(long sentNanos, long receivedNanos, long timestamp, long epoch, int count, int connection) {
      if (buf.remaining() < RECORD) {
        flush();
      }
      buf.putLong(sentNanos).putLong(receivedNanos).putLong(timestamp).putLong(epoch).putInt(count).putInt(connection);
    }

    public void flush() {
      buf.flip();
      try {
        if (failure == null) {
          write(buf);
        }
      } catch (IOException e) {
        failure = e;
      } finally {
        buf.clear();
      }
    }
  }

  /**
   * Every record of some history files, column by column, in the order of the files and of
   * their records; connections are numbered densely across the files, and named
   * {@code file:connection} (the file's index in the list).
   */
  static final class Records {
    final List<Path> files;
    final long[] fileRecords;
    /** Bytes at the end of each file that make no whole record (a writer killed mid-write). */
    final long[] fileTruncatedBytes;
    final int size;
    final long[] sent;
    final long[] received;
    final long[] timestamp;
    final long[] epoch;
    final int[] count;
    final int[] connection;
    final List<String> connectionNames = new ArrayList<>();

    private Records(List<Path> files, int size) {
      this.files = files;
      this.size = size;
      fileRecords = new long[files.size()];
      fileTruncatedBytes = new long[files.size()];
      sent = new long[size];
      received = new long[size];
      timestamp = new long[size];
      epoch = new long[size];
      count = new int[size];
      connection = new int[size];
    }
  }

  /** Reads every file; a record cut short at the end of one (a killed writer) is left out. */
  static Records read(List<Path> files) throws IOException {
    long total = 0;
    for (Path f : files) {
      total += Math.max(0, (Files.size(f) - MAGIC.length) / RECORD);
    }
    if (total > Integer.MAX_VALUE - 8) {
      throw new IOException("too many records: " + total);
    }
    Records r = new Records(List.copyOf(files), (int) total);
    Map<Long, Integer> dense = new HashMap<>();
    ByteBuffer buf = ByteBuffer.allocateDirect(RECORD * 32_768).order(ByteOrder.LITTLE_ENDIAN);
    int n = 0;
    for (int f = 0; f < files.size(); f++) {
      try (FileChannel ch = FileChannel.open(files.get(f))) {
        ByteBuffer magic = ByteBuffer.allocate(MAGIC.length);
        while (magic.hasRemaining() && ch.read(magic) >= 0) {
          // until the header is read, or the file ends
        }
        if (!Arrays.equals(magic.array(), MAGIC)) {
          throw new IOException(files.get(f) + ": not a history file (no '"
              + new String(MAGIC, StandardCharsets.US_ASCII) + "' header)");
        }
        long left = (ch.size() - MAGIC.length) / RECORD;
        r.fileRecords[f] = left;
        r.fileTruncatedBytes[f] = (ch.size() - MAGIC.length) % RECORD;
        buf.clear();
        while (left > 0 && ch.read(buf) >= 0) {
          buf.flip();
          while (buf.remaining() >= RECORD && left > 0) {
            r.sent[n] = buf.getLong();
            r.received[n] = buf.getLong();
            r.timestamp[n] = buf.getLong();
            r.epoch[n] = buf.getLong();
            r.count[n] = Math.max(1, buf.getInt());
            int c = buf.getInt();
            long key = ((long) f << 32) | (c & 0xffffffffL);
            Integer d = dense.get(key);
            if (d == null) {
              d = r.connectionNames.size();
              dense.put(key, d);
              r.connectionNames.add(f + ":" + Integer.toUnsignedString(c));
            }
            r.connection[n++] = d;
            left--;
          }
          buf.compact();
        }
      }
    }
    if (n != r.size) {
      throw new IOException("read " + n + " records, expected " + r.size + " (a file changed while read?)");
    }
    return r;
  }
}
