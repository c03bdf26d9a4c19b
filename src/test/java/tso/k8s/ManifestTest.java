package tso.k8s;

import static org.assertj.core.api.Assertions.assertThat;
import static tso.k8s.Manifests.container;
import static tso.k8s.Manifests.envSources;
import static tso.k8s.Manifests.nameOf;
import static tso.k8s.Manifests.podSpec;
import static tso.k8s.Manifests.port;
import static tso.k8s.Manifests.probePort;
import static tso.k8s.Manifests.quantity;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import tso.config.Setting;

/**
 * The Kubernetes manifests (k8s/), as {@link Rendered} renders them, checked against the app
 * itself: its port, the probe paths a real node answers, the settings it knows, the memory it
 * needs; and the rules an operator relies on: graceful stop, disruption budget, security
 * context, network policy, durable Redis, Secrets. Monitoring: {@link MonitoringManifestTest}.
 */
@Tag("integration")
class ManifestTest {

  private static final Path ROOT = Rendered.ROOT;
  /** Metaspace, code cache, thread stacks and GC structures: what a container needs beyond heap and direct buffers. */
  private static final long NON_HEAP_BYTES = 256L << 20;
  /** The warm-up's wait for the JIT compiler to go idle, after up to 3 x TSO_WARMUP_MS (README, Warm-up). */
  private static final long COMPILER_IDLE_MS = 3_000;

  private static Map<String, Manifests> RENDERED;
  private static AppSurface app;

  /** Each test, so that a skip (no kubectl) is reported per test with its reason; rendered once. */
  @BeforeEach
  void renderAndObserve() throws Exception {
    Rendered r = Rendered.get();
    RENDERED = r.overlays;
    app = r.app;
  }

  static Map<String, String> tsoEnv(Manifests m) {
    return m.env(m.tsoContainer());
  }

  /** A numeric setting as the container gets it, else its default. */
  static long setting(Map<String, String> env, Setting s) {
    return Long.parseLong(env.getOrDefault(s.env, s.defaultValue));
  }

  @Test
  void everyOverlayRendersAStatefulSetOfThreeWithThePomsImage() {
    Matcher jib = Pattern.compile("<artifactId>jib-maven-plugin</artifactId>.*?<to>\\s*<image>([^<]+)</image>",
        Pattern.DOTALL).matcher(Manifests.read(ROOT.resolve("pom.xml")));
    assertThat(jib.find()).as("the pom's Jib <to><image>").isTrue();
    Matcher version = Pattern.compile("<artifactId>tso</artifactId>\\s*<version>([^<]+)</version>")
        .matcher(Manifests.read(ROOT.resolve("pom.xml")));
    assertThat(version.find()).isTrue();
    String image = jib.group(1).replace("${project.version}", version.group(1));
    SoftAssertions soft = new SoftAssertions();
    RENDERED.forEach((name, m) -> {
      JsonNode set = m.tsoSet();
      soft.assertThat(set.path("spec").path("replicas").asInt()).as(name + " replicas").isEqualTo(3);
      soft.assertThat(set.path("spec").path("volumeClaimTemplates").size()).as(name + " volumeClaimTemplates").isPositive();
      JsonNode headless = m.get("Service", set.path("spec").path("serviceName").asText());
      soft.assertThat(headless.path("spec").path("clusterIP").asText()).as(name + " headless Service").isEqualTo("None");
      soft.assertThat(headless.path("spec").path("publishNotReadyAddresses").asBoolean()).isTrue();
      for (JsonNode w : m.workloads()) {
        for (JsonNode c : podSpec(w).path("containers")) {
          String img = c.path("image").asText();
          if (img.startsWith("tso:") || img.contains("/tso:")) {
            soft.assertThat(img).as(name + " " + nameOf(w) + " image (the pom's Jib default)").isEqualTo(image);
          }
        }
      }
    });
    soft.assertAll();
  }

  @Test
  void portsMatchTheAppsPortAndTheAdvertisedAddressIsThePodsStableName() {
    SoftAssertions soft = new SoftAssertions();
    RENDERED.forEach((name, m) -> {
      JsonNode c = m.tsoContainer();
      Map<String, String> env = tsoEnv(m);
      int appPort = (int) setting(env, Setting.PORT);
      soft.assertThat(port(c, "tso")).as(name + " containerPort tso = TSO_PORT").contains(appPort);
      if (env.containsKey(Setting.HEALTH_PORT.env)) {
        soft.assertThat(port(c, "health")).as(name + " containerPort health = TSO_HEALTH_PORT")
            .contains(Integer.parseInt(env.get(Setting.HEALTH_PORT.env)));
      }
      for (JsonNode svc : m.all("Service")) {
        if (svc.path("spec").path("selector").path("app.kubernetes.io/name").asText().equals("tso")) {
          for (JsonNode p : svc.path("spec").path("ports")) {
            JsonNode target = p.path("targetPort");
            int resolved = target.isNumber() ? target.asInt() : port(c, target.asText()).orElse(-1);
            soft.assertThat(resolved).as(name + " " + nameOf(svc) + " targetPort").isEqualTo(appPort);
          }
        }
      }
      String headless = m.tsoSet().path("spec").path("serviceName").asText();
      soft.assertThat(env.get(Setting.ADVERTISE.env)).as(name + " TSO_ADVERTISE")
          .isEqualTo("$(POD_NAME)." + headless + ".$(POD_NAMESPACE).svc.cluster.local:" + appPort);
      soft.assertThat(env.get(Setting.NODE_ID.env)).as(name + " TSO_NODE_ID").isEqualTo("$(POD_NAME)");
      Map<String, JsonNode> from = envSources(c);
      soft.assertThat(from.get("POD_NAME").path("fieldRef").path("fieldPath").asText()).isEqualTo("metadata.name");
      soft.assertThat(from.get("POD_NAMESPACE").path("fieldRef").path("fieldPath").asText()).isEqualTo("metadata.namespace");
    });
    soft.assertAll();
  }

  @Test
  void probesAskPathsTheAppAnswersOnThePortsItServesThem() throws Exception {
    SoftAssertions soft = new SoftAssertions();
    for (Map.Entry<String, Manifests> e : RENDERED.entrySet()) {
      Manifests m = e.getValue();
      JsonNode c = m.tsoContainer();
      Map<String, String> env = tsoEnv(m);
      boolean mtls = env.containsKey(Setting.TLS_CLIENT_CA.env);
      for (String[] probe : new String[][] {{"livenessProbe", "/health/live"}, {"readinessProbe", "/health/ready"},
          {"startupProbe", "/health/ready"}}) {
        JsonNode get = c.path(probe[0]).path("httpGet");
        String what = e.getKey() + " " + probe[0];
        soft.assertThat(get.path("path").asText()).as(what).isEqualTo(probe[1]);
        int port = probePort(c, get);
        boolean onHealthPort = env.containsKey(Setting.HEALTH_PORT.env)
            && port == Integer.parseInt(env.get(Setting.HEALTH_PORT.env));
        soft.assertThat(onHealthPort || port == setting(env, Setting.PORT)).as(what + " port is the app's").isTrue();
        // The kubelet cannot present a client certificate: with mTLS, probes use the plain health port.
        soft.assertThat(!mtls || onHealthPort).as(what + " on TSO_HEALTH_PORT under mTLS").isTrue();
        soft.assertThat(get.path("scheme").asText("HTTP")).as(what + " scheme").isEqualTo(onHealthPort || !env
            .containsKey(Setting.TLS_CERT.env) ? "HTTP" : "HTTPS");
        soft.assertThat(app.status(onHealthPort, get.path("path").asText())).as(what + " answered by a real node")
            .isEqualTo(200);
      }
      for (JsonNode pm : m.all("PodMonitor")) {
        for (JsonNode ep : pm.path("spec").path("podMetricsEndpoints")) {
          soft.assertThat(port(c, ep.path("port").asText())).as(e.getKey() + " PodMonitor port").isPresent();
          soft.assertThat(app.status(false, ep.path("path").asText())).as(e.getKey() + " PodMonitor path").isEqualTo(200);
          soft.assertThat(ep.path("scheme").asText("http")).as(e.getKey() + " PodMonitor scheme")
              .isEqualTo(env.containsKey(Setting.TLS_CERT.env) ? "https" : "http");
        }
      }
    }
    soft.assertAll();
  }

  @Test
  void everyTsoVariableSetIsOneTheAppKnowsAndNoServiceLinksAddMore() {
    Set<String> known = Arrays.stream(Setting.values()).map(s -> s.env).collect(Collectors.toSet());
    SoftAssertions soft = new SoftAssertions();
    RENDERED.forEach((name, m) -> {
      JsonNode c = m.tsoContainer();
      soft.assertThat(m.envNames(c).stream().filter(n -> n.startsWith("TSO_")))
          .as(name + ": TSO_ variables unknown to tso.config.Setting").allMatch(known::contains);
      // A Service named "tso" would inject TSO_PORT=tcp://…, TSO_SERVICE_HOST and more.
      soft.assertThat(m.tsoPod().path("enableServiceLinks").asBoolean(true)).as(name + " enableServiceLinks").isFalse();
      JsonNode loops = envSources(c).get(Setting.EVENT_LOOPS.env);
      String fixed = m.env(c).get(Setting.EVENT_LOOPS.env);
      if (loops != null) {
        soft.assertThat(loops.path("resourceFieldRef").path("resource").asText()).as(name + " TSO_EVENT_LOOPS")
            .isEqualTo("limits.cpu");
        soft.assertThat(loops.path("resourceFieldRef").path("containerName").asText(Manifests.TSO)).isEqualTo(Manifests.TSO);
      } else {
        soft.assertThat(fixed).as(name + " TSO_EVENT_LOOPS: from limits.cpu or fixed").isNotNull();
        soft.assertThat(Double.parseDouble(fixed)).as(name + " TSO_EVENT_LOOPS within the CPU limit")
            .isLessThanOrEqualTo(Math.ceil(quantity(c.path("resources").path("limits").path("cpu").asText())));
      }
    });
    soft.assertAll();
  }

  @Test
  void preStopAndGraceFitTheResignAndTheShutdownGraceAndTheStartupProbeTheWarmUp() {
    SoftAssertions soft = new SoftAssertions();
    RENDERED.forEach((name, m) -> {
      JsonNode c = m.tsoContainer();
      Map<String, String> env = tsoEnv(m);
      long ttlMs = setting(env, Setting.LEASE_TTL_MS);
      long graceMs = setting(env, Setting.SHUTDOWN_GRACE_MS);
      long warmupMs = setting(env, Setting.WARMUP_MS);
      JsonNode preStop = c.path("lifecycle").path("preStop");
      long sleepS = preStop.path("sleep").path("seconds").asLong(-1);
      soft.assertThat(sleepS).as(name + " preStop sleep (s)").isPositive();
      long period = m.tsoPod().path("terminationGracePeriodSeconds").asLong(30);
      // preStop counts against the grace period; then the resign (a Redis call, under a TTL) and the drain.
      soft.assertThat(period * 1000).as(name + " terminationGracePeriodSeconds x 1000 >= preStop + TTL + TSO_SHUTDOWN_GRACE_MS + 1 s")
          .isGreaterThanOrEqualTo(sleepS * 1000 + ttlMs + graceMs + 1000);
      JsonNode startup = c.path("startupProbe");
      long budgetMs = startup.path("periodSeconds").asLong(10) * startup.path("failureThreshold").asLong(3) * 1000
          + startup.path("initialDelaySeconds").asLong(0) * 1000;
      soft.assertThat(budgetMs).as(name + " startupProbe budget >= 3 x TSO_WARMUP_MS + compiler idle + 2 TTLs")
          .isGreaterThanOrEqualTo(3 * warmupMs + COMPILER_IDLE_MS + 2 * ttlMs);
    });
    soft.assertAll();
  }

  @Test
  void theDisruptionBudgetAllowsAtMostOneMemberDown() {
    SoftAssertions soft = new SoftAssertions();
    RENDERED.forEach((name, m) -> {
      JsonNode set = m.tsoSet();
      int replicas = set.path("spec").path("replicas").asInt();
      JsonNode podLabels = set.path("spec").path("template").path("metadata").path("labels");
      List<JsonNode> pdbs = m.all("PodDisruptionBudget").stream().filter(p -> matches(p.path("spec").path("selector")
          .path("matchLabels"), podLabels)).toList();
      soft.assertThat(pdbs).as(name + " PDBs selecting the members").hasSize(1);
      for (JsonNode pdb : pdbs) {
        JsonNode spec = pdb.path("spec");
        int down = spec.has("maxUnavailable") ? count(spec.path("maxUnavailable"), replicas, true)
            : replicas - count(spec.path("minAvailable"), replicas, false);
        soft.assertThat(down).as(name + " members the PDB lets down").isEqualTo(1);
      }
    });
    soft.assertAll();
  }

  /** An int-or-percent of the replicas, rounded the way the disruption controller rounds it. */
  private static int count(JsonNode v, int replicas, boolean maxUnavailable) {
    if (v.isNumber()) {
      return v.asInt();
    }
    double pct = Double.parseDouble(v.asText().replace("%", "")) * replicas / 100;
    return (int) (maxUnavailable ? Math.floor(pct) : Math.ceil(pct));
  }

  private static boolean matches(JsonNode selector, JsonNode labels) {
    if (selector.isMissingNode() || !selector.fields().hasNext()) {
      return true;
    }
    List<Boolean> ok = new ArrayList<>();
    selector.fields().forEachRemaining(e -> ok.add(e.getValue().asText().equals(labels.path(e.getKey()).asText(null))));
    return !ok.contains(false);
  }

  @Test
  void everyContainerRunsNonRootReadOnlyWithoutPrivilegesOrCapabilities() {
    SoftAssertions soft = new SoftAssertions();
    RENDERED.forEach((name, m) -> {
      for (JsonNode w : m.workloads()) {
        JsonNode pod = podSpec(w);
        JsonNode podSc = pod.path("securityContext");
        soft.assertThat(pod.path("automountServiceAccountToken").asBoolean(true)).as(name + " " + nameOf(w)
            + " automountServiceAccountToken").isFalse();
        for (JsonNode c : pod.path("containers")) {
          String what = name + " " + nameOf(w) + " " + c.path("name").asText() + " ";
          JsonNode sc = c.path("securityContext");
          soft.assertThat(sc.path("runAsNonRoot").asBoolean(podSc.path("runAsNonRoot").asBoolean(false)))
              .as(what + "runAsNonRoot").isTrue();
          soft.assertThat(sc.path("runAsUser").asLong(podSc.path("runAsUser").asLong(-1))).as(what + "runAsUser")
              .isPositive();
          soft.assertThat(sc.path("readOnlyRootFilesystem").asBoolean(false)).as(what + "readOnlyRootFilesystem").isTrue();
          soft.assertThat(sc.path("allowPrivilegeEscalation").asBoolean(true)).as(what + "allowPrivilegeEscalation").isFalse();
          soft.assertThat(sc.path("privileged").asBoolean(false)).as(what + "privileged").isFalse();
          soft.assertThat(sc.path("capabilities").path("drop").toString()).as(what + "capabilities.drop").contains("\"ALL\"");
          soft.assertThat(sc.path("capabilities").path("add").size()).as(what + "capabilities.add").isZero();
          soft.assertThat(sc.path("seccompProfile").path("type").asText(podSc.path("seccompProfile").path("type").asText()))
              .as(what + "seccompProfile").isEqualTo("RuntimeDefault");
          soft.assertThat(c.path("resources").path("limits").path("memory").isMissingNode()).as(what + "memory limit").isFalse();
          if (c.path("image").asText().startsWith("tso")) {
            // Netty unpacks its native library into /tmp: the read-only root needs a writable one.
            soft.assertThat(Manifests.volumeAt(pod, c, "/tmp").map(v -> v.has("emptyDir")).orElse(false))
                .as(what + "/tmp from an emptyDir").isTrue();
          }
        }
      }
    });
    soft.assertAll();
  }

  @Test
  void theHeapFlagIsPresentAndHeapPlusDirectBuffersFitTheMemoryLimit() {
    SoftAssertions soft = new SoftAssertions();
    RENDERED.forEach((name, m) -> {
      for (JsonNode w : m.workloads()) {
        for (JsonNode c : podSpec(w).path("containers")) {
          if (!c.path("image").asText().startsWith("tso")) {
            continue;
          }
          String what = name + " " + nameOf(w) + " " + c.path("name").asText();
          String opts = m.env(c).getOrDefault("JAVA_TOOL_OPTIONS", "");
          double limit = quantity(c.path("resources").path("limits").path("memory").asText("0"));
          Matcher pct = Pattern.compile("-XX:MaxRAMPercentage=([0-9.]+)").matcher(opts);
          Matcher xmx = Pattern.compile("-Xmx(\\d+[kKmMgG]?)").matcher(opts);
          Matcher direct = Pattern.compile("-XX:MaxDirectMemorySize=(\\d+[kKmMgG]?)").matcher(opts);
          boolean hasPct = pct.find();
          boolean hasXmx = xmx.find();
          boolean hasDirect = direct.find();
          soft.assertThat(hasPct || hasXmx).as(what + ": -XX:MaxRAMPercentage or -Xmx in JAVA_TOOL_OPTIONS").isTrue();
          soft.assertThat(hasDirect).as(what + ": -XX:MaxDirectMemorySize (else it defaults to the heap size)").isTrue();
          if (!(hasPct || hasXmx) || !hasDirect) {
            continue;
          }
          double heap = hasXmx ? Manifests.jvmSize(xmx.group(1)) : Double.parseDouble(pct.group(1)) / 100 * limit;
          long directBytes = Manifests.jvmSize(direct.group(1));
          soft.assertThat(heap + directBytes + NON_HEAP_BYTES).as(what + ": heap + direct + 256 MiB <= memory limit "
              + (long) limit).isLessThanOrEqualTo(limit);
        }
      }
    });
    soft.assertAll();
  }

  @Test
  void productionNetworkPolicyAllowsExactlyTheTsoFlows() {
    SoftAssertions soft = new SoftAssertions();
    RENDERED.forEach((name, m) -> {
      if (!name.startsWith("production")) {
        return;
      }
      int tso = (int) setting(tsoEnv(m), Setting.PORT);
      String members = "same ns, pods {app.kubernetes.io/component=server, app.kubernetes.io/name=tso}";
      Set<String> ingress = Set.of(
          "any ns, pods {tso-client=true} -> " + tso + "/TCP",
          members + " -> " + tso + "/TCP",
          "ns {kubernetes.io/metadata.name=monitoring}, pods {app.kubernetes.io/name=prometheus} -> " + tso + "/TCP");
      Set<String> egress = new TreeSet<>(Set.of(
          members + " -> " + tso + "/TCP",
          "ns {kubernetes.io/metadata.name=kube-system}, pods {k8s-app=kube-dns} -> 53/UDP",
          "ns {kubernetes.io/metadata.name=kube-system}, pods {k8s-app=kube-dns} -> 53/TCP"));
      if (name.endsWith("sentinel")) {
        egress.add("same ns, pods {tso-redis=true} -> 6379/TCP");
        egress.add("same ns, pods {tso-redis=true} -> 26379/TCP");
      } else {
        egress.add("same ns, pods {app.kubernetes.io/name=tso-redis} -> 6379/TCP");
      }
      JsonNode podLabels = m.tsoSet().path("spec").path("template").path("metadata").path("labels");
      Set<String> in = new TreeSet<>();
      Set<String> out = new TreeSet<>();
      boolean denyAll = false;
      for (JsonNode np : m.all("NetworkPolicy")) {
        JsonNode spec = np.path("spec");
        if (!matches(spec.path("podSelector").path("matchLabels"), podLabels)) {
          continue;
        }
        String types = spec.path("policyTypes").toString();
        soft.assertThat(types).as(name + " " + nameOf(np) + " restricts both directions").contains("Ingress", "Egress");
        denyAll |= !spec.path("podSelector").path("matchLabels").fields().hasNext()
            && spec.path("ingress").isEmpty() && spec.path("egress").isEmpty();
        in.addAll(flows(spec.path("ingress"), "from"));
        out.addAll(flows(spec.path("egress"), "to"));
      }
      soft.assertThat(denyAll).as(name + ": a default-deny policy for the namespace").isTrue();
      soft.assertThat(in).as(name + " ingress to the members").isEqualTo(new TreeSet<>(ingress));
      soft.assertThat(out).as(name + " egress from the members").isEqualTo(egress);
      m.find("NetworkPolicy", "tso-redis").ifPresent(np -> {
        soft.assertThat(flows(np.path("spec").path("ingress"), "from")).as(name + " ingress to Redis")
            .containsExactly(members + " -> 6379/TCP");
        soft.assertThat(np.path("spec").path("egress").isEmpty()).as(name + " Redis calls nobody").isTrue();
      });
    });
    soft.assertAll();
  }

  /** Each (peer, port) a list of rules allows, as "ns …, pods {…} -> port/protocol". */
  private static List<String> flows(JsonNode rules, String peers) {
    List<String> out = new ArrayList<>();
    for (JsonNode rule : rules) {
      List<String> ports = new ArrayList<>();
      for (JsonNode p : rule.path("ports")) {
        ports.add(p.path("port").asText() + "/" + p.path("protocol").asText("TCP"));
      }
      if (ports.isEmpty()) {
        ports.add("any port");
      }
      List<String> who = new ArrayList<>();
      for (JsonNode peer : rule.path(peers)) {
        JsonNode ns = peer.path("namespaceSelector");
        String nsPart = ns.isMissingNode() ? "same ns" : ns.path("matchLabels").fields().hasNext()
            ? "ns " + labels(ns.path("matchLabels")) : "any ns";
        String podPart = peer.has("podSelector") ? "pods " + labels(peer.path("podSelector").path("matchLabels"))
            : "all pods";
        who.add(peer.has("ipBlock") ? "ipBlock " + peer.path("ipBlock").path("cidr").asText() : nsPart + ", " + podPart);
      }
      if (who.isEmpty()) {
        who.add("anyone");
      }
      for (String w : who) {
        for (String p : ports) {
          out.add(w + " -> " + p);
        }
      }
    }
    return out;
  }

  private static String labels(JsonNode matchLabels) {
    Map<String, String> sorted = new java.util.TreeMap<>();
    matchLabels.fields().forEachRemaining(e -> sorted.put(e.getKey(), e.getValue().asText()));
    return sorted.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
        .collect(Collectors.joining(", ", "{", "}"));
  }

  @Test
  void productionRedisIsDurableAndSecretsAreMountedFromSecrets() {
    Manifests m = RENDERED.get("production");
    String conf = m.get("ConfigMap", "tso-redis-config").path("data").path("redis.conf").asText();
    assertThat(conf).containsPattern("(?m)^appendonly yes$").containsPattern("(?m)^appendfsync always$");
    JsonNode redis = m.get("StatefulSet", "tso-redis");
    assertThat(redis.path("spec").path("volumeClaimTemplates").size()).as("Redis on a PVC").isPositive();
    JsonNode pod = m.tsoPod();
    JsonNode c = m.tsoContainer();
    Map<String, String> env = tsoEnv(m);
    for (Setting s : List.of(Setting.REDIS_PASSWORD_FILE, Setting.TLS_CERT, Setting.TLS_KEY, Setting.TLS_CLIENT_CA)) {
      assertThat(env).as("production sets " + s.env).containsKey(s.env);
      assertThat(Manifests.volumeAt(pod, c, env.get(s.env)).map(v -> v.has("secret")).orElse(false))
          .as(s.env + " is a file from a mounted Secret").isTrue();
    }
    assertThat(Manifests.volumeAt(pod, c, env.get(Setting.DATA_DIR.env)).map(v -> v.has("volumeClaimTemplate"))
        .orElse(false)).as("TSO_DATA_DIR on the member's claim").isTrue();
    // The Redis this overlay deploys is the one the members use.
    assertThat(env.get(Setting.REDIS_URL.env)).isEqualTo("redis://tso-redis:6379");
    m.get("Service", "tso-redis");

    Manifests sentinel = RENDERED.get("production+sentinel");
    Map<String, String> senv = tsoEnv(sentinel);
    assertThat(senv).containsKey(Setting.REDIS_SENTINEL_MASTER.env);
    assertThat(Long.parseLong(senv.get(Setting.REDIS_MIN_REPLICAS.env))).isGreaterThanOrEqualTo(1);
    assertThat(sentinel.find("StatefulSet", "tso-redis")).as("the bundled Redis goes").isEmpty();

    Manifests cm = RENDERED.get("production+cert-manager");
    Set<String> issued = cm.all("Certificate").stream().map(x -> x.path("spec").path("secretName").asText())
        .collect(Collectors.toSet());
    String tlsSecret = Manifests.volumeAt(cm.tsoPod(), cm.tsoContainer(), env.get(Setting.TLS_CERT.env))
        .orElseThrow().path("secret").path("secretName").asText();
    assertThat(issued).as("cert-manager issues the Secrets production mounts").contains(tlsSecret,
        "tso-prometheus-client-tls");
    JsonNode member = cm.all("Certificate").stream()
        .filter(x -> x.path("spec").path("secretName").asText().equals(tlsSecret)).findFirst().orElseThrow();
    assertThat(member.path("spec").path("dnsNames").toString()).as("the member certificate names TSO_ADVERTISE's host")
        .contains("*." + m.tsoSet().path("spec").path("serviceName").asText() + ".tso.svc.cluster.local");
    assertThat(member.path("spec").path("usages").toString()).contains("server auth", "client auth");
    assertThat(member.path("spec").path("privateKey").path("encoding").asText()).isEqualTo("PKCS8");
  }

  @Test
  void devRunsTheLoadGeneratorThroughTheClientLibraryAgainstTheClientService() {
    Manifests m = RENDERED.get("dev");
    JsonNode job = m.get("Job", "tso-loadgen");
    JsonNode c = podSpec(job).path("containers").get(0);
    List<String> args = new ArrayList<>();
    c.path("args").forEach(a -> args.add(a.asText()));
    assertThat(args).first().isEqualTo("loadgen");
    assertThat(args).contains("--protocol=client");
    JsonNode client = m.get("Service", "tso");
    assertThat(client.path("spec").path("clusterIP").asText("")).isNotEqualTo("None");
    assertThat(args).contains("--target=http://tso:" + client.path("spec").path("ports").get(0).path("port").asInt());
    assertThat(m.find("Deployment", "tso-redis")).as("one Redis").isPresent();
    List<String> redisArgs = new ArrayList<>();
    container(podSpec(m.get("Deployment", "tso-redis")), "redis").path("args").forEach(a -> redisArgs.add(a.asText()));
    assertThat(String.join(" ", redisArgs)).as("dev Redis without persistence").contains("--appendonly no")
        .contains("--save  ");
  }
}
