package tso.support;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Steady closed-loop load over HTTP for fault tests: a few workers, each sending to one node,
 * recording every success into a {@link History} with the epoch that issued it, and counting
 * failures (which faults make expected) instead of stopping on them.
 */
public final class Load implements AutoCloseable {

  /** One answered request, with the node asked and the issuer's epoch. */
  public record Success(String node, long sentNanos, long completedNanos, long first, long epoch) {
  }

  private static final Pattern ANSWER = Pattern.compile("\"timestamp\":\"(\\d+)\",\"count\":(\\d+),\"epoch\":\"(\\d+)\"");

  private final History history;
  private final List<String> urls;
  private final int workers;
  private final AtomicBoolean running = new AtomicBoolean(true);
  private final List<Thread> threads = new ArrayList<>();
  private final List<Success> successes = new ArrayList<>();
  private final Map<String, LongAdder> errors = new ConcurrentHashMap<>();
  private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofMillis(500)).build();

  private Load(History history, List<String> urls, int workers) {
    this.history = history;
    this.urls = urls;
    this.workers = workers;
  }

  /** Starts {@code workers} threads; worker i sends to {@code urls[i % size]}. */
  public static Load start(History history, List<String> urls, int workers) {
    Load load = new Load(history, urls, workers);
    for (int i = 0; i < workers; i++) {
      String url = urls.get(i % urls.size());
      Thread t = new Thread(() -> load.run(url), "load-" + i);
      t.setDaemon(true);
      load.threads.add(t);
      t.start();
    }
    return load;
  }

  private void run(String url) {
    HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/v1/timestamps"))
        .timeout(Duration.ofSeconds(3)).POST(HttpRequest.BodyPublishers.noBody()).build();
    while (running.get()) {
      long t0 = System.nanoTime();
      try {
        HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
        long t1 = System.nanoTime();
        if (resp.statusCode() == 200) {
          Matcher m = ANSWER.matcher(resp.body());
          if (!m.find()) {
            throw new AssertionError("unreadable answer: " + resp.body());
          }
          long first = Long.parseUnsignedLong(m.group(1));
          history.add(t0, t1, first, Integer.parseInt(m.group(2)), url);
          synchronized (successes) {
            successes.add(new Success(url, t0, t1, first, Long.parseLong(m.group(3))));
          }
          continue;
        }
        error("http_" + resp.statusCode());
      } catch (IOException e) {
        error(e.getClass().getSimpleName());
      } catch (InterruptedException e) {
        return;
      }
      pause();
    }
  }

  private void error(String kind) {
    errors.computeIfAbsent(kind, k -> new LongAdder()).increment();
  }

  private static void pause() {
    try {
      Thread.sleep(5); // pacing after a refusal, not synchronisation
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  public List<Success> successes() {
    synchronized (successes) {
      return new ArrayList<>(successes);
    }
  }

  public long successCount() {
    synchronized (successes) {
      return successes.size();
    }
  }

  /** The completion time of the first success sent after {@code nanos} with an epoch above {@code epoch}. */
  public long firstSuccessAfter(long nanos, long epoch) {
    long best = Long.MAX_VALUE;
    for (Success s : successes()) {
      if (s.sentNanos() >= nanos && s.epoch() > epoch && s.completedNanos() < best) {
        best = s.completedNanos();
      }
    }
    return best;
  }

  public Map<String, Long> errors() {
    Map<String, Long> out = new java.util.TreeMap<>();
    errors.forEach((k, v) -> out.put(k, v.sum()));
    return out;
  }

  /** Stops every worker and waits for them. */
  @Override
  public void close() throws InterruptedException {
    running.set(false);
    for (Thread t : threads) {
      t.join(10_000);
    }
  }

  public int workers() {
    return workers;
  }
}
