package tso.support;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Just enough RESP2 (and the RESP3 reply types, should a test send {@code HELLO 3}) to drive a
 * real Redis from tests without a client library: synchronous, one reply per call, no pooling.
 *
 * <p>{@link #call} opens a connection per command, so it keeps working across kills and
 * restarts. {@link Connection} keeps one open, for tests that need a link to stay up (or be cut).
 * Replies are parsed only once complete, so a read that times out loses nothing: the reply can be
 * read later from the same connection.
 */
public final class Resp {

  private Resp() {
  }

  /** A reply as Redis sent it. */
  public sealed interface Reply permits Simple, Err, Int, Bulk, Array, Nil {
    /** Text for a simple string, bulk string (UTF-8), error or integer; null for nil. */
    String text();

    default boolean isError() {
      return this instanceof Err;
    }

    default boolean isNil() {
      return this instanceof Nil;
    }
  }

  /** {@code +OK}; also RESP3 doubles, booleans and big numbers, as their text. */
  public record Simple(String text) implements Reply {
  }

  /** {@code -ERR ...}: the whole line, e.g. {@code WRONGTYPE Operation against a key ...}. */
  public record Err(String text) implements Reply {
  }

  public record Int(long value) implements Reply {
    @Override
    public String text() {
      return Long.toString(value);
    }
  }

  public record Bulk(byte[] bytes) implements Reply {
    @Override
    public String text() {
      return new String(bytes, StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
      return "Bulk[" + text() + "]";
    }
  }

  /** Also RESP3 maps (flattened key, value, ...), sets and pushes. */
  public record Array(List<Reply> items) implements Reply {
    @Override
    public String text() {
      List<String> texts = new ArrayList<>();
      for (Reply r : items) {
        texts.add(r.text());
      }
      return texts.toString();
    }
  }

  /** A nil bulk string or array ({@code $-1}, {@code *-1}, RESP3 {@code _}). */
  public record Nil() implements Reply {
    @Override
    public String text() {
      return null;
    }
  }

  /** An error reply, thrown by the convenience methods that return text. */
  public static final class RedisError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public RedisError(String message) {
      super(message);
    }
  }

  /** Sends one command on a new connection to 127.0.0.1:port and returns the reply. */
  public static Reply call(int port, Duration timeout, String... args) {
    return call(port, timeout, bytes(args));
  }

  /** As {@link #call(int, Duration, String...)}, with binary arguments. */
  public static Reply call(int port, Duration timeout, byte[]... args) {
    try (Connection c = Connection.open(port, timeout)) {
      return c.call(timeout, args);
    }
  }

  /** A reply as text: errors are thrown, nil is null, arrays are rendered as a list. */
  public static String text(Reply reply) {
    if (reply instanceof Err e) {
      throw new RedisError(e.text());
    }
    return reply.text();
  }

  public static byte[][] bytes(String... args) {
    byte[][] out = new byte[args.length][];
    for (int i = 0; i < args.length; i++) {
      out[i] = args[i].getBytes(StandardCharsets.UTF_8);
    }
    return out;
  }

  /** The encoding of a command, as a client sends it. */
  public static byte[] encode(byte[]... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    writeAscii(out, "*" + args.length + "\r\n");
    for (byte[] a : args) {
      writeAscii(out, "$" + a.length + "\r\n");
      out.write(a, 0, a.length);
      writeAscii(out, "\r\n");
    }
    return out.toByteArray();
  }

  private static void writeAscii(ByteArrayOutputStream out, String s) {
    byte[] b = s.getBytes(StandardCharsets.US_ASCII);
    out.write(b, 0, b.length);
  }

  /** One open connection. Not thread-safe. I/O failures are thrown as {@link UncheckedIOException}. */
  public static final class Connection implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private byte[] buf = new byte[8192];
    private int start;
    private int end;

    private Connection(Socket socket) throws IOException {
      this.socket = socket;
      this.in = socket.getInputStream();
      this.out = socket.getOutputStream();
    }

    /** Connects to 127.0.0.1:port within the timeout. */
    public static Connection open(int port, Duration connectTimeout) {
      Socket s = new Socket();
      try {
        s.setTcpNoDelay(true);
        s.connect(new InetSocketAddress("127.0.0.1", port), (int) Math.max(1, connectTimeout.toMillis()));
        return new Connection(s);
      } catch (IOException e) {
        closeQuietly(s);
        throw new UncheckedIOException("connect to 127.0.0.1:" + port + ": " + e.getMessage(), e);
      }
    }

    public Socket socket() {
      return socket;
    }

    public Reply call(Duration timeout, String... args) {
      return call(timeout, bytes(args));
    }

    public Reply call(Duration timeout, byte[]... args) {
      send(args);
      return read(timeout);
    }

    /** Sends a command without waiting for the reply (pipelining, or replies read later). */
    public void send(String... args) {
      send(bytes(args));
    }

    public void send(byte[]... args) {
      sendRaw(encode(args));
    }

    /** Sends bytes as they are: inline commands, or garbage. */
    public void sendRaw(byte[] raw) {
      try {
        out.write(raw);
        out.flush();
      } catch (IOException e) {
        throw new UncheckedIOException("send: " + e.getMessage(), e);
      }
    }

    /**
     * Reads the next reply, waiting at most the timeout for it to be complete. A timeout is
     * thrown as {@link UncheckedIOException} caused by {@link SocketTimeoutException}; the bytes
     * that had arrived are kept for the next read. End of stream is thrown likewise, caused by
     * {@link java.io.EOFException}.
     */
    public Reply read(Duration timeout) {
      long deadline = System.nanoTime() + timeout.toNanos();
      while (true) {
        Parsed p = parse(buf, start, end);
        if (p != null) {
          start = p.next;
          if (start == end) {
            start = 0;
            end = 0;
          }
          return p.reply;
        }
        long leftMs = (deadline - System.nanoTime()) / 1_000_000;
        if (leftMs <= 0) {
          throw new UncheckedIOException("no complete reply within " + timeout.toMillis() + " ms",
              new SocketTimeoutException("reply timeout"));
        }
        fill((int) leftMs);
      }
    }

    private void fill(int timeoutMs) {
      if (start > 0 && end == buf.length) {
        System.arraycopy(buf, start, buf, 0, end - start);
        end -= start;
        start = 0;
      }
      if (end == buf.length) {
        buf = Arrays.copyOf(buf, buf.length * 2);
      }
      try {
        socket.setSoTimeout(timeoutMs);
        int n = in.read(buf, end, buf.length - end);
        if (n < 0) {
          throw new UncheckedIOException("connection closed by peer", new java.io.EOFException("end of stream"));
        }
        end += n;
      } catch (SocketTimeoutException e) {
        throw new UncheckedIOException("no complete reply within the timeout", e);
      } catch (IOException e) {
        throw new UncheckedIOException("read: " + e.getMessage(), e);
      }
    }

    @Override
    public void close() {
      closeQuietly(socket);
    }
  }

  private record Parsed(Reply reply, int next) {
  }

  /** Parses one reply from buf[from, to), or returns null if it is not complete yet. */
  static Parsed parse(byte[] buf, int from, int to) {
    int eol = lineEnd(buf, from + 1, to);
    if (from >= to || eol < 0) {
      return null;
    }
    char type = (char) buf[from];
    String line = new String(buf, from + 1, eol - from - 1, StandardCharsets.UTF_8);
    int next = eol + 2;
    switch (type) {
      case '+', ',', '(', '#':
        return new Parsed(new Simple(line), next);
      case '-':
        return new Parsed(new Err(line), next);
      case ':':
        return new Parsed(new Int(Long.parseLong(line)), next);
      case '_':
        return new Parsed(new Nil(), next);
      case '$', '=', '!': {
        int len = Integer.parseInt(line);
        if (len < 0) {
          return new Parsed(new Nil(), next);
        }
        if (to - next < len + 2) {
          return null;
        }
        byte[] b = Arrays.copyOfRange(buf, next, next + len);
        Reply r = type == '!' ? new Err(new String(b, StandardCharsets.UTF_8)) : new Bulk(b);
        return new Parsed(r, next + len + 2);
      }
      case '*', '%', '~', '>': {
        int n = Integer.parseInt(line);
        if (n < 0) {
          return new Parsed(new Nil(), next);
        }
        if (type == '%') {
          n *= 2;
        }
        List<Reply> items = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
          Parsed p = parse(buf, next, to);
          if (p == null) {
            return null;
          }
          items.add(p.reply);
          next = p.next;
        }
        return new Parsed(new Array(items), next);
      }
      default:
        throw new IllegalStateException("not RESP: " + new String(buf, from, to - from, StandardCharsets.UTF_8));
    }
  }

  private static int lineEnd(byte[] buf, int from, int to) {
    for (int i = from; i + 1 < to; i++) {
      if (buf[i] == '\r' && buf[i + 1] == '\n') {
        return i;
      }
    }
    return -1;
  }

  static void closeQuietly(AutoCloseable c) {
    try {
      if (c != null) {
        c.close();
      }
    } catch (Exception ignored) {
      // best effort
    }
  }
}
