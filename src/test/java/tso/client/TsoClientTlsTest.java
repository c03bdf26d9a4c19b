package tso.client;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.support.Certs;
import tso.support.InProcessNode;

/**
 * The client over TLS to nodes that require a client certificate: with the CA and its certificate
 * it gets timestamps; without the certificate, trusting another CA, or dialling a node whose
 * certificate names another host, every call fails by its deadline; host verification can be
 * turned off; trust options without TLS are refused.
 */
@Timeout(value = 60, unit = SECONDS)
class TsoClientTlsTest {

  @TempDir
  static Path dir;
  static Certs.Ca ca;
  static Certs.Ca other;
  static Certs.Leaf client;
  static InProcessNode node;
  /** Its certificate, from the trusted CA, names tso.example.org only. */
  static InProcessNode elsewhere;

  @BeforeAll
  static void start() throws Exception {
    Path pki = dir.resolve("pki");
    ca = Certs.ca(pki, "test");
    other = Certs.ca(pki, "other");
    client = ca.client(pki, "client", "app-1");
    Certs.Leaf server = ca.server(pki, "server", "127.0.0.1", "localhost");
    Certs.Leaf misnamed = ca.server(pki, "misnamed", "tso.example.org");
    node = new InProcessNode(dir.resolve("node"), Map.of(Setting.TLS_CERT, server.cert().toString(),
        Setting.TLS_KEY, server.key().toString(), Setting.TLS_CLIENT_CA, ca.cert.toString()));
    elsewhere = new InProcessNode(dir.resolve("elsewhere"), Map.of(Setting.TLS_CERT, misnamed.cert().toString(),
        Setting.TLS_KEY, misnamed.key().toString(), Setting.TLS_CLIENT_CA, ca.cert.toString()));
  }

  @AfterAll
  static void stop() throws Exception {
    for (InProcessNode n : new InProcessNode[] {node, elsewhere}) {
      if (n != null) {
        n.close();
      }
    }
  }

  private static TsoClientOptions tls(Path trust, boolean withCertificate) {
    TsoClientOptions o = new TsoClientOptions().setSsl(true).setDeadlineMs(2_000).setConnectTimeoutMs(1_000)
        .setTrustOptions(new PemTrustOptions().addCertPath(trust.toString()));
    if (withCertificate) {
      o.setKeyCertOptions(new PemKeyCertOptions().setCertPath(client.cert().toString())
          .setKeyPath(client.key().toString()));
    }
    return o;
  }

  private static <T> T within(io.vertx.core.Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(20, SECONDS);
  }

  @Test
  void withTheCaAndItsCertificateTheClientGetsTimestampsOverTls() throws Exception {
    // A first handshake in a cold JVM can take seconds on a busy machine: a roomy deadline.
    TsoClient c = TsoClient.create(List.of("127.0.0.1:" + node.port), tls(ca.cert, true).setDeadlineMs(10_000));
    try {
      Timestamp a = c.nextBlocking();
      TimestampRange r = within(c.next(5));
      Timestamp b = within(c.next());
      assertThat(r.first()).isGreaterThan(a.value());
      assertThat(b.value()).isGreaterThanOrEqualTo(r.first() + 5);
      assertThat(b.epoch()).isEqualTo(a.epoch());
    } finally {
      within(c.close());
    }
  }

  /** Every call fails, by its deadline: the client does not hang on a refused handshake. */
  private static void refused(String member, TsoClientOptions options) throws Exception {
    TsoClient c = TsoClient.create(List.of(member), options);
    try {
      long t0 = System.nanoTime();
      assertThatThrownBy(c::nextBlocking).isInstanceOf(TsoClientException.class);
      assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(options.getDeadlineMs() + 3_000);
    } finally {
      within(c.close());
    }
  }

  @Test
  void withoutAClientCertificateEveryCallFails() throws Exception {
    refused("127.0.0.1:" + node.port, tls(ca.cert, false));
  }

  @Test
  void aNodeFromACaNotTrustedIsRefused() throws Exception {
    refused("127.0.0.1:" + node.port, tls(other.cert, true));
  }

  @Test
  void aCertificateThatDoesNotNameTheHostDialledIsRefusedUnlessHostVerificationIsOff() throws Exception {
    String member = "127.0.0.1:" + elsewhere.port;
    refused(member, tls(ca.cert, true));
    TsoClient c = TsoClient.create(List.of(member), tls(ca.cert, true).setVerifyHost(false));
    try {
      assertThat(c.nextBlocking().value()).isPositive();
    } finally {
      within(c.close());
    }
  }

  @Test
  void trustOrCertificateOptionsWithTlsOffAreRefused() {
    TsoClientOptions o = tls(ca.cert, true).setSsl(false);
    assertThatThrownBy(() -> TsoClient.create(List.of("127.0.0.1:1"), o)).isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("setSsl(true)");
    TsoClientOptions copy = new TsoClientOptions(tls(ca.cert, true).setVerifyHost(false));
    assertThat(copy.isSsl()).isTrue();
    assertThat(copy.isVerifyHost()).isFalse();
    assertThat(copy.getTrustOptions()).isInstanceOf(PemTrustOptions.class);
    assertThat(copy.getKeyCertOptions()).isInstanceOf(PemKeyCertOptions.class);
  }
}
