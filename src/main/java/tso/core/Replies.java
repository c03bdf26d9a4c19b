package tso.core;

import io.vertx.core.Context;

import java.util.ArrayList;
import java.util.List;

/**
 * Answers collected on one thread and handed back to each request's own event loop: one task per
 * event loop per flush, never one per request.
 */
public final class Replies {

  private final ArrayList<Context> contexts = new ArrayList<>();
  private final ArrayList<ArrayList<TsoRequest>> lists = new ArrayList<>();

  public void add(TsoRequest q) {
    for (int i = 0, n = contexts.size(); i < n; i++) {
      if (contexts.get(i) == q.context) {
        lists.get(i).add(q);
        return;
      }
    }
    contexts.add(q.context);
    ArrayList<TsoRequest> list = new ArrayList<>();
    list.add(q);
    lists.add(list);
  }

  /** Turns every collected answer into this error (the answers must not leave as they are). */
  public void failAll(TsoError error, String message) {
    for (int i = 0, n = lists.size(); i < n; i++) {
      for (TsoRequest q : lists.get(i)) {
        q.fail(error, message);
      }
    }
  }

  /**
   * Hands every collected answer back; those for {@code here} or for the context running now are
   * answered at once, in order.
   */
  public void flush(Context here) {
    Context current = io.vertx.core.Vertx.currentContext();
    for (int i = 0, n = contexts.size(); i < n; i++) {
      Context target = contexts.get(i);
      List<TsoRequest> list = lists.get(i);
      if (target == here || target == current) {
        answerAll(list);
      } else {
        target.runOnContext(v -> answerAll(list));
      }
    }
    contexts.clear();
    lists.clear();
  }

  private static void answerAll(List<TsoRequest> list) {
    for (int i = 0, n = list.size(); i < n; i++) {
      list.get(i).answer();
    }
  }
}
