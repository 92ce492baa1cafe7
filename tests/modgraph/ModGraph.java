// The oracle for bds's module-graph code: bazel-diff v37's behaviour, written again in Java
// over Debian's Gson (bazel-diff reads and writes its JSON with Gson) from its published
// source (ModuleGraphParser, CalculateImpactedTargetsInteractor, BazelModService and
// GenerateHashesInteractor). Two modes:
//   java ModGraph format FLAT.json RAW
//       the hashes of FLAT.json (a flat {label: value} file) with RAW (the stdout of `bazel
//       mod graph --output=json`) as moduleGraphJson, as generate-hashes writes them;
//   java ModGraph decide < CASES
//       one JSON case a line, {"from": GRAPH|null, "to": GRAPH|null, "labels": [...]}: one
//       answer a line, "PLAIN" when bazel-diff takes the plain hash diff, else the
//       canonical repositories it asks rdeps about, sorted, space-separated;
//   java ModGraph expand < CASES
//       one JSON case a line, {"graph": RAW|null, "repos": [...]} (RAW: the stdout of `bazel
//       mod graph --output=json`, null when it failed): one answer a line, the
//       --fineGrainedHashExternalRepos bazel-diff hashes with (Modules.kt's
//       expandFineGrainedHashExternalReposWithBzlmodDependents), comma-separated.
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.reflect.TypeToken;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

public class ModGraph {
  static final class Module {
    final String key, name, version, apparentName;

    Module(String key, String name, String version, String apparentName) {
      this.key = key;
      this.name = name;
      this.version = version;
      this.apparentName = apparentName;
    }
  }

  static Map<String, Module> parseModuleGraph(String json) {
    Map<String, Module> modules = new LinkedHashMap<>();
    try {
      JsonObject root;
      try {
        root = JsonParser.parseString(json).getAsJsonObject();
      } catch (Exception e) {
        int start = json.indexOf('{');
        if (start < 0) return new LinkedHashMap<>();
        root = JsonParser.parseString(json.substring(start)).getAsJsonObject();
      }
      extractModules(root, modules);
    } catch (Exception e) {
      return new LinkedHashMap<>();
    }
    return modules;
  }

  static String str(JsonObject obj, String name) {
    JsonElement e = obj.get(name);
    return e == null ? null : e.getAsString();
  }

  static void extractModules(JsonObject obj, Map<String, Module> modules) {
    String key = str(obj, "key"), name = str(obj, "name"), version = str(obj, "version");
    String apparentName = str(obj, "apparentName");
    if (key != null && name != null && !name.isEmpty() && version != null && apparentName != null)
      modules.put(key, new Module(key, name, version, apparentName));
    JsonElement deps = obj.get("dependencies");
    if (deps != null)
      for (JsonElement dep : deps.getAsJsonArray())
        if (dep.isJsonObject()) extractModules(dep.getAsJsonObject(), modules);
  }

  static Set<String> findChangedModules(Map<String, Module> oldGraph, Map<String, Module> newGraph) {
    Set<String> changed = new LinkedHashSet<>();
    for (Map.Entry<String, Module> e : newGraph.entrySet()) {
      Module old = oldGraph.get(e.getKey());
      if (old == null || !old.version.equals(e.getValue().version)) changed.add(e.getKey());
    }
    for (String k : oldGraph.keySet()) if (!newGraph.containsKey(k)) changed.add(k);
    return changed;
  }

  static boolean canonicalRepoIsBaseForModule(String canonical, String moduleName) {
    if (!canonical.startsWith(moduleName)) return false;
    String rest = canonical.substring(moduleName.length());
    if (rest.isEmpty()) return false;
    char separator = rest.charAt(0);
    if (separator != '+' && separator != '~') return false;
    String versionSegment = rest.substring(1);
    return !versionSegment.contains("+") && !versionSegment.contains("~");
  }

  // CalculateImpactedTargetsInteractor: null = the plain diff, else the repositories.
  static Set<String> decide(String from, String to, List<String> labels) {
    if (from == null ? to == null : from.equals(to)) return null;
    if (from == null || to == null) return null;
    Map<String, Module> fromGraph = parseModuleGraph(from), toGraph = parseModuleGraph(to);
    if (fromGraph.isEmpty() != toGraph.isEmpty()) return null;
    Set<String> changedKeys = findChangedModules(fromGraph, toGraph);
    if (changedKeys.isEmpty()) return null;
    List<Module> changed = new ArrayList<>();
    for (String k : changedKeys) changed.add(toGraph.containsKey(k) ? toGraph.get(k) : fromGraph.get(k));
    Set<String> canonicalRepos = new LinkedHashSet<>();
    for (String l : labels) {
      if (!l.startsWith("@@")) continue;
      String c = l.substring(2);
      int slash = c.indexOf("//");
      if (slash >= 0) c = c.substring(0, slash);
      if (!c.isEmpty()) canonicalRepos.add(c);
    }
    Set<String> repos = new TreeSet<>();
    for (Module m : changed)
      for (String c : canonicalRepos) if (canonicalRepoIsBaseForModule(c, m.name)) repos.add(c);
    return repos.isEmpty() ? null : repos;
  }

  // ModuleGraphParser.parseModuleGraphEdges / walkEdges: apparent name -> direct deps' apparent
  // names (edges), and the root's apparent names (roots); both empty where Gson throws.
  static Map<String, Set<String>> edges;
  static Set<String> roots;

  static void parseModuleGraphEdges(String json) {
    edges = new LinkedHashMap<>();
    roots = new LinkedHashSet<>();
    try {
      JsonObject root;
      try {
        root = JsonParser.parseString(json).getAsJsonObject();
      } catch (Exception e) {
        int start = json.indexOf('{');
        if (start < 0) throw e;
        root = JsonParser.parseString(json.substring(start)).getAsJsonObject();
      }
      walkEdges(root, true);
    } catch (Exception e) {
      edges = new LinkedHashMap<>();
      roots = new LinkedHashSet<>();
    }
  }

  static void walkEdges(JsonObject obj, boolean isRoot) {
    String apparentName = str(obj, "apparentName");
    if (apparentName == null) return;
    if (isRoot) roots.add(apparentName);
    Set<String> mine = edges.computeIfAbsent(apparentName, k -> new LinkedHashSet<>());
    JsonElement deps = obj.get("dependencies");
    if (deps == null) return;
    for (JsonElement dep : deps.getAsJsonArray()) {
      if (!dep.isJsonObject()) continue;
      JsonObject depObj = dep.getAsJsonObject();
      String depApparent = str(depObj, "apparentName");
      if (depApparent == null) continue;
      mine.add(depApparent);
      JsonElement u = depObj.get("unexpanded");
      boolean unexpanded = u == null ? false : u.getAsBoolean();
      if (!unexpanded) walkEdges(depObj, false);
    }
  }

  // ModuleGraphParser.findTransitiveDependents
  static Set<String> findTransitiveDependents(Set<String> targets) {
    Set<String> out = new LinkedHashSet<>();
    if (edges.isEmpty() || targets.isEmpty()) return out;
    Map<String, Set<String>> reverse = new LinkedHashMap<>();
    for (Map.Entry<String, Set<String>> e : edges.entrySet())
      for (String dep : e.getValue()) reverse.computeIfAbsent(dep, k -> new LinkedHashSet<>()).add(e.getKey());
    Set<String> visited = new LinkedHashSet<>(targets);
    java.util.ArrayDeque<String> queue = new java.util.ArrayDeque<>(targets);
    while (!queue.isEmpty()) {
      Set<String> parents = reverse.get(queue.removeFirst());
      if (parents == null) continue;
      for (String p : parents) {
        if (visited.contains(p)) continue;
        visited.add(p);
        if (!roots.contains(p)) out.add(p);
        queue.addLast(p);
      }
    }
    return out;
  }

  // Modules.kt's expandFineGrainedHashExternalReposWithBzlmodDependents; raw null: the graph
  // command failed
  static Set<String> expand(String raw, List<String> user) throws Exception {
    Set<String> userSupplied = new LinkedHashSet<>(user);
    if (userSupplied.isEmpty() || raw == null) return userSupplied;
    String json = moduleGraphText(raw);
    if (json.isEmpty()) return userSupplied;
    parseModuleGraphEdges(json);
    if (edges.isEmpty()) return userSupplied;
    Set<String> apparentTargets = new LinkedHashSet<>();
    for (String r : userSupplied) {
      String t = r.startsWith("@@") ? r.substring(2) : r;
      t = t.startsWith("@") ? t.substring(1) : t;
      if (!t.isEmpty()) apparentTargets.add(t);
    }
    Set<String> dependents = findTransitiveDependents(apparentTargets);
    if (dependents.isEmpty()) return userSupplied;
    Set<String> result = new LinkedHashSet<>(userSupplied);
    for (String d : dependents) result.add("@" + d);
    return result;
  }

  // BazelModService.getModuleGraphJson: the output's lines joined with "\n", trimmed.
  static String moduleGraphText(String raw) throws Exception {
    List<String> lines = new ArrayList<>();
    BufferedReader r = new BufferedReader(new StringReader(raw));
    for (String line; (line = r.readLine()) != null; ) lines.add(line);
    String joined = String.join("\n", lines);
    int b = 0, e = joined.length();
    while (b < e && kotlinWhitespace(joined.charAt(b))) b++;
    while (e > b && kotlinWhitespace(joined.charAt(e - 1))) e--;
    return joined.substring(b, e);
  }

  // Kotlin's Char.isWhitespace
  static boolean kotlinWhitespace(char c) {
    return Character.isWhitespace(c) || Character.isSpaceChar(c);
  }

  public static void main(String[] args) throws Exception {
    Gson gson = new GsonBuilder().disableHtmlEscaping().setPrettyPrinting().create();
    if (args[0].equals("format")) {
      String flat = new String(Files.readAllBytes(Paths.get(args[1])), StandardCharsets.UTF_8);
      Map<String, String> read = gson.fromJson(flat, new TypeToken<Map<String, String>>() {}.getType());
      Map<String, String> hashes = new TreeMap<>(read);
      String raw = new String(Files.readAllBytes(Paths.get(args[2])), StandardCharsets.UTF_8);
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("hashes", hashes);
      Map<String, String> metadata = new LinkedHashMap<>();
      metadata.put("moduleGraphJson", moduleGraphText(raw));
      out.put("metadata", metadata);
      System.out.print(gson.toJson(out));
      return;
    }
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    StringBuilder answers = new StringBuilder();
    if (args[0].equals("expand")) {
      for (String line; (line = in.readLine()) != null; ) {
        JsonObject c = JsonParser.parseString(line).getAsJsonObject();
        String graph = c.get("graph").isJsonNull() ? null : c.get("graph").getAsString();
        List<String> repos = new ArrayList<>();
        for (JsonElement r : c.get("repos").getAsJsonArray()) repos.add(r.getAsString());
        answers.append(String.join(",", expand(graph, repos))).append('\n');
      }
      System.out.print(answers);
      return;
    }
    for (String line; (line = in.readLine()) != null; ) {
      JsonObject c = JsonParser.parseString(line).getAsJsonObject();
      String from = c.get("from").isJsonNull() ? null : c.get("from").getAsString();
      String to = c.get("to").isJsonNull() ? null : c.get("to").getAsString();
      List<String> labels = new ArrayList<>();
      for (JsonElement l : c.get("labels").getAsJsonArray()) labels.add(l.getAsString());
      Set<String> repos = decide(from, to, labels);
      answers.append(repos == null ? "PLAIN" : String.join(" ", repos)).append('\n');
    }
    System.out.print(answers);
  }
}
