package tso;

import tso.cli.ServerCommand;
import tso.loadgen.LoadgenCommand;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParseResult;

/**
 * {@code tso server …} (and later {@code tso loadgen …}): one jar, picocli subcommands.
 */
public final class Main {

  private Main() {
  }

  public static void main(String[] args) {
    // One line per record, before anything logs.
    System.setProperty("java.util.logging.SimpleFormatter.format",
        "%1$tFT%1$tT.%1$tLZ %4$-7s %3$s: %5$s%6$s%n");
    CommandSpec root = CommandSpec.create().name("tso").mixinStandardHelpOptions(true);
    root.usageMessage().description("A timestamp oracle: globally unique, strictly increasing 64-bit timestamps.");
    CommandLine cli = new CommandLine(root);
    cli.addSubcommand("server", new CommandLine(ServerCommand.spec()));
    cli.addSubcommand("loadgen", new CommandLine(LoadgenCommand.spec()));
    ParseResult parsed;
    try {
      parsed = cli.parseArgs(args);
    } catch (CommandLine.ParameterException e) {
      System.err.println("tso: " + e.getMessage() + " (see tso --help)");
      System.exit(2);
      return;
    }
    if (CommandLine.printHelpIfRequested(parsed)) {
      return;
    }
    ParseResult sub = parsed.subcommand();
    if (sub == null) {
      cli.usage(System.err);
      System.exit(2);
      return;
    }
    switch (sub.commandSpec().name()) {
      case "server" -> System.exit(ServerCommand.run(sub));
      case "loadgen" -> System.exit(LoadgenCommand.run(sub));
      default -> throw new IllegalStateException(sub.commandSpec().name());
    }
  }
}
