package tso.k8s;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.assertj.core.api.SoftAssertions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import tso.config.Setting;

/**
 * The alerts and the Grafana dashboard in k8s/monitoring, checked against a real scrape of the
 * app ({@link AppSurface}) and against the runbook, docs/operations.md: every alert the issue asks
 * for exists, links a section that exists, and reads only metrics the app exports; the dashboard
 * queries only such metrics (and the kubelet's RSS), covers every topic, and ships as the
 * sidecar's ConfigMap.
 */
@Tag("integration")
class MonitoringManifestTest {

  /**
   * Not from the app: Prometheus's own per-target metric, and the kubelet's (cAdvisor) view of the
   * container's memory, since the app exports no RSS of its own.
   */
  private static final Set<String> NOT_FROM_THE_APP = Set.of("up", "container_memory_rss",
      "container_memory_working_set_bytes");
  private static final Set<String> REQUIRED_ALERTS = Set.of("TsoNoLeader", "TsoLeadershipFlapping",
      "TsoLeaseRenewFailures", "TsoShedding", "TsoInvalidElectionRecord", "TsoFencedWriteRefused",
      "TsoEventLoopLagHigh", "TsoLatencyP99High");
  /**
   * One metric per dashboard topic of the issue: outcomes, latency, batch size, queue depth,
   * shedding, leader, epoch, lease, invalid records, fenced writes, Redis errors, loop lag, GC, RSS.
   */
  private static final Set<String> DASHBOARD_TOPICS = Set.of("tso_requests_total",
      "tso_request_duration_seconds_bucket", "tso_batch_size_bucket", "tso_queue_depth", "tso_requests_shed_total",
      "tso_is_leader", "tso_epoch", "tso_lease_remaining_seconds", "tso_election_record_invalid_total",
      "tso_fenced_writes_refused_total", "tso_redis_errors_total", "tso_event_loop_lag_seconds_bucket",
      "jvm_gc_pause_seconds_sum", "container_memory_rss");

  private static Map<String, Manifests> RENDERED;
  private static AppSurface app;

  /** Each test, so that a skip (no kubectl) is reported per test with its reason; rendered once. */
  @BeforeEach
  void renderAndObserve() throws Exception {
    Rendered r = Rendered.get();
    RENDERED = r.overlays;
    app = r.app;
  }

  @Test
  void everyAlertHasARunbookSectionAndReadsOnlyExportedMetrics() {
    Set<String> anchors = anchors(Manifests.read(Rendered.ROOT.resolve("docs/operations.md")));
    Manifests m = RENDERED.get("production");
    long ttlMs = ManifestTest.setting(ManifestTest.tsoEnv(m), Setting.LEASE_TTL_MS);
    Set<String> alerts = new TreeSet<>();
    SoftAssertions soft = new SoftAssertions();
    for (JsonNode rule : m.all("PrometheusRule")) {
      for (JsonNode group : rule.path("spec").path("groups")) {
        for (JsonNode r : group.path("rules")) {
          String alert = r.path("alert").asText(null);
          if (alert == null) {
            continue;
          }
          alerts.add(alert);
          String url = r.path("annotations").path("runbook_url").asText("");
          soft.assertThat(url).as(alert + " runbook_url").matches(".*docs/operations\\.md#[a-z0-9-]+");
          soft.assertThat(anchors).as(alert + ": its runbook anchor in docs/operations.md")
              .contains(url.substring(url.indexOf('#') + 1));
          soft.assertThat(PromQl.metricNames(r.path("expr").asText())).as(alert + " reads")
              .isNotEmpty().allMatch(n -> app.metricNames.contains(n) || n.equals("up"));
          if (alert.equals("TsoNoLeader")) {
            soft.assertThat(r.path("for").asText()).as("TsoNoLeader fires after 2 TTLs").isEqualTo((2 * ttlMs / 1000) + "s");
          }
        }
      }
    }
    soft.assertThat(alerts).as("alerts").containsAll(REQUIRED_ALERTS);
    soft.assertAll();
  }

  /** GitHub's anchors for the headings of a Markdown file. */
  static Set<String> anchors(String markdown) {
    Set<String> out = new TreeSet<>();
    for (String line : markdown.split("\n")) {
      Matcher h = Pattern.compile("^#{1,6}\\s+(.+?)\\s*$").matcher(line);
      if (h.matches()) {
        out.add(h.group(1).toLowerCase().replaceAll("[^a-z0-9 _-]", "").replace(' ', '-'));
      }
    }
    return out;
  }

  @Test
  void theDashboardQueriesOnlyMetricsTheAppExportsAndCoversEveryTopic() throws Exception {
    String json = Manifests.read(Rendered.ROOT.resolve("k8s/monitoring/tso-dashboard.json"));
    JsonNode dashboard = Manifests.JSON.readTree(json);
    List<String> queries = new ArrayList<>();
    dashboard.findValues("expr").forEach(e -> queries.add(e.asText()));
    for (JsonNode v : dashboard.path("templating").path("list")) {
      if (v.path("type").asText().equals("query")) {
        queries.add(v.path("query").isTextual() ? v.path("query").asText() : v.path("query").path("query").asText());
      }
    }
    Set<String> used = new TreeSet<>();
    SoftAssertions soft = new SoftAssertions();
    for (String q : queries) {
      Set<String> names = PromQl.metricNames(q);
      soft.assertThat(names).as("dashboard query " + q).isNotEmpty()
          .allMatch(n -> app.metricNames.contains(n) || NOT_FROM_THE_APP.contains(n));
      used.addAll(names);
    }
    soft.assertThat(used).as("dashboard topics").containsAll(DASHBOARD_TOPICS);
    JsonNode cm = RENDERED.get("production").get("ConfigMap", "tso-grafana-dashboard");
    soft.assertThat(cm.path("metadata").path("labels").path("grafana_dashboard").asText()).isEqualTo("1");
    soft.assertThat(Manifests.JSON.readTree(cm.path("data").path("tso-dashboard.json").asText()))
        .as("the ConfigMap ships k8s/monitoring/tso-dashboard.json").isEqualTo(dashboard);
    soft.assertAll();
  }
}
