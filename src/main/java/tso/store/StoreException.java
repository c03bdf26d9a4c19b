package tso.store;

/** The store cannot be used as it is (corrupt, or held by another process); start-up stops with this message. */
public final class StoreException extends RuntimeException {
  public StoreException(String message) {
    super(message, null, false, false);
  }
}
