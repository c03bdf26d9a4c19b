package tso.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.support.Certs;

/**
 * The security settings at start-up: files that cannot be read or hold the wrong PEM, settings
 * that need another one, and test-only settings on a TLS node each stop start-up with one line
 * naming the variable; the Redis password comes from its file and is never shown.
 */
@Tag("unit")
class SecurityConfigTest {

  @TempDir
  Path dir;
  Certs.Ca ca;
  Certs.Leaf server;

  @BeforeEach
  void certs() throws Exception {
    ca = Certs.ca(dir, "test");
    server = ca.server(dir, "server", "127.0.0.1");
  }

  private static Config resolve(String... kv) {
    Map<String, String> env = new HashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      env.put(kv[i], kv[i + 1]);
    }
    return Config.resolve(Map.of(), env);
  }

  private static String refused(String... kv) {
    ConfigException e = catchThrowableOfType(ConfigException.class, () -> resolve(kv));
    assertThat(e).as("should be refused: %s", String.join(" ", kv)).isNotNull();
    assertThat(e.getMessage()).doesNotContain("\n");
    return e.getMessage();
  }

  private String cert() {
    return server.cert().toString();
  }

  private String key() {
    return server.key().toString();
  }

  @Test
  void tlsNeedsACertificateAndAKeyThatCanBeRead() throws Exception {
    Config c = resolve("TSO_TLS_CERT", cert(), "TSO_TLS_KEY", key());
    assertThat(c.security().tls()).isTrue();
    assertThat(c.security().memberTrust()).isNull();
    assertThat(refused("TSO_TLS_CERT", cert())).contains("TSO_TLS_KEY").contains("set together with TSO_TLS_CERT");
    assertThat(refused("TSO_TLS_CERT", dir.resolve("missing.pem").toString(), "TSO_TLS_KEY", key()))
        .contains("TSO_TLS_CERT").contains("a readable file").contains("missing.pem");
    assertThat(refused("TSO_TLS_CERT", key(), "TSO_TLS_KEY", key())).contains("TSO_TLS_CERT").contains("CERTIFICATE");
    assertThat(refused("TSO_TLS_CERT", cert(), "TSO_TLS_KEY", cert())).contains("TSO_TLS_KEY").contains("PRIVATE KEY");
    Path dirNotFile = Files.createDirectories(dir.resolve("d"));
    assertThat(refused("TSO_TLS_CERT", dirNotFile.toString(), "TSO_TLS_KEY", key())).contains("a readable file");
  }

  @Test
  void mutualTlsNeedsTlsAndTheMembersTrustTheClientCaByDefault() {
    assertThat(refused("TSO_TLS_CLIENT_CA", ca.cert.toString())).contains("TSO_TLS_CLIENT_CA").contains("TLS on the port first");
    Config c = resolve("TSO_TLS_CERT", cert(), "TSO_TLS_KEY", key(), "TSO_TLS_CLIENT_CA", ca.cert.toString());
    assertThat(c.security().memberTrust()).isEqualTo(ca.cert);
    Config d = resolve("TSO_TLS_CERT", cert(), "TSO_TLS_KEY", key(), "TSO_TLS_CLIENT_CA", ca.cert.toString(),
        "TSO_TLS_CA", server.cert().toString());
    assertThat(d.security().memberTrust()).isEqualTo(server.cert());
  }

  @Test
  void theNoopEndpointAndTheClockOffsetNeedTheUnsafeSwitchOnATlsNode() {
    assertThat(refused("TSO_TLS_CERT", cert(), "TSO_TLS_KEY", key(), "TSO_NOOP_ENDPOINT", "true"))
        .contains("TSO_NOOP_ENDPOINT").contains("TSO_UNSAFE_TEST_SETTINGS=true");
    assertThat(refused("TSO_TLS_CERT", cert(), "TSO_TLS_KEY", key(), "TSO_CLOCK_OFFSET_MS", "5"))
        .contains("TSO_CLOCK_OFFSET_MS");
    Config c = resolve("TSO_TLS_CERT", cert(), "TSO_TLS_KEY", key(), "TSO_NOOP_ENDPOINT", "true",
        "TSO_CLOCK_OFFSET_MS", "5", "TSO_UNSAFE_TEST_SETTINGS", "true");
    assertThat(c.noopEndpoint()).isTrue();
    assertThat(resolve("TSO_NOOP_ENDPOINT", "true").noopEndpoint()).as("plaintext: as before").isTrue();
    assertThat(refused("TSO_UNSAFE_TEST_SETTINGS", "yes")).contains("true or false");
  }

  @Test
  void theRedisPasswordComesFromItsFileAndIsNeverShown() throws Exception {
    Path file = Files.writeString(dir.resolve("password"), "pa55-w0rd\n");
    Config c = resolve("TSO_REDIS_URL", "redis://tso:url-secret@127.0.0.1:6379", "TSO_REDIS_PASSWORD_FILE", file.toString());
    assertThat(c.security().redisPassword()).isEqualTo("pa55-w0rd");
    assertThat(c.toString()).doesNotContain("pa55-w0rd").doesNotContain("url-secret").contains("***");
    assertThat(c.security().toString()).doesNotContain("pa55-w0rd");
    assertThat(c.redisUrlForLogs()).doesNotContain("url-secret");
    String missing = refused("TSO_REDIS_URL", "redis://127.0.0.1:6379", "TSO_REDIS_PASSWORD_FILE",
        dir.resolve("nope").toString());
    assertThat(missing).contains("TSO_REDIS_PASSWORD_FILE").contains("a readable file");
    Path empty = Files.writeString(dir.resolve("empty"), "\n");
    assertThat(refused("TSO_REDIS_URL", "redis://127.0.0.1:6379", "TSO_REDIS_PASSWORD_FILE", empty.toString()))
        .contains("one password");
  }

  @Test
  void redisTlsFilesNeedARedissUrl() {
    assertThat(refused("TSO_REDIS_URL", "redis://127.0.0.1:6379", "TSO_REDIS_CA", ca.cert.toString()))
        .contains("TSO_REDIS_CA").contains("rediss://");
    Config c = resolve("TSO_REDIS_URL", "rediss://127.0.0.1:6379", "TSO_REDIS_CA", ca.cert.toString(),
        "TSO_REDIS_CERT", cert(), "TSO_REDIS_KEY", key());
    assertThat(c.security().redisCa()).isEqualTo(ca.cert);
    assertThat(refused("TSO_REDIS_URL", "rediss://127.0.0.1:6379", "TSO_REDIS_CERT", cert())).contains("TSO_REDIS_KEY");
  }

  @Test
  void theProbePortDiffersFromThePortAndTheConnectionLimitIsPositive() {
    assertThat(refused("TSO_PORT", "8080", "TSO_HEALTH_PORT", "8080")).contains("TSO_HEALTH_PORT");
    assertThat(resolve("TSO_HEALTH_PORT", "8081").security().healthPort()).isEqualTo(8081);
    assertThat(resolve().security().healthPort()).isZero();
    assertThat(resolve().security().maxConnections()).isEqualTo(2048);
    assertThat(refused("TSO_MAX_CONNECTIONS", "0")).contains("TSO_MAX_CONNECTIONS");
  }
}
