package tso.election;

import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The election record: the value of {@code {tso:C}:leader}, small, self-describing and versioned.
 *
 * <pre>
 * tso-leader/1;node=&lt;id&gt;;addr=&lt;host:port&gt;;inc=&lt;16 hex&gt;;epoch=&lt;n&gt;;ttl=&lt;ms&gt;;acquired=&lt;ms&gt;;renewed=&lt;ms&gt;;transitions=&lt;n&gt;;crc=&lt;8 hex&gt;
 * </pre>
 *
 * <p>{@code tso-leader} is the magic word and {@code 1} the format version; {@code inc} is a random
 * incarnation drawn at every start, so a restarted node never mistakes its old record for its
 * own; {@code epoch} is the fencing token; {@code acquired}/{@code renewed} are the holder's wall
 * clock, for people only: no node trusts times inside a record, only its own monotonic clock.
 * {@code crc} is the CRC-32 (IEEE) of everything before {@code ;crc=}. The Lua scripts build and
 * check the same format ({@code common.lua}).
 */
public record ElectionRecord(String node, String address, String incarnation, long epoch, long ttlMs,
    long acquiredMs, long renewedMs, long transitions) {

  /** Longer values are not records: {@link Invalid#HUGE}. */
  public static final int MAX_BYTES = 1024;
  static final String MAGIC = "tso-leader";
  static final int VERSION = 1;

  private static final Pattern FORMAT = Pattern.compile("tso-leader/1;node=([A-Za-z0-9._:-]+);addr=([^;=]+);"
      + "inc=([0-9a-f]+);epoch=(\\d{1,18});ttl=(\\d{1,18});acquired=(\\d{1,18});renewed=(\\d{1,18});"
      + "transitions=(\\d{1,18})");
  private static final Pattern OTHER_FORMAT = Pattern.compile("[A-Za-z][A-Za-z0-9_.-]{0,31}/\\d{1,9};.*", Pattern.DOTALL);

  /** Why a value is not a record this node can trust; the metric's {@code kind} label. */
  public enum Invalid {
    /** Not text of any record format. */
    GARBAGE,
    /** A record of another kind of program. */
    OTHER_MAGIC,
    /** Our magic with a version this node does not know. */
    NEWER_VERSION,
    /** Our format, but the checksum does not match. */
    BAD_CHECKSUM,
    /** Our magic and version, cut short. */
    TRUNCATED,
    /** An empty string. */
    EMPTY,
    /** Longer than {@link #MAX_BYTES}. */
    HUGE,
    /** Not a Redis string at all (WRONGTYPE). */
    WRONG_TYPE,
    /** A valid-looking value with no TTL: nobody renews it, and it would never expire. */
    NO_TTL;

    public String label() {
      return name().toLowerCase();
    }
  }

  /** The outcome of reading a value: a record, or why it is not one. */
  public record Parsed(ElectionRecord record, Invalid invalid) {
    public boolean valid() {
      return record != null;
    }
  }

  /** The value as stored, checksum included. */
  public String encode() {
    String body = MAGIC + "/" + VERSION + ";node=" + node + ";addr=" + address + ";inc=" + incarnation
        + ";epoch=" + epoch + ";ttl=" + ttlMs + ";acquired=" + acquiredMs + ";renewed=" + renewedMs
        + ";transitions=" + transitions;
    return body + ";crc=" + crc(body);
  }

  /** Classifies a stored string value. */
  public static Parsed parse(byte[] value) {
    if (value.length == 0) {
      return new Parsed(null, Invalid.EMPTY);
    }
    if (value.length > MAX_BYTES) {
      return new Parsed(null, Invalid.HUGE);
    }
    for (byte b : value) {
      if (b < 0x20 || b > 0x7e) {
        return new Parsed(null, Invalid.GARBAGE);
      }
    }
    String text = new String(value, StandardCharsets.US_ASCII);
    if (!text.startsWith(MAGIC + "/")) {
      return new Parsed(null, OTHER_FORMAT.matcher(text).matches() ? Invalid.OTHER_MAGIC : Invalid.GARBAGE);
    }
    int semi = text.indexOf(';');
    String version = text.substring(MAGIC.length() + 1, semi < 0 ? text.length() : semi);
    if (!version.matches("\\d{1,9}")) {
      return new Parsed(null, semi < 0 && version.isEmpty() ? Invalid.TRUNCATED : Invalid.GARBAGE);
    }
    if (Integer.parseInt(version) > VERSION) {
      return new Parsed(null, Invalid.NEWER_VERSION);
    }
    if (Integer.parseInt(version) < VERSION) {
      return new Parsed(null, Invalid.OTHER_MAGIC);
    }
    int crcAt = text.lastIndexOf(";crc=");
    if (crcAt < 0 || text.length() - crcAt != 13) {
      return new Parsed(null, Invalid.TRUNCATED);
    }
    String body = text.substring(0, crcAt);
    if (!crc(body).equals(text.substring(crcAt + 5))) {
      return new Parsed(null, Invalid.BAD_CHECKSUM);
    }
    Matcher m = FORMAT.matcher(body);
    if (!m.matches()) {
      return new Parsed(null, Invalid.GARBAGE);
    }
    return new Parsed(new ElectionRecord(m.group(1), m.group(2), m.group(3), Long.parseLong(m.group(4)),
        Long.parseLong(m.group(5)), Long.parseLong(m.group(6)), Long.parseLong(m.group(7)),
        Long.parseLong(m.group(8))), null);
  }

  /** A short hex preview for logs: at most 32 bytes. */
  public static String preview(byte[] value) {
    StringBuilder b = new StringBuilder();
    int n = Math.min(value.length, 32);
    for (int i = 0; i < n; i++) {
      b.append(String.format("%02x", value[i] & 0xff));
    }
    if (value.length > n) {
      b.append("…(").append(value.length).append(" bytes)");
    }
    return b.toString();
  }

  static String crc(String body) {
    CRC32 crc = new CRC32();
    crc.update(body.getBytes(StandardCharsets.US_ASCII));
    return String.format("%08x", crc.getValue());
  }
}
