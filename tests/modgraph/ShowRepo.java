// The oracle for bds-modgraph --show-repo-names and --repo-targets: bazel-diff v37's
// BazelQueryService.queryBzlmodRepos (discoverRepoMapping, the show_repo arguments,
// ModuleGraphParser.parseModuleGraphDepEdges and breakCycles, repositoryToTarget,
// computeLocalRepoContentHash), written again in Java over Debian's Gson and protobuf
// runtime from bazel-diff's published source. Three modes:
//   java ShowRepo gen SEED N DIR   N random cases, DIR/<i>/: mapping.txt (the stdout of
//                                  `bazel mod dump_repo_mapping ""`), repos.pb (of `bazel
//                                  mod show_repo --output=streamed_proto`), graph.json (of
//                                  `bazel mod graph --output=json`) and ws/ (the workspace,
//                                  with the local repositories' files)
//   java ShowRepo names DIR N      per case, DIR/<i>/java.names: show_repo's arguments
//   java ShowRepo check DIR N      per case, bazel-diff's synthetic targets compared with
//                                  DIR/<i>/bds.pb (bds-modgraph's), message by message;
//                                  prints "case I: WHY" for each that differs
import bds.protocanon.Build.Attribute;
import bds.protocanon.Repos.Repository;
import bds.protocanon.Repos.Rule;
import bds.protocanon.Repos.Target;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;

public class ShowRepo {
  // --- bazel-diff ---------------------------------------------------------------------------

  // discoverRepoMapping's parse of the output lines
  static Map<String, String> repoMapping(List<String> lines) {
    try {
      Map<String, String> mapping = new LinkedHashMap<>();
      for (String line : lines) {
        String trimmed = ModGraph.moduleGraphText(line);
        if (trimmed.isEmpty()) continue;
        JsonObject json = JsonParser.parseString(trimmed).getAsJsonObject();
        for (Map.Entry<String, JsonElement> e : json.entrySet()) {
          String apparent = e.getKey(), canonical = e.getValue().getAsString();
          if (apparent.isEmpty()
              || canonical.isEmpty()
              || canonical.startsWith("bazel_tools")
              || canonical.startsWith("_builtins")
              || canonical.startsWith("local_config_")
              || canonical.startsWith("rules_java_builtin")
              || apparent.equals("bazel_tools")
              || apparent.equals("local_config_platform")) continue;
          mapping.put(apparent, canonical);
        }
      }
      return mapping;
    } catch (Exception e) {
      return new LinkedHashMap<>();
    }
  }

  static Map<String, List<String>> canonicalToApparent(Map<String, String> mapping) {
    Map<String, List<String>> out = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : mapping.entrySet())
      out.computeIfAbsent(e.getValue(), k -> new ArrayList<>()).add(e.getKey());
    return out;
  }

  static List<String> showRepoNames(Map<String, String> mapping) {
    List<String> names = new ArrayList<>();
    for (String c : canonicalToApparent(mapping).keySet())
      if (c.contains("+") || c.contains("~")) names.add("@@" + c);
    return names;
  }

  static Map<String, Set<String>> depEdges(String json) {
    Map<String, Set<String>> edges = new LinkedHashMap<>();
    try {
      JsonObject root;
      try {
        root = JsonParser.parseString(json).getAsJsonObject();
      } catch (Exception e) {
        int start = json.indexOf('{');
        if (start < 0) return new LinkedHashMap<>();
        root = JsonParser.parseString(json.substring(start)).getAsJsonObject();
      }
      extractDepEdges(root, edges);
    } catch (Exception e) {
      return new LinkedHashMap<>();
    }
    return edges;
  }

  static void extractDepEdges(JsonObject obj, Map<String, Set<String>> edges) {
    String name = ModGraph.str(obj, "name");
    if (name == null) return;
    JsonElement depsElement = obj.get("dependencies");
    if (depsElement == null) return;
    Iterable<JsonElement> deps = depsElement.getAsJsonArray();
    Set<String> collected = edges.computeIfAbsent(name, k -> new LinkedHashSet<>());
    for (JsonElement dep : deps) {
      if (!dep.isJsonObject()) continue;
      String depName = ModGraph.str(dep.getAsJsonObject(), "name");
      if (depName == null) continue;
      collected.add(depName);
      extractDepEdges(dep.getAsJsonObject(), edges);
    }
  }

  static Map<String, List<String>> breakCycles(Map<String, Set<String>> edges) {
    Map<String, List<String>> result = new LinkedHashMap<>();
    Set<String> visited = new LinkedHashSet<>(), onPath = new LinkedHashSet<>();
    for (String node : new TreeSet<>(edges.keySet())) dfs(node, edges, result, visited, onPath);
    return result;
  }

  static void dfs(String node, Map<String, Set<String>> edges, Map<String, List<String>> result, Set<String> visited,
      Set<String> onPath) {
    if (visited.contains(node)) return;
    onPath.add(node);
    List<String> kept = new ArrayList<>();
    Set<String> targets = edges.containsKey(node) ? new TreeSet<>(edges.get(node)) : new TreeSet<>();
    for (String t : targets) {
      if (onPath.contains(t)) continue;
      kept.add(t);
      dfs(t, edges, result, visited, onPath);
    }
    result.put(node, kept);
    onPath.remove(node);
    visited.add(node);
  }

  static String before(String s, char c) {
    int i = s.indexOf(c);
    return i < 0 ? s : s.substring(0, i);
  }

  static int count(String s, char c) {
    int k = 0;
    for (int i = 0; i < s.length(); i++) if (s.charAt(i) == c) k++;
    return k;
  }

  static List<Target> queryBzlmodRepos(List<String> mappingLines, List<Repository> repos, String graph, Path ws) {
    List<Target> targets = new ArrayList<>();
    Map<String, String> mapping = repoMapping(mappingLines);
    if (mapping.isEmpty() || showRepoNames(mapping).isEmpty()) return targets;
    Map<String, List<String>> toApparent = canonicalToApparent(mapping);
    Map<String, List<String>> moduleDepEdges = breakCycles(depEdges(graph));
    Map<String, String> nameToCanonical = new LinkedHashMap<>();
    for (Repository r : repos) {
      String c = r.getCanonicalName();
      String moduleName = before(c, '+');
      if (moduleName.isEmpty()) moduleName = c;
      if (count(c, '+') == 1) nameToCanonical.put(moduleName, c);
    }
    for (Repository r : repos) {
      String moduleName = count(r.getCanonicalName(), '+') == 1 ? before(r.getCanonicalName(), '+') : null;
      List<String> deps = new ArrayList<>();
      if (moduleName != null && moduleDepEdges.containsKey(moduleName))
        for (String m : moduleDepEdges.get(moduleName)) {
          String c = nameToCanonical.get(m);
          if (c != null && toApparent.containsKey(c)) deps.addAll(toApparent.get(c));
        }
      List<String> names = toApparent.get(r.getCanonicalName());
      if (names == null) names = List.of(r.getCanonicalName());
      for (String n : names) targets.add(repositoryToTarget(r, n, deps, ws));
    }
    return targets;
  }

  static Target repositoryToTarget(Repository repo, String name, List<String> deps, Path ws) {
    String ruleClass = repo.getRepoRuleName().isEmpty() ? "bzlmod_repo" : repo.getRepoRuleName();
    List<Attribute> attributes = new ArrayList<>(repo.getAttributeList());
    String contentHash = localRepoContentHash(repo, ws);
    if (contentHash != null)
      attributes.add(Attribute.newBuilder().setName("_bazel_diff_content_hash")
          .setType(Attribute.Discriminator.STRING).setStringValue(contentHash).build());
    Rule.Builder rule = Rule.newBuilder().setName("//external:" + name).setRuleClass(ruleClass)
        .addAllAttribute(attributes);
    for (String d : new TreeSet<>(deps)) if (!d.equals(name)) rule.addRuleInput("//external:" + d);
    return Target.newBuilder().setType(Target.Discriminator.RULE).setRule(rule).build();
  }

  static String localRepoContentHash(Repository repo, Path ws) {
    if (!repo.getRepoRuleName().equals("local_repository")) return null;
    Attribute path = null;
    for (Attribute a : repo.getAttributeList())
      if (a.getName().equals("path") && a.getType() == Attribute.Discriminator.STRING) {
        path = a;
        break;
      }
    if (path == null || path.getStringValue().isEmpty()) return null;
    Path raw = Paths.get(path.getStringValue());
    File dir = raw.isAbsolute() ? raw.toFile() : ws.resolve(raw).toFile();
    if (!dir.exists() || !dir.isDirectory()) return null;
    try {
      List<File> all = new ArrayList<>();
      walkTopDown(dir, all);
      Map<String, File> files = new java.util.TreeMap<>();
      for (File f : all)
        if (f.isFile() && !f.getName().equals("MODULE.bazel.lock"))
          files.put(dir.toPath().relativize(f.toPath()).toString(), f);
      MessageDigest d = MessageDigest.getInstance("SHA-256");
      for (Map.Entry<String, File> e : files.entrySet()) {
        d.update(e.getKey().getBytes(StandardCharsets.UTF_8));
        d.update((byte) 0);
        d.update(Files.readAllBytes(e.getValue().toPath()));
        d.update((byte) 0);
      }
      StringBuilder hex = new StringBuilder();
      for (byte b : d.digest()) hex.append(String.format("%02x", b));
      return hex.toString();
    } catch (Exception e) {
      return null;
    }
  }

  // Kotlin's File.walkTopDown: the file, then (a directory) each entry's walk
  static void walkTopDown(File f, List<File> out) {
    out.add(f);
    if (!f.isDirectory()) return;
    File[] kids = f.listFiles();
    if (kids != null) for (File k : kids) walkTopDown(k, out);
  }

  // --- the cases ----------------------------------------------------------------------------

  static final String[] MODULES = {"rules_a", "rules_b", "zlib", "c-d", "e.f"};

  static String pick(Random r, String... xs) {
    return xs[r.nextInt(xs.length)];
  }

  static String canonicalFor(Random r, String m) {
    return pick(r, m + "+", m + "+1.2", m + "~1.0", m + "++ext+" + m + "_x", m, "+" + m, m + "+", m + "+");
  }

  static Attribute attribute(Random r, String name) {
    Attribute.Builder a = Attribute.newBuilder().setName(name);
    switch (r.nextInt(3)) {
      case 0:
        a.setType(Attribute.Discriminator.STRING).setStringValue(pick(r, "x", "", "https://e.invalid/a.zip"));
        break;
      case 1:
        a.setType(Attribute.Discriminator.STRING_LIST).addStringListValue("a").addStringListValue(pick(r, "b", "c"));
        break;
      default:
        a.setType(Attribute.Discriminator.INTEGER).setIntValue(r.nextInt(5) - 2);
    }
    if (r.nextInt(4) == 0) a.setExplicitlySpecified(r.nextBoolean());
    return a.build();
  }

  static void write(Path p, String s) throws Exception {
    Files.createDirectories(p.getParent());
    Files.write(p, s.getBytes(StandardCharsets.UTF_8));
  }

  static void gen(long seed, int n, Path dir) throws Exception {
    Random r = new Random(seed);
    for (int i = 0; i < n; i++) {
      Path c = dir.resolve(Integer.toString(i)), ws = c.resolve("ws");
      Files.createDirectories(ws);
      // the repositories, and the mapping that names them
      List<Repository> repos = new ArrayList<>();
      StringBuilder mapping = new StringBuilder();
      StringBuilder line = new StringBuilder("{\"\":\"\",\"bazel_tools\":\"bazel_tools\"");
      int nrepos = r.nextInt(6);
      for (int k = 0; k < nrepos; k++) {
        String m = pick(r, MODULES), canonical = canonicalFor(r, m);
        Repository.Builder repo = Repository.newBuilder().setCanonicalName(canonical);
        String ruleName = pick(r, "", "http_archive", "local_repository", "local_repository");
        if (!ruleName.isEmpty()) repo.setRepoRuleName(ruleName);
        if (r.nextInt(3) == 0) repo.setApparentName(m).setModuleKey(m + "@1.0");
        for (int a = 0; a < r.nextInt(3); a++) repo.addAttribute(attribute(r, pick(r, "name", "urls", "sha256", "n")));
        if (ruleName.equals("local_repository")) {
          String rel = "local/" + m + k;
          String value = pick(r, rel, rel, ws.toAbsolutePath() + "/" + rel, "missing/" + m, "");
          Attribute.Builder p = Attribute.newBuilder().setName("path").setStringValue(value)
              .setType(r.nextInt(5) == 0 ? Attribute.Discriminator.LABEL : Attribute.Discriminator.STRING);
          repo.addAttribute(p);
          Path local = ws.resolve(rel);
          for (int f = 0; f < r.nextInt(4); f++)
            write(local.resolve(pick(r, "BUILD", "a.txt", "sub/b.txt", "MODULE.bazel.lock", "sub/MODULE.bazel.lock",
                "é.txt", "Z/a", "a-b/c")), "content " + r.nextInt(3));
          if (r.nextBoolean()) Files.createDirectories(local.resolve("empty"));
        }
        repos.add(repo.build());
        if (r.nextInt(6) != 0) {
          String apparent = pick(r, m, m + "_alias", m);
          line.append(",\"").append(apparent).append("\":\"").append(canonical).append("\"");
          if (r.nextInt(4) == 0) {
            mapping.append(line).append("}\n");
            line = new StringBuilder("{\"local_config_platform\":\"local_config_platform\"");
          }
        }
      }
      line.append(",\"ws_repo\":\"ws_repo\"");
      mapping.append(line).append("}\n");
      int odd = r.nextInt(20);
      if (odd == 0) mapping.append("[1]\n"); // not an object: bazel-diff's mapping is empty
      if (odd == 1) mapping.append("{\"x\": null}\n"); // getAsString throws: empty too
      if (odd == 2) mapping.insert(0, "\n  \n"); // blank lines are skipped
      write(c.resolve("mapping.txt"), mapping.toString());
      ByteArrayOutputStream pb = new ByteArrayOutputStream();
      for (Repository repo : repos) repo.writeDelimitedTo(pb);
      Files.write(c.resolve("repos.pb"), pb.toByteArray());
      // a module graph over the same names, cycles included
      StringBuilder g = new StringBuilder("{\"key\":\"<root>\",\"name\":\"main\",\"version\":\"\",\"apparentName\":\"main\",\"dependencies\":[");
      int nmods = 1 + r.nextInt(6);
      for (int k = 0; k < nmods; k++) {
        String m = pick(r, MODULES);
        if (k > 0) g.append(',');
        g.append("{\"key\":\"").append(m).append("@1.0\",\"name\":\"").append(m).append("\",\"version\":\"1.0\",\"apparentName\":\"")
            .append(m).append("\",\"dependencies\":[");
        int nd = r.nextInt(4);
        for (int d = 0; d < nd; d++) {
          String dm = pick(r, MODULES);
          if (d > 0) g.append(',');
          g.append("{\"key\":\"").append(dm).append("@1.0\",\"name\":\"").append(dm).append("\",\"version\":\"1.0\"");
          g.append(r.nextBoolean() ? ",\"unexpanded\":true}" : ",\"dependencies\":[{\"name\":\"" + pick(r, MODULES) + "\"}]}");
        }
        g.append("]}");
      }
      g.append("]}");
      write(c.resolve("graph.json"), odd == 3 ? "garbage" : g.toString());
    }
  }

  static List<String> lines(Path p) throws Exception {
    String s = new String(Files.readAllBytes(p), StandardCharsets.UTF_8);
    return new java.io.BufferedReader(new java.io.StringReader(s)).lines().collect(java.util.stream.Collectors.toList());
  }

  static List<Repository> readRepos(Path p) throws Exception {
    List<Repository> out = new ArrayList<>();
    try (InputStream in = new FileInputStream(p.toFile())) {
      for (Repository r; (r = Repository.parseDelimitedFrom(in)) != null; ) out.add(r);
    }
    return out;
  }

  public static void main(String[] args) throws Exception {
    Path dir = Paths.get(args[args[0].equals("gen") ? 3 : 1]);
    int n = Integer.parseInt(args[2]);
    if (args[0].equals("gen")) {
      gen(Long.parseLong(args[1]), n, dir);
      return;
    }
    for (int i = 0; i < n; i++) {
      Path c = dir.resolve(Integer.toString(i));
      if (args[0].equals("names")) {
        StringBuilder s = new StringBuilder();
        for (String name : showRepoNames(repoMapping(lines(c.resolve("mapping.txt"))))) s.append(name).append('\n');
        write(c.resolve("java.names"), s.toString());
        continue;
      }
      String graph = ModGraph.moduleGraphText(new String(Files.readAllBytes(c.resolve("graph.json")), StandardCharsets.UTF_8));
      List<Target> want = queryBzlmodRepos(lines(c.resolve("mapping.txt")), readRepos(c.resolve("repos.pb")), graph,
          c.resolve("ws").toAbsolutePath());
      List<Target> got = new ArrayList<>();
      try (InputStream in = new FileInputStream(c.resolve("bds.pb").toFile())) {
        for (Target t; (t = Target.parseDelimitedFrom(in)) != null; ) got.add(t);
      }
      if (!want.equals(got))
        System.out.println("case " + i + ": java " + want.size() + " targets, bds " + got.size() + (want.size() == got.size() ? " (contents differ)" : ""));
    }
  }
}
