package tso.server;

import tso.alloc.TimestampAllocator;
import tso.core.TimestampSink;
import tso.core.TsoRequest;

/**
 * The benchmarks' baseline: answers every request at once, on the caller's event loop, without
 * the allocator. The transports treat it exactly as the real sink, so TSO throughput against this
 * is the cost of the timestamp core over the stack.
 *
 * <p>Its answer is one constant range shaped like a real one (the physical time this class was
 * loaded, epoch 1): the start-up warm-up drives the node through this sink, and answers of zero
 * would train the compiled encoders (protobuf leaves zero fields out; JSON prints one digit) on
 * branches real answers never take, which then cost a round of deoptimisation under the first
 * real load.
 */
public final class NoopSink implements TimestampSink {

  private static final long RANGE = TimestampAllocator.compose(System.currentTimeMillis(), 1);

  @Override
  public void submit(TsoRequest r) {
    r.succeed(RANGE, 1);
    r.answer();
  }
}
