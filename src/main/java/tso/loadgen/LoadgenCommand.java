package tso.loadgen;

import java.util.Arrays;
import java.util.List;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * {@code tso loadgen}: flags as the contract names them. Exit 0 when the run passes, 1 when a
 * threshold given on the command line fails or a timestamp was seen twice or out of order, 2 for
 * bad flags.
 */
public final class LoadgenCommand {

  private LoadgenCommand() {
  }

  /** Half the CPUs: the generator usually shares the machine with what it drives. */
  static final int DEFAULT_THREADS = Math.max(1, Runtime.getRuntime().availableProcessors() / 2);
  /**
   * Every CPU with {@code --protocol client}: the client sends one request per batch, so the
   * server's share of the work is small and the generator's (the callers and the client) is most.
   */
  static final int DEFAULT_CLIENT_THREADS = Runtime.getRuntime().availableProcessors();

  private static final String[][] OPTIONS = {
      {"--target", "URL[,URL…]", "members to drive, all http:// or all https:// (TLS) (default http://127.0.0.1:8080)"},
      {"--protocol", "P", "http, grpc, grpc-stream, or client: the Java client library, one client over C connections "
          + "with C x N callers (default http)"},
      {"--rate", "R", "requests per second, open loop; 0 = closed loop (default 30000)"},
      {"--connections", "C", "connections in all (default 64)"},
      {"--concurrency", "N", "requests outstanding per connection; HTTP/1.1 pipelines them (default 1)"},
      {"--count", "K", "timestamps per request (default 1)"},
      {"--duration", "D", "measured time, e.g. 30s, 500ms, 2m (default 30s)"},
      {"--warmup", "D", "time before measuring (default 5s)"},
      {"--json", "FILE", "write the JSON summary"},
      {"--hgrm", "FILE", "write the full percentile spectrum (HdrHistogram format, ms)"},
      {"--history", "FILE", "write every successful answer (send and receive time, range, epoch, connection) to FILE, "
          + "for a check across several generators: java -cp tso.jar tso.loadgen.HistoryCheck FILE…"},
      {"--max-p99-ms", "MS", "fail when p99 is above"},
      {"--max-errors", "N", "fail when errors are more"},
      {"--connect-backoff-ms", "MS", "after a connection could not be opened, leave it unused this long (default 0: "
          + "retry with the next request)"},
      {"--threads", "T", "event-loop threads of the generator (default " + DEFAULT_THREADS + ", with --protocol client "
          + DEFAULT_CLIENT_THREADS + ")"},
      {"--tls-ca", "FILE", "with https targets: PEM bundle of the CAs to trust (default the JDK's trust store); the "
          + "server's certificate must also name the host dialled"},
      {"--tls-cert", "FILE", "with https targets: PEM client certificate, for a server that requires one (mutual TLS)"},
      {"--tls-key", "FILE", "its PEM private key (PKCS#8)"},
      {"--quiet", null, "no per-second lines"},
      {"--noop", null, "drive the server's no-op baseline instead (a server started with TSO_NOOP_ENDPOINT=true)"}};

  public static CommandSpec spec() {
    CommandSpec spec = CommandSpec.create().name("loadgen").mixinStandardHelpOptions(true);
    spec.usageMessage().description("Drives members with timestamp requests and reports latency, throughput, errors "
        + "and timestamps seen twice or out of order.");
    for (String[] o : OPTIONS) {
      OptionSpec.Builder b = OptionSpec.builder(o[0]).description(o[2]);
      if (o[1] == null) {
        b.arity("0").type(boolean.class);
      } else {
        b.paramLabel(o[1]).type(String.class);
      }
      spec.addOption(b.build());
    }
    return spec;
  }

  public static int run(ParseResult p) {
    Settings s;
    long backoffMs;
    try {
      s = settings(p);
      backoffMs = (long) number(p, "--connect-backoff-ms", "0", 0, 600_000);
    } catch (IllegalArgumentException e) {
      System.err.println("tso loadgen: " + e.getMessage());
      return 2;
    }
    try {
      LoadGenerator g = new LoadGenerator(s, System.out);
      String history = p.matchedOptionValue("--history", null);
      if (history != null) {
        g.history(java.nio.file.Path.of(history));
      }
      g.connectBackoff(backoffMs);
      Report r = g.run();
      r.print(System.out);
      r.writeFiles();
      List<String> failed = r.failures();
      for (String f : failed) {
        System.out.println("FAILED: " + f);
      }
      return failed.isEmpty() ? 0 : 1;
    } catch (Transports.Secure.BadFile e) {
      System.err.println("tso loadgen: " + e.getMessage());
      return 2;
    } catch (Exception e) {
      System.err.println("tso loadgen: " + e);
      return 1;
    }
  }

  static Settings settings(ParseResult p) {
    List<String> targets = Arrays.stream(str(p, "--target", "http://127.0.0.1:8080").split(","))
        .map(String::trim).filter(t -> !t.isEmpty()).toList();
    for (String t : targets) {
      if (!t.matches("https?://[^/\\s:]+(:\\d{1,5})?/?")) {
        throw new IllegalArgumentException("bad --target '" + t + "': expected http://host:port or https://host:port");
      }
    }
    boolean https = !targets.isEmpty() && targets.get(0).startsWith("https://");
    if (targets.stream().anyMatch(t -> t.startsWith("https://") != https)) {
      throw new IllegalArgumentException("--target mixes http:// and https://: use one scheme for every member");
    }
    Settings.Tls tls = tls(p, https);
    String protocol = str(p, "--protocol", "http");
    if (!List.of("http", "grpc", "grpc-stream", "client").contains(protocol)) {
      throw new IllegalArgumentException("bad --protocol '" + protocol + "': expected http, grpc, grpc-stream or client");
    }
    if (protocol.equals("client") && p.hasMatchedOption("--noop")) {
      throw new IllegalArgumentException("--noop drives the server's no-op endpoint, which the client does not call");
    }
    double rate = number(p, "--rate", "30000", 0, 10_000_000);
    int connections = (int) number(p, "--connections", "64", 1, 100_000);
    int concurrency = (int) number(p, "--concurrency", "1", 1, 100_000);
    int count = (int) number(p, "--count", "1", 1, 262_144);
    long duration = duration(p, "--duration", "30s");
    long warmup = duration(p, "--warmup", "5s");
    int threads = (int) number(p, "--threads",
        String.valueOf(protocol.equals("client") ? DEFAULT_CLIENT_THREADS : DEFAULT_THREADS), 1, 1024);
    if (duration <= 0) {
      throw new IllegalArgumentException("--duration must be positive");
    }
    Double maxP99 = p.hasMatchedOption("--max-p99-ms") ? number(p, "--max-p99-ms", null, 0, 1e9) : null;
    Long maxErrors = p.hasMatchedOption("--max-errors") ? (long) number(p, "--max-errors", null, 0, 1e18) : null;
    return new Settings(targets, protocol, rate, connections, concurrency, count, duration, warmup,
        p.matchedOptionValue("--json", null), p.matchedOptionValue("--hgrm", null), maxP99, maxErrors,
        p.hasMatchedOption("--quiet"), p.hasMatchedOption("--noop"), threads, tls);
  }

  /** --tls-ca, --tls-cert and --tls-key: for https targets only, each a readable PEM file of its kind. */
  private static Settings.Tls tls(ParseResult p, boolean https) {
    String ca = p.matchedOptionValue("--tls-ca", null);
    String cert = p.matchedOptionValue("--tls-cert", null);
    String key = p.matchedOptionValue("--tls-key", null);
    if (!https) {
      for (String name : new String[] {"--tls-ca", "--tls-cert", "--tls-key"}) {
        if (p.hasMatchedOption(name)) {
          throw new IllegalArgumentException(name + " needs https:// targets");
        }
      }
      return Settings.Tls.DEFAULT;
    }
    if ((cert == null) != (key == null)) {
      throw new IllegalArgumentException(cert == null ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key");
    }
    return new Settings.Tls(pem("--tls-ca", ca, "CERTIFICATE"), pem("--tls-cert", cert, "CERTIFICATE"),
        pem("--tls-key", key, "PRIVATE KEY"));
  }

  /** The file, checked to be readable and to hold a PEM block of {@code kind}; null for null. */
  private static java.nio.file.Path pem(String name, String file, String kind) {
    if (file == null) {
      return null;
    }
    String text;
    try {
      text = java.nio.file.Files.readString(java.nio.file.Path.of(file), java.nio.charset.StandardCharsets.ISO_8859_1);
    } catch (java.io.IOException | RuntimeException e) {
      throw new IllegalArgumentException("bad " + name + " '" + file + "': not a readable file ("
          + e.getClass().getSimpleName() + ")");
    }
    if (!text.matches("(?s).*-----BEGIN [A-Z ]*" + kind + "-----.*")) {
      throw new IllegalArgumentException("bad " + name + " '" + file + "': expected a PEM file with a " + kind + " block");
    }
    return java.nio.file.Path.of(file);
  }

  private static String str(ParseResult p, String name, String dflt) {
    String v = p.matchedOptionValue(name, null);
    return v == null ? dflt : v;
  }

  private static double number(ParseResult p, String name, String dflt, double min, double max) {
    String v = str(p, name, dflt);
    try {
      double d = Double.parseDouble(v);
      if (d >= min && d <= max) {
        return d;
      }
    } catch (NumberFormatException e) {
      // below
    }
    throw new IllegalArgumentException("bad " + name + " '" + v + "': expected a number from " + (long) min + " to " + (long) max);
  }

  /** 30s, 500ms, 2m, or plain seconds. */
  static long duration(ParseResult p, String name, String dflt) {
    String v = str(p, name, dflt).trim();
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|s|m)?").matcher(v);
    if (!m.matches()) {
      throw new IllegalArgumentException("bad " + name + " '" + v + "': expected e.g. 30s, 500ms or 2m");
    }
    double n = Double.parseDouble(m.group(1));
    String unit = m.group(2) == null ? "s" : m.group(2);
    return (long) switch (unit) {
      case "ms" -> n;
      case "m" -> n * 60_000;
      default -> n * 1000;
    };
  }
}
