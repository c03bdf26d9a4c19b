package tso.loadgen;

import io.vertx.core.buffer.Buffer;

/**
 * HTTP/1.1 answers parsed out of the bytes of one connection, in place: the status line, a
 * {@code content-length} header and that many bytes of body, from which the {@code "timestamp"}
 * field is read. Anything else the generator does not expect from the server (no length, chunked
 * encoding, a status line that is not HTTP/1.x, a head past 64 KiB) is {@link #MALFORMED}.
 */
final class Answers {

  static final int INCOMPLETE = -1;
  static final int MALFORMED = -2;
  private static final int MAX_HEAD = 64 * 1024;
  private static final byte[] TIMESTAMP = "\"timestamp\":".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] EPOCH = "\"epoch\":".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] CONTENT_LENGTH = "content-length:".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final byte[] TRANSFER_ENCODING = "transfer-encoding:".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private byte[] buf = new byte[4096];
  private int start;
  private int end;
  /** Where the search for the end of the head resumes (bytes before it were searched already). */
  private int scanned;

  /** The timestamp in the body of the answer {@link #next()} returned last, if it had one. */
  long timestamp;
  boolean hasTimestamp;
  /** The epoch in the body of that answer; 0 when it had none. */
  long epoch;
  /** What {@link #readNumber} read last, and where its digits ended. */
  private long number;
  private int numberEnd;

  void append(Buffer data) {
    int n = data.length();
    if (end + n > buf.length) {
      System.arraycopy(buf, start, buf, 0, end - start);
      end -= start;
      scanned -= start;
      start = 0;
      if (end + n > buf.length) {
        buf = java.util.Arrays.copyOf(buf, Math.max(buf.length * 2, end + n));
      }
    }
    data.getBytes(0, n, buf, end);
    end += n;
  }

  void reset() {
    start = end = scanned = 0;
  }

  /** The status of the next whole answer, {@link #INCOMPLETE} or {@link #MALFORMED}. */
  int next() {
    int headEnd = -1;
    for (int i = Math.max(start, scanned); i + 3 < end; i++) {
      if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n') {
        headEnd = i;
        break;
      }
    }
    if (headEnd < 0) {
      scanned = Math.max(start, end - 3);
      return end - start > MAX_HEAD ? MALFORMED : INCOMPLETE;
    }
    // "HTTP/1.1 200 OK"
    if (headEnd - start < 12 || buf[start] != 'H' || buf[start + 1] != 'T' || buf[start + 2] != 'T'
        || buf[start + 3] != 'P' || buf[start + 4] != '/' || buf[start + 8] != ' ') {
      return MALFORMED;
    }
    int status = 0;
    for (int i = start + 9; i < start + 12; i++) {
      int d = buf[i] - '0';
      if (d < 0 || d > 9) {
        return MALFORMED;
      }
      status = status * 10 + d;
    }
    long length = -1;
    int line = lineEnd(start, headEnd) + 2;
    while (line < headEnd) {
      int eol = lineEnd(line, headEnd);
      if (startsWithIgnoreCase(line, eol, TRANSFER_ENCODING)) {
        return MALFORMED;
      }
      if (startsWithIgnoreCase(line, eol, CONTENT_LENGTH)) {
        length = 0;
        for (int i = line + CONTENT_LENGTH.length; i < eol; i++) {
          byte b = buf[i];
          if (b >= '0' && b <= '9') {
            length = length * 10 + (b - '0');
            if (length > Integer.MAX_VALUE) {
              return MALFORMED;
            }
          } else if (b != ' ' && b != '\t') {
            return MALFORMED;
          }
        }
      }
      line = eol + 2;
    }
    if (length < 0) {
      return MALFORMED;
    }
    int body = headEnd + 4;
    if (end - body < length) {
      return INCOMPLETE;
    }
    hasTimestamp = readNumber(body, body + (int) length, TIMESTAMP);
    timestamp = hasTimestamp ? number : 0;
    // The server writes the epoch after the timestamp; look there first.
    epoch = hasTimestamp && (readNumber(numberEnd, body + (int) length, EPOCH)
        || readNumber(body, body + (int) length, EPOCH)) ? number : 0;
    start = body + (int) length;
    if (start == end) {
      start = end = 0;
    }
    scanned = start;
    return status;
  }

  private int lineEnd(int from, int limit) {
    for (int i = from; i < limit; i++) {
      if (buf[i] == '\r' && buf[i + 1] == '\n') {
        return i;
      }
    }
    return limit;
  }

  private boolean startsWithIgnoreCase(int from, int to, byte[] prefix) {
    if (to - from < prefix.length) {
      return false;
    }
    for (int i = 0; i < prefix.length; i++) {
      int b = buf[from + i];
      if (b >= 'A' && b <= 'Z') {
        b += 'a' - 'A';
      }
      if (b != prefix[i]) {
        return false;
      }
    }
    return true;
  }

  /** Reads the unsigned decimal after {@code key} (e.g. {@code "timestamp":}; quoted or not) into {@link #number}. */
  private boolean readNumber(int from, int to, byte[] key) {
    outer:
    for (int i = from; i + key.length < to; i++) {
      for (int k = 0; k < key.length; k++) {
        if (buf[i + k] != key[k]) {
          continue outer;
        }
      }
      int j = i + key.length;
      if (j < to && buf[j] == '"') {
        j++;
      }
      long v = 0;
      int digits = 0;
      while (j < to && buf[j] >= '0' && buf[j] <= '9' && digits < 20) {
        v = v * 10 + (buf[j] - '0'); // unsigned 64-bit: wraps the same way the value does
        j++;
        digits++;
      }
      number = v;
      numberEnd = j;
      return digits > 0;
    }
    return false;
  }
}
