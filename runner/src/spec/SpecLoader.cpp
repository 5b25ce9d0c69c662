#include "spec/SpecLoader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "spec/SpecError.h"
#include "util/Strings.h"

namespace labrun::spec {

namespace fs = std::filesystem;

namespace {

constexpr const char* kReplaceKey = "_replace_";
constexpr const char* kExtendsKey = "extends";

// Where `mark` lies in `source`; only file sources have useful positions
// (a default's text is not in the file its origin names).
Origin originAt(const Origin& source, const YAML::Mark& mark) {
  Origin origin = source;
  if (!source.file.empty() && !source.isDefault() && mark.line >= 0) {
    origin.line = mark.line + 1;  // yaml-cpp marks are 0-based
    origin.column = mark.column + 1;
  }
  return origin;
}

// What converting one YAML text needs besides the node: where it came from,
// the text itself, and how many values it has made so far.
struct Conversion {
  const Origin& source;
  const std::string& text;
  std::size_t values = 0;
};

// A spec has hundreds of values; YAML aliases nested in aliases ("billion
// laughs") could make billions out of a few lines.
constexpr std::size_t kMaxValues = 100'000;

Node convert(const YAML::Node& yaml, const Origin& origin, Conversion& from);

// Where the documents of a YAML text start (yaml-cpp events, no nodes).
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    marks.push_back(mark);
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  std::vector<YAML::Mark> marks;
};

// Throws SpecError unless `text` holds at most one document. Counted here
// rather than with YAML::LoadAll, which never returns on some malformed
// text: at a stray ',' outside a flow collection yaml-cpp reports empty
// documents forever without moving on (found by fuzzing).
void requireOneDocument(const std::string& text, const Origin& origin) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  DocumentStarts starts;
  while (parser.HandleNextDocument(starts)) {
    const auto& marks = starts.marks;
    if (marks.size() > 1 && marks.back().pos == marks[marks.size() - 2].pos) {
      const auto at = static_cast<std::size_t>(std::max(marks.back().pos, 0));
      throw SpecError(originAt(origin, marks.back()).describe() +
                      ": invalid YAML: unexpected '" + text.substr(at, 1) +
                      "'");
    }
  }
  if (starts.marks.size() > 1) {
    throw SpecError(originAt(origin, starts.marks[1]).describe() +
                    ": expected one YAML document, found " +
                    std::to_string(starts.marks.size()));
  }
}

// yaml-cpp marks an empty value at the next token, so null values take the
// position of their key (or list) instead.
Node convertChild(const YAML::Node& yaml, const Origin& fallback,
                  Conversion& from) {
  return convert(
      yaml, yaml.IsNull() ? fallback : originAt(from.source, yaml.Mark()),
      from);
}

// yaml-cpp 0.7 takes a quoted scalar that is never closed to run to the end
// of the text, swallowing the keys after it without a word.
void requireClosedQuote(const YAML::Mark& mark, const Conversion& from) {
  if (mark.pos < 0) return;
  const auto open = static_cast<std::size_t>(mark.pos);
  const std::string& text = from.text;
  if (open >= text.size() || (text[open] != '"' && text[open] != '\'')) {
    return;
  }
  const char quote = text[open];
  for (std::size_t at = open + 1; at < text.size(); ++at) {
    if (quote == '"' && text[at] == '\\') {
      ++at;  // an escaped character
    } else if (text[at] == quote) {
      if (quote == '\'' && at + 1 < text.size() && text[at + 1] == '\'') {
        ++at;  // '' is a quote inside single quotes
      } else {
        return;
      }
    }
  }
  throw SpecError(originAt(from.source, mark).describe() +
                  ": invalid YAML: the quoted string opened here is never "
                  "closed");
}

Node convert(const YAML::Node& yaml, const Origin& origin, Conversion& from) {
  if (++from.values > kMaxValues) {
    throw SpecError(from.source.describe() + ": more than " +
                    std::to_string(kMaxValues) +
                    " values once YAML aliases are expanded");
  }
  switch (yaml.Type()) {
    case YAML::NodeType::Scalar: {
      // yaml-cpp tags plain scalars "?" and quoted ones "!".
      const bool quoted = yaml.Tag() != "?";
      if (quoted) requireClosedQuote(yaml.Mark(), from);
      return Node::scalar(yaml.Scalar(), quoted, origin);
    }
    case YAML::NodeType::Sequence: {
      Node list = Node::list(origin);
      for (const YAML::Node& item : yaml) {
        list.push(convertChild(item, origin, from));
      }
      return list;
    }
    case YAML::NodeType::Map: {
      Node map = Node::map(origin);
      for (const auto& entry : yaml) {
        const Origin key_origin = originAt(from.source, entry.first.Mark());
        if (!entry.first.IsScalar()) {
          throw SpecError(key_origin.describe() + ": map keys must be scalars");
        }
        const std::string& key = entry.first.Scalar();
        if (map.find(key) != nullptr) {
          throw SpecError(key_origin.describe() + ": duplicate key '" + key +
                          "'");
        }
        if (entry.first.Tag() != "?") requireClosedQuote(entry.first.Mark(), from);
        map.set(key, convertChild(entry.second, key_origin, from))
            .setKeyOrigin(key_origin);
      }
      return map;
    }
    default:
      return Node::null(origin);
  }
}

bool replacesWhole(const Node& map) {
  const Node* flag = map.find(kReplaceKey);
  return flag != nullptr && flag->asBool();
}

// `node` without its `_replace_` markers, which only steer merging.
Node withoutReplaceMarkers(const Node& node) {
  Node copy = node;
  if (copy.isMap()) {
    copy.erase(kReplaceKey);
    for (auto& entry : copy.entries()) {
      entry.second = withoutReplaceMarkers(entry.second);
    }
  } else if (copy.isList()) {
    for (Node& item : copy.items()) item = withoutReplaceMarkers(item);
  }
  return copy;
}

// One `extends:` entry: the base file resolved against the including file,
// and where the entry was written.
struct BaseRef {
  std::string path;
  Origin origin;
};

std::vector<BaseRef> baseRefs(const Node& extends,
                              const std::string& including_path) {
  std::vector<const Node*> names;
  if (extends.isList()) {
    for (const Node& item : extends.items()) names.push_back(&item);
  } else {
    names.push_back(&extends);
  }
  const fs::path dir = fs::path(including_path).parent_path();
  std::vector<BaseRef> refs;
  for (const Node* name : names) {
    if (!name->isScalar()) {
      throw SpecError(name->origin().describe() + ": " + kExtendsKey +
                      ": expected a file name or a list of file names, found " +
                      name->describeValue());
    }
    refs.push_back(
        {(dir / name->text()).lexically_normal().string(), name->origin()});
  }
  return refs;
}

// Loads `path` and its bases. `chain` holds the files being loaded (as
// canonical paths and as shown) to detect cycles; `included_from` is the
// `extends:` entry that named `path`, or nullptr for the top file.
Node loadWithBases(const std::string& path,
                   std::vector<std::pair<std::string, std::string>>& chain,
                   const Origin* included_from) {
  if (included_from != nullptr && !fs::is_regular_file(path)) {
    throw SpecError(included_from->describe() + ": " + kExtendsKey +
                    (fs::is_directory(path)
                         ? ": base is a folder, not a spec file: "
                         : ": base file not found: ") +
                    path);
  }
  const std::string canonical = fs::weakly_canonical(path).string();
  auto seen = std::find_if(chain.begin(), chain.end(), [&](const auto& link) {
    return link.first == canonical;
  });
  if (seen != chain.end()) {
    std::string cycle;
    for (auto it = seen; it != chain.end(); ++it) cycle += it->second + " -> ";
    throw SpecError(included_from->describe() + ": " + kExtendsKey +
                    ": cycle: " + cycle + path);
  }

  Node own = parseYamlFile(path);
  if (own.isNull()) own = Node::map(own.origin());  // an empty file
  if (!own.isMap()) {
    throw SpecError(own.origin().describe() +
                    ": expected a map at the top level, found " +
                    own.describeValue());
  }
  Node merged = Node::map(own.origin());
  if (const Node* extends = own.find(kExtendsKey)) {
    chain.emplace_back(canonical, path);
    for (const BaseRef& base : baseRefs(*extends, path)) {
      mergeInto(merged, loadWithBases(base.path, chain, &base.origin));
    }
    chain.pop_back();
    own.erase(kExtendsKey);
  }
  mergeInto(merged, own);
  return merged;
}

struct Override {
  enum class Op { kSet, kAdd, kSetOrAdd, kDelete };
  Op op;
  std::string key;
  std::string value;  // YAML text; unused for kDelete
};

Override parseOverride(const std::string& text, const std::string& where) {
  auto fail = [&](const std::string& why) {
    throw SpecError(where + ": " + why);
  };
  Override parsed{Override::Op::kSet, "", ""};
  std::size_t prefix = 0;
  if (text.rfind("~", 0) == 0) {
    parsed.op = Override::Op::kDelete;
    prefix = 1;
  } else if (text.rfind("++", 0) == 0) {
    parsed.op = Override::Op::kSetOrAdd;
    prefix = 2;
  } else if (text.rfind("+", 0) == 0) {
    parsed.op = Override::Op::kAdd;
    prefix = 1;
  }
  const std::size_t equals = text.find('=', prefix);
  if (parsed.op == Override::Op::kDelete) {
    if (equals != std::string::npos) {
      fail("a deletion takes no value; write '~key'");
    }
  } else if (equals == std::string::npos) {
    fail("expected 'key=value', '+key=value', '++key=value' or '~key'");
  } else {
    parsed.value = text.substr(equals + 1);
  }
  parsed.key = text.substr(prefix, equals - prefix);
  if (parsed.key.empty()) fail("empty key");
  for (const std::string& segment : splitPath(parsed.key)) {
    const bool blank =
        std::any_of(segment.begin(), segment.end(),
                    [](unsigned char c) { return std::isspace(c); });
    if (segment.empty() || blank) fail("malformed key '" + parsed.key + "'");
  }
  return parsed;
}

// The map that will hold `key`'s last segment, creating missing maps.
Node& parentForAdd(Node& root, const std::vector<std::string>& segments,
                   const Origin& origin) {
  const auto isIndex = [](const std::string& segment) {
    return std::all_of(segment.begin(), segment.end(),
                       [](unsigned char c) { return std::isdigit(c); });
  };
  Node* node = &root;
  std::string path;  // of `node`
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    Node* next = node->child(segments[i]);
    if (next == nullptr && node->isList()) {
      throw SpecError(origin.note + ": '" + path + "' is a list of " +
                      std::to_string(node->items().size()) + " item(s); '" +
                      segments[i] + "' is not one of its indices");
    }
    const std::string next_path = joinPath(path, segments[i]);
    if (next == nullptr && node->isMap()) {
      if (isIndex(segments[i + 1])) {
        // A map keyed "5" would take the place of the list meant.
        throw SpecError(origin.note + ": '" + next_path +
                        "' is not in the spec, so it has no item " +
                        segments[i + 1] + "; set the whole list ('+" +
                        next_path + "=[...]')");
      }
      next = &node->set(segments[i], Node::map(origin));
    }
    if (next == nullptr) break;
    node = next;
    path = next_path;
  }
  if (!node->isMap()) {
    throw SpecError(origin.note + ": '" + path + "' is not a map");
  }
  return *node;
}

void erasePath(Node& root, const std::vector<std::string>& segments,
               Node* target, const Origin& origin) {
  Node* parent = &root;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    parent = parent->child(segments[i]);
  }
  if (parent->isList()) {
    auto& items = parent->items();
    items.erase(items.begin() + (target - items.data()));
  } else {
    parent->eraseBy(segments.back(), origin);
  }
}

// Resolves interpolations in place, depth first, so that a reference always
// reads a resolved value.
class Resolver {
 public:
  explicit Resolver(Node& root) : root_(root) {}

  const std::vector<EnvDerived>& envDerived() const { return derived_; }

  void resolve(Node& node, const std::string& path) {
    if (isDone(path)) return;
    auto seen =
        std::find_if(active_.begin(), active_.end(),
                     [&](const auto& link) { return link.first == path; });
    if (seen != active_.end()) {
      std::string cycle;
      for (auto it = seen; it != active_.end(); ++it) {
        cycle += it->first + " -> ";
      }
      // Reported at the value whose reference closed the cycle.
      fail(*active_.back().second, active_.back().first,
           "interpolation cycle: " + cycle + path);
    }
    active_.emplace_back(path, &node);
    if (node.isScalar() && node.text().find("${") != std::string::npos) {
      resolveScalar(node, path);
    } else if (node.isList()) {
      for (std::size_t i = 0; i < node.items().size(); ++i) {
        resolve(node.items()[i], joinPath(path, std::to_string(i)));
      }
    } else if (node.isMap()) {
      for (auto& [key, value] : node.entries()) {
        resolve(value, joinPath(path, key));
      }
    }
    active_.pop_back();
    done_.insert(path);
  }

 private:
  struct Piece {
    bool interpolation;
    std::string text;  // literal text, or the body of ${...}
  };

  [[noreturn]] static void fail(const Node& node, const std::string& path,
                                const std::string& what) {
    throw SpecError(node.origin().describe() + ": " + path + ": " + what);
  }

  // A resolved subtree (or an ancestor of it) needs no second pass; this also
  // keeps escaped "\${" from being read as an interpolation later.
  bool isDone(const std::string& path) const {
    for (std::string prefix = path;;) {
      if (done_.count(prefix) > 0) return true;
      const std::size_t dot = prefix.rfind('.');
      if (dot == std::string::npos) return false;
      prefix.resize(dot);
    }
  }

  static std::vector<Piece> split(const Node& node, const std::string& path) {
    const std::string& text = node.text();
    std::vector<Piece> pieces;
    std::string literal;
    for (std::size_t i = 0; i < text.size();) {
      if (text.compare(i, 3, "\\${") == 0) {
        literal += "${";
        i += 3;
      } else if (text.compare(i, 2, "${") == 0) {
        const std::size_t close = text.find('}', i + 2);
        if (close == std::string::npos) {
          fail(node, path, "unterminated '${' in '" + text + "'");
        }
        if (!literal.empty()) pieces.push_back({false, literal});
        literal.clear();
        pieces.push_back({true, text.substr(i + 2, close - i - 2)});
        i = close + 1;
      } else {
        literal += text[i++];
      }
    }
    if (!literal.empty()) pieces.push_back({false, literal});
    return pieces;
  }

  // Replaces `node` by its resolved value, which keeps the node's origins.
  void resolveScalar(Node& node, const std::string& path) {
    bool from_env = false;
    Node value = resolvedValue(node, path, from_env);
    value.setOrigin(node.origin());
    value.setKeyOrigin(node.keyOrigin());
    if (from_env) derived_.push_back({path, node});
    node = std::move(value);
  }

  // `from_env` is set when the value takes anything from an environment
  // variable whose value must not be recorded.
  Node resolvedValue(const Node& node, const std::string& path,
                     bool& from_env) {
    const std::vector<Piece> pieces = split(node, path);
    if (pieces.size() == 1 && pieces[0].interpolation) {
      return evaluate(pieces[0].text, node, path, from_env);
    }
    std::string text;
    for (const Piece& piece : pieces) {
      if (!piece.interpolation) {
        text += piece.text;
        continue;
      }
      const Node value = evaluate(piece.text, node, path, from_env);
      if (!value.isNull() && !value.isScalar()) {
        fail(node, path,
             "cannot embed " + value.describeValue() + " in a string ('${" +
                 piece.text + "}')");
      }
      text += value.isNull() ? "null" : value.text();
    }
    return Node::scalar(text, true, node.origin());
  }

  // The value of one "${body}" written in `node`.
  Node evaluate(const std::string& body, const Node& node,
                const std::string& path, bool& from_env) {
    const std::string expression = "'${" + body + "}'";
    const std::size_t colon = body.find(':');
    if (colon == std::string::npos) {
      Node* target = lookup(body);
      if (target == nullptr) {
        fail(node, path, "unknown key '" + body + "' in " + expression);
      }
      from_env = from_env || holdsEnvDerived(body);
      return *target;
    }
    if (body.compare(0, colon, "env") != 0) {
      fail(node, path,
           "unknown resolver '" + body.substr(0, colon) + "' in " + expression +
               " (only 'env' is supported)");
    }
    const std::size_t comma = body.find(',', colon);
    const std::string name(
        util::trim(body.substr(colon + 1, comma - colon - 1), " \t"));
    if (name.empty()) fail(node, path, "no variable name in " + expression);
    from_env = from_env ||
               std::find(kRecordableEnv.begin(), kRecordableEnv.end(), name) ==
                   kRecordableEnv.end();
    std::string value;
    if (const char* set = std::getenv(name.c_str())) {
      value = set;
    } else if (comma != std::string::npos) {
      value = util::trim(body.substr(comma + 1), " \t");
    } else {
      fail(node, path,
           "environment variable '" + name + "' is not set and " + expression +
               " has no default");
    }
    // Unquoted, the value reads as what it looks like (${env:N,4} is an
    // integer); an empty value stays an empty string rather than null.
    return Node::scalar(value, node.quoted() || value.empty(), node.origin());
  }

  // The node at dotted `key`, resolving interpolations on the way (a
  // scalar along the path may interpolate to the map the path goes through).
  Node* lookup(const std::string& key) {
    Node* node = &root_;
    std::string path;
    for (const std::string& segment : splitPath(key)) {
      node = node->child(segment);
      if (node == nullptr) return nullptr;
      path = joinPath(path, segment);
      // Resolving a whole ancestor map here could report a false cycle
      // through unrelated siblings, so only scalars and the target itself.
      if (node->isScalar() || path == key) resolve(*node, path);
    }
    return node;
  }

  // Whether the node at `key` is, lies in, or holds an EnvDerived value.
  bool holdsEnvDerived(const std::string& key) const {
    auto within = [](const std::string& inner, const std::string& outer) {
      return inner == outer || inner.rfind(outer + ".", 0) == 0;
    };
    return std::any_of(
        derived_.begin(), derived_.end(), [&](const EnvDerived& derived) {
          return within(derived.path, key) || within(key, derived.path);
        });
  }

  Node& root_;
  // Paths (and nodes) being resolved, outermost first.
  std::vector<std::pair<std::string, const Node*>> active_;
  std::set<std::string> done_;
  std::vector<EnvDerived> derived_;
};

// Escapes "${" in every string scalar of `node` (see recordedForm).
void escapeInterpolations(Node& node) {
  if (node.isScalar() && node.text().find("${") != std::string::npos) {
    std::string escaped;
    const std::string& text = node.text();
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text.compare(i, 2, "${") == 0) escaped += '\\';
      escaped += text[i];
    }
    Node value = Node::scalar(escaped, node.quoted(), node.origin());
    value.setKeyOrigin(node.keyOrigin());
    node = std::move(value);
  } else if (node.isList()) {
    for (Node& item : node.items()) escapeInterpolations(item);
  } else if (node.isMap()) {
    for (auto& [key, value] : node.entries()) escapeInterpolations(value);
  }
}

// Scalars that would read back as another type are quoted.
void emit(YAML::Emitter& out, const Node& node) {
  switch (node.kind()) {
    case Node::Kind::kNull:
      out << YAML::Null;
      return;
    case Node::Kind::kScalar:
      if (node.scalarType() == Node::ScalarType::kNull) {
        out << YAML::Null;
      } else if (node.scalarType() == Node::ScalarType::kString &&
                 Node::scalar(node.text(), false, {}).scalarType() !=
                     Node::ScalarType::kString) {
        out << YAML::DoubleQuoted << node.text();
      } else {
        out << node.text();
      }
      return;
    case Node::Kind::kList:
      out << YAML::BeginSeq;
      for (const Node& item : node.items()) emit(out, item);
      out << YAML::EndSeq;
      return;
    case Node::Kind::kMap:
      out << YAML::BeginMap;
      for (const auto& [key, value] : node.entries()) {
        out << YAML::Key << key << YAML::Value;
        emit(out, value);
      }
      out << YAML::EndMap;
      return;
  }
}

std::string emitWith(const Node& root, YAML::EMITTER_MANIP style) {
  YAML::Emitter out;
  out.SetSeqFormat(style);
  out.SetMapFormat(style);
  emit(out, root);
  return out.c_str();
}

}  // namespace

Node parseYamlFile(const std::string& path) {
  if (!fs::is_regular_file(path)) {
    throw SpecError(path + ": no such file");
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw SpecError(path + ": cannot read the file");
  Origin origin;
  origin.file = path;
  return parseYamlText(text.str(), origin);
}

Node parseYamlText(const std::string& text, const Origin& origin) {
  try {
    requireOneDocument(text, origin);
    const YAML::Node document = YAML::Load(text);
    if (!document.IsDefined()) return Node::null(origin);
    Conversion from{origin, text};
    return convert(document, originAt(origin, document.Mark()), from);
  } catch (const YAML::Exception& error) {
    throw SpecError(originAt(origin, error.mark).describe() +
                    ": invalid YAML: " + error.msg);
  }
}

void mergeInto(Node& base, const Node& over) {
  if (!base.isMap() || !over.isMap() || replacesWhole(over)) {
    base = withoutReplaceMarkers(over);
    return;
  }
  // The merged map is now (also) written by `over`.
  base.setOrigin(over.origin());
  base.setKeyOrigin(over.keyOrigin());
  for (const auto& [key, value] : over.entries()) {
    if (key == kReplaceKey) continue;
    if (Node* existing = base.find(key)) {
      mergeInto(*existing, value);
    } else {
      base.set(key, withoutReplaceMarkers(value));
    }
  }
}

Node loadSpecFile(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> chain;
  return loadWithBases(path, chain, nullptr);
}

void applyOverride(Node& root, const std::string& override_text,
                   bool schema_validated) {
  Origin origin;
  origin.note = "override '" + override_text + "'";
  const Override parsed = parseOverride(override_text, origin.note);
  const std::vector<std::string> segments = splitPath(parsed.key);
  Node* existing = root.findPath(parsed.key);
  auto fail = [&](const std::string& why) {
    throw SpecError(origin.note + ": " + why);
  };
  if (parsed.op == Override::Op::kDelete) {
    if (existing == nullptr) {
      fail("key '" + parsed.key + "' is not in the spec");
    }
    erasePath(root, segments, existing, origin);
    return;
  }
  const std::string assignment = parsed.key + "=" + parsed.value;
  if (parsed.op == Override::Op::kSet && existing == nullptr &&
      !schema_validated) {
    fail("key '" + parsed.key + "' is not in the spec; use '+" + assignment +
         "' to add it");
  }
  if (parsed.op == Override::Op::kAdd && existing != nullptr) {
    fail("key '" + parsed.key + "' is already in the spec; use '" + assignment +
         "' to change it");
  }
  // Hydra reads an empty value ("a.b=") as an empty string, not null.
  Node value = parsed.value.empty() ? Node::scalar("", true, origin)
                                    : parseYamlText(parsed.value, origin);
  value.setKeyOrigin(origin);
  if (existing != nullptr) {
    *existing = std::move(value);
  } else {
    parentForAdd(root, segments, origin).set(segments.back(), std::move(value));
  }
}

void applyOverrides(Node& root, const std::vector<std::string>& overrides,
                    bool schema_validated) {
  for (const std::string& text : overrides) {
    applyOverride(root, text, schema_validated);
  }
}

std::vector<EnvDerived> resolveInterpolations(Node& root) {
  Resolver resolver(root);
  resolver.resolve(root, "");
  return resolver.envDerived();
}

Node recordedForm(const Node& resolved,
                  const std::vector<EnvDerived>& derived) {
  Node recorded = resolved;
  escapeInterpolations(recorded);
  for (const EnvDerived& value : derived) {
    if (Node* at = recorded.findPath(value.path)) *at = value.written;
  }
  return recorded;
}

std::string toYaml(const Node& root) {
  return emitWith(root, YAML::Block) + "\n";
}

std::string toFlowYaml(const Node& node) { return emitWith(node, YAML::Flow); }

}  // namespace labrun::spec
