package tso.loadgen;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Comparator;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.Size;

/** The radix sort behind the history checks orders like a stable comparator sort. */
class IndexSortProperties {

  @Property(tries = 300)
  void ordersLikeAStableComparatorSort(@ForAll @Size(max = 300) long[] keys) {
    // Negative and positive keys, and many equal keys sharing their high digits, as times have.
    long[] mixed = new long[keys.length * 2];
    for (int i = 0; i < keys.length; i++) {
      mixed[2 * i] = keys[i];
      mixed[2 * i + 1] = (keys[i] & 0xF) | (1L << 40);
    }
    Integer[] expected = new Integer[mixed.length];
    for (int i = 0; i < expected.length; i++) {
      expected[i] = i;
    }
    Arrays.sort(expected, Comparator.comparingLong(i -> mixed[i])); // stable
    int[] got = IndexSort.order(mixed);
    assertThat(Arrays.stream(got).boxed().toArray(Integer[]::new)).containsExactly(expected);
  }
}
