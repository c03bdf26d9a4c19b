package tso.cli;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;
import sun.misc.Signal;

import tso.config.Config;
import tso.config.ConfigException;
import tso.config.Setting;
import tso.core.NodeView;
import tso.log.AsyncLogHandler;
import tso.log.JsonFormatter;
import tso.server.Node;

/**
 * {@code tso server}: every {@link Setting} as a flag (which wins over its environment variable).
 * A bad value stops start-up with one line; SIGTERM and SIGINT stop gracefully with exit 0.
 */
public final class ServerCommand {

  private static final System.Logger LOG = System.getLogger(ServerCommand.class.getName());

  private ServerCommand() {
  }

  /** The subcommand's options, built from the settings table. */
  public static CommandSpec spec() {
    CommandSpec spec = CommandSpec.create().name("server").mixinStandardHelpOptions(true);
    spec.usageMessage().description("Runs one node. Each flag may also be given as its environment variable.");
    for (Setting s : Setting.values()) {
      spec.addOption(OptionSpec.builder(s.flag)
          .paramLabel("<" + s.env + ">")
          .type(String.class)
          .description(s.description + (s.defaultValue == null ? "" : " (default: " + s.defaultValue + ")"))
          .build());
    }
    return spec;
  }

  /** Runs the server until a signal stops it; returns the exit code. */
  public static int run(ParseResult parsed) {
    Map<Setting, String> flags = new EnumMap<>(Setting.class);
    for (Setting s : Setting.values()) {
      if (parsed.hasMatchedOption(s.flag)) {
        flags.put(s, parsed.matchedOptionValue(s.flag, ""));
      }
    }
    Config config;
    try {
      config = Config.resolve(flags, System.getenv());
    } catch (ConfigException e) {
      System.err.println("tso: " + e.getMessage());
      return 2;
    }
    // Event loops log; the JDK's console handler would write on them and stall them with stderr.
    JsonFormatter json = config.logFormat() == Config.LogFormat.JSON ? new JsonFormatter() : null;
    AsyncLogHandler log = json == null ? AsyncLogHandler.installOnRoot() : AsyncLogHandler.installOnRoot(json);
    Node node = new Node(config);
    if (json != null) {
      json.context(() -> {
        NodeView v = node.view();
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("node", config.nodeId());
        m.put("role", v.role());
        m.put("epoch", v.epoch());
        return m;
      });
    }
    try {
      node.start().toCompletionStage().toCompletableFuture().get();
    } catch (ExecutionException e) {
      log.flush(); // the lines that led here come before the verdict
      System.err.println("tso: cannot start: " + oneLine(e.getCause()));
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runnable stop = () -> {
      LOG.log(System.Logger.Level.INFO, "stopping: no new requests, answering those in flight");
      node.stop().onComplete(ar -> {
        LOG.log(System.Logger.Level.INFO, "stopped");
        stopped.countDown();
      });
    };
    Signal.handle(new Signal("TERM"), sig -> new Thread(stop, "tso-stop").start());
    Signal.handle(new Signal("INT"), sig -> new Thread(stop, "tso-stop").start());
    try {
      stopped.await();
      return 0;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 1;
    }
  }

  private static String oneLine(Throwable t) {
    String m = t.getMessage();
    if (m == null || m.isBlank()) {
      m = t.getClass().getSimpleName();
    } else if (!(t instanceof RuntimeException) || t.getClass().getName().startsWith("java.")) {
      m = t.getClass().getSimpleName() + ": " + m;
    }
    return m.replace('\n', ' ');
  }
}
