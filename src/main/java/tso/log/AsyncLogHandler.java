package tso.log;

import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.ConsoleHandler;
import java.util.logging.ErrorManager;
import java.util.logging.Formatter;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * A {@link Handler} that a caller on an event loop can log through without ever waiting: the
 * record goes into a bounded queue and one daemon thread formats and writes it. The JDK's
 * {@link ConsoleHandler} formats and writes to stderr on the caller's thread, under a lock, so a
 * stalled stderr (a full pipe, a slow terminal, a paused log shipper) stalls every event loop that
 * logs.
 *
 * <p>Invariants:
 * <ol>
 *   <li>{@link #publish} never blocks and never formats: it checks the level and offers the record
 *       to the queue, whose lock is only ever held to add or take records, never across I/O; a
 *       full queue drops the record and counts it.</li>
 *   <li>Drops are never silent: the next batch the writer writes after them ends with one WARNING
 *       record "N log records dropped", through the same formatter (within {@code
 *       IDLE_POLL_MILLIS} if nothing else is logged).</li>
 *   <li>Records accepted by the queue are written in the order they were accepted, by one thread.</li>
 *   <li>{@link #flush} and {@link #close} wait for what was accepted before the call to be written,
 *       while the writer makes progress, but give up after {@link #DRAIN_STALL_NANOS} without any
 *       or {@link #DRAIN_MAX_NANOS} in all: the last lines before exit appear even on a loaded
 *       machine, and a stuck stderr cannot hang the exit. Call them only from threads that may
 *       block (shutdown), never from an event loop.</li>
 * </ol>
 *
 * <p>The formatter is the handler's own {@link #getFormatter() formatter}, applied on the writer
 * thread: another format (JSON, say) is another {@link Formatter} given to the constructor or to
 * {@link #setFormatter}. Two consequences of formatting later, on another thread: a record's
 * parameters should be immutable values (strings, numbers), as they are at every call site today;
 * and a record's source class and method, which the JDK infers lazily from the current stack,
 * cannot be inferred on the writer thread, so formats name the logger instead (ours does).
 */
public final class AsyncLogHandler extends Handler {

  /**
   * Records the queue holds before it drops: a burst of several thousand lines (one per request in
   * a flood) waits while stderr catches up, in a few MB of heap at most.
   */
  public static final int DEFAULT_CAPACITY = 8_192;

  /**
   * How long {@link #flush()} and {@link #close()} wait for a writer that writes nothing: it is
   * stuck (stderr blocked), and waiting longer would only delay the exit.
   */
  public static final long DRAIN_STALL_NANOS = TimeUnit.SECONDS.toNanos(2);

  /**
   * The longest {@link #flush()} or {@link #close()} waits for a writer that is slow but moving (a
   * full queue formatted on an overloaded machine): well inside the 30 s a supervisor such as
   * Kubernetes grants between SIGTERM and SIGKILL, with room left for the node's own stop.
   */
  public static final long DRAIN_MAX_NANOS = TimeUnit.SECONDS.toNanos(10);

  /** How long {@link #close()} waits for the writer, once drained, to notice it should stop. */
  private static final long STOP_WAIT_MILLIS = 100;

  /**
   * How long the idle writer sleeps before it looks at the drop counter again: a drop counted just
   * after the writer emptied the queue is reported within this time even if nothing else is logged.
   */
  private static final long IDLE_POLL_MILLIS = 100;

  private static final String DROPS_LOGGER = AsyncLogHandler.class.getName();

  private final BlockingQueue<LogRecord> queue;
  private final int capacity;
  private final Writer out;
  private final Thread writer;
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicLong dropped = new AtomicLong();
  /** Records written and flushed to the stream; only the writer thread advances it. */
  private volatile long written;
  /**
   * Records the writer has taken up, written or not yet: its sign of life while it works through a
   * large batch, which {@link #flush()} tells from a stuck stream. Only the writer advances it.
   */
  private volatile long handled;
  /** Drops the writer has reported in a notice; only the writer thread advances it. */
  private volatile long reported;
  private volatile boolean closed;
  /** The writer signals here after each batch so that {@link #flush()} can wait without spinning. */
  private final Object progress = new Object();

  /**
   * A handler that writes to {@code stream} (not closed by {@link #close()}: it is usually stderr)
   * through {@code formatter}, holding at most {@code capacity} records. Starts its writer thread.
   */
  public AsyncLogHandler(OutputStream stream, Formatter formatter, int capacity) {
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be at least 1: " + capacity);
    }
    this.capacity = capacity;
    this.queue = new ArrayBlockingQueue<>(capacity);
    this.out = new OutputStreamWriter(stream, StandardCharsets.UTF_8);
    setFormatter(formatter);
    this.writer = new Thread(this::writeLoop, "tso-log-writer");
    writer.setDaemon(true);
    writer.start();
  }

  /**
   * Replaces the root logger's handlers (the JDK's console handler) with one of these on stderr,
   * in the {@link SimpleFormatter} format the process has configured, and returns it. A shutdown
   * hook closes it, which drains it, so the lines logged just before {@code System.exit} (or after
   * SIGTERM) appear. The JDK's own hook ({@link LogManager#reset()}) closes it too; closing twice is
   * harmless, and our hook does not depend on that undocumented behaviour.
   */
  public static AsyncLogHandler installOnRoot() {
    return installOnRoot(new SimpleFormatter());
  }

  /** As {@link #installOnRoot()}, with another format. */
  public static AsyncLogHandler installOnRoot(Formatter formatter) {
    Logger root = LogManager.getLogManager().getLogger("");
    AsyncLogHandler handler = new AsyncLogHandler(System.err, formatter, DEFAULT_CAPACITY);
    // Keep the threshold the replaced console handler had (INFO unless configured otherwise), so
    // that lowering a logger's level for one package does not suddenly print everything.
    Level level = Level.ALL;
    for (Handler h : root.getHandlers()) {
      if (h instanceof ConsoleHandler) {
        level = h.getLevel();
      }
      root.removeHandler(h);
      h.close();
    }
    handler.setLevel(level);
    root.addHandler(handler);
    Runtime.getRuntime().addShutdownHook(new Thread(handler::close, "tso-log-drain"));
    return handler;
  }

  @Override
  public void publish(LogRecord record) {
    if (closed || record == null || !isLoggable(record)) {
      return;
    }
    if (queue.offer(record)) {
      accepted.incrementAndGet();
    } else {
      dropped.incrementAndGet();
    }
  }

  /**
   * Waits until every record accepted so far is written and every drop so far is reported, within
   * the bounds of {@link #DRAIN_STALL_NANOS} and {@link #DRAIN_MAX_NANOS}.
   */
  @Override
  public void flush() {
    awaitWritten();
  }

  /**
   * Stops accepting records, drains the queue as {@link #flush()} does and stops the writer. The
   * stream stays open. Safe to call more than once and from several threads.
   */
  @Override
  public void close() {
    closed = true;
    awaitWritten();
    writer.interrupt();
    try {
      writer.join(STOP_WAIT_MILLIS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Records dropped because the queue was full, since this handler started. */
  public long droppedTotal() {
    return dropped.get();
  }

  private void awaitWritten() {
    if (Thread.currentThread() == writer) {
      return; // a formatter that logs; waiting here would wait for itself
    }
    long target = accepted.get();
    long drops = dropped.get();
    long start = System.nanoTime();
    long giveUp = start + DRAIN_MAX_NANOS;
    long stallDeadline = start + DRAIN_STALL_NANOS;
    synchronized (progress) {
      long seen = handled;
      while ((written < target || reported < drops) && writer.isAlive()) {
        long now = System.nanoTime();
        if (handled != seen) {
          seen = handled;
          stallDeadline = now + DRAIN_STALL_NANOS;
        }
        long left = Math.min(stallDeadline, giveUp) - now;
        if (left <= 0) {
          return;
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(progress, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  private void writeLoop() {
    List<LogRecord> batch = new ArrayList<>();
    while (true) {
      // Read the drop count before taking the batch: every record that was queued when one of
      // these drops happened is in this batch or an earlier one, so the notice never comes before
      // the lines that preceded the loss.
      long lost = dropped.get() - reported;
      batch.clear();
      try {
        LogRecord first = queue.poll(IDLE_POLL_MILLIS, TimeUnit.MILLISECONDS);
        if (first != null) {
          batch.add(first);
          queue.drainTo(batch, capacity);
        }
      } catch (InterruptedException e) {
        // close(): whatever it waited for is written; write what is left without waiting more.
        queue.drainTo(batch);
        write(batch, dropped.get() - reported);
        return;
      }
      write(batch, lost);
    }
  }

  private void write(List<LogRecord> batch, long lost) {
    if (!batch.isEmpty() || lost > 0) {
      for (LogRecord r : batch) {
        append(r);
      }
      if (lost > 0) {
        LogRecord notice = new LogRecord(Level.WARNING, lost + " log records dropped (the log queue was full)");
        notice.setLoggerName(DROPS_LOGGER);
        notice.setSourceClassName(null); // nothing to infer: see the class comment
        append(notice);
      }
      try {
        out.flush();
      } catch (IOException | RuntimeException e) {
        reportError("cannot write the log", e, ErrorManager.FLUSH_FAILURE);
      }
      synchronized (progress) {
        written += batch.size();
        reported += lost;
        progress.notifyAll();
      }
    }
  }

  private void append(LogRecord r) {
    handled++;
    String line;
    try {
      line = getFormatter().format(r);
    } catch (RuntimeException e) {
      reportError("cannot format a log record", e, ErrorManager.FORMAT_FAILURE);
      return;
    }
    try {
      out.write(line);
    } catch (IOException | RuntimeException e) {
      reportError("cannot write the log", e, ErrorManager.WRITE_FAILURE);
    }
  }
}
