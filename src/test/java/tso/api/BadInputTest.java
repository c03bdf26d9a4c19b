package tso.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.grpc.client.GrpcClientRequest;
import io.vertx.grpc.client.GrpcClientResponse;
import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.ServiceName;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandlers;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.proto.v1.GetTimestampsRequest;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.support.Clients;
import tso.support.InProcessNode;

/**
 * Every error of the contract, over HTTP and gRPC, against a real node on a real socket: each
 * gets its code and a clear message, never a 500, a stack trace or a dead node.
 */
class BadInputTest {

  private static final int MAX_COUNT = 1000;

  @TempDir
  static Path dir;
  static InProcessNode node;
  static Clients clients;

  @BeforeAll
  static void start() throws Exception {
    node = new InProcessNode(dir, Map.of(Setting.MAX_COUNT, Integer.toString(MAX_COUNT)));
    clients = new Clients(node.port, 4);
  }

  @AfterAll
  static void stop() throws Exception {
    clients.close();
    node.close();
  }

  record Answer(int status, HttpHeaders headers, String body) {
    JsonObject json() {
      return new JsonObject(body);
    }

    String errorCode() {
      return json().getJsonObject("error").getString("code");
    }

    String header(String name) {
      return headers.firstValue(name).orElse(null);
    }
  }

  private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5)).build();

  private static Answer http(HttpMethod method, String path, String contentType, Buffer body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(node.url() + path)).timeout(Duration.ofSeconds(10))
        .method(method.name(), body == null ? BodyPublishers.noBody() : BodyPublishers.ofByteArray(body.getBytes()));
    if (contentType != null) {
      b.header("content-type", contentType);
    }
    HttpResponse<String> resp = HTTP.send(b.build(), BodyHandlers.ofString());
    return new Answer(resp.statusCode(), resp.headers(), resp.body());
  }

  private static Answer post(String contentType, String body) throws Exception {
    return http(HttpMethod.POST, "/v1/timestamps", contentType, body == null ? null : Buffer.buffer(body));
  }

  private static void assertInvalid(Answer a) {
    assertThat(a.status()).as(a.body()).isEqualTo(400);
    assertThat(a.errorCode()).isEqualTo("INVALID_ARGUMENT");
    assertThat(a.json().getJsonObject("error").getString("message")).isNotBlank();
    assertThat(a.header("content-type")).startsWith("application/json");
  }

  @Test
  void countsOutsideTheRangeAreInvalidArgument() throws Exception {
    for (String body : new String[] {"{\"count\":0}", "{\"count\":-1}", "{\"count\":" + (MAX_COUNT + 1) + "}",
        "{\"count\":99999999999}", "{\"count\":184467440737095516150}", "{\"count\":\"0\"}"}) {
      assertInvalid(post("application/json", body));
    }
    assertThat(post("application/json", "{\"count\":" + MAX_COUNT + "}").status()).isEqualTo(200);
  }

  @Test
  void malformedJsonAndWrongTypesAreInvalidArgument() throws Exception {
    for (String body : new String[] {"{\"count\":", "{count:1}", "[1]", "\"1\"", "1", "{\"count\":1.5}",
        "{\"count\":true}", "{\"count\":[1]}", "{\"count\":{\"n\":1}}", "{\"count\":\"one\"}",
        "{\"count\":1,\"extra\":2}", "{\"count\":1}}", "\u0000\u0001garbage"}) {
      assertInvalid(post("application/json", body));
    }
  }

  @Test
  void anEmptyBodyOrANumberAsStringIsAccepted() throws Exception {
    Answer empty = post(null, null);
    assertThat(empty.status()).isEqualTo(200);
    assertThat(empty.json().getInteger("count")).isEqualTo(1);
    Answer str = post("application/json; charset=utf-8", "{\"count\":\"7\"}");
    assertThat(str.status()).isEqualTo(200);
    assertThat(str.json().getInteger("count")).isEqualTo(7);
  }

  @Test
  void oversizeBodiesAre413() throws Exception {
    Answer a = http(HttpMethod.POST, "/v1/timestamps", "application/json", Buffer.buffer(" ".repeat(2_000_000)));
    assertThat(a.status()).isEqualTo(413);
    assertThat(a.errorCode()).isEqualTo("PAYLOAD_TOO_LARGE");
  }

  @Test
  void aBodyOfAnotherMediaTypeIs415() throws Exception {
    Answer a = post("application/x-www-form-urlencoded", "count=1");
    assertThat(a.status()).isEqualTo(415);
    assertThat(a.errorCode()).isEqualTo("UNSUPPORTED_MEDIA_TYPE");
  }

  @Test
  void unknownPathsAre404AndWrongMethods405() throws Exception {
    for (String path : new String[] {"/", "/v1", "/v1/nope", "/v1/timestamps/", "/v2/timestamps", "/%25zz"}) {
      Answer a = http(HttpMethod.GET, path, null, null);
      assertThat(a.status()).as(path).isEqualTo(404);
      assertThat(a.errorCode()).isEqualTo("NOT_FOUND");
    }
    Answer get = http(HttpMethod.GET, "/v1/timestamps", null, null);
    assertThat(get.status()).isEqualTo(405);
    assertThat(get.header("allow")).isEqualTo("POST");
    assertThat(get.errorCode()).isEqualTo("METHOD_NOT_ALLOWED");
    assertThat(http(HttpMethod.DELETE, "/v1/leader", null, null).status()).isEqualTo(405);
    assertThat(http(HttpMethod.POST, "/metrics", "application/json", Buffer.buffer("{}")).status()).isEqualTo(405);
    assertThat(http(HttpMethod.PUT, "/health/ready", null, null).status()).isEqualTo(405);
  }

  @Test
  void grpcCountAboveTheMaximumIsInvalidArgumentOverUnaryAndStream() throws Exception {
    TimestampOracleGrpcClient stub = TimestampOracleGrpcClient.create(clients.grpc(), clients.address());
    Throwable unary = stub.getTimestamps(GetTimestampsRequest.newBuilder().setCount(MAX_COUNT + 1).build())
        .toCompletionStage().toCompletableFuture().handle((r, e) -> e).get(10, TimeUnit.SECONDS);
    assertThat(unary).isNotNull();
    assertThat(unary.getMessage()).contains("INVALID_ARGUMENT");
    Throwable huge = stub.getTimestamps(GetTimestampsRequest.newBuilder().setCount((int) 4_000_000_000L).build())
        .toCompletionStage().toCompletableFuture().handle((r, e) -> e).get(10, TimeUnit.SECONDS);
    assertThat(huge.getMessage()).contains("INVALID_ARGUMENT");

    GrpcStatus status = clients.grpc().request(clients.address(), TimestampOracleGrpcClient.StreamTimestamps)
        .compose(req -> {
          req.write(GetTimestampsRequest.newBuilder().setCount(1).build());
          req.write(GetTimestampsRequest.newBuilder().setCount(MAX_COUNT + 1).build());
          return req.response();
        })
        .compose(resp -> resp.end().transform(ar -> Future.succeededFuture(resp.status())))
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertThat(status).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
  }

  @Test
  void malformedProtobufIsInvalidArgument() throws Exception {
    for (String method : new String[] {"GetTimestamps", "StreamTimestamps", "GetLeader"}) {
      GrpcStatus status = rawCall(method, Buffer.buffer(new byte[] {(byte) 0x08, (byte) 0xff, (byte) 0xff}));
      assertThat(status).as(method).isEqualTo(GrpcStatus.INVALID_ARGUMENT);
    }
  }

  @Test
  void unknownGrpcMethodIsUnimplemented() throws Exception {
    assertThat(rawCall("NoSuchMethod", Buffer.buffer())).isEqualTo(GrpcStatus.UNIMPLEMENTED);
  }

  private static GrpcStatus rawCall(String method, Buffer payload) throws Exception {
    return clients.raw().compose((GrpcClientRequest<Buffer, Buffer> req) -> {
      req.serviceName(ServiceName.create("tso.v1.TimestampOracle")).methodName(method);
      req.end(payload);
      return req.response();
    }).compose((GrpcClientResponse<Buffer, Buffer> resp) -> resp.end()
        .transform(ar -> Future.succeededFuture(resp.status())))
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @Test
  void theNodeStaysHealthyAfterBadInput() throws Exception {
    countsOutsideTheRangeAreInvalidArgument();
    malformedJsonAndWrongTypesAreInvalidArgument();
    malformedProtobufIsInvalidArgument();
    assertThat(http(HttpMethod.GET, "/health/ready", null, null).status()).isEqualTo(200);
    assertThat(http(HttpMethod.GET, "/health/live", null, null).status()).isEqualTo(200);
    String metrics = http(HttpMethod.GET, "/metrics", null, null).body();
    assertThat(metrics).contains("tso_requests_total{api=\"http\",outcome=\"invalid_argument\"}");
    assertThat(post(null, null).status()).isEqualTo(200);
  }
}
