package tso.server;

import tso.core.NodeView;
import tso.core.TimestampSink;
import tso.core.TsoError;
import tso.core.TsoRequest;
import tso.election.Leadership;
import tso.forward.Forwarder;
import tso.service.TimestampService;

/**
 * In front of the allocator in Redis mode: the leader serves itself; a follower forwards to the
 * leader (or, in redirect mode, answers NOT_LEADER with its address); with no leader known the
 * answer is UNAVAILABLE. Every refusal here is retryable.
 */
public final class Router implements TimestampSink {

  private final Leadership leadership;
  private final Forwarder forwarder;
  private final boolean forward;

  public Router(Leadership leadership, Forwarder forwarder, boolean forward) {
    this.leadership = leadership;
    this.forwarder = forwarder;
    this.forward = forward;
  }

  @Override
  public void submit(TsoRequest r) {
    TimestampService s = leadership.service();
    if (s != null) {
      s.submit(r);
      return;
    }
    NodeView.Member leader = leadership.leader();
    if (leader == null || leader.nodeId().equals(leadership.nodeId())) {
      r.fail(TsoError.UNAVAILABLE, "no leader is serving now; retry shortly");
      r.answer();
    } else if (forward) {
      forwarder.submit(r);
    } else {
      r.fail(TsoError.NOT_LEADER, "this node is not the leader; the leader is " + leader.address());
      r.answer();
    }
  }
}
