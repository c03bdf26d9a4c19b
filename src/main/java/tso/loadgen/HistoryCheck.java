package tso.loadgen;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.ParseResult;

/**
 * Checks the histories ({@link HistoryLog}) of one or more generator runs as one history, the
 * way a client population spread over several processes sees the cluster:
 * <ol>
 *   <li><b>unique</b>: no timestamp is in two answers (ranges {@code timestamp .. timestamp+count-1}
 *       never overlap);</li>
 *   <li><b>real-time order</b>: when answer A was received before request B was sent, every
 *       timestamp of B is above every timestamp of A;</li>
 *   <li><b>epochs on a connection</b>: on one connection, in the order the requests were sent,
 *       the epoch never goes down (answers on a connection come back in request order);</li>
 *   <li><b>epochs in real time</b>: when A was received before B was sent, B's epoch is not below
 *       A's (an older leader never answers after a newer one has).</li>
 * </ol>
 * Times are System.nanoTime of the generators, CLOCK_MONOTONIC: one clock for every process of
 * the machine. Sorting and one sweep: a few million answers take seconds.
 *
 * <p>It also measures moments given to it ({@code --events}, JSON lines
 * {@code {"id":…,"ns":…,"untilNs":…,"connections":["file:connection",…]}}, with {@code ns} on
 * the same clock): how long after it the first answer came, how long until a request sent after
 * it was answered, and the longest time without any answer up to {@code untilNs}; over every
 * connection, and over the listed ones when there are.
 *
 * <pre>java -cp target/tso.jar tso.loadgen.HistoryCheck [--events FILE] [--json FILE] HISTORY…</pre>
 * Exit 0 when every check holds, 1 on a violation, 2 on bad arguments or an unreadable file.
 */
public final class HistoryCheck {

  /** Examples kept per kind of violation. */
  static final int EXAMPLES = 5;

  final List<Path> files;
  final long[] fileRecords;
  final long[] fileTruncatedBytes;
  final int size;
  final long[] sent;
  final long[] done;
  final long[] first;
  final long[] epoch;
  final int[] count;
  /** Dense index of the record's connection: {@link #connNames}. */
  final int[] conn;
  final List<String> connNames = new ArrayList<>();
  /** The first send: examples give their times from it. */
  private final long t0;

  private int[] bySent;
  private int[] byDone;
  /** Send times of the violations found so far (up to {@link #MAX_TIMES}). */
  private long[] times;
  private int timeCount;

  /** Violations closer in time than this make one window of {@link Verdict#windows()}. */
  static final long WINDOW_GAP_NANOS = 1_000_000_000L;
  /** Violations whose send times are kept for the windows, at most. */
  static final int MAX_TIMES = 1_000_000;

  /**
   * The outcome: violations by kind, a few examples of each, and when they happened: windows of
   * {fromNs, toNs, count} (send times of the offending requests, merged when less than
   * {@link #WINDOW_GAP_NANOS} apart), to set beside what was done to the cluster then.
   */
  public record Verdict(Map<String, Long> violations, List<JsonObject> examples, List<long[]> windows) {
    public long total() {
      return violations.values().stream().mapToLong(Long::longValue).sum();
    }
  }

  private HistoryCheck(HistoryLog.Records r) {
    files = r.files;
    fileRecords = r.fileRecords;
    fileTruncatedBytes = r.fileTruncatedBytes;
    size = r.size;
    sent = r.sent;
    done = r.received;
    first = r.timestamp;
    epoch = r.epoch;
    count = r.count;
    conn = r.connection;
    connNames.addAll(r.connectionNames);
    t0 = size == 0 ? 0 : Arrays.stream(sent).min().getAsLong();
  }

  /** Reads every file ({@link HistoryLog#read}). */
  public static HistoryCheck load(List<Path> files) throws IOException {
    return new HistoryCheck(HistoryLog.read(files));
  }

  private long last(int i) {
    return first[i] + count[i] - 1;
  }

  /** Runs every check. */
  public Verdict check() {
    Map<String, Long> v = new java.util.LinkedHashMap<>();
    for (String kind : List.of("duplicate", "realTimeOrder", "epochOnConnection", "epochRealTime")) {
      v.put(kind, 0L);
    }
    List<JsonObject> examples = new ArrayList<>();
    Map<String, Integer> shown = new HashMap<>();
    times = new long[64];
    timeCount = 0;

    // 1. Unique: sorted by first timestamp, no range starts at or below the highest end so far.
    long[] unsignedFirst = new long[size];
    for (int i = 0; i < size; i++) {
      unsignedFirst[i] = first[i] ^ Long.MIN_VALUE; // unsigned order as signed
    }
    int[] byFirst = IndexSort.order(unsignedFirst);
    int top = -1;
    for (int op : byFirst) {
      if (top >= 0 && Long.compareUnsigned(first[op], last(top)) <= 0) {
        violation(v, examples, shown, "duplicate", op, top, "shares timestamps with");
      }
      if (top < 0 || Long.compareUnsigned(last(op), last(top)) > 0) {
        top = op;
      }
    }

    // 2 and 4. Real time: for each request in send order, every answer received before it was sent.
    int[] sentOrder = bySent();
    int[] doneOrder = byDone();
    int highest = -1;
    int newest = -1;
    int c = 0;
    for (int op : sentOrder) {
      while (c < size && done[doneOrder[c]] < sent[op]) {
        int d = doneOrder[c++];
        if (highest < 0 || Long.compareUnsigned(last(d), last(highest)) > 0) {
          highest = d;
        }
        if (newest < 0 || Long.compareUnsigned(epoch[d], epoch[newest]) > 0) {
          newest = d;
        }
      }
      if (highest >= 0 && Long.compareUnsigned(first[op], last(highest)) <= 0) {
        violation(v, examples, shown, "realTimeOrder", op, highest, "was sent after this was received, yet is not above it:");
      }
      if (newest >= 0 && Long.compareUnsigned(epoch[op], epoch[newest]) < 0) {
        violation(v, examples, shown, "epochRealTime", op, newest, "was sent after this was received, yet has a lower epoch:");
      }
    }

    // 3. Epochs on each connection, in send order.
    int[] latest = new int[connNames.size()];
    Arrays.fill(latest, -1);
    for (int op : sentOrder) {
      int k = conn[op];
      int before = latest[k];
      if (before >= 0 && Long.compareUnsigned(epoch[op], epoch[before]) < 0) {
        violation(v, examples, shown, "epochOnConnection", op, before, "was sent after this on the same connection, "
            + "yet has a lower epoch:");
      } else {
        latest[k] = op;
      }
    }
    return new Verdict(v, examples, windows());
  }

  private List<long[]> windows() {
    long[] t = Arrays.copyOf(times, timeCount);
    Arrays.sort(t);
    List<long[]> out = new ArrayList<>();
    for (long x : t) {
      long[] last = out.isEmpty() ? null : out.get(out.size() - 1);
      if (last != null && x - last[1] < WINDOW_GAP_NANOS) {
        last[1] = x;
        last[2]++;
      } else {
        out.add(new long[] {x, x, 1});
      }
    }
    return out;
  }

  private void violation(Map<String, Long> v, List<JsonObject> examples, Map<String, Integer> shown, String kind,
      int op, int other, String words) {
    v.merge(kind, 1L, Long::sum);
    if (timeCount < MAX_TIMES) {
      if (timeCount == times.length) {
        times = Arrays.copyOf(times, times.length * 2);
      }
      times[timeCount++] = sent[op];
    }
    if (shown.merge(kind, 1, Integer::sum) <= EXAMPLES) {
      examples.add(new JsonObject().put("kind", kind)
          .put("text", describe(op) + " " + words + " " + describe(other))
          .put("answer", record(op)).put("against", record(other)));
    }
  }

  private JsonObject record(int i) {
    return new JsonObject().put("timestamp", Long.toUnsignedString(first[i])).put("count", count[i])
        .put("epoch", Long.toUnsignedString(epoch[i])).put("connection", connNames.get(conn[i]))
        .put("sentNs", sent[i]).put("receivedNs", done[i]);
  }

  private String describe(int i) {
    return String.format("[%s +%d epoch %s, connection %s, sent %.3f ms, received %.3f ms]",
        Long.toUnsignedString(first[i]), count[i], Long.toUnsignedString(epoch[i]), connNames.get(conn[i]),
        (sent[i] - t0) / 1e6, (done[i] - t0) / 1e6);
  }

  private int[] bySent() {
    if (bySent == null) {
      bySent = IndexSort.order(sent);
    }
    return bySent;
  }

  private int[] byDone() {
    if (byDone == null) {
      byDone = IndexSort.order(done);
    }
    return byDone;
  }

  /**
   * What happened after a moment: {@code firstAnswerMs} (the first answer received after it),
   * {@code recoveryMs} (the first answer to a request sent at or after it: service is back), and
   * the longest time without an answer from it to {@code untilNs}; null when there was none.
   *
   * @param members the dense connection indices to look at, or null for every connection
   */
  public JsonObject after(long ns, long untilNs, boolean[] members) {
    int[] doneOrder = byDone();
    int lo = 0;
    int hi = size;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (done[doneOrder[mid]] < ns) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    long firstAnswer = -1;
    long recovery = -1;
    long prev = ns;
    long gap = 0;
    long gapStart = ns;
    long inWindow = 0;
    for (int k = lo; k < size; k++) {
      int op = doneOrder[k];
      if (members != null && !members[conn[op]]) {
        continue;
      }
      long t = done[op];
      if (firstAnswer < 0) {
        firstAnswer = t - ns;
      }
      if (recovery < 0 && sent[op] >= ns) {
        recovery = t - ns;
      }
      if (t <= untilNs) {
        inWindow++;
        if (t - prev > gap) {
          gap = t - prev;
          gapStart = prev;
        }
        prev = t;
      } else if (recovery >= 0) {
        break;
      }
    }
    if (untilNs - prev > gap) {
      gap = untilNs - prev;
      gapStart = prev;
    }
    return new JsonObject()
        .put("firstAnswerMs", firstAnswer < 0 ? null : firstAnswer / 1e6)
        .put("recoveryMs", recovery < 0 ? null : recovery / 1e6)
        .put("longestGapMs", Math.max(0, gap) / 1e6)
        .put("longestGapFromMs", (gapStart - ns) / 1e6)
        .put("answers", inWindow);
  }

  /** The dense indices of connections named {@code file:connection}, as a membership table. */
  public boolean[] members(List<String> names) {
    boolean[] m = new boolean[connNames.size()];
    for (String n : names) {
      int i = connNames.indexOf(n);
      if (i >= 0) {
        m[i] = true;
      }
    }
    return m;
  }

  /** Everything: the verdict, the files, each epoch and each connection. */
  public JsonObject json(Verdict verdict) {
    JsonObject out = new JsonObject();
    out.put("records", size);
    JsonArray fs = new JsonArray();
    for (int f = 0; f < files.size(); f++) {
      fs.add(new JsonObject().put("path", files.get(f).toString()).put("records", fileRecords[f])
          .put("truncatedBytes", fileTruncatedBytes[f]));
    }
    out.put("files", fs);
    long end = Long.MIN_VALUE;
    long highest = 0;
    long newest = 0;
    for (int i = 0; i < size; i++) {
      end = Math.max(end, done[i]);
      if (Long.compareUnsigned(last(i), highest) > 0) {
        highest = last(i);
      }
      if (Long.compareUnsigned(epoch[i], newest) > 0) {
        newest = epoch[i];
      }
    }
    out.put("firstSentNs", size == 0 ? null : t0).put("lastReceivedNs", size == 0 ? null : end);
    // What every later answer must be above (and not below), by real-time order.
    out.put("highestTimestamp", Long.toUnsignedString(highest)).put("highestEpoch", Long.toUnsignedString(newest));
    out.put("violations", new JsonObject(new java.util.LinkedHashMap<>(verdict.violations()))
        .put("total", verdict.total()));
    out.put("examples", new JsonArray(new ArrayList<>(verdict.examples())));
    JsonArray ws = new JsonArray();
    for (long[] w : verdict.windows()) {
      ws.add(new JsonObject().put("fromNs", w[0]).put("toNs", w[1]).put("violations", w[2]));
    }
    out.put("violationWindows", ws);
    TreeMap<Long, long[]> epochs = new TreeMap<>(Long::compareUnsigned);
    long[][] conns = new long[connNames.size()][];
    for (int i = 0; i < size; i++) {
      long[] e = epochs.computeIfAbsent(epoch[i], k -> new long[] {0, Long.MAX_VALUE, Long.MIN_VALUE});
      e[0]++;
      e[1] = Math.min(e[1], done[i]);
      e[2] = Math.max(e[2], done[i]);
      long[] c = conns[conn[i]];
      if (c == null) {
        c = conns[conn[i]] = new long[] {0, Long.MAX_VALUE, Long.MIN_VALUE, epoch[i], epoch[i]};
      }
      c[0]++;
      c[1] = Math.min(c[1], sent[i]);
      c[2] = Math.max(c[2], done[i]);
      if (Long.compareUnsigned(epoch[i], c[3]) < 0) {
        c[3] = epoch[i];
      }
      if (Long.compareUnsigned(epoch[i], c[4]) > 0) {
        c[4] = epoch[i];
      }
    }
    JsonArray es = new JsonArray();
    epochs.forEach((e, x) -> es.add(new JsonObject().put("epoch", Long.toUnsignedString(e)).put("answers", x[0])
        .put("firstReceivedNs", x[1]).put("lastReceivedNs", x[2])));
    out.put("epochs", es);
    JsonArray cs = new JsonArray();
    for (int k = 0; k < conns.length; k++) {
      long[] c = conns[k];
      cs.add(new JsonObject().put("connection", connNames.get(k)).put("answers", c[0]).put("firstSentNs", c[1])
          .put("lastReceivedNs", c[2]).put("minEpoch", Long.toUnsignedString(c[3]))
          .put("maxEpoch", Long.toUnsignedString(c[4])));
    }
    out.put("connections", cs);
    return out;
  }



  // ---------------------------------------------------------------------------------- command

  static CommandSpec spec() {
    CommandSpec spec = CommandSpec.create().name("HistoryCheck").mixinStandardHelpOptions(true);
    spec.usageMessage().description("Checks the histories written by tso loadgen --history, together: no timestamp "
        + "twice, real-time order, epochs never lower on a connection or in real time.");
    spec.addOption(OptionSpec.builder("--events").paramLabel("FILE").type(String.class)
        .description("moments to measure recovery from: JSON lines {\"id\",\"ns\",\"untilNs\",\"connections\"}").build());
    spec.addOption(OptionSpec.builder("--json").paramLabel("FILE").type(String.class)
        .description("write the outcome as JSON").build());
    spec.addPositional(PositionalParamSpec.builder().paramLabel("HISTORY").arity("1..*").type(String[].class)
        .description("history files").build());
    return spec;
  }

  public static void main(String[] args) {
    System.exit(run(args, System.out));
  }

  static int run(String[] args, java.io.PrintStream out) {
    CommandLine cli = new CommandLine(spec());
    ParseResult p;
    try {
      p = cli.parseArgs(args);
    } catch (CommandLine.ParameterException e) {
      System.err.println("HistoryCheck: " + e.getMessage());
      return 2;
    }
    if (CommandLine.printHelpIfRequested(p)) {
      return 0;
    }
    String[] names = p.matchedPositionalValue(0, new String[0]);
    if (names.length == 0) {
      System.err.println("HistoryCheck: no history files given (see --help)");
      return 2;
    }
    try {
      long t = System.nanoTime();
      HistoryCheck h = load(Arrays.stream(names).map(Path::of).toList());
      Verdict v = h.check();
      JsonObject json = h.json(v);
      String events = p.matchedOptionValue("--events", null);
      if (events != null) {
        JsonArray measured = new JsonArray();
        for (String line : Files.readAllLines(Path.of(events))) {
          if (line.isBlank()) {
            continue;
          }
          JsonObject e = new JsonObject(line);
          long ns = e.getLong("ns");
          long until = e.getLong("untilNs", ns);
          JsonObject m = new JsonObject().put("id", e.getValue("id")).put("all", h.after(ns, until, null));
          JsonArray only = e.getJsonArray("connections");
          if (only != null) {
            List<String> list = new ArrayList<>();
            only.forEach(x -> list.add(String.valueOf(x)));
            m.put("connections", h.after(ns, until, h.members(list)));
          }
          measured.add(m);
        }
        json.put("events", measured);
      }
      json.put("checkSeconds", (System.nanoTime() - t) / 1e9);
      String to = p.matchedOptionValue("--json", null);
      if (to != null) {
        Files.writeString(Path.of(to), json.encode() + "\n");
      }
      out.printf("history: %d answers from %d files, %d connections, %d epochs; checked in %.1f s%n", h.size,
          names.length, h.connNames.size(), json.getJsonArray("epochs").size(), json.getDouble("checkSeconds"));
      out.printf("violations: %d %s%n", v.total(), v.violations());
      for (JsonObject x : v.examples()) {
        out.println("  " + x.getString("kind") + ": " + x.getString("text"));
      }
      for (long[] w : v.windows()) {
        out.printf("  %d violations sent from %.3f s to %.3f s%n", w[2], (w[0] - h.t0) / 1e9, (w[1] - h.t0) / 1e9);
      }
      return v.total() == 0 ? 0 : 1;
    } catch (IOException | RuntimeException e) {
      System.err.println("HistoryCheck: " + e);
      return 2;
    }
  }
}
