package tso.loadgen;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import picocli.CommandLine;

import tso.config.Setting;
import tso.support.Certs;
import tso.support.InProcessNode;

/**
 * The load generator against https targets, a node requiring mutual TLS: every protocol answers
 * with its client certificate (HTTP/1.1, gRPC over h2 negotiated with ALPN, the client library);
 * a run without one fails with errors, and ends; a server certificate that names another host, or
 * comes from a CA not trusted, fails the handshake; the --tls-* flags are checked up front.
 */
@Timeout(value = 60, unit = SECONDS)
class TlsLoadgenTest {

  @TempDir
  static Path dir;
  static Certs.Ca ca;
  static Certs.Ca other;
  static Certs.Leaf client;
  static Certs.Leaf elsewhere;
  /** A node whose port speaks TLS and requires a client certificate from the test CA. */
  static InProcessNode node;

  @BeforeAll
  static void start() throws Exception {
    Path pki = dir.resolve("pki");
    ca = Certs.ca(pki, "test");
    other = Certs.ca(pki, "other");
    Certs.Leaf server = ca.server(pki, "server", "127.0.0.1", "localhost");
    client = ca.client(pki, "client", "loadgen-1");
    elsewhere = ca.server(pki, "elsewhere", "tso.example.org");
    node = new InProcessNode(dir.resolve("node"), Map.of(Setting.TLS_CERT, server.cert().toString(),
        Setting.TLS_KEY, server.key().toString(), Setting.TLS_CLIENT_CA, ca.cert.toString()));
    // The JVM's first TLS handshakes load and interpret the whole TLS stack (seconds on a busy
    // machine); done here, so the short runs below measure connections, not class loading.
    run("http", mine(), 0, 300);
    run("grpc", mine(), 0, 300);
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) {
      node.close();
    }
  }

  /** Trusting the test CA, presenting the client certificate. */
  private static Settings.Tls mine() {
    return new Settings.Tls(ca.cert, client.cert(), client.key());
  }

  private static Report run(String protocol, Settings.Tls t, long warmupMs, long durationMs) throws Exception {
    return run("https://127.0.0.1:" + node.port, protocol, t, warmupMs, durationMs);
  }

  private static Report run(String target, String protocol, Settings.Tls t, long warmupMs, long durationMs)
      throws Exception {
    Settings s = new Settings(List.of(target), protocol, 500, 2, 2, 1, durationMs, warmupMs, null, null, null, null,
        true, false, 1, t);
    return new LoadGenerator(s, new PrintStream(new ByteArrayOutputStream())).run();
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc", "grpc-stream", "client"})
  void everyProtocolAnswersOverMutualTls(String protocol) throws Exception {
    Report r = run(protocol, mine(), 500, 600);
    assertThat(r.errors()).isEmpty();
    assertThat(r.responses()).isGreaterThan(0);
    assertThat(r.verdict().violations()).isZero();
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc"})
  void withoutAClientCertificateARunFailsWithErrorsAndEnds(String protocol) throws Exception {
    long t0 = System.nanoTime();
    Report r = run(protocol, new Settings.Tls(ca.cert, null, null), 200, 500);
    assertThat((System.nanoTime() - t0) / 1_000_000).as("the run ends, it does not hang").isLessThan(10_000);
    assertThat(r.responses()).isZero();
    assertThat(r.errorTotal()).isGreaterThan(0);
    // Under TLS 1.3 the client finishes its handshake before the server checks it: the server's
    // alert ends the connection (or its close reaches the client first).
    assertThat(r.errors().keySet()).allMatch(code -> code.equals("tls_error") || code.equals("connection_closed"),
        "tls_error or connection_closed");
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc"})
  void aServerFromACaNotTrustedFailsTheHandshake(String protocol) throws Exception {
    Report r = run(protocol, new Settings.Tls(other.cert, client.cert(), client.key()), 0, 400);
    assertThat(r.responses()).isZero();
    assertThat(r.errors()).containsOnlyKeys("tls_handshake_failed");
    // Without --tls-ca the JDK's trust store is used, which does not know the test CA either.
    Report jdk = run(protocol, new Settings.Tls(null, client.cert(), client.key()), 0, 400);
    assertThat(jdk.responses()).isZero();
    assertThat(jdk.errors()).containsOnlyKeys("tls_handshake_failed");
  }

  @ParameterizedTest
  @ValueSource(strings = {"http", "grpc"})
  void aCertificateThatDoesNotNameTheHostDialledFailsTheHandshake(String protocol) throws Exception {
    // A certificate from the trusted CA, for tso.example.org, served on 127.0.0.1.
    Vertx vertx = Vertx.vertx();
    try {
      HttpServer server = vertx.createHttpServer(new HttpServerOptions().setSsl(true).setUseAlpn(true)
              .setKeyCertOptions(new PemKeyCertOptions().setCertPath(elsewhere.cert().toString())
                  .setKeyPath(elsewhere.key().toString())))
          .requestHandler(req -> req.response().end("{\"timestamp\":\"1\",\"count\":1,\"epoch\":\"1\"}"));
      int port = server.listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, SECONDS).actualPort();
      Report r = run("https://127.0.0.1:" + port, protocol, new Settings.Tls(ca.cert, null, null), 0, 400);
      assertThat(r.responses()).isZero();
      assertThat(r.errors()).containsOnlyKeys("tls_handshake_failed");
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
    }
  }

  private static int cli(String... args) {
    return LoadgenCommand.run(new CommandLine(LoadgenCommand.spec()).parseArgs(args));
  }

  @Test
  void theTlsFlagsDriveARunAndBadOnesExitWithTwo() throws Exception {
    String target = "https://127.0.0.1:" + node.port;
    assertThat(cli("--target", target, "--protocol", "grpc-stream", "--rate", "500", "--connections", "2",
        "--duration", "500ms", "--warmup", "300ms", "--quiet", "--max-errors", "0", "--tls-ca", ca.cert.toString(),
        "--tls-cert", client.cert().toString(), "--tls-key", client.key().toString())).isZero();

    Path notPem = Files.writeString(dir.resolve("not.pem"), "hello");
    String caFile = ca.cert.toString();
    assertThat(cli("--target", target + ",http://127.0.0.1:1")).as("mixed schemes").isEqualTo(2);
    assertThat(cli("--target", "http://127.0.0.1:1", "--tls-ca", caFile)).as("TLS flags for http").isEqualTo(2);
    assertThat(cli("--target", target, "--tls-cert", client.cert().toString())).as("a cert without its key")
        .isEqualTo(2);
    assertThat(cli("--target", target, "--tls-ca", dir.resolve("missing.pem").toString())).as("no such file")
        .isEqualTo(2);
    assertThat(cli("--target", target, "--tls-ca", notPem.toString())).as("not PEM").isEqualTo(2);
    assertThat(cli("--target", target, "--tls-cert", caFile, "--tls-key", caFile)).as("a key file without a key")
        .isEqualTo(2);
    Path badKey = Files.writeString(dir.resolve("bad-key.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    assertThat(cli("--target", target, "--duration", "1s", "--tls-cert", client.cert().toString(), "--tls-key",
        badKey.toString())).as("a key that does not parse").isEqualTo(2);
  }
}
