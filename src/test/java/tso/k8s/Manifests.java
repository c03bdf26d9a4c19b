package tso.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One overlay rendered by {@code kubectl kustomize} and parsed into generic YAML trees, with the
 * look-ups the manifest checks share: objects by kind and name, the TSO container and the
 * environment it gets (its ConfigMap through envFrom, then its own env).
 */
final class Manifests {

  static final ObjectMapper YAML = new YAMLMapper();
  static final ObjectMapper JSON = new ObjectMapper();

  /** The TSO's StatefulSet and container, as k8s/base names them. */
  static final String TSO = "tso";

  final String name;
  final List<JsonNode> objects;

  private Manifests(String name, List<JsonNode> objects) {
    this.name = name;
    this.objects = objects;
  }

  /** Renders {@code dir} (a kustomization) with kubectl; fails with kubectl's own words. */
  static Manifests render(String name, Path dir) throws IOException, InterruptedException {
    Process p = new ProcessBuilder("kubectl", "kustomize", dir.toString()).redirectErrorStream(false).start();
    byte[] out = p.getInputStream().readAllBytes();
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException("kubectl kustomize " + dir + " failed: " + err.strip());
    }
    List<JsonNode> docs = new ArrayList<>();
    try (var parser = new YAMLFactory().createParser(out)) {
      for (var it = YAML.readValues(parser, JsonNode.class); it.hasNext(); ) {
        JsonNode d = it.next();
        if (d != null && !d.isNull() && !d.isEmpty()) {
          docs.add(d);
        }
      }
    }
    return new Manifests(name, docs);
  }

  /** kubectl's client version as (major, minor), if it says. */
  static Optional<int[]> kubectlVersion() {
    try {
      Process p = new ProcessBuilder("kubectl", "version", "--client").redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      p.waitFor(30, TimeUnit.SECONDS);
      Matcher m = Pattern.compile("v(\\d+)\\.(\\d+)|Major:\"(\\d+)\", Minor:\"(\\d+)").matcher(out);
      if (m.find()) {
        return Optional.of(m.group(1) != null
            ? new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))}
            : new int[] {Integer.parseInt(m.group(3)), Integer.parseInt(m.group(4).replaceAll("\\D", ""))});
      }
    } catch (IOException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return Optional.empty();
  }

  List<JsonNode> all(String kind) {
    return objects.stream().filter(o -> kind.equals(o.path("kind").asText())).toList();
  }

  Optional<JsonNode> find(String kind, String name) {
    return all(kind).stream().filter(o -> name.equals(o.path("metadata").path("name").asText())).findFirst();
  }

  JsonNode get(String kind, String name) {
    return find(kind, name).orElseThrow(() -> new AssertionError(this.name + ": no " + kind + " " + name));
  }

  /** Workloads (StatefulSet, Deployment, Job) with their pod specs. */
  List<JsonNode> workloads() {
    return objects.stream().filter(o -> List.of("StatefulSet", "Deployment", "Job", "DaemonSet")
        .contains(o.path("kind").asText())).toList();
  }

  static JsonNode podSpec(JsonNode workload) {
    return workload.path("spec").path("template").path("spec");
  }

  static String nameOf(JsonNode o) {
    return o.path("kind").asText() + "/" + o.path("metadata").path("name").asText();
  }

  JsonNode tsoSet() {
    return get("StatefulSet", TSO);
  }

  JsonNode tsoPod() {
    return podSpec(tsoSet());
  }

  JsonNode tsoContainer() {
    return container(tsoPod(), TSO);
  }

  static JsonNode container(JsonNode podSpec, String name) {
    for (JsonNode c : podSpec.path("containers")) {
      if (name.equals(c.path("name").asText())) {
        return c;
      }
    }
    throw new AssertionError("no container " + name);
  }

  /**
   * The environment a container gets, as plain values: every ConfigMap it names in envFrom, then
   * its own env entries that have a value. Entries from the downward API are in {@link #envSources}.
   */
  Map<String, String> env(JsonNode container) {
    Map<String, String> env = new LinkedHashMap<>();
    for (JsonNode from : container.path("envFrom")) {
      String cm = from.path("configMapRef").path("name").asText(null);
      if (cm != null) {
        get("ConfigMap", cm).path("data").fields().forEachRemaining(e -> env.put(e.getKey(), e.getValue().asText()));
      }
    }
    for (JsonNode e : container.path("env")) {
      if (e.has("value")) {
        env.put(e.path("name").asText(), e.path("value").asText());
      }
    }
    return env;
  }

  /** The valueFrom of each env entry that has one, by name. */
  static Map<String, JsonNode> envSources(JsonNode container) {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    for (JsonNode e : container.path("env")) {
      if (e.has("valueFrom")) {
        out.put(e.path("name").asText(), e.path("valueFrom"));
      }
    }
    return out;
  }

  /** Every variable name a container's environment sets, from ConfigMaps, Secrets and env. */
  List<String> envNames(JsonNode container) {
    List<String> names = new ArrayList<>(env(container).keySet());
    names.addAll(envSources(container).keySet());
    for (JsonNode from : container.path("envFrom")) {
      String secret = from.path("secretRef").path("name").asText(null);
      if (secret != null) {
        find("Secret", secret).ifPresent(s -> s.path("data").fieldNames().forEachRemaining(names::add));
      }
    }
    return names;
  }

  /** The container port with this name. */
  static Optional<Integer> port(JsonNode container, String name) {
    for (JsonNode p : container.path("ports")) {
      if (name.equals(p.path("name").asText())) {
        return Optional.of(p.path("containerPort").asInt());
      }
    }
    return Optional.empty();
  }

  /** A probe's port as a number: a named port is looked up in the container. */
  static int probePort(JsonNode container, JsonNode httpGet) {
    JsonNode p = httpGet.path("port");
    return p.isNumber() ? p.asInt() : port(container, p.asText())
        .orElseThrow(() -> new AssertionError("probe names port " + p.asText() + ", which the container lacks"));
  }

  /** The volume a path is mounted from, if any. */
  static Optional<JsonNode> volumeAt(JsonNode podSpec, JsonNode container, String path) {
    JsonNode best = null;
    String bestPath = "";
    for (JsonNode m : container.path("volumeMounts")) {
      String mp = m.path("mountPath").asText();
      if ((path.equals(mp) || path.startsWith(mp.endsWith("/") ? mp : mp + "/")) && mp.length() > bestPath.length()) {
        best = m;
        bestPath = mp;
      }
    }
    if (best == null) {
      return Optional.empty();
    }
    String vol = best.path("name").asText();
    for (JsonNode v : podSpec.path("volumes")) {
      if (vol.equals(v.path("name").asText())) {
        return Optional.of(v);
      }
    }
    // Not among the volumes: a StatefulSet's claim template of that name.
    ObjectNode claim = YAML.createObjectNode().put("name", vol);
    claim.putObject("volumeClaimTemplate");
    return Optional.of(claim);
  }

  /** A Kubernetes quantity in bytes (memory) or in cores (cpu). */
  static double quantity(String q) {
    Matcher m = Pattern.compile("^([0-9.]+)([a-zA-Z]*)$").matcher(q.strip());
    if (!m.matches()) {
      throw new IllegalArgumentException("not a quantity: " + q);
    }
    double v = Double.parseDouble(m.group(1));
    return switch (m.group(2)) {
      case "" -> v;
      case "m" -> v / 1000;
      case "k" -> v * 1e3;
      case "M" -> v * 1e6;
      case "G" -> v * 1e9;
      case "Ki" -> v * 1024;
      case "Mi" -> v * 1024 * 1024;
      case "Gi" -> v * 1024 * 1024 * 1024;
      default -> throw new IllegalArgumentException("unit of " + q);
    };
  }

  /** A JVM size such as 192m or 1g, in bytes. */
  static long jvmSize(String s) {
    Matcher m = Pattern.compile("^(\\d+)([kKmMgG]?)$").matcher(s);
    if (!m.matches()) {
      throw new IllegalArgumentException("not a JVM size: " + s);
    }
    long v = Long.parseLong(m.group(1));
    return switch (m.group(2).toLowerCase()) {
      case "k" -> v << 10;
      case "m" -> v << 20;
      case "g" -> v << 30;
      default -> v;
    };
  }

  static String read(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      throw new AssertionError("cannot read " + p, e);
    }
  }
}
