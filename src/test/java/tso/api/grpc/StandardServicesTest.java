package tso.api.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.health.v1.HealthCheckRequest;
import io.vertx.grpc.health.v1.HealthCheckResponse;
import io.vertx.grpc.reflection.v1.ServerReflectionRequest;
import io.vertx.grpc.reflection.v1.ServerReflectionResponse;
import io.vertx.grpc.reflection.v1.ServiceResponse;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.proto.v1.GetLeaderRequest;
import tso.proto.v1.LeaderInfo;
import tso.proto.v1.TimestampOracleGrpcClient;
import tso.support.Clients;
import tso.support.InProcessNode;

/** grpc.health.v1, server reflection and GetLeader, as a gRPC tool would call them. */
class StandardServicesTest {

  private static final ServiceMethod<HealthCheckResponse, HealthCheckRequest> HEALTH_CHECK = ServiceMethod.client(
      ServiceName.create("grpc.health.v1.Health"), "Check", GrpcMessageEncoder.encoder(),
      GrpcMessageDecoder.decoder(HealthCheckResponse.newBuilder()));
  private static final ServiceMethod<ServerReflectionResponse, ServerReflectionRequest> REFLECTION =
      ServiceMethod.client(ServiceName.create("grpc.reflection.v1.ServerReflection"), "ServerReflectionInfo",
          GrpcMessageEncoder.encoder(), GrpcMessageDecoder.decoder(ServerReflectionResponse.newBuilder()));

  @Test
  void healthReflectionAndLeaderAnswer(@TempDir Path dir) throws Exception {
    try (InProcessNode node = new InProcessNode(dir); Clients clients = new Clients(node.port, 1)) {
      for (String service : new String[] {"", "tso.v1.TimestampOracle"}) {
        HealthCheckResponse health = clients.grpc().request(clients.address(), HEALTH_CHECK)
            .compose(req -> req.send(HealthCheckRequest.newBuilder().setService(service).build()))
            .compose(resp -> resp.last())
            .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(health.getStatus()).as("health of '%s'", service).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
      }

      ServerReflectionResponse listing = clients.grpc().request(clients.address(), REFLECTION)
          .compose(req -> req.send(ServerReflectionRequest.newBuilder().setListServices("*").build()))
          .compose(resp -> resp.last())
          .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      List<String> services = listing.getListServicesResponse().getServiceList().stream()
          .map(ServiceResponse::getName).toList();
      assertThat(services).contains("tso.v1.TimestampOracle", "grpc.health.v1.Health");

      ServerReflectionResponse file = clients.grpc().request(clients.address(), REFLECTION)
          .compose(req -> req.send(ServerReflectionRequest.newBuilder()
              .setFileContainingSymbol("tso.v1.TimestampOracle").build()))
          .compose(resp -> resp.last())
          .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertThat(file.getFileDescriptorResponse().getFileDescriptorProtoCount()).isPositive();

      LeaderInfo leader = TimestampOracleGrpcClient.create(clients.grpc(), clients.address())
          .getLeader(GetLeaderRequest.getDefaultInstance())
          .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertThat(leader.getRole()).isEqualTo("standalone");
      assertThat(leader.getNodeId()).isEqualTo("test-node");
      assertThat(leader.getEpoch()).isEqualTo(1);
      assertThat(leader.getLeader().getAddress()).isEqualTo("127.0.0.1:" + node.port);
    }
  }
}
