package tso.core;

/** Where the transports hand timestamp requests: the allocator itself, or a router in front of it. */
public interface TimestampSink {

  /** Safe from any thread; the answer comes back on the request's context. */
  void submit(TsoRequest request);
}
