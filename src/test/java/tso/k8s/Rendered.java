package tso.k8s;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import com.fasterxml.jackson.databind.JsonNode;

import org.junit.jupiter.api.Assumptions;

/**
 * Every overlay rendered once per test JVM, as an operator would with {@code kubectl kustomize}
 * (dev, production, and production with each optional component), and what the app really
 * serves, observed once: shared by the manifest tests. Without kubectl, or with one whose
 * kustomize is too old for components, every manifest test is skipped with the reason.
 */
final class Rendered {

  static final Path ROOT = Path.of("").toAbsolutePath();

  private static Rendered instance;
  private static String skipped;

  final Map<String, Manifests> overlays;
  final AppSurface app;

  private Rendered(Map<String, Manifests> overlays, AppSurface app) {
    this.overlays = overlays;
    this.app = app;
  }

  static synchronized Rendered get() throws Exception {
    if (skipped == null && instance == null) {
      if (!onPath("kubectl")) {
        skipped = "kubectl is not on PATH: the manifest checks are skipped (.ci/run installs Debian's kubernetes-client)";
      } else {
        Map<String, Manifests> overlays = render();
        if (overlays != null) {
          Path dir = Files.createTempDirectory(Files.createDirectories(ROOT.resolve("target/k8s-test")), "app-");
          instance = new Rendered(overlays, AppSurface.observe(dir, askedPaths(overlays)));
        }
      }
    }
    Assumptions.assumeTrue(skipped == null, skipped);
    return instance;
  }

  /** Renders every variant; null (and {@link #skipped} set) when kubectl's kustomize is too old. */
  private static Map<String, Manifests> render() throws Exception {
    Map<String, Path> dirs = new LinkedHashMap<>();
    dirs.put("dev", ROOT.resolve("k8s/overlays/dev"));
    dirs.put("production", ROOT.resolve("k8s/overlays/production"));
    for (String component : List.of("cert-manager", "sentinel")) {
      // As if uncommented under "components:" in the production overlay (namespace included).
      Path d = ROOT.resolve("target/k8s-test/production-" + component);
      Files.createDirectories(d);
      Files.writeString(d.resolve("kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\n"
          + "kind: Kustomization\nnamespace: tso\nresources:\n  - ../../../k8s/overlays/production\n"
          + "components:\n  - ../../../k8s/components/" + component + "\n");
      dirs.put("production+" + component, d);
    }
    Map<String, Manifests> out = new LinkedHashMap<>();
    for (Map.Entry<String, Path> e : dirs.entrySet()) {
      try {
        out.put(e.getKey(), Manifests.render(e.getKey(), e.getValue()));
      } catch (IllegalStateException failed) {
        int[] v = Manifests.kubectlVersion().orElse(new int[] {0, 0});
        if (v[0] == 1 && v[1] < 24) {
          skipped = "kubectl " + v[0] + "." + v[1] + " embeds a kustomize too old for components and labels"
              + " (needs kubectl 1.24+): the manifest checks are skipped; " + failed.getMessage();
          return null;
        }
        throw failed;
      }
    }
    return out;
  }

  /** The paths the probes and PodMonitors name, for the app to be asked. */
  private static Set<String> askedPaths(Map<String, Manifests> overlays) {
    Set<String> paths = new TreeSet<>(Set.of("/health/live", "/health/ready", "/metrics"));
    for (Manifests m : overlays.values()) {
      JsonNode c = m.tsoContainer();
      for (String probe : List.of("livenessProbe", "readinessProbe", "startupProbe")) {
        paths.add(c.path(probe).path("httpGet").path("path").asText("/"));
      }
      m.all("PodMonitor").forEach(pm -> pm.path("spec").path("podMetricsEndpoints")
          .forEach(ep -> paths.add(ep.path("path").asText("/metrics"))));
    }
    return paths;
  }

  private static boolean onPath(String exe) {
    return Arrays.stream(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator))
        .anyMatch(d -> !d.isEmpty() && Files.isExecutable(Path.of(d, exe)));
  }
}
