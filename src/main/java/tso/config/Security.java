package tso.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * The security slice of the configuration: TLS on the port, mutual TLS, what a node trusts when it
 * forwards to another member, Redis over TLS and its password, the connection limit, and the
 * switch that lets test-only settings onto a TLS node. Every file is read once at start-up to
 * check it (a file that cannot be read, or holds no PEM of the right kind, stops start-up with one
 * line); the server re-reads the certificate and key when they change. The Redis password is a
 * secret: {@link #toString()} never shows it.
 *
 * @param tlsCert       PEM chain of the port's certificate, or null (no TLS)
 * @param tlsKey        its PEM private key
 * @param tlsClientCa   PEM bundle clients must chain to (mutual TLS), or null
 * @param tlsCa         PEM bundle trusted when forwarding to a member, or null (see {@link #memberTrust()})
 * @param healthPort    a plain HTTP port for probes, or 0 for none
 * @param redisCa       PEM bundle trusted for rediss://, or null (the JDK's)
 * @param redisCert     PEM client certificate for Redis, or null
 * @param redisKey      its key
 * @param redisPassword the password read from TSO_REDIS_PASSWORD_FILE, or null
 */
public record Security(Path tlsCert, Path tlsKey, Path tlsClientCa, Path tlsCa, int healthPort, Path redisCa,
    Path redisCert, Path redisKey, String redisPassword, int maxConnections, boolean unsafeTestSettings) {

  /** No TLS, no secrets: what tests and a plain standalone node use. */
  public static Security none() {
    return new Security(null, null, null, null, 0, null, null, null, null, 2048, false);
  }

  /** True when the port speaks TLS. */
  public boolean tls() {
    return tlsCert != null;
  }

  /** What a node trusts when it connects to another member: TSO_TLS_CA, else the client CA, else null (the JDK's). */
  public Path memberTrust() {
    return tlsCa != null ? tlsCa : tlsClientCa;
  }

  @Override
  public String toString() {
    return "Security[tls " + (tls() ? tlsCert : "off") + (tlsClientCa == null ? "" : ", mTLS " + tlsClientCa)
        + (healthPort == 0 ? "" : ", health port " + healthPort) + ", redis password " + (redisPassword == null ? "none" : "***")
        + ", max connections " + maxConnections + (unsafeTestSettings ? ", UNSAFE TEST SETTINGS" : "") + "]";
  }

  static Security resolve(Config.Resolver r, int port, String redisUrl, boolean noopEndpoint, long clockOffsetMs) {
    Path cert = pem(r, Setting.TLS_CERT, "CERTIFICATE");
    Path key = pem(r, Setting.TLS_KEY, "PRIVATE KEY");
    if ((cert == null) != (key == null)) {
      Setting missing = cert == null ? Setting.TLS_CERT : Setting.TLS_KEY;
      throw r.invalid(missing, "", "set together with " + (cert == null ? Setting.TLS_KEY.env : Setting.TLS_CERT.env));
    }
    Path clientCa = pem(r, Setting.TLS_CLIENT_CA, "CERTIFICATE");
    if (clientCa != null && cert == null) {
      throw r.invalid(Setting.TLS_CLIENT_CA, clientCa.toString(), "TLS on the port first (TSO_TLS_CERT and TSO_TLS_KEY)");
    }
    Path ca = pem(r, Setting.TLS_CA, "CERTIFICATE");
    int healthPort = r.raw(Setting.HEALTH_PORT) == null ? 0 : (int) r.integer(Setting.HEALTH_PORT, 1, 65535);
    if (healthPort == port) {
      throw r.invalid(Setting.HEALTH_PORT, String.valueOf(healthPort), "a port other than TSO_PORT");
    }
    int maxConnections = (int) r.integer(Setting.MAX_CONNECTIONS, 1, 1_000_000);
    Path redisCa = pem(r, Setting.REDIS_CA, "CERTIFICATE");
    Path redisCert = pem(r, Setting.REDIS_CERT, "CERTIFICATE");
    Path redisKey = pem(r, Setting.REDIS_KEY, "PRIVATE KEY");
    if ((redisCert == null) != (redisKey == null)) {
      Setting missing = redisCert == null ? Setting.REDIS_CERT : Setting.REDIS_KEY;
      throw r.invalid(missing, "", "set together with " + (redisCert == null ? Setting.REDIS_KEY.env : Setting.REDIS_CERT.env));
    }
    boolean tlsToRedis = redisUrl != null && redisUrl.trim().startsWith("rediss://");
    for (Setting s : new Setting[] {Setting.REDIS_CA, Setting.REDIS_CERT}) {
      if (r.raw(s) != null && !tlsToRedis) {
        throw r.invalid(s, r.raw(s), "a rediss:// TSO_REDIS_URL (Redis over TLS)");
      }
    }
    String password = null;
    String passwordFile = r.raw(Setting.REDIS_PASSWORD_FILE);
    if (passwordFile != null) {
      password = read(r, Setting.REDIS_PASSWORD_FILE, passwordFile).strip();
      if (password.isEmpty() || password.contains("\n")) {
        throw r.invalid(Setting.REDIS_PASSWORD_FILE, passwordFile, "a file holding one password on one line");
      }
    }
    String unsafe = r.text(Setting.UNSAFE_TEST_SETTINGS);
    boolean unsafeTestSettings = switch (unsafe) {
      case "true" -> true;
      case "false" -> false;
      default -> throw r.invalid(Setting.UNSAFE_TEST_SETTINGS, unsafe, "true or false");
    };
    if (cert != null && !unsafeTestSettings) {
      if (noopEndpoint) {
        throw r.invalid(Setting.NOOP_ENDPOINT, "true", "false on a TLS node, unless TSO_UNSAFE_TEST_SETTINGS=true");
      }
      if (clockOffsetMs != 0) {
        throw r.invalid(Setting.CLOCK_OFFSET_MS, String.valueOf(clockOffsetMs),
            "0 on a TLS node, unless TSO_UNSAFE_TEST_SETTINGS=true");
      }
    }
    return new Security(cert, key, clientCa, ca, healthPort, redisCa, redisCert, redisKey, password, maxConnections,
        unsafeTestSettings);
  }

  /** The file a setting names, checked to be readable and to hold a PEM block of {@code kind}. */
  private static Path pem(Config.Resolver r, Setting s, String kind) {
    String v = r.raw(s);
    if (v == null) {
      return null;
    }
    String text = read(r, s, v);
    if (!text.matches("(?s).*-----BEGIN [A-Z ]*" + kind + "-----.*")) {
      throw r.invalid(s, v, "a PEM file with a " + kind + " block");
    }
    return Path.of(v);
  }

  private static String read(Config.Resolver r, Setting s, String file) {
    try {
      return Files.readString(Path.of(file), StandardCharsets.UTF_8);
    } catch (IOException | InvalidPathException | java.io.UncheckedIOException e) {
      throw r.invalid(s, file, "a readable file (" + e.getClass().getSimpleName()
          + (e.getMessage() == null || e.getMessage().equals(file) ? "" : ": " + e.getMessage()) + ")");
    }
  }
}
