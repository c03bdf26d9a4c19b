package tso.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.net.SocketAddress;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;

import tso.config.Security;
import tso.loadgen.Settings;

/** Who the warm-up's no-op endpoint answers, and how the warm-up dials a TLS port. */
class WarmUpTest {

  private static SocketAddress at(String host) {
    return SocketAddress.inetSocketAddress(8080, host);
  }

  @Test
  void theNoopEndpointOpenedForTheWarmUpAnswersThisHostOnly() {
    assertThat(WarmUp.fromThisHost(at("127.0.0.1"), at("127.0.0.1"))).isTrue();
    assertThat(WarmUp.fromThisHost(at("10.1.2.3"), at("127.0.0.1"))).as("loopback peer").isTrue();
    assertThat(WarmUp.fromThisHost(at("::1"), at("::1"))).isTrue();
    assertThat(WarmUp.fromThisHost(at("::ffff:127.0.0.1"), at("::ffff:127.0.0.1"))).as("IPv4-mapped").isTrue();
    assertThat(WarmUp.fromThisHost(at("10.1.2.3"), at("10.1.2.3"))).as("the node dialling its own address").isTrue();
    assertThat(WarmUp.fromThisHost(at("10.1.2.3"), at("::ffff:10.1.2.3"))).isTrue();
    assertThat(WarmUp.fromThisHost(at("10.1.2.3"), at("10.1.2.4"))).as("another pod").isFalse();
    assertThat(WarmUp.fromThisHost(at("10.1.2.3"), at("not-an-address"))).isFalse();
    assertThat(WarmUp.fromThisHost(at("10.1.2.3"), null)).isFalse();
  }

  @Test
  void onATlsPortTheWarmUpTrustsAndPresentsTheNodesOwnCertificateWithoutCheckingTheName() {
    Path cert = Path.of("tls.crt");
    Path key = Path.of("tls.key");
    Security tls = new Security(cert, key, null, null, 0, null, null, null, null, 2048, false);
    Settings.Tls t = WarmUp.tls(tls);
    assertThat(t.ca()).isEqualTo(cert);
    assertThat(t.cert()).isEqualTo(cert);
    assertThat(t.key()).isEqualTo(key);
    assertThat(t.verifyHost()).isFalse();
    assertThat(new Settings.Tls(null, null, null).verifyHost()).as("the command line's default").isTrue();
  }
}
