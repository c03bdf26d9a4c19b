package tso.log;

/**
 * A process for {@link LogProcessTest}: installs the handler, logs {@code args[0]} numbered lines
 * and exits at once, leaving only the shutdown path to write what is still queued.
 */
public final class LogThenExit {

  private LogThenExit() {
  }

  public static void main(String[] args) {
    AsyncLogHandler.installOnRoot();
    System.Logger log = System.getLogger(LogThenExit.class.getName());
    int lines = Integer.parseInt(args[0]);
    for (int i = 0; i < lines; i++) {
      log.log(System.Logger.Level.INFO, "line {0,number,#}", i);
    }
    System.exit(0);
  }
}
