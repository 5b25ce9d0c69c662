// The experiment spec as a tree that remembers where every value came from,
// so that errors found after merging and overriding still name the file, line
// and column (or the command-line override) that wrote the value.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "labrun/ParamSpec.h"

namespace labrun::spec {

struct Origin {
  std::string file;  // spec file path as given, or "" for non-file origins
  int line = 0;      // 1-based; 0 when unknown
  int column = 0;    // 1-based; 0 when unknown
  std::string note;  // e.g. "override 'optim.lr=0.1'" or "default"
  // "file:line:column", "file", or the note, or both ("file:line:column
  // (default)"); used as an error prefix.
  std::string describe() const;
  // A value spec::validate filled in from the schema's default (located at
  // the map it went into).
  bool isDefault() const { return note == "default"; }
};

class Node {
 public:
  enum class Kind { kNull, kScalar, kList, kMap };
  // How a scalar reads under the YAML 1.2 core schema.
  enum class ScalarType { kNull, kBool, kInt, kFloat, kString };

  Node() = default;  // null
  static Node scalar(std::string text, bool quoted, Origin origin);
  static Node list(Origin origin);
  static Node map(Origin origin);
  static Node null(Origin origin);

  Kind kind() const { return kind_; }
  bool isNull() const { return kind_ == Kind::kNull; }
  bool isScalar() const { return kind_ == Kind::kScalar; }
  bool isList() const { return kind_ == Kind::kList; }
  bool isMap() const { return kind_ == Kind::kMap; }
  const Origin& origin() const { return origin_; }
  void setOrigin(Origin origin) { origin_ = std::move(origin); }
  // Where the key of a map value was written (unknown-key errors point
  // there); the node's own origin when none was recorded.
  const Origin& keyOrigin() const {
    return key_origin_ ? *key_origin_ : origin_;
  }
  void setKeyOrigin(Origin origin) { key_origin_ = std::move(origin); }

  // Scalars. `quoted` is true for YAML scalars written in quotes, which are
  // always strings ("1" is a string, 1 an integer).
  const std::string& text() const;
  bool quoted() const { return quoted_; }
  // Typed reads; each throws SpecError naming origin, the asked type and the
  // found value when the scalar does not parse as the asked type.
  std::int64_t asInt() const;
  double asDouble() const;              // integers are accepted as numbers
  bool asBool() const;                  // true/false (YAML 1.2 core schema)
  const std::string& asString() const;  // any scalar
  // kNull for a null node, kString for quoted scalars, otherwise what the
  // plain text reads as (an integer beyond 64 bits reads as kFloat). Throws
  // SpecError for lists and maps.
  ScalarType scalarType() const;
  // What the node holds, for the "found ..." part of errors: "string 'abc'",
  // "integer 5", "number 0.5", "boolean true", "null", "a list", "a map".
  std::string describeValue() const;
  // "expected <paramTypeName>, found <describeValue()>", with a hint when a
  // YAML 1.1 boolean word (yes, no, on, off) is given for a boolean.
  std::string mismatch(ParamType expected) const;

  // Lists.
  const std::vector<Node>& items() const;
  std::vector<Node>& items();
  void push(Node item);

  // Maps keep insertion order (so emitted specs read like the source).
  const std::vector<std::pair<std::string, Node>>& entries() const;
  std::vector<std::pair<std::string, Node>>& entries();
  const Node* find(const std::string& key) const;  // nullptr if absent
  Node* find(const std::string& key);
  Node& set(const std::string& key, Node value);  // insert or replace
  bool erase(const std::string& key);
  // Erases `key`, noting what removed it (an override `~key`), so that a
  // "missing required key" error can say so; set() forgets the note.
  void eraseBy(const std::string& key, Origin by);
  const Origin* removedBy(const std::string& key) const;  // nullptr: none

  // One step of a dotted path: a map key, or an index ("0") into a list.
  const Node* child(const std::string& segment) const;  // nullptr if absent
  Node* child(const std::string& segment);
  // Dotted-path access from a map root: "optim.lr", "metrics.0.name".
  const Node* findPath(const std::string& dotted) const;
  Node* findPath(const std::string& dotted);
  // Throws SpecError "<path>: missing" when absent.
  const Node& at(const std::string& dotted) const;

 private:
  Kind kind_ = Kind::kNull;
  Origin origin_;
  std::optional<Origin> key_origin_;
  std::string text_;
  bool quoted_ = false;
  std::vector<Node> items_;
  std::vector<std::pair<std::string, Node>> entries_;
  std::vector<std::pair<std::string, Origin>> removed_;  // eraseBy's notes
};

// "metrics.0.name" -> {"metrics", "0", "name"}.
std::vector<std::string> splitPath(const std::string& dotted);
// joinPath("optim", "lr") -> "optim.lr"; joinPath("", "seed") -> "seed".
std::string joinPath(const std::string& prefix, const std::string& key);

}  // namespace labrun::spec
