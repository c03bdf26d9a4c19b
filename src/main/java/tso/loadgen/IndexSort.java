package tso.loadgen;

/** Sorting the indices of tens of millions of entries by a 64-bit key, for the history checks. */
final class IndexSort {

  private IndexSort() {
  }

  /**
   * The indices of {@code key} in ascending (signed) order of their keys, stable: a
   * least-significant-digit radix sort, 16 bits a pass, that skips the passes where every key has
   * the same digit (the high bits of nanosecond times, the physical part of timestamps). Tens of
   * millions of entries (a client run at millions a second) sort in seconds, where sorting boxed
   * indices with a comparator took minutes and gigabytes.
   */
  static int[] order(long[] key) {
    int n = key.length;
    long flip = Long.MIN_VALUE; // signed order = unsigned order of the keys with the sign bit flipped
    long[] k = new long[n];
    int[] idx = new int[n];
    for (int i = 0; i < n; i++) {
      k[i] = key[i] ^ flip;
      idx[i] = i;
    }
    long[] k2 = new long[n];
    int[] idx2 = new int[n];
    int[] counts = new int[1 << 16];
    for (int shift = 0; shift < 64; shift += 16) {
      java.util.Arrays.fill(counts, 0);
      for (int i = 0; i < n; i++) {
        counts[(int) (k[i] >>> shift) & 0xFFFF]++;
      }
      if (n == 0 || counts[(int) (k[0] >>> shift) & 0xFFFF] == n) {
        continue; // every key has this digit
      }
      int sum = 0;
      for (int d = 0; d < counts.length; d++) {
        int c = counts[d];
        counts[d] = sum;
        sum += c;
      }
      for (int i = 0; i < n; i++) {
        int d = (int) (k[i] >>> shift) & 0xFFFF;
        int to = counts[d]++;
        k2[to] = k[i];
        idx2[to] = idx[i];
      }
      long[] tk = k;
      k = k2;
      k2 = tk;
      int[] ti = idx;
      idx = idx2;
      idx2 = ti;
    }
    return idx;
  }
}
