package tso.log;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.Map;
import java.util.function.Supplier;
import java.util.logging.Formatter;
import java.util.logging.LogRecord;

/**
 * One JSON object a line ({@code TSO_LOG_FORMAT=json}), for log collectors:
 * {@code {"time","level","logger","message"}}, then what the node knows of itself when the line
 * is written ({@code node}, {@code role}, {@code epoch}: the context), then {@code error} with the
 * stack trace when a record carries one. Strings are escaped as JSON requires, so a message can
 * never break the line or the object.
 */
public final class JsonFormatter extends Formatter {

  private volatile Supplier<Map<String, Object>> context = Map::of;

  /** Fields added to every line from now on, read when the line is written (on the log writer thread). */
  public void context(Supplier<Map<String, Object>> fields) {
    this.context = fields;
  }

  @Override
  public String format(LogRecord r) {
    StringBuilder b = new StringBuilder(256);
    b.append("{\"time\":\"").append(Instant.ofEpochMilli(r.getMillis())).append('"');
    field(b, "level", r.getLevel().getName());
    field(b, "logger", r.getLoggerName() == null ? "" : r.getLoggerName());
    field(b, "message", formatMessage(r));
    Map<String, Object> extra;
    try {
      extra = context.get();
    } catch (RuntimeException e) {
      extra = Map.of(); // the node is not built yet, or already gone
    }
    for (Map.Entry<String, Object> e : extra.entrySet()) {
      Object v = e.getValue();
      if (v instanceof Number n) {
        b.append(",\"").append(e.getKey()).append("\":").append(n);
      } else if (v != null) {
        field(b, e.getKey(), v.toString());
      }
    }
    if (r.getThrown() != null) {
      StringWriter w = new StringWriter();
      r.getThrown().printStackTrace(new PrintWriter(w));
      field(b, "error", w.toString());
    }
    return b.append("}\n").toString();
  }

  private static void field(StringBuilder b, String name, String value) {
    b.append(",\"").append(name).append("\":\"");
    escape(b, value);
    b.append('"');
  }

  /** JSON string escaping (RFC 8259): quote, backslash and every control character. */
  static void escape(StringBuilder b, String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\r' -> b.append("\\r");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20 || c == 0x2028 || c == 0x2029) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
  }
}
