package tso.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Map;

import tso.alloc.TimestampAllocator;

/**
 * The validated configuration, immutable, built once at start-up from flags (which win) and
 * environment variables. A value that cannot be used stops start-up with one line naming the
 * variable, the value and what is allowed.
 */
public record Config(
    String host,
    int port,
    String nodeId,
    String advertise,
    String redisUrl,
    String sentinelMaster,
    String cluster,
    Path dataDir,
    long leaseTtlMs,
    FollowerMode followerMode,
    int maxCount,
    long windowMs,
    int queueLimit,
    long queueTargetMs,
    long requestTimeoutMs,
    int eventLoops,
    long shutdownGraceMs,
    boolean noopEndpoint,
    long warmupMs,
    long clockOffsetMs,
    int redisMinReplicas,
    Security security,
    LogFormat logFormat) {

  /** How log records are written. */
  public enum LogFormat { TEXT, JSON }

  /** What a follower does with a timestamp request. */
  public enum FollowerMode { FORWARD, REDIRECT }

  /**
   * Resolves every setting.
   *
   * @param flags values given on the command line
   * @param env   the process environment
   */
  public static Config resolve(Map<Setting, String> flags, Map<String, String> env) {
    Resolver r = new Resolver(flags, env);
    String host = r.text(Setting.HOST);
    int port = (int) r.integer(Setting.PORT, 1, 65535);
    String nodeId = r.raw(Setting.NODE_ID);
    if (nodeId == null) {
      nodeId = hostName();
    } else if (!nodeId.matches("[A-Za-z0-9._:-]{1,128}")) {
      throw r.invalid(Setting.NODE_ID, nodeId, "1 to 128 of A-Z a-z 0-9 . _ : -");
    }
    String advertise = r.raw(Setting.ADVERTISE);
    if (advertise == null) {
      advertise = ("0.0.0.0".equals(host) || "::".equals(host) ? hostName() : host) + ":" + port;
    } else if (!advertise.matches("([A-Za-z0-9._-]+|\\[[0-9A-Fa-f:.]+\\]):\\d{1,5}")
        || !validPort(advertise.substring(advertise.lastIndexOf(':') + 1))) {
      throw r.invalid(Setting.ADVERTISE, advertise, "host:port with a port from 1 to 65535");
    }
    String redisUrl = r.raw(Setting.REDIS_URL);
    String sentinelMaster = r.raw(Setting.REDIS_SENTINEL_MASTER);
    if (sentinelMaster != null && !sentinelMaster.matches("[A-Za-z0-9._-]{1,64}")) {
      throw r.invalid(Setting.REDIS_SENTINEL_MASTER, sentinelMaster, "1 to 64 of A-Z a-z 0-9 . _ -");
    }
    if (redisUrl != null) {
      for (String one : sentinelMaster == null ? new String[] {redisUrl} : redisUrl.split(",", -1)) {
        checkRedisUrl(r, one.trim());
      }
    } else if (sentinelMaster != null) {
      throw r.invalid(Setting.REDIS_SENTINEL_MASTER, sentinelMaster, "TSO_REDIS_URL set to the sentinels' addresses");
    }
    String cluster = r.text(Setting.CLUSTER);
    if (!cluster.matches("[A-Za-z0-9._-]{1,64}")) {
      throw r.invalid(Setting.CLUSTER, cluster, "1 to 64 of A-Z a-z 0-9 . _ -");
    }
    Path dataDir;
    String dir = r.text(Setting.DATA_DIR);
    try {
      dataDir = Path.of(dir);
    } catch (InvalidPathException e) {
      throw r.invalid(Setting.DATA_DIR, dir, "a directory path");
    }
    long leaseTtlMs = r.integer(Setting.LEASE_TTL_MS, 100, 600_000);
    String mode = r.text(Setting.FOLLOWER_MODE);
    FollowerMode followerMode = switch (mode) {
      case "forward" -> FollowerMode.FORWARD;
      case "redirect" -> FollowerMode.REDIRECT;
      default -> throw r.invalid(Setting.FOLLOWER_MODE, mode, "forward or redirect");
    };
    int maxCount = (int) r.integer(Setting.MAX_COUNT, 1, TimestampAllocator.MAX_LOGICAL);
    long windowMs = r.integer(Setting.WINDOW_MS, 30, 3_600_000);
    int queueLimit = (int) r.integer(Setting.QUEUE_LIMIT, 1, 10_000_000);
    long queueTargetMs = r.integer(Setting.QUEUE_TARGET_MS, 0, 60_000);
    long requestTimeoutMs = r.integer(Setting.REQUEST_TIMEOUT_MS, 1, 600_000);
    int eventLoops = r.raw(Setting.EVENT_LOOPS) == null
        ? defaultEventLoops(Runtime.getRuntime().availableProcessors())
        : (int) r.integer(Setting.EVENT_LOOPS, 1, 1024);
    long shutdownGraceMs = r.integer(Setting.SHUTDOWN_GRACE_MS, 0, 600_000);
    String noop = r.text(Setting.NOOP_ENDPOINT);
    boolean noopEndpoint = switch (noop) {
      case "true" -> true;
      case "false" -> false;
      default -> throw r.invalid(Setting.NOOP_ENDPOINT, noop, "true or false");
    };
    long warmupMs = r.integer(Setting.WARMUP_MS, 0, 60_000);
    long clockOffsetMs = r.integer(Setting.CLOCK_OFFSET_MS, -100L * 365 * 86_400_000, 100L * 365 * 86_400_000);
    int redisMinReplicas = (int) r.integer(Setting.REDIS_MIN_REPLICAS, 0, 64);
    Security security = Security.resolve(r, port, redisUrl, noopEndpoint, clockOffsetMs);
    String format = r.text(Setting.LOG_FORMAT);
    LogFormat logFormat = switch (format) {
      case "text" -> LogFormat.TEXT;
      case "json" -> LogFormat.JSON;
      default -> throw r.invalid(Setting.LOG_FORMAT, format, "text or json");
    };
    return new Config(host, port, nodeId, advertise, redisUrl, sentinelMaster, cluster, dataDir, leaseTtlMs, followerMode,
        maxCount, windowMs, queueLimit, queueTargetMs, requestTimeoutMs, eventLoops, shutdownGraceMs, noopEndpoint, warmupMs, clockOffsetMs,
        redisMinReplicas, security, logFormat);
  }

  /** The Redis URL with its password hidden, for logs. */
  public String redisUrlForLogs() {
    return redisUrl == null ? null : redacted(redisUrl);
  }

  @Override
  public String toString() {
    return "Config[" + host + ":" + port + ", node " + nodeId + ", advertise " + advertise + ", redis "
        + redisUrlForLogs() + ", cluster " + cluster + ", " + security + "]";
  }

  private static boolean validPort(String digits) {
    int p = Integer.parseInt(digits);
    return p >= 1 && p <= 65535;
  }

  /**
   * One event loop per CPU but one: the kernel's network stack, the garbage collector and the JIT
   * need a core too. On 2 shared cores one loop (which also runs the allocator, so a request never
   * changes thread) served about 1.4 times as many requests per second as two, at a lower p99.
   */
  static int defaultEventLoops(int cpus) {
    return Math.max(1, cpus - 1);
  }

  /** True when no Redis is configured: one node, its bound in the data directory. */
  public boolean standalone() {
    return redisUrl == null;
  }

  /** scheme, optional credentials (anything up to the last '@'), host or [v6], port, optional /db. */
  private static final java.util.regex.Pattern REDIS_URL = java.util.regex.Pattern.compile(
      "(redis|rediss)://(?:.*@)?([A-Za-z0-9._-]+|\\[[0-9A-Fa-f:.]+\\])(?::(\\d{1,5}))?(?:/(\\d{1,5})?)?");

  private static void checkRedisUrl(Resolver r, String url) {
    java.util.regex.Matcher m = REDIS_URL.matcher(url);
    if (!m.matches() || m.group(3) != null && Integer.parseInt(m.group(3)) > 65535
        || m.group(3) != null && Integer.parseInt(m.group(3)) < 1) {
      throw r.invalid(Setting.REDIS_URL, redacted(url), "redis://[[user]:password@]host[:port][/db] or rediss://…");
    }
  }

  /** Never print a password: everything between the scheme and the last '@' is hidden. */
  public static String redacted(String url) {
    int at = url.lastIndexOf('@');
    int scheme = url.indexOf("://");
    if (at < 0) {
      return url;
    }
    return (scheme >= 0 && scheme < at ? url.substring(0, scheme + 3) : "") + "***" + url.substring(at);
  }

  private static String hostName() {
    String h = System.getenv("HOSTNAME");
    if (h != null && !h.isBlank()) {
      return h;
    }
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "localhost";
    }
  }

  static final class Resolver {
    private final Map<Setting, String> flags;
    private final Map<String, String> env;

    Resolver(Map<Setting, String> flags, Map<String, String> env) {
      this.flags = flags;
      this.env = env;
    }

    /** The given value, or null when neither flag nor variable is set (or the variable is empty). */
    String raw(Setting s) {
      String v = flags.get(s);
      if (v == null) {
        v = env.get(s.env);
        if (v != null && v.isEmpty()) {
          v = null;
        }
      }
      return v;
    }

    String text(Setting s) {
      String v = raw(s);
      return v == null ? s.defaultValue : v;
    }

    long integer(Setting s, long min, long max) {
      String v = text(s);
      try {
        long n = Long.parseLong(v.trim());
        if (n >= min && n <= max) {
          return n;
        }
      } catch (NumberFormatException e) {
        // reported below
      }
      throw invalid(s, v, "an integer from " + min + " to " + max);
    }

    ConfigException invalid(Setting s, String value, String allowed) {
      String from = flags.containsKey(s) ? s.flag : s.env;
      return new ConfigException("invalid " + from + " '" + printable(value) + "': expected " + allowed);
    }

    /** The value as one short line: control characters shown as '?', long values cut. */
    private static String printable(String value) {
      String v = value.length() > 200 ? value.substring(0, 200) + "…" : value;
      StringBuilder b = new StringBuilder(v.length());
      v.codePoints().forEach(c -> b.appendCodePoint(Character.isISOControl(c) ? '?' : c));
      return b.toString();
    }
  }
}
