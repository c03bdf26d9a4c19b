package tso.server;
import tso.core.NodeView;
import tso.service.TimestampService;

/** A standalone node is its own leader while its allocator serves and it is not draining. */
public final class StandaloneView implements NodeView {

  private final String nodeId;
  private final String address;
  private final TimestampService service;
  private volatile boolean draining;

  public StandaloneView(String nodeId, String address, TimestampService service) {
    this.nodeId = nodeId;
    this.address = address;
    this.service = service;
  }

  /** From now on the node reports not ready (SIGTERM received); requests in flight are still answered. */
  public void drain() {
    draining = true;
  }

  @Override
  public String role() {
    return "standalone";
  }

  @Override
  public String nodeId() {
    return nodeId;
  }

  @Override
  public long epoch() {
    return service.epoch();
  }

  @Override
  public Member leader() {
    return service.serving() ? new Member(nodeId, address, service.epoch()) : null;
  }

  @Override
  public boolean ready() {
    return service.serving() && !draining;
  }
}
