package tso.k8s;

import static java.util.concurrent.TimeUnit.MILLISECONDS;
import static java.util.concurrent.TimeUnit.NANOSECONDS;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.File;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.UUID;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import tso.client.TsoClient;
import tso.client.TsoClientOptions;
import tso.config.Setting;
import tso.support.Certs;
import tso.support.Callers;
import tso.support.History;
import tso.support.NodeProcess;
import tso.support.Ports;
import tso.support.RedisServer;
import tso.support.Resp;

/**
 * The rolling-restart rehearsal: the production overlay ({@code k8s/overlays/production}, rendered
 * with {@code kubectl kustomize} at test time) played out on loopback. Three {@code tso server}
 * processes and a real redis-server stand for the StatefulSet's pods and its Redis, configured from
 * the rendered StatefulSet: its {@code TSO_} variables (literal values, the ConfigMap it takes with
 * {@code envFrom}, the downward API), its probes, its {@code preStop} hook, its
 * {@code terminationGracePeriodSeconds} and {@code minReadySeconds}. Nothing of these is repeated
 * here by hand; only what names the cluster is replaced by a loopback equivalent (see
 * {@link Deployment#localEnv}).
 *
 * <p>While 500 callers draw timestamps through {@link TsoClient} (given the three members), the
 * test acts as the StatefulSet controller and the kubelet of a rolling update would: pod by pod,
 * highest ordinal first, run the {@code preStop} hook, send SIGTERM, wait up to what is left of
 * the grace period (SIGKILL after it, which fails the rehearsal), start the pod again with the same
 * volume (the data directory), and run the startup probe, then the readiness probe at their periods
 * and wait {@code minReadySeconds} before the next pod. The liveness probe runs throughout at its
 * period: a pod it would have restarted fails the rehearsal.
 *
 * <p>Required: no failed call, a clean history (no timestamp twice, real-time order), no call
 * longer than the client's deadline, and no incident (a SIGKILL after the grace period, a non-zero
 * exit after SIGTERM, a probe the kubelet would have acted on, a node that died on its own). The
 * longest call (while rolling, and overall) and the number of leader changes (distinct epochs in the
 * answers, minus one) are printed, with a timeline of what happened and when the slow calls were
 * sent. A second method does the same with SIGKILL instead (a node lost: no preStop, no grace):
 * calls may wait, but none may fail within its deadline (the client's default, 10 s).
 *
 * <p>The manifest's values are used as they are (lease TTL 2 s, preStop, grace period, probes,
 * minReadySeconds); nothing is scaled down. The nodes' logs stay in {@code target/rehearsal/}.
 * Without kubectl on PATH the test is skipped.
 */
@Tag("integration")
class RollingRestartRehearsalTest {

  /** The project root (surefire runs in it); the manifests are read from its k8s/ directory. */
  static final Path ROOT = Path.of("").toAbsolutePath();
  static final Path OVERLAY = ROOT.resolve("k8s/overlays/production");
  static final int CALLERS = 500;
  /** Callers of the warm-up before the rehearsal (see {@link #rehearse}). */
  static final int WARM_UP_CALLERS = 50;
  /** Load before the first pod goes, and after the last one is back. */
  static final Duration STEADY = Duration.ofSeconds(3);

  @TempDir
  Path dir;
  RedisServer redis;
  Deployment deployment;
  TsoClient client;
  Callers callers;
  Vertx infra;
  HttpClientAgent leaderInfo;
  ScheduledExecutorService kubelet;
  final List<LocalPod> pods = new ArrayList<>();
  /** What fails the rehearsal besides the calls: a SIGKILL after the grace, a probe the kubelet would act on. */
  final Queue<String> incidents = new ConcurrentLinkedQueue<>();
  /** What happened when (t from the rehearsal's start), printed at the end next to the slow calls. */
  final Queue<String> events = new ConcurrentLinkedQueue<>();
  long originNanos;
  /** The nodes' logs, kept after the test: target/rehearsal/<SIGTERM|SIGKILL>/. */
  Path logs;

  @AfterEach
  void tearDown() throws Exception {
    if (kubelet != null) {
      kubelet.shutdownNow();
    }
    if (callers != null) {
      callers.close();
    }
    if (client != null) {
      client.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
    }
    if (infra != null) {
      infra.close().toCompletionStage().toCompletableFuture().get(10, SECONDS);
    }
    for (LocalPod p : pods) {
      if (p.node != null) {
        p.node.close(); // SIGKILL if still running
      }
    }
    if (redis != null) {
      redis.close();
    }
  }

  @Test
  @Timeout(value = 300, unit = SECONDS)
  void rollingRestartWithPreStopAndSigtermFailsNoCall() throws Exception {
    rehearse(false);
  }

  @Test
  @Timeout(value = 300, unit = SECONDS)
  void sigkillPodByPodFailsNoCallWithinItsDeadline() throws Exception {
    rehearse(true);
  }

  // -----------------------------------------------------------------------------------------------
  // The rehearsal

  private void rehearse(boolean sigkill) throws Exception {
    String name = sigkill ? "SIGKILL" : "SIGTERM";
    originNanos = System.nanoTime();
    logs = ROOT.resolve("target/rehearsal").resolve(name);
    deleteTree(logs);
    deployment = Deployment.render(OVERLAY, dir.resolve("volumes"));
    System.out.println("[rehearsal " + name + "] " + deployment.describe());
    deployment.printLocalEnv(0);

    infra = Vertx.vertx();
    leaderInfo = infra.createHttpClient(deployment.tls(new HttpClientOptions()));
    redis = RedisServer.start();
    if (deployment.redisPassword != null) {
      // As the production Redis does with the Secret's password (requirepass); set after start,
      // since RedisServer checks that it is up with an unauthenticated PING.
      assertThat(redis.command("CONFIG", "SET", "requirepass", deployment.redisPassword)).isEqualTo("OK");
    }
    for (int i = 0; i < deployment.replicas; i++) {
      pods.add(new LocalPod(i, deployment.podName(i), deployment.localPorts(), deployment.apiContainerPort));
    }
    // podManagementPolicy Parallel: all pods at once, all ready (OrderedReady: one after the other).
    long lastReady = 0;
    for (LocalPod p : pods) {
      start(p);
      if (!"Parallel".equals(deployment.podManagementPolicy)) {
        awaitAvailable(p);
      }
    }
    for (LocalPod p : pods) {
      lastReady = Math.max(lastReady, awaitReady(p));
    }
    sleepUntil(lastReady + SECONDS.toNanos(deployment.minReadySeconds));
    event("all pods available");
    kubelet = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "kubelet-liveness");
      t.setDaemon(true);
      return t;
    });
    if (deployment.liveness != null) {
      long period = deployment.liveness.periodSeconds * 1000L;
      kubelet.scheduleAtFixedRate(this::livenessRound, period, period, MILLISECONDS);
    }

    client = TsoClient.create(pods.stream().map(p -> "127.0.0.1:" + p.apiPort()).toList(),
        deployment.tls(new TsoClientOptions().setConnections(2)));
    History history = new History();
    // A warm-up, not rehearsed: a new client's first calls to a new cluster (the nodes warmed up
    // their own stacks, but not the leader's allocator path nor the client) on 2 shared cores. Seen there: 500 callers
    // at once cost the first leader its lease (event loops blocked, no renewal for 2 s) and the
    // first calls up to 5.6 s; on a busier machine even 50 callers' first calls ran past their
    // deadline while the client connected over TLS. Its answers go into the history too.
    Callers warmUp = new Callers(client, history, epoch -> event("first answer of epoch " + epoch + " (warm-up)"));
    warmUp.start(0, WARM_UP_CALLERS);
    event(WARM_UP_CALLERS + " warm-up callers started");
    await().atMost(Duration.ofSeconds(120)).until(() -> warmUp.successes() > 5_000);
    warmUp.stop();
    await().atMost(Duration.ofSeconds(30)).until(() -> warmUp.active() == 0);
    warmUp.close();
    event(String.format("warm-up done: %d calls answered, %d failed, longest %d ms", warmUp.successes(),
        warmUp.failures().size(), warmUp.longestNanos() / 1_000_000));

    callers = new Callers(client, history, epoch -> event("first answer of epoch " + epoch));
    callers.start(0, CALLERS);
    event(CALLERS + " callers started");
    await().pollDelay(STEADY).atMost(Duration.ofSeconds(30)).until(() -> callers.successes() > 10_000);
    long firstEpochs = callers.epochs().size();

    long began = System.nanoTime();
    callers.rollBegan(began);
    // A rolling update (and the order a StatefulSet's pods are replaced in): highest ordinal first.
    for (int i = pods.size() - 1; i >= 0; i--) {
      LocalPod p = pods.get(i);
      String role = role(p);
      event(p.name + " is " + role);
      long t0 = System.nanoTime();
      long before = callers.successes();
      String stop = sigkill ? kill(p) : terminate(p);
      long down = System.nanoTime();
      start(p);
      long ready = awaitAvailable(p);
      System.out.printf("[rehearsal %s] %s (%s): %s; started again %d ms after the stop began; ready %d ms after"
              + " its start, available after minReadySeconds %d s; %d calls answered meanwhile%n",
          name, p.name, role, stop, (down - t0) / 1_000_000, (ready - p.startedNanos) / 1_000_000,
          deployment.minReadySeconds, callers.successes() - before);
    }
    long rolledMs = (System.nanoTime() - began) / 1_000_000;
    long after = callers.successes();
    await().pollDelay(STEADY).atMost(Duration.ofSeconds(30)).until(() -> callers.successes() > after + 1_000);

    callers.stop();
    await().atMost(Duration.ofSeconds(30)).until(() -> callers.active() == 0);
    for (LocalPod p : pods) {
      if (!p.node.process().isAlive()) {
        incidents.add(p.name + " exited on its own with " + p.node.process().exitValue() + ": " + tail(p.node));
      }
    }
    int leaderChanges = callers.epochs().size() - 1;
    System.out.printf("[rehearsal %s] %d pods rolled in %d ms under %d callers: %d calls answered, %d failed;"
            + " longest call %d ms while rolling (%d ms from the callers' start), %d calls over"
            + " 1 s; leader changes %d (epochs seen %s; %d before the first pod went); client failovers %d,"
            + " retries %d, refused answers %d; incidents %d%n",
        name, pods.size(), rolledMs, CALLERS, history.size(), callers.failures().size(),
        callers.longestWhileRollingNanos() / 1_000_000, callers.longestNanos() / 1_000_000, callers.overOneSecond(),
        leaderChanges,
        callers.epochs().stream().sorted().toList(), firstEpochs, client.failovers(), client.retries(),
        client.refusedAnswers(), incidents.size());

    System.out.printf("[rehearsal %s] events:%n  %s%n[rehearsal %s] slow calls:%s%n", name,
        String.join(String.format("%n  "), events), name, slowCalls());

    assertThat(incidents).as("what the kubelet would have done otherwise").isEmpty();
    assertThat(callers.failures().size()).as("failed calls, the first of them: %s",
        callers.failures().stream().limit(10).toList()).isZero();
    assertThat(callers.longestNanos()).as("longest call, in nanoseconds")
        .isLessThanOrEqualTo(MILLISECONDS.toNanos(TsoClientOptions.DEFAULT_DEADLINE_MS));
    assertThat(client.refusedAnswers()).as("answers the client refused as out of order").isZero();
    assertThat(leaderChanges).as("leader changes: every pod, the leader among them, was restarted")
        .isGreaterThanOrEqualTo(1);
    history.check();
  }

  private void event(String what) {
    events.add(String.format("t=%6.1f s  %s", (System.nanoTime() - originNanos) / 1e9, what));
  }

  /** The calls that took over a second, by the second they were sent in (t as in {@link #events}). */
  private String slowCalls() {
    Map<Long, long[]> bySecond = new java.util.TreeMap<>();
    for (long[] c : callers.slow()) {
      long[] b = bySecond.computeIfAbsent((c[0] - originNanos) / 1_000_000_000L, k -> new long[2]);
      b[0]++;
      b[1] = Math.max(b[1], c[1] - c[0]);
    }
    StringBuilder sb = new StringBuilder();
    bySecond.forEach((sec, b) -> sb.append(String.format("%n  sent in t=%d..%d s: %d calls over 1 s, longest %d ms",
        sec, sec + 1, b[0], b[1] / 1_000_000)));
    return sb.length() == 0 ? " none" : sb.toString();
  }

  private static void deleteTree(Path root) throws IOException {
    if (!Files.exists(root)) {
      return;
    }
    try (var files = Files.walk(root)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
    }
  }

  /**
   * As the kubelet deletes a pod: the preStop hook, SIGTERM, then what is left of
   * terminationGracePeriodSeconds (at least 2 s after a hook that used it all up), then SIGKILL.
   */
  private String terminate(LocalPod p) throws Exception {
    p.probing = false; // the kubelet stops the liveness probe of a terminating pod
    long t0 = System.nanoTime();
    event(p.name + " terminating: " + (deployment.preStop == null ? "no preStop" : deployment.preStop.description));
    long graceNanos = SECONDS.toNanos(deployment.terminationGracePeriodSeconds);
    String hook = deployment.preStop == null ? "no preStop" : deployment.preStop.run(p, graceNanos);
    long hookEnd = System.nanoTime();
    long deadline = Math.max(t0 + graceNanos, hookEnd + SECONDS.toNanos(2));
    p.node.term();
    event(p.name + " SIGTERM");
    long term = System.nanoTime();
    boolean exited = p.node.process().waitFor(deadline - term, NANOSECONDS);
    long exitNanos = System.nanoTime() - term;
    if (!exited) {
      p.node.kill9();
      incidents.add(p.name + ": still running " + deployment.terminationGracePeriodSeconds
          + " s (terminationGracePeriodSeconds) after the stop began; SIGKILLed: " + tail(p.node));
      return hook + ", SIGTERM, SIGKILL after the grace period";
    }
    int code = p.node.process().exitValue();
    event(p.name + " exited with " + code);
    if (code != 0) {
      incidents.add(p.name + ": exit " + code + " after SIGTERM: " + tail(p.node));
    }
    return String.format("%s, SIGTERM, exit %d after %d ms (%d ms of the %d s grace period used)", hook, code,
        exitNanos / 1_000_000, (System.nanoTime() - t0) / 1_000_000, deployment.terminationGracePeriodSeconds);
  }

  /** A node lost: SIGKILL, no preStop, no grace. */
  private String kill(LocalPod p) throws Exception {
    p.probing = false;
    p.node.kill9();
    event(p.name + " SIGKILLed");
    return "SIGKILL";
  }

  private void start(LocalPod p) throws IOException {
    Map<String, String> env = deployment.localEnv(p.ordinal, p.ports, redis.url());
    p.livenessFailures.set(0);
    p.node = NodeProcess.start(logs, p.apiPort(), env);
    p.startedNanos = System.nanoTime();
    event(p.name + " started (log " + ROOT.relativize(p.node.log) + ")");
  }

  /**
   * As the kubelet after a container starts: the startup probe at its period until it succeeds
   * (failureThreshold failures: the kubelet would restart the container, an incident), then the
   * readiness probe at its period until it succeeds successThreshold times in a row; then, as the
   * StatefulSet controller, minReadySeconds before the pod counts as available. Returns when it
   * became ready.
   */
  private long awaitAvailable(LocalPod p) throws Exception {
    long ready = awaitReady(p);
    // minReadySeconds: the controller moves on once the pod has stayed ready that long.
    Probe readiness = deployment.readiness;
    long availableAt = ready + SECONDS.toNanos(deployment.minReadySeconds);
    int failures = 0;
    for (long next = ready + SECONDS.toNanos(readiness.periodSeconds); next < availableAt;
        next += SECONDS.toNanos(readiness.periodSeconds)) {
      sleepUntil(next);
      alive(p);
      failures = readiness.check(p) ? 0 : failures + 1;
      if (failures >= readiness.failureThreshold) {
        throw new AssertionError(p.name + " became unready again within minReadySeconds: " + tail(p.node));
      }
    }
    sleepUntil(availableAt);
    event(p.name + " available (minReadySeconds " + deployment.minReadySeconds + ")");
    return ready;
  }

  /** The startup probe, then the readiness probe, as in {@link #awaitAvailable}; returns when the pod became ready. */
  private long awaitReady(LocalPod p) throws Exception {
    Probe startup = deployment.startup;
    if (startup != null) {
      long next = p.startedNanos + SECONDS.toNanos(startup.initialDelaySeconds);
      int failures = 0;
      while (true) {
        sleepUntil(next);
        alive(p);
        if (startup.check(p)) {
          break;
        }
        if (++failures >= startup.failureThreshold) {
          incidents.add(p.name + ": startup probe failed " + failures + " times: the kubelet would restart it ("
              + role(p) + "; " + redisKeys() + ")");
          throw new AssertionError(incidents + ": " + tail(p.node));
        }
        next += SECONDS.toNanos(startup.periodSeconds);
      }
    }
    Probe readiness = deployment.readiness;
    long next = startup != null ? System.nanoTime()
        : p.startedNanos + SECONDS.toNanos(readiness.initialDelaySeconds);
    long giveUp = System.nanoTime() + SECONDS.toNanos(60);
    int successes = 0;
    while (successes < readiness.successThreshold) {
      sleepUntil(next);
      alive(p);
      successes = readiness.check(p) ? successes + 1 : 0;
      if (System.nanoTime() > giveUp) {
        throw new AssertionError(p.name + " not ready within 60 s (" + role(p) + "): " + tail(p.node));
      }
      next += SECONDS.toNanos(readiness.periodSeconds);
    }
    long ready = System.nanoTime();
    event(p.name + " ready");
    p.probing = true;
    return ready;
  }

  /** One round of liveness probes on every pod past its startup probe and not terminating. */
  private void livenessRound() {
    for (LocalPod p : pods) {
      if (!p.probing) {
        continue;
      }
      boolean ok;
      try {
        ok = deployment.liveness.check(p);
      } catch (Exception e) {
        ok = false;
      }
      if (!p.probing) {
        continue; // terminated meanwhile
      }
      int failed = ok ? 0 : p.livenessFailures.incrementAndGet();
      if (ok) {
        p.livenessFailures.set(0);
      }
      if (failed >= deployment.liveness.failureThreshold) {
        incidents.add(p.name + ": liveness probe failed " + failed + " times in a row: the kubelet would restart it");
        p.livenessFailures.set(0);
      }
    }
  }

  private static void alive(LocalPod p) {
    if (!p.node.process().isAlive()) {
      throw new AssertionError(p.name + " exited with " + p.node.process().exitValue() + ": " + tail(p.node));
    }
  }

  private static void sleepUntil(long nanos) throws InterruptedException {
    long wait = nanos - System.nanoTime();
    if (wait > 0) {
      NANOSECONDS.sleep(wait);
    }
  }

  private static String tail(NodeProcess n) {
    String out = n.output();
    return out.length() > 4000 ? "…" + out.substring(out.length() - 4000) : out;
  }

  /**
   * What the nodes wrote to Redis (with the password the nodes were given, if any), for a node that
   * never became ready: no keys at all means no node ever got through to Redis.
   */
  private String redisKeys() {
    try (Resp.Connection c = redis.connect()) {
      if (deployment.redisPassword != null) {
        c.call(Duration.ofSeconds(5), "AUTH", deployment.redisPassword);
      }
      return "keys in Redis: " + c.call(Duration.ofSeconds(5), "KEYS", "*").text()
          + (deployment.redisPassword == null ? "" : " (Redis requires the password in TSO_REDIS_PASSWORD_FILE)");
    } catch (RuntimeException e) {
      return "Redis: " + e;
    }
  }

  /** The pod's role and epoch from GET /v1/leader on its port (TLS as the manifest says), for the log. */
  private String role(LocalPod p) {
    try {
      String body = leaderInfo.request(HttpMethod.GET, p.apiPort(), "127.0.0.1", "/v1/leader")
          .compose(req -> req.send().compose(resp -> resp.body()))
          .toCompletionStage().toCompletableFuture().get(5, SECONDS).toString();
      JsonObject o = new JsonObject(body);
      return o.getString("role") + (o.getString("role").equals("leader") ? ", epoch " + o.getString("epoch") : "");
    } catch (Exception e) {
      return "role unknown: " + e;
    }
  }

  /** One pod: its ordinal, name, local ports (container port to loopback port), running process. */
  static final class LocalPod {
    final int ordinal;
    final String name;
    final Map<Integer, Integer> ports;
    final int apiContainerPort;
    volatile NodeProcess node;
    volatile long startedNanos;
    /** Past its startup probe and not terminating: the liveness probe runs. */
    volatile boolean probing;
    final AtomicInteger livenessFailures = new AtomicInteger();

    LocalPod(int ordinal, String name, Map<Integer, Integer> ports, int apiContainerPort) {
      this.ordinal = ordinal;
      this.name = name;
      this.ports = ports;
      this.apiContainerPort = apiContainerPort;
    }

    int apiPort() {
      return ports.get(apiContainerPort);
    }
  }

  // -----------------------------------------------------------------------------------------------
  // The rendered manifest

  /** An HTTP probe of the container, as the kubelet runs it (a GET, success 200-399). */
  record Probe(String kind, String path, int containerPort, int initialDelaySeconds, int periodSeconds,
      int timeoutSeconds, int successThreshold, int failureThreshold) {

    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(1)).build();

    static Probe parse(String kind, JsonNode probe, Map<String, Integer> namedPorts) {
      if (probe == null || probe.isMissingNode() || probe.isNull()) {
        return null;
      }
      JsonNode get = probe.path("httpGet");
      if (get.isMissingNode()) {
        throw new AssertionError(kind + ": only an httpGet probe can be rehearsed here, not " + probe);
      }
      if (!get.path("scheme").asText("HTTP").equals("HTTP")) {
        throw new AssertionError(kind + ": scheme " + get.path("scheme").asText()
            + ": the kubelet presents no client certificate, so a probe on the mutual-TLS port cannot succeed");
      }
      return new Probe(kind, get.path("path").asText("/"), port(get.path("port"), namedPorts),
          probe.path("initialDelaySeconds").asInt(0), probe.path("periodSeconds").asInt(10),
          probe.path("timeoutSeconds").asInt(1), probe.path("successThreshold").asInt(1),
          probe.path("failureThreshold").asInt(3));
    }

    /** A probe's or hook's port: a number, or the name of a container port. */
    static int port(JsonNode port, Map<String, Integer> namedPorts) {
      if (port.isInt() || port.asText().matches("[0-9]+")) {
        return port.asInt();
      }
      Integer p = namedPorts.get(port.asText());
      if (p == null) {
        throw new AssertionError("port " + port + " names no container port (" + namedPorts + ")");
      }
      return p;
    }

    boolean check(LocalPod p) throws InterruptedException {
      Integer local = p.ports.get(containerPort);
      try {
        HttpResponse<Void> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + local + path))
                .header("User-Agent", "kube-probe/rehearsal").timeout(Duration.ofSeconds(timeoutSeconds)).GET().build(),
            HttpResponse.BodyHandlers.discarding());
        return r.statusCode() >= 200 && r.statusCode() < 400;
      } catch (IOException e) {
        return false;
      }
    }

    @Override
    public String toString() {
      return kind + " GET :" + containerPort + path + " every " + periodSeconds + " s, timeout " + timeoutSeconds
          + " s, failureThreshold " + failureThreshold;
    }
  }

  /** The preStop hook: a sleep (the sleep action, or an exec of sleep), or an HTTP GET. */
  record PreStop(String description, long sleepMillis, String httpPath, int httpContainerPort) {

    private static final Pattern SLEEP = Pattern.compile("(?:/bin/|/usr/bin/)?sleep\\s+([0-9.]+)s?");

    static PreStop parse(JsonNode hook, Map<String, Integer> namedPorts) {
      if (hook == null || hook.isMissingNode() || hook.isNull()) {
        return null;
      }
      if (hook.has("sleep")) {
        long s = hook.path("sleep").path("seconds").asLong();
        return new PreStop("preStop sleep " + s + " s", SECONDS.toMillis(s), null, 0);
      }
      if (hook.has("exec")) {
        List<String> cmd = new ArrayList<>();
        hook.path("exec").path("command").forEach(c -> cmd.add(c.asText()));
        // `sleep N`, directly or through `sh -c`: slept here. Anything else cannot be run outside
        // the container (and the distroless image has no shell).
        String line = cmd.size() == 3 && cmd.get(0).endsWith("sh") && cmd.get(1).equals("-c") ? cmd.get(2).trim()
            : String.join(" ", cmd).trim();
        Matcher m = SLEEP.matcher(line);
        if (!m.matches()) {
          throw new AssertionError("preStop exec " + cmd + ": only a sleep can be rehearsed here");
        }
        long ms = new BigDecimal(m.group(1)).multiply(BigDecimal.valueOf(1000)).longValue();
        return new PreStop("preStop exec " + cmd + " (slept " + ms + " ms)", ms, null, 0);
      }
      if (hook.has("httpGet")) {
        JsonNode get = hook.path("httpGet");
        return new PreStop("preStop GET " + get.path("path").asText("/"), 0, get.path("path").asText("/"),
            Probe.port(get.path("port"), namedPorts));
      }
      throw new AssertionError("preStop " + hook + ": not a hook this rehearsal knows");
    }

    /** Runs it within the grace period (the kubelet cuts a hook off at its end); returns what it did. */
    String run(LocalPod p, long graceNanos) throws Exception {
      long t0 = System.nanoTime();
      if (httpPath != null) {
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        int status;
        try {
          status = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + p.ports.get(httpContainerPort)
              + httpPath)).timeout(Duration.ofNanos(graceNanos)).GET().build(), HttpResponse.BodyHandlers.discarding())
              .statusCode();
        } catch (IOException e) {
          status = -1;
        }
        return description + " → " + status + " after " + (System.nanoTime() - t0) / 1_000_000 + " ms";
      }
      Thread.sleep(Math.min(sleepMillis, NANOSECONDS.toMillis(graceNanos)));
      return description;
    }
  }

  /**
   * The TSO StatefulSet of the rendered overlay, and how its pods map onto loopback: a local port
   * for each container port, a directory for each volume (kept across restarts for a
   * volumeClaimTemplate, shared by every pod for a Secret), test certificates and a Redis password
   * for the Secrets.
   */
  static final class Deployment {
    final List<JsonNode> objects;
    final JsonNode statefulSet;
    final JsonNode pod;
    final JsonNode container;
    final String stsName;
    final String namespace;
    final String serviceName;
    final String podManagementPolicy;
    final int replicas;
    final int minReadySeconds;
    final int terminationGracePeriodSeconds;
    final Map<String, Integer> namedPorts = new LinkedHashMap<>();
    final List<Integer> containerPorts = new ArrayList<>();
    final Probe startup;
    final Probe readiness;
    final Probe liveness;
    final PreStop preStop;
    final Path volumes;
    final int apiContainerPort;
    /** Test material for the Secrets the env points into, made on first use. */
    Certs.Ca ca;
    Certs.Leaf member;
    Certs.Leaf clientCert;
    String redisPassword;
    boolean tls;
    boolean mutualTls;

    private Deployment(List<JsonNode> objects, JsonNode statefulSet, Path volumes) throws Exception {
      this.objects = objects;
      this.statefulSet = statefulSet;
      this.volumes = volumes;
      JsonNode spec = statefulSet.path("spec");
      pod = spec.path("template").path("spec");
      container = tsoContainer(statefulSet);
      stsName = statefulSet.path("metadata").path("name").asText();
      namespace = statefulSet.path("metadata").path("namespace").asText("default");
      serviceName = spec.path("serviceName").asText();
      podManagementPolicy = spec.path("podManagementPolicy").asText("OrderedReady");
      replicas = spec.path("replicas").asInt(1);
      minReadySeconds = spec.path("minReadySeconds").asInt(0);
      terminationGracePeriodSeconds = pod.path("terminationGracePeriodSeconds").asInt(30);
      JsonNode strategy = spec.path("updateStrategy");
      assertThat(strategy.path("type").asText("RollingUpdate")).as("updateStrategy").isEqualTo("RollingUpdate");
      assertThat(strategy.path("rollingUpdate").path("maxUnavailable").asText("1"))
          .as("updateStrategy.rollingUpdate.maxUnavailable: pod by pod").isEqualTo("1");
      for (JsonNode p : container.path("ports")) {
        int port = p.path("containerPort").asInt();
        containerPorts.add(port);
        if (p.has("name")) {
          namedPorts.put(p.path("name").asText(), port);
        }
      }
      startup = Probe.parse("startupProbe", container.path("startupProbe"), namedPorts);
      readiness = Probe.parse("readinessProbe", container.path("readinessProbe"), namedPorts);
      liveness = Probe.parse("livenessProbe", container.path("livenessProbe"), namedPorts);
      assertThat(readiness).as("the TSO container's readinessProbe").isNotNull();
      preStop = PreStop.parse(container.path("lifecycle").path("preStop"), namedPorts);
      for (Probe p : new Probe[] {startup, readiness, liveness}) {
        if (p != null) {
          assertThat(containerPorts).as("%s's port is a container port", p.kind).contains(p.containerPort);
        }
      }
      // TSO_PORT names the API port; it must be a container port (what the Services target).
      Map<String, Resolved> env0 = env(0);
      Resolved port = env0.get("TSO_PORT");
      apiContainerPort = Integer.parseInt(port == null ? Setting.PORT.defaultValue : port.value);
      assertThat(containerPorts).as("TSO_PORT is a container port").contains(apiContainerPort);
      // Make the loopback env once now, so a manifest this rehearsal cannot map fails before any start.
      localEnv(0, localPorts(), "redis://127.0.0.1:6379");
    }

    static Deployment render(Path overlay, Path volumes) throws Exception {
      Assumptions.assumeTrue(onPath("kubectl"), "kubectl is not on PATH: the rolling-restart rehearsal renders the"
          + " production overlay with `kubectl kustomize` and is skipped without it (Debian: kubernetes-client)");
      assertThat(overlay).as("the production overlay").isDirectory();
      Path out = Files.createTempFile("kustomize-", ".yaml");
      Path err = Files.createTempFile("kustomize-", ".err");
      try {
        Process p = new ProcessBuilder("kubectl", "kustomize", overlay.toString())
            .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(120, SECONDS)) {
          p.destroyForcibly();
          throw new AssertionError("kubectl kustomize " + overlay + " took over 120 s");
        }
        if (p.exitValue() != 0) {
          throw new AssertionError("kubectl kustomize " + overlay + " failed: " + Files.readString(err));
        }
        List<JsonNode> objects = new ArrayList<>();
        Iterator<JsonNode> it = new YAMLMapper().readerFor(JsonNode.class).readValues(Files.readString(out));
        while (it.hasNext()) {
          JsonNode n = it.next();
          if (n != null && n.isObject()) {
            objects.add(n);
          }
        }
        // The TSO's StatefulSet: the one whose container takes TSO_ settings.
        List<JsonNode> tso = objects.stream().filter(o -> o.path("kind").asText().equals("StatefulSet"))
            .filter(o -> {
              JsonNode c = tsoContainer(o);
              return c != null && tsoSettings(objects, c);
            }).toList();
        assertThat(tso).as("StatefulSets whose container takes TSO_ settings").hasSize(1);
        return new Deployment(objects, tso.get(0), volumes);
      } finally {
        Files.deleteIfExists(out);
        Files.deleteIfExists(err);
      }
    }

    private static JsonNode tsoContainer(JsonNode sts) {
      JsonNode containers = sts.path("spec").path("template").path("spec").path("containers");
      for (JsonNode c : containers) {
        for (JsonNode e : c.path("env")) {
          if (e.path("name").asText().startsWith("TSO_")) {
            return c;
          }
        }
        if (c.has("envFrom")) {
          return c;
        }
      }
      return null;
    }

    private static boolean tsoSettings(List<JsonNode> objects, JsonNode c) {
      for (JsonNode e : c.path("env")) {
        if (e.path("name").asText().startsWith("TSO_")) {
          return true;
        }
      }
      for (JsonNode from : c.path("envFrom")) {
        JsonNode cm = find(objects, "ConfigMap", from.path("configMapRef").path("name").asText());
        if (cm != null) {
          Iterator<String> names = cm.path("data").fieldNames();
          while (names.hasNext()) {
            if (names.next().startsWith("TSO_")) {
              return true;
            }
          }
        }
      }
      return false;
    }

    static JsonNode find(List<JsonNode> objects, String kind, String name) {
      return objects.stream().filter(o -> o.path("kind").asText().equals(kind)
          && o.path("metadata").path("name").asText().equals(name)).findFirst().orElse(null);
    }

    String podName(int ordinal) {
      return stsName + "-" + ordinal;
    }

    /** A free loopback port for each container port of a pod (kept across its restarts). */
    Map<Integer, Integer> localPorts() {
      Map<Integer, Integer> m = new LinkedHashMap<>();
      for (int p : containerPorts) {
        m.put(p, Ports.free());
      }
      return m;
    }

    /** Where a variable's value came from. */
    enum Source { LITERAL, CONFIG_MAP, DOWNWARD_API, RESOURCE, SECRET }

    record Resolved(String value, Source source, String from) {
    }

    /**
     * The container's environment in pod {@code ordinal}, as the kubelet builds it: envFrom first,
     * then env in order (a later entry wins), {@code $(VAR)} expanded from what came before; the
     * downward API's fields as the pod would have them (its name, the namespace); a
     * resourceFieldRef from the container's resources. A value from a Secret stays null (the test
     * supplies its own).
     */
    Map<String, Resolved> env(int ordinal) {
      Map<String, Resolved> env = new LinkedHashMap<>();
      for (JsonNode from : container.path("envFrom")) {
        String prefix = from.path("prefix").asText("");
        if (from.has("configMapRef")) {
          String name = from.path("configMapRef").path("name").asText();
          JsonNode cm = find(objects, "ConfigMap", name);
          assertThat(cm).as("ConfigMap %s (envFrom) in the rendered overlay", name).isNotNull();
          cm.path("data").fields().forEachRemaining(f -> env.put(prefix + f.getKey(),
              new Resolved(f.getValue().asText(), Source.CONFIG_MAP, "ConfigMap " + name)));
        } else if (from.has("secretRef")) {
          throw new AssertionError("envFrom a Secret (" + from + "): the rehearsal cannot tell which variables it sets");
        }
      }
      for (JsonNode e : container.path("env")) {
        String name = e.path("name").asText();
        if (e.has("value")) {
          env.put(name, new Resolved(expand(e.path("value").asText(), env), Source.LITERAL, "env"));
          continue;
        }
        JsonNode vf = e.path("valueFrom");
        if (vf.has("fieldRef")) {
          String field = vf.path("fieldRef").path("fieldPath").asText();
          String v = switch (field) {
            case "metadata.name" -> podName(ordinal);
            case "metadata.namespace" -> namespace;
            case "status.podIP", "status.hostIP" -> "127.0.0.1";
            case "spec.nodeName" -> "localhost";
            case "spec.serviceAccountName" -> pod.path("serviceAccountName").asText("default");
            default -> throw new AssertionError(name + ": fieldRef " + field + " is not one the rehearsal knows");
          };
          env.put(name, new Resolved(v, Source.DOWNWARD_API, "fieldRef " + field));
        } else if (vf.has("resourceFieldRef")) {
          JsonNode ref = vf.path("resourceFieldRef");
          String resource = ref.path("resource").asText();
          String[] parts = resource.split("\\.");
          String quantity = container.path("resources").path(parts[0]).path(parts[1]).asText(null);
          assertThat(quantity).as("%s: resources.%s of the container", name, resource).isNotNull();
          assertThat(parts[1]).as("%s: resourceFieldRef on cpu", name).isEqualTo("cpu");
          BigDecimal divisor = cpu(ref.path("divisor").asText("1"));
          // As the kubelet: the quantity over the divisor, rounded up.
          String v = cpu(quantity).divide(divisor, 0, RoundingMode.CEILING).toPlainString();
          env.put(name, new Resolved(v, Source.RESOURCE, "resourceFieldRef " + resource + " = " + quantity));
        } else if (vf.has("configMapKeyRef")) {
          String cmName = vf.path("configMapKeyRef").path("name").asText();
          String key = vf.path("configMapKeyRef").path("key").asText();
          JsonNode cm = find(objects, "ConfigMap", cmName);
          assertThat(cm).as("ConfigMap %s (%s)", cmName, name).isNotNull();
          env.put(name, new Resolved(cm.path("data").path(key).asText(null), Source.CONFIG_MAP,
              "ConfigMap " + cmName + " key " + key));
        } else if (vf.has("secretKeyRef")) {
          env.put(name, new Resolved(null, Source.SECRET, "Secret " + vf.path("secretKeyRef").path("name").asText()
              + " key " + vf.path("secretKeyRef").path("key").asText()));
        } else {
          throw new AssertionError(name + ": valueFrom " + vf + " is not one the rehearsal knows");
        }
      }
      return env;
    }

    private static final Pattern REF = Pattern.compile("\\$\\$|\\$\\(([A-Za-z_][A-Za-z0-9_.-]*)\\)");

    /** Kubernetes' $(VAR) expansion: defined variables are replaced, others stay as written; $$ is $. */
    private static String expand(String value, Map<String, Resolved> env) {
      Matcher m = REF.matcher(value);
      StringBuilder b = new StringBuilder();
      while (m.find()) {
        String rep;
        if (m.group(1) == null) {
          rep = "$";
        } else {
          Resolved r = env.get(m.group(1));
          rep = r == null || r.value == null ? m.group() : r.value;
        }
        m.appendReplacement(b, Matcher.quoteReplacement(rep));
      }
      m.appendTail(b);
      return b.toString();
    }

    private static BigDecimal cpu(String q) {
      return q.endsWith("m") ? new BigDecimal(q.substring(0, q.length() - 1)).movePointLeft(3) : new BigDecimal(q);
    }

    /**
     * The TSO_ variables for pod {@code ordinal} on loopback. Each literal value is kept as the
     * manifest says (lease TTL, shutdown grace, warm-up, follower mode, log format, cluster, event
     * loops...), except what names the cluster:
     * <ul>
     *   <li>TSO_HOST: 127.0.0.1; TSO_PORT, TSO_HEALTH_PORT: the pod's loopback port for that container
     *       port (NodeProcess also passes --host 127.0.0.1 and --port, which win).</li>
     *   <li>TSO_NODE_ID: left out; NodeProcess passes --node-id proc-PORT (flags win over the
     *       environment, and the port is the pod's for all its restarts, so the id is stable as the pod
     *       name is).</li>
     *   <li>TSO_ADVERTISE: checked to be the pod's stable DNS name under the StatefulSet's headless
     *       Service at the API container port, then 127.0.0.1:port.</li>
     *   <li>TSO_REDIS_URL: checked to name a Service of the overlay, then the local redis-server.</li>
     *   <li>A path (TSO_DATA_DIR, TSO_TLS_*, TSO_REDIS_PASSWORD_FILE): mapped into the volume it is
     *       mounted from: a volumeClaimTemplate is a directory per pod kept across restarts (the data
     *       directory must be on one); a Secret is one directory for all pods holding test material:
     *       a member certificate from a test CA for 127.0.0.1 and the pod names (TSO_TLS_CERT/KEY), that
     *       CA (TSO_TLS_CLIENT_CA, TSO_TLS_CA), a random Redis password (TSO_REDIS_PASSWORD_FILE,
     *       which the redis-server is then given).</li>
     * </ul>
     * Variables other than TSO_ ones (POD_NAME, JAVA_TOOL_OPTIONS) are not passed: NodeProcess runs
     * the JVM with its own small-heap flags (the manifest's MaxRAMPercentage would size the heap from
     * the host's memory here, and its collector would conflict with NodeProcess's).
     */
    Map<String, String> localEnv(int ordinal, Map<Integer, Integer> ports, String redisUrl) throws IOException {
      Map<String, String> out = new LinkedHashMap<>();
      for (Map.Entry<String, Resolved> e : env(ordinal).entrySet()) {
        String name = e.getKey();
        if (!name.startsWith("TSO_")) {
          continue;
        }
        String v = e.getValue().value;
        switch (name) {
          case "TSO_NODE_ID" -> {
            continue;
          }
          case "TSO_HOST" -> v = "127.0.0.1";
          case "TSO_PORT", "TSO_HEALTH_PORT" -> {
            Integer local = ports.get(Integer.parseInt(v));
            assertThat(local).as("%s=%s is a container port", name, v).isNotNull();
            v = Integer.toString(local);
          }
          case "TSO_ADVERTISE" -> {
            String expected = podName(ordinal) + "." + serviceName + "." + namespace + ".svc";
            assertThat(v).as("TSO_ADVERTISE: the pod's stable DNS name at the API port")
                .matches(Pattern.quote(expected) + "(\\.cluster\\.local)?:" + apiContainerPort);
            v = "127.0.0.1:" + ports.get(apiContainerPort);
          }
          case "TSO_REDIS_URL" -> {
            if (v != null) {
              Matcher m = Pattern.compile("redis://(?:[^@]*@)?([^:/]+)(?::\\d+)?(?:/\\d*)?").matcher(v);
              assertThat(m.matches()).as("TSO_REDIS_URL %s: redis:// (rediss:// is not rehearsed)", v).isTrue();
              String host = m.group(1).split("\\.")[0];
              assertThat(find(objects, "Service", host)).as("TSO_REDIS_URL's host %s: a Service of the overlay", host)
                  .isNotNull();
            }
            v = redisUrl;
          }
          case "TSO_REDIS_SENTINEL_MASTER" ->
              throw new AssertionError("TSO_REDIS_SENTINEL_MASTER: Redis Sentinel is not rehearsed here");
          default -> {
            // as the manifest says, unless it is a path (below)
          }
        }
        if (v == null) {
          throw new AssertionError(name + " comes from " + e.getValue().from + ": no loopback stand-in for it");
        }
        if (v.startsWith("/")) {
          v = localPath(name, v, ordinal).toString();
        }
        out.put(name, v);
      }
      return out;
    }

    /** Where a path in the container is on loopback, with the test material a Secret would hold. */
    private Path localPath(String setting, String path, int ordinal) throws IOException {
      JsonNode mount = null;
      for (JsonNode m : container.path("volumeMounts")) {
        String mp = m.path("mountPath").asText();
        if ((path.equals(mp) || path.startsWith(mp.endsWith("/") ? mp : mp + "/"))
            && (mount == null || mp.length() > mount.path("mountPath").asText().length())) {
          mount = m;
        }
      }
      if (mount == null) {
        throw new AssertionError(setting + "=" + path + " is on no volume (the root file system is "
            + (container.path("securityContext").path("readOnlyRootFilesystem").asBoolean() ? "read-only" : "the image's")
            + ")");
      }
      String rel = path.substring(mount.path("mountPath").asText().length()).replaceFirst("^/", "");
      if (mount.has("subPath")) {
        rel = mount.path("subPath").asText() + (rel.isEmpty() ? "" : "/" + rel);
      }
      String volume = mount.path("name").asText();
      JsonNode claim = null;
      for (JsonNode t : statefulSet.path("spec").path("volumeClaimTemplates")) {
        if (t.path("metadata").path("name").asText().equals(volume)) {
          claim = t;
        }
      }
      JsonNode vol = null;
      for (JsonNode v : pod.path("volumes")) {
        if (v.path("name").asText().equals(volume)) {
          vol = v;
        }
      }
      if (setting.equals("TSO_DATA_DIR")) {
        assertThat(claim).as("TSO_DATA_DIR=%s must be on a volumeClaimTemplate (volume %s), or the local copy"
            + " of the bound is lost with the pod", path, volume).isNotNull();
      }
      Path root;
      if (claim != null) {
        // The PersistentVolumeClaim data-<pod>: the same for every incarnation of the pod.
        root = volumes.resolve("pvc").resolve(volume + "-" + podName(ordinal));
        Files.createDirectories(root);
        Path p = rel.isEmpty() ? root : root.resolve(rel);
        if (!setting.equals("TSO_DATA_DIR")) {
          throw new AssertionError(setting + "=" + path + " on the claim " + volume + ": no test material for it");
        }
        return p;
      }
      assertThat(vol).as("volume %s of %s", volume, setting).isNotNull();
      if (vol.has("secret")) {
        // One Secret, mounted by every pod: one directory for all.
        root = volumes.resolve("secret").resolve(vol.path("secret").path("secretName").asText());
      } else if (vol.has("emptyDir")) {
        root = volumes.resolve("emptydir").resolve(podName(ordinal) + "-" + volume);
      } else {
        throw new AssertionError(setting + "=" + path + " on volume " + vol + ": not a kind the rehearsal maps");
      }
      Path p = root.resolve(rel);
      Files.createDirectories(p.getParent());
      if (vol.has("secret")) {
        writeSecretMaterial(setting, p);
      }
      return p;
    }

    private void writeSecretMaterial(String setting, Path p) throws IOException {
      try {
        if (ca == null) {
          Path pki = volumes.resolve("pki");
          ca = Certs.ca(pki, "tso-test-ca");
          List<String> names = new ArrayList<>(List.of("127.0.0.1", "localhost"));
          for (int i = 0; i < replicas; i++) {
            names.add(podName(i) + "." + serviceName + "." + namespace + ".svc.cluster.local");
          }
          member = ca.member(pki, "member", names.toArray(String[]::new));
          clientCert = ca.client(pki, "client", "rehearsal-client");
        }
        switch (setting) {
          case "TSO_TLS_CERT" -> {
            Files.copy(member.cert(), p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            tls = true;
          }
          case "TSO_TLS_KEY" -> Files.copy(member.key(), p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
          case "TSO_TLS_CLIENT_CA", "TSO_TLS_CA" -> {
            Files.copy(ca.cert, p, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            mutualTls |= setting.equals("TSO_TLS_CLIENT_CA");
          }
          case "TSO_REDIS_PASSWORD_FILE" -> {
            if (redisPassword == null) {
              redisPassword = UUID.randomUUID().toString();
            }
            Files.writeString(p, redisPassword + "\n");
          }
          default -> throw new AssertionError(setting + "=" + p + " from a Secret: no test material for it");
        }
      } catch (IOException | AssertionError e) {
        throw e;
      } catch (Exception e) {
        throw new IOException("test certificates", e);
      }
    }

    /** The client's options: TLS trusting the test CA, and its client certificate for mutual TLS, as the manifest asks. */
    TsoClientOptions tls(TsoClientOptions o) {
      if (tls) {
        o.setSsl(true).setTrustOptions(new PemTrustOptions().addCertPath(ca.cert.toString()));
        if (mutualTls) {
          o.setKeyCertOptions(new PemKeyCertOptions().setCertPath(clientCert.cert().toString())
              .setKeyPath(clientCert.key().toString()));
        }
      }
      return o;
    }

    HttpClientOptions tls(HttpClientOptions o) {
      if (tls) {
        o.setSsl(true).setUseAlpn(true).setVerifyHost(true)
            .setTrustOptions(new PemTrustOptions().addCertPath(ca.cert.toString()));
        if (mutualTls) {
          o.setKeyCertOptions(new PemKeyCertOptions().setCertPath(clientCert.cert().toString())
              .setKeyPath(clientCert.key().toString()));
        }
      }
      return o;
    }

    String describe() {
      return String.format("StatefulSet %s/%s from %s: %d replicas, podManagementPolicy %s, minReadySeconds %d,"
              + " terminationGracePeriodSeconds %d, %s; %s; %s; %s; TLS %s",
          namespace, stsName, ROOT.relativize(OVERLAY), replicas, podManagementPolicy, minReadySeconds,
          terminationGracePeriodSeconds, preStop == null ? "no preStop" : preStop.description, startup, readiness,
          liveness, tls ? (mutualTls ? "mutual (test CA and certificates)" : "on (test CA and certificate)") : "off");
    }

    void printLocalEnv(int ordinal) {
      Map<String, Resolved> env = env(ordinal);
      Map<String, String> local;
      try {
        local = localEnv(ordinal, localPorts(), "redis://127.0.0.1:<port>");
      } catch (IOException e) {
        throw new AssertionError(e);
      }
      StringBuilder b = new StringBuilder("[rehearsal] " + podName(ordinal) + "'s environment (manifest → loopback):");
      env.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
        String v = e.getValue().value == null ? "(" + e.getValue().from + ")" : e.getValue().value;
        String l = local.get(e.getKey());
        b.append("\n  ").append(e.getKey()).append('=').append(v).append("  [").append(e.getValue().source).append(']');
        if (!e.getKey().startsWith("TSO_")) {
          b.append(" → not passed");
        } else if (l == null) {
          b.append(" → left out (NodeProcess's flag)");
        } else if (!l.equals(v)) {
          b.append(" → ").append(l);
        }
      });
      System.out.println(b);
    }
  }

  static boolean onPath(String command) {
    String path = System.getenv("PATH");
    if (path == null) {
      return false;
    }
    for (String d : path.split(Pattern.quote(File.pathSeparator))) {
      if (!d.isEmpty() && Files.isExecutable(Path.of(d, command))) {
        return true;
      }
    }
    return false;
  }
}
