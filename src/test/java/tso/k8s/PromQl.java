package tso.k8s;

import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The metric names a PromQL expression (or a Grafana query with its variables) reads: what is
 * left once strings, label matchers, ranges, grouping clauses and variables are taken out, minus
 * function names (followed by a parenthesis) and keywords.
 */
final class PromQl {

  private static final Set<String> KEYWORDS = Set.of("and", "or", "unless", "bool", "offset", "by", "without",
      "on", "ignoring", "group_left", "group_right", "inf", "nan");
  private static final Pattern IDENT = Pattern.compile("(?<![\\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\\s*\\()?");
  private static final Pattern LABEL_VALUES = Pattern.compile("^\\s*label_values\\(\\s*([a-zA-Z_:][a-zA-Z0-9_:]*)");

  private PromQl() {
  }

  static Set<String> metricNames(String expr) {
    Set<String> names = new TreeSet<>();
    Matcher lv = LABEL_VALUES.matcher(expr);
    if (lv.find()) { // Grafana's label_values(metric{…}, label): the label is no metric
      names.add(lv.group(1));
      return names;
    }
    String s = expr
        .replaceAll("\"(?:\\\\.|[^\"\\\\])*\"", " ")
        .replaceAll("'(?:\\\\.|[^'\\\\])*'", " ")
        .replaceAll("\\{[^}]*}", " ")
        .replaceAll("\\[[^\\]]*]", " ")
        .replaceAll("\\b(by|without|on|ignoring|group_left|group_right)\\s*\\([^)]*\\)", " ")
        .replaceAll("\\boffset\\s+\\w+", " ")
        .replaceAll("\\$\\{?\\w+}?", " ");
    Matcher m = IDENT.matcher(s);
    while (m.find()) {
      if (m.group(2) == null && !KEYWORDS.contains(m.group(1).toLowerCase())) {
        names.add(m.group(1));
      }
    }
    return names;
  }
}
