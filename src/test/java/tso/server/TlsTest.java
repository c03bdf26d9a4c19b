package tso.server;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientResponse;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.NetClient;
import io.vertx.core.net.NetClientOptions;
import io.vertx.core.net.NetSocket;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;

import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.proto.v1.TimestampRange;
import tso.support.Certs;
import tso.support.InProcessNode;

/**
 * TLS on the port: HTTPS and gRPC over TLS (ALPN h2) answer and plaintext does not; under mutual
 * TLS a client without a certificate, or with one from another CA, is refused in the handshake;
 * certificate files replaced on disk reach new connections while an open one keeps its session;
 * the plain probe port serves health only; the connection limit closes what is over it.
 */
@Timeout(value = 90, unit = SECONDS)
class TlsTest {

  @TempDir
  Path dir;
  Vertx vertx;
  Certs.Ca ca;
  Certs.Ca other;
  Certs.Leaf server;
  Certs.Leaf client;
  Certs.Leaf stranger;

  @BeforeEach
  void certs() throws Exception {
    vertx = Vertx.vertx();
    ca = Certs.ca(dir.resolve("pki"), "test");
    other = Certs.ca(dir.resolve("pki"), "other");
    server = ca.server(dir.resolve("pki"), "server", "127.0.0.1", "localhost");
    client = ca.client(dir.resolve("pki"), "client", "client-1");
    stranger = other.client(dir.resolve("pki"), "stranger", "client-2");
  }

  @AfterEach
  void close() throws Exception {
    get(vertx.close());
  }

  private static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(20, SECONDS);
  }

  private InProcessNode node(Map<Setting, String> extra) throws Exception {
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(Setting.TLS_CERT, server.cert().toString());
    flags.put(Setting.TLS_KEY, server.key().toString());
    flags.putAll(extra);
    return new InProcessNode(dir.resolve("n" + System.nanoTime()), flags);
  }

  private HttpClientOptions https(Certs.Leaf as) {
    HttpClientOptions o = new HttpClientOptions().setSsl(true).setVerifyHost(true)
        .setTrustOptions(new PemTrustOptions().addCertPath(ca.cert.toString()));
    if (as != null) {
      o.setKeyCertOptions(new PemKeyCertOptions().setCertPath(as.cert().toString()).setKeyPath(as.key().toString()));
    }
    return o;
  }

  /** One POST on a new connection: the status, or the failure. */
  private int post(HttpClientOptions options, int port) throws Exception {
    HttpClientAgent c = vertx.createHttpClient(options);
    try {
      return get(c.request(new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1").setPort(port)
          .setURI("/v1/timestamps")).compose(req -> req.send()).compose(resp -> resp.body().map(b -> resp.statusCode())));
    } finally {
      c.close();
    }
  }

  @Test
  void httpsAndGrpcOverTlsAnswerAndPlaintextDoesNot() throws Exception {
    try (InProcessNode n = node(Map.of())) {
      assertThat(post(https(null), n.port)).isEqualTo(200);

      GrpcClient grpc = GrpcClient.client(vertx, https(null).setProtocolVersion(HttpVersion.HTTP_2).setUseAlpn(true));
      TimestampRange r = get(grpc.request(SocketAddress.inetSocketAddress(n.port, "127.0.0.1"),
              TimestampOracleGrpcClient.GetTimestamps)
          .compose(req -> req.send(GetTimestampsRequest.newBuilder().setCount(5).build()))
          .compose(resp -> resp.last()));
      assertThat(r.getCount()).isEqualTo(5);
      get(grpc.close());

      assertThatThrownBy(() -> post(new HttpClientOptions(), n.port)).as("plaintext HTTP/1.1").isNotNull();
      assertThatThrownBy(() -> post(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
          .setHttp2ClearTextUpgrade(false), n.port)).as("plaintext h2c").isNotNull();
    }
  }

  @Test
  void underMutualTlsOnlyClientsWithACertificateFromTheClientCaGetIn() throws Exception {
    try (InProcessNode n = node(Map.of(Setting.TLS_CLIENT_CA, ca.cert.toString()))) {
      assertThat(post(https(client), n.port)).isEqualTo(200);
      assertThatThrownBy(() -> post(https(null), n.port)).as("no certificate").isNotNull();
      assertThatThrownBy(() -> post(https(stranger), n.port)).as("a certificate from another CA").isNotNull();
    }
  }

  @Test
  void replacedCertificateFilesReachNewConnectionsAndOpenOnesKeepTheirSession() throws Exception {
    try (InProcessNode n = node(Map.of())) {
      NetClient net = vertx.createNetClient(new NetClientOptions().setSsl(true).setHostnameVerificationAlgorithm("HTTPS")
          .setTrustOptions(new PemTrustOptions().addCertPath(ca.cert.toString())));
      NetSocket open = get(net.connect(n.port, "127.0.0.1"));
      BigInteger before = serial(open);

      Certs.Leaf renewed = ca.server(dir.resolve("pki2"), "server", "127.0.0.1", "localhost");
      // In place, as cert-manager does: the key first, then the certificate.
      Files.copy(renewed.key(), server.key(), StandardCopyOption.REPLACE_EXISTING);
      Files.copy(renewed.cert(), server.cert(), StandardCopyOption.REPLACE_EXISTING);
      BigInteger expected = serial(renewed.cert());
      assertThat(expected).isNotEqualTo(before);

      await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(200)).until(() -> {
        NetSocket s = get(net.connect(n.port, "127.0.0.1"));
        try {
          return serial(s).equals(expected);
        } finally {
          s.close();
        }
      });
      // The connection opened before still works, on its old session.
      assertThat(serial(open)).isEqualTo(before);
      Buffer answer = Buffer.buffer();
      open.handler(answer::appendBuffer);
      get(open.write("POST /v1/timestamps HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 0\r\n\r\n"));
      await().atMost(Duration.ofSeconds(10)).until(() -> answer.toString().contains("\r\n\r\n"));
      assertThat(answer.toString()).startsWith("HTTP/1.1 200");
      open.close();
    }
  }

  /** One GET on a new connection: the status and the body. */
  private Map.Entry<Integer, String> fetch(HttpClientOptions options, int port, String path) throws Exception {
    HttpClientAgent c = vertx.createHttpClient(options);
    try {
      return get(c.request(HttpMethod.GET, port, "127.0.0.1", path).compose(req -> req.send())
          .compose(resp -> resp.body().map(b -> Map.entry(resp.statusCode(), b.toString()))));
    } finally {
      c.close();
    }
  }

  @Test
  void aMutualTlsNodeWarmsUpThroughItsOwnPortBeforeItIsReady() throws Exception {
    // A member's certificate, as cert-manager issues it: for both ends, naming the pod's DNS name
    // only; the warm-up dials its own port on loopback and trusts exactly this certificate.
    Certs.Leaf member = ca.member(dir.resolve("pki"), "member", "tso-0.tso-headless.tso.svc.cluster.local");
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    flags.put(Setting.TLS_CERT, member.cert().toString());
    flags.put(Setting.TLS_KEY, member.key().toString());
    flags.put(Setting.TLS_CLIENT_CA, ca.cert.toString());
    flags.put(Setting.WARMUP_MS, "1500");
    long t0 = System.nanoTime();
    try (InProcessNode n = new InProcessNode(dir.resolve("warm"), flags)) {
      HttpClientOptions caller = https(client).setVerifyHost(false);
      assertThat(fetch(caller, n.port, "/health/ready").getKey()).as("ready during the warm-up").isEqualTo(503);
      await().atMost(Duration.ofSeconds(30)).pollInterval(Duration.ofMillis(100))
          .until(() -> fetch(caller, n.port, "/health/ready").getKey() == 200);
      assertThat((System.nanoTime() - t0) / 1_000_000).as("ms until ready").isGreaterThanOrEqualTo(1500);
      // A standalone node warms up through its real API, so its metrics show the warm-up's requests.
      String metrics = fetch(caller, n.port, "/metrics").getValue();
      for (String api : new String[] {"http", "grpc_unary", "grpc_stream"}) {
        long ok = metrics.lines().filter(l -> l.startsWith("tso_requests_total{api=\"" + api + "\"") && l.contains("outcome=\"ok\""))
            .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
        assertThat(ok).as("warm-up requests over TLS, %s", api).isGreaterThan(100);
      }
    }
  }

  @Test
  void theProbePortServesHealthOnlyInPlainHttp() throws Exception {
    int probePort = tso.support.Ports.free();
    try (InProcessNode n = node(Map.of(Setting.TLS_CLIENT_CA, ca.cert.toString(),
        Setting.HEALTH_PORT, String.valueOf(probePort)))) {
      HttpClientAgent plain = vertx.createHttpClient();
      try {
        for (String path : new String[] {"/health/live", "/health/ready"}) {
          HttpClientResponse resp = get(plain.request(HttpMethod.GET, probePort, "127.0.0.1", path)
              .compose(req -> req.send()));
          assertThat(resp.statusCode()).as(path).isEqualTo(200);
        }
        for (HttpMethod m : new HttpMethod[] {HttpMethod.POST, HttpMethod.GET}) {
          HttpClientResponse resp = get(plain.request(m, probePort, "127.0.0.1", "/v1/timestamps").compose(req -> req.send()));
          assertThat(resp.statusCode()).as("timestamps are not served on the probe port").isEqualTo(404);
        }
      } finally {
        plain.close();
      }
    }
  }

  @Test
  void connectionsBeyondTheLimitAreClosed() throws Exception {
    try (InProcessNode n = node(Map.of(Setting.MAX_CONNECTIONS, "2"))) {
      NetClient net = vertx.createNetClient(new NetClientOptions().setSsl(true).setHostnameVerificationAlgorithm("HTTPS")
          .setTrustOptions(new PemTrustOptions().addCertPath(ca.cert.toString())));
      NetSocket a = get(net.connect(n.port, "127.0.0.1"));
      NetSocket b = get(net.connect(n.port, "127.0.0.1"));
      boolean[] closed = new boolean[1];
      Future<NetSocket> third = net.connect(n.port, "127.0.0.1");
      third.onSuccess(s -> s.closeHandler(v -> closed[0] = true));
      await().atMost(Duration.ofSeconds(10)).until(() -> third.failed() || closed[0]);
      a.close();
      b.close();
      // Room again once they are closed.
      await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(post(https(null), n.port)).isEqualTo(200));
    }
  }

  private static BigInteger serial(NetSocket s) throws Exception {
    return ((X509Certificate) s.peerCertificates().get(0)).getSerialNumber();
  }

  private static BigInteger serial(Path pem) throws Exception {
    try (var in = Files.newInputStream(pem)) {
      return ((X509Certificate) java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in))
          .getSerialNumber();
    }
  }
}
