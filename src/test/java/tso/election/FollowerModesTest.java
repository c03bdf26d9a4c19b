package tso.election;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.json.JsonObject;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcStatus;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.proto.v1.GetLeaderRequest;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.LeaderInfo;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.support.Clients;
import tso.support.InProcessNode;
import tso.support.LocalCluster;
import tso.support.RedisServer;

/** Redirect mode, a password-protected Redis, and what followers say about the leader. */
class FollowerModesTest {

  @TempDir
  Path dir;

  private static HttpResponse<String> post(String url) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url + "/v1/timestamps"))
        .POST(HttpRequest.BodyPublishers.noBody()).timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static int ready(String url) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url + "/health/ready")).build(),
        HttpResponse.BodyHandlers.discarding()).statusCode();
  }

  /** A Redis that requires a password (set once it answers, so the start-up probe needs none). */
  private static RedisServer startWithPassword(String password) {
    RedisServer redis = RedisServer.start();
    redis.command("CONFIG", "SET", "requirepass", password);
    return redis;
  }

  @Test
  void redirectingFollowersAnswerNotLeaderWithTheLeadersAddressOverHttpAndGrpc() throws Exception {
    try (RedisServer redis = startWithPassword("s3cret");
        LocalCluster c = LocalCluster.start(dir, 2, 600, i -> "redis://:s3cret@127.0.0.1:" + redis.port(),
            Map.of(Setting.FOLLOWER_MODE, "redirect"))) {
      InProcessNode leader = c.awaitLeader(Duration.ofSeconds(10));
      InProcessNode follower = c.nodes.get(1 - c.nodes.indexOf(leader));
      String leaderAddress = "127.0.0.1:" + leader.port;

      assertThat(post(leader.url()).statusCode()).isEqualTo(200);
      HttpResponse<String> refused = post(follower.url());
      assertThat(refused.statusCode()).isEqualTo(503);
      assertThat(refused.headers().firstValue("retry-after")).isPresent();
      JsonObject error = new JsonObject(refused.body()).getJsonObject("error");
      assertThat(error.getString("code")).isEqualTo("NOT_LEADER");
      assertThat(error.getString("leader")).isEqualTo(leaderAddress);
      assertThat(ready(follower.url())).isEqualTo(503); // it cannot answer by itself
      assertThat(ready(leader.url())).isEqualTo(200);

      try (Clients clients = new Clients(follower.port, 1)) {
        GrpcClientResponse<GetTimestampsRequest, tso.proto.v1.TimestampRange> resp = clients.grpc()
            .request(clients.address(), TimestampOracleGrpcClient.GetTimestamps)
            .compose(req -> req.send(GetTimestampsRequest.newBuilder().setCount(1).build()))
            .compose(r -> r.end().transform(ar -> io.vertx.core.Future.succeededFuture(r)))
            .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(resp.status()).isEqualTo(GrpcStatus.UNAVAILABLE);
        // a call with no message is answered Trailers-Only: the trailer travels in the one HEADERS frame
        String hint = resp.trailers().get("tso-leader") != null ? resp.trailers().get("tso-leader")
            : resp.headers().get("tso-leader");
        assertThat(hint).isEqualTo(leaderAddress);
        LeaderInfo info = TimestampOracleGrpcClient.create(clients.grpc(), clients.address())
            .getLeader(GetLeaderRequest.getDefaultInstance()).toCompletionStage().toCompletableFuture()
            .get(10, TimeUnit.SECONDS);
        assertThat(info.getRole()).isEqualTo("follower");
        assertThat(info.getLeader().getAddress()).isEqualTo(leaderAddress);
      }
      JsonObject view = new JsonObject(HttpClient.newHttpClient().send(HttpRequest.newBuilder(
          URI.create(follower.url() + "/v1/leader")).build(), HttpResponse.BodyHandlers.ofString()).body());
      assertThat(view.getString("role")).isEqualTo("follower");
      assertThat(view.getJsonObject("leader").getString("address")).isEqualTo(leaderAddress);
    }
  }

  @Test
  void forwardingFollowersAreReadyAndServe() throws Exception {
    try (RedisServer redis = RedisServer.start();
        LocalCluster c = LocalCluster.start(dir, 2, 600, i -> redis.url(), Map.of())) {
      InProcessNode leader = c.awaitLeader(Duration.ofSeconds(10));
      InProcessNode follower = c.nodes.get(1 - c.nodes.indexOf(leader));
      assertThat(ready(follower.url())).isEqualTo(200);
      HttpResponse<String> ok = post(follower.url());
      assertThat(ok.statusCode()).isEqualTo(200);
      assertThat(new JsonObject(ok.body()).getString("epoch")).isEqualTo(Long.toString(leader.node.view().epoch()));
    }
  }
}
