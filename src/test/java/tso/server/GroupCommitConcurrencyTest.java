package tso.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.vertx.core.Future;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.IntSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import tso.config.Setting;
import tso.support.Clients;
import tso.support.History;
import tso.support.InProcessNode;

/**
 * 64 concurrent clients over HTTP, gRPC unary and gRPC stream, mixed counts, more than 200,000
 * timestamps: no duplicate, each client strictly increasing, real-time order, and the batch
 * metric shows group commit (batches larger than one request).
 */
class GroupCommitConcurrencyTest {

  private static final int CLIENTS = 66; // 22 per API
  private static final long TIMESTAMPS_PER_CLIENT = 3_100; // 66 x 3,100 = 204,600

  @Test
  void concurrentClientsOverEveryApiGetUniqueIncreasingTimestamps(@TempDir Path dir) throws Exception {
    History history = new History();
    // Four event loops: most requests arrive on a loop other than the allocator's and are handed
    // over; those are merged into batches (on the allocator's own loop they are served inline).
    try (InProcessNode node = new InProcessNode(dir, Map.of(Setting.EVENT_LOOPS, "4"));
        Clients clients = new Clients(node.port, 22)) {
      List<Future<Void>> runs = new ArrayList<>();
      for (int i = 0; i < CLIENTS; i++) {
        IntSupplier counts = mixedCounts(i);
        switch (i % 3) {
          case 0 -> runs.add(clients.http("http-" + i, TIMESTAMPS_PER_CLIENT, counts, history));
          case 1 -> runs.add(clients.unary("unary-" + i, TIMESTAMPS_PER_CLIENT, counts, history));
          default -> runs.add(clients.stream("stream-" + i, TIMESTAMPS_PER_CLIENT, 8, counts, history));
        }
      }
      Future.all(runs).toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);

      assertThat(history.timestamps()).isGreaterThanOrEqualTo(200_000);
      history.check();
      Map<String, List<History.Op>> byClient = opsByClient(history);
      assertThat(byClient).hasSize(CLIENTS);
      for (Map.Entry<String, List<History.Op>> e : byClient.entrySet()) {
        List<History.Op> ops = e.getValue();
        for (int i = 1; i < ops.size(); i++) {
          assertThat(ops.get(i).first()).as("client %s answer %d", e.getKey(), i).isGreaterThan(ops.get(i - 1).last());
        }
      }

      String metrics = scrape(node.url());
      double batches = metric(metrics, "tso_batch_size_count");
      double requests = metric(metrics, "tso_batch_size_sum");
      double largest = metric(metrics, "tso_batch_size_max");
      assertThat(requests).isEqualTo(history.size());
      assertThat(largest).as("largest batch").isGreaterThan(1);
      assertThat(batches).as("batches").isLessThan(requests);
    }
  }

  /** Counts 1..16, most of them small, from a per-client seed. */
  private static IntSupplier mixedCounts(int seed) {
    SplittableRandom r = new SplittableRandom(seed);
    return () -> r.nextInt(4) == 0 ? 1 + r.nextInt(16) : 1 + r.nextInt(3);
  }

  private static Map<String, List<History.Op>> opsByClient(History history) {
    return history.ops().stream()
        .sorted(Comparator.comparingLong(History.Op::completeNanos))
        .collect(Collectors.groupingBy(History.Op::client, Collectors.toList()));
  }

  static String scrape(String url) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
  }

  static double metric(String text, String name) {
    Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + "(?:\\{[^}]*\\})? ([0-9.eE+-]+)$").matcher(text);
    double sum = 0;
    boolean found = false;
    while (m.find()) {
      sum += Double.parseDouble(m.group(1));
      found = true;
    }
    if (!found) {
      throw new AssertionError("metric " + name + " not found");
    }
    return sum;
  }
}
