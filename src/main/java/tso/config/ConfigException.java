package tso.config;

/** A configuration value that cannot be used; its message is the one line start-up prints. */
public final class ConfigException extends RuntimeException {
  public ConfigException(String message) {
    super(message, null, false, false);
  }
}
