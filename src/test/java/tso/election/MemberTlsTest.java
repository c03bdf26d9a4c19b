package tso.election;

import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.support.Certs;
import tso.support.History;
import tso.support.InProcessNode;
import tso.support.LocalCluster;
import tso.support.Ports;
import tso.support.RedisServer;

/**
 * Three members with mutual TLS between them: followers forward to the leader over TLS, presenting
 * their own certificates; and when the election record names an impostor (a TLS server on a
 * recorded address, with a certificate from a CA the members do not trust), no follower forwards
 * to it: the handshake fails, the refusal is counted, and the followers answer UNAVAILABLE until a
 * real leader serves again. Every answer given stays in order.
 */
@Timeout(value = 120, unit = SECONDS)
class MemberTlsTest {

  static final String KEY = "{tso:test}:leader";

  @TempDir
  Path dir;

  @Test
  void followersForwardOverMutualTlsAndNeverToAnImpostor() throws Exception {
    Path pki = dir.resolve("pki");
    Certs.Ca ca = Certs.ca(pki, "members");
    Certs.Ca other = Certs.ca(pki, "other");
    Certs.Leaf member = ca.member(pki, "member", "127.0.0.1", "localhost");
    Certs.Leaf fake = other.member(pki, "impostor", "127.0.0.1", "localhost");
    Vertx vertx = Vertx.vertx();
    Context calls = vertx.getOrCreateContext();
    AtomicInteger impostorRequests = new AtomicInteger();
    HttpServer impostor = vertx.createHttpServer(new HttpServerOptions().setSsl(true).setUseAlpn(true)
            .setKeyCertOptions(new PemKeyCertOptions().setCertPath(fake.cert().toString()).setKeyPath(fake.key().toString())))
        .requestHandler(req -> {
          impostorRequests.incrementAndGet();
          req.response().setStatusCode(500).end();
        });
    int impostorPort = get(impostor.listen(Ports.free(), "127.0.0.1")).actualPort();
    HttpClientAgent http = vertx.createHttpClient(new HttpClientOptions().setSsl(true).setVerifyHost(true)
        .setTrustOptions(new PemTrustOptions().addCertPath(ca.cert.toString()))
        .setKeyCertOptions(new PemKeyCertOptions().setCertPath(member.cert().toString()).setKeyPath(member.key().toString())));
    Map<Setting, String> tls = new EnumMap<>(Setting.class);
    tls.put(Setting.TLS_CERT, member.cert().toString());
    tls.put(Setting.TLS_KEY, member.key().toString());
    tls.put(Setting.TLS_CLIENT_CA, ca.cert.toString());
    History history = new History();
    try (RedisServer redis = RedisServer.start();
        LocalCluster c = LocalCluster.start(dir, 3, 1000, i -> "redis://127.0.0.1:" + redis.port(), tls)) {
      InProcessNode leader = c.awaitLeader(java.time.Duration.ofSeconds(15));
      List<InProcessNode> followers = new ArrayList<>(c.nodes);
      followers.remove(leader);

      // Forwarding over mutual TLS works, once each follower has learnt who leads.
      for (InProcessNode f : followers) {
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(15)).until(() -> post(calls, http, f, history) == 200);
        for (int i = 0; i < 20; i++) {
          assertThat(post(calls, http, f, history)).as("forwarded through %s", f.port).isEqualTo(200);
        }
      }

      // The record now names the impostor: a valid record, as a writer to Redis could plant it.
      ElectionRecord real = ElectionRecord.parse(redis.command("GET", KEY).getBytes(StandardCharsets.ISO_8859_1)).record();
      ElectionRecord planted = new ElectionRecord("impostor", "127.0.0.1:" + impostorPort, "00000000deadbeef",
          real.epoch(), real.ttlMs(), real.acquiredMs(), real.renewedMs(), real.transitions());
      redis.command("SET", KEY, planted.encode(), "PX", "4000");
      long until = System.nanoTime() + SECONDS.toNanos(2);
      int unavailable = 0;
      int served = 0;
      while (System.nanoTime() < until) {
        for (InProcessNode f : followers) {
          int status = post(calls, http, f, history);
          assertThat(status).as("a follower answers UNAVAILABLE or, once a real leader serves, 200").isIn(200, 503);
          if (status == 503) {
            unavailable++;
          } else {
            served++;
          }
        }
        Thread.sleep(20);
      }
      assertThat(unavailable).as("followers refused while the impostor was recorded").isPositive();
      assertThat(impostorRequests.get()).as("no request reached the impostor").isZero();
      long refused = 0;
      for (InProcessNode f : followers) {
        refused += refusedCount(calls, http, f);
      }
      assertThat(refused).as("tso_forward_leader_refused_total on the followers").isPositive();
      System.out.printf("impostor recorded: %d UNAVAILABLE, %d served, %d refused handshakes%n", unavailable, served, refused);

      // A real leader serves again, and forwarding works again (each try with its own limit).
      c.awaitLeader(java.time.Duration.ofSeconds(20));
      org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(40)).until(() ->
          followers.stream().allMatch(f -> {
            try {
              return post(calls, http, f, history, 5) == 200;
            } catch (Exception e) {
              return false;
            }
          }));
    } finally {
      get(vertx.close());
    }
    assertThat(impostorRequests.get()).isZero();
    history.check();
  }

  private static <T> T get(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(20, SECONDS);
  }

  /** POST /v1/timestamps over HTTPS; a 200's range goes into the history. */
  private static int post(Context calls, HttpClientAgent http, InProcessNode n, History history) throws Exception {
    return post(calls, http, n, history, 20);
  }

  /**
   * Every request of the test's client is made on one context. Made from the test's thread, each
   * request gets a new context while the pooled connections stay on theirs, and Vert.x's HTTP/1.1
   * client then now and then lost an answer: the member had written and flushed it, the client's
   * socket had read every byte, and the request still waited out its whole limit (about one run in
   * four on 2 busy cores; none in 16 once on one context).
   */
  private static int post(Context calls, HttpClientAgent http, InProcessNode n, History history, long limitSeconds)
      throws Exception {
    Promise<Integer> status = Promise.promise();
    calls.runOnContext(v -> {
      long sent = System.nanoTime();
      http.request(new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1").setPort(n.port)
              .setURI("/v1/timestamps"))
          .compose(req -> req.send())
          .compose(resp -> resp.body().map(b -> {
            if (resp.statusCode() == 200) {
              JsonObject j = b.toJsonObject();
              history.add(sent, System.nanoTime(), Long.parseUnsignedLong(j.getString("timestamp")), j.getInteger("count"),
                  "n" + n.port);
            }
            return resp.statusCode();
          }))
          .onComplete(status);
    });
    return get(limitSeconds, status.future());
  }

  private static <T> T get(long seconds, Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(seconds, SECONDS);
  }

  private static long refusedCount(Context calls, HttpClientAgent http, InProcessNode n) throws Exception {
    Promise<io.vertx.core.buffer.Buffer> body = Promise.promise();
    calls.runOnContext(v -> http.request(HttpMethod.GET, n.port, "127.0.0.1", "/metrics")
        .compose(req -> req.send()).compose(resp -> resp.body()).onComplete(body));
    return get(body.future()).toString().lines().filter(l -> l.startsWith("tso_forward_leader_refused_total"))
        .mapToLong(l -> (long) Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1))).sum();
  }
}
