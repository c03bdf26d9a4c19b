package tso.server;

import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.ServerSSLOptions;

import java.util.Set;

import tso.config.Security;

/**
 * TLS for the port and for the path between members, from {@link Security}: TLS 1.2 and 1.3 only
 * with the JDK's default (modern) cipher suites, ALPN offering {@code h2} and {@code http/1.1}, and,
 * with a client CA, a certificate required from every client during the handshake.
 */
final class Tls {

  /** TLS 1.0 and 1.1 are deprecated (RFC 8996). */
  static final Set<String> PROTOCOLS = Set.of("TLSv1.2", "TLSv1.3");

  private Tls() {
  }

  /** Turns TLS on for the port's listener when configured; the certificate and key as read now. */
  static HttpServerOptions apply(HttpServerOptions o, Security s, Buffer cert, Buffer key) {
    if (!s.tls()) {
      return o;
    }
    o.setSsl(true).setUseAlpn(true).setHttp2ClearTextEnabled(false).setEnabledSecureTransportProtocols(PROTOCOLS)
        .setKeyCertOptions(new PemKeyCertOptions().setCertValue(cert).setKeyValue(key));
    if (s.tlsClientCa() != null) {
      o.setClientAuth(ClientAuth.REQUIRED).setTrustOptions(new PemTrustOptions().addCertPath(s.tlsClientCa().toString()));
    }
    return o;
  }

  /** The same, for a certificate and key re-read from their files. */
  static ServerSSLOptions reloaded(Security s, Buffer cert, Buffer key) {
    ServerSSLOptions o = new ServerSSLOptions().setUseAlpn(true).setEnabledSecureTransportProtocols(PROTOCOLS)
        .setKeyCertOptions(new PemKeyCertOptions().setCertValue(cert).setKeyValue(key));
    if (s.tlsClientCa() != null) {
      o.setClientAuth(ClientAuth.REQUIRED).setTrustOptions(new PemTrustOptions().addCertPath(s.tlsClientCa().toString()));
    }
    return o;
  }

  /**
   * A follower's connection to the leader: TLS when the port has it, presenting this node's own
   * certificate (for mutual TLS), trusting TSO_TLS_CA (else the client CA, else the JDK's), and
   * checking that the leader's certificate names the address dialled (the host of the advertised
   * address in the election record): an address planted in Redis cannot pull traffic to a server
   * without a certificate for that name from a trusted CA.
   */
  static HttpClientOptions member(HttpClientOptions o, Security s) {
    if (!s.tls()) {
      return o;
    }
    // The handshake gets the connect timeout, not Vert.x's default 10 s.
    o.setSsl(true).setUseAlpn(true).setVerifyHost(true)
        .setSslHandshakeTimeout(o.getConnectTimeout()).setSslHandshakeTimeoutUnit(java.util.concurrent.TimeUnit.MILLISECONDS)
        .setKeyCertOptions(new PemKeyCertOptions().setCertPath(s.tlsCert().toString()).setKeyPath(s.tlsKey().toString()));
    o.getSslOptions().setEnabledSecureTransportProtocols(PROTOCOLS).setHostnameVerificationAlgorithm("HTTPS");
    if (s.memberTrust() != null) {
      o.setTrustOptions(new PemTrustOptions().addCertPath(s.memberTrust().toString()));
    }
    return o;
  }
}
