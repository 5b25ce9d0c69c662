#include "spec/Node.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <optional>
#include <regex>
#include <system_error>
#include <utility>

#include "spec/SpecError.h"

namespace labrun::spec {

namespace {

bool isNullText(const std::string& text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" ||
         text == "NULL";
}

std::optional<bool> boolText(const std::string& text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

// Words that YAML 1.1 (and so many other tools) read as booleans but the
// YAML 1.2 core schema reads as strings.
bool isYaml11BoolWord(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return text == "yes" || text == "no" || text == "on" || text == "off" ||
         text == "y" || text == "n";
}

struct IntLiteral {
  bool fits;           // within std::int64_t
  std::int64_t value;  // valid when `fits`
  double approximate;  // always valid
};

// A YAML 1.2 core integer: decimal with optional sign, 0o octal or 0x hex.
std::optional<IntLiteral> intLiteral(const std::string& text) {
  static const std::regex kDecimal("[-+]?[0-9]+");
  static const std::regex kOctal("0o[0-7]+");
  static const std::regex kHex("0x[0-9a-fA-F]+");
  int base = 10;
  std::size_t start = 0;
  if (std::regex_match(text, kDecimal)) {
    start = (text[0] == '-' || text[0] == '+') ? 1 : 0;
  } else if (std::regex_match(text, kOctal)) {
    base = 8;
    start = 2;
  } else if (std::regex_match(text, kHex)) {
    base = 16;
    start = 2;
  } else {
    return std::nullopt;
  }
  const bool negative = text[0] == '-';
  // Accumulate the magnitude; the negative range reaches one further.
  const std::uint64_t limit =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) +
      (negative ? 1 : 0);
  std::uint64_t magnitude = 0;
  double approximate = 0;
  bool fits = true;
  for (std::size_t i = start; i < text.size(); ++i) {
    const char c = static_cast<char>(std::tolower(text[i]));
    const int digit = c <= '9' ? c - '0' : c - 'a' + 10;
    approximate = approximate * base + digit;
    if (fits && magnitude > (limit - digit) / base) fits = false;
    if (fits) magnitude = magnitude * base + digit;
  }
  IntLiteral literal{fits, 0, negative ? -approximate : approximate};
  if (fits) {
    literal.value = negative ? static_cast<std::int64_t>(0 - magnitude)
                             : static_cast<std::int64_t>(magnitude);
  }
  return literal;
}

// A YAML 1.2 core float (integers included).
std::optional<double> numberLiteral(const std::string& text) {
  if (auto integer = intLiteral(text)) return integer->approximate;
  static const std::regex kFloat(
      "[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  static const std::regex kInf("[-+]?\\.(inf|Inf|INF)");
  static const std::regex kNan("\\.(nan|NaN|NAN)");
  if (std::regex_match(text, kInf)) {
    const double inf = std::numeric_limits<double>::infinity();
    return text[0] == '-' ? -inf : inf;
  }
  if (std::regex_match(text, kNan)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (!std::regex_match(text, kFloat)) return std::nullopt;
  // from_chars is locale-independent but takes no leading '+'.
  const char* first = text.data() + (text[0] == '+' ? 1 : 0);
  double value = 0;
  if (std::from_chars(first, text.data() + text.size(), value).ec ==
      std::errc::result_out_of_range) {
    // Beyond double's range: overflow to infinity, underflow to zero.
    const bool tiny = text.find("e-") != std::string::npos ||
                      text.find("E-") != std::string::npos;
    value = tiny ? 0.0 : std::numeric_limits<double>::infinity();
    if (text[0] == '-') value = -value;
  }
  return value;
}

// Keeps error messages on one line.
std::string oneLine(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string Origin::describe() const {
  if (file.empty()) return note.empty() ? "<unknown>" : note;
  std::string where = file;
  if (line > 0) {
    where += ":" + std::to_string(line) + ":" + std::to_string(column);
  }
  return note.empty() ? where : where + " (" + note + ")";
}

Node Node::scalar(std::string text, bool quoted, Origin origin) {
  Node node;
  node.kind_ = Kind::kScalar;
  node.text_ = std::move(text);
  node.quoted_ = quoted;
  node.origin_ = std::move(origin);
  return node;
}

Node Node::list(Origin origin) {
  Node node;
  node.kind_ = Kind::kList;
  node.origin_ = std::move(origin);
  return node;
}

Node Node::map(Origin origin) {
  Node node;
  node.kind_ = Kind::kMap;
  node.origin_ = std::move(origin);
  return node;
}

Node Node::null(Origin origin) {
  Node node;
  node.origin_ = std::move(origin);
  return node;
}

const std::string& Node::text() const {
  if (!isScalar()) {
    throw SpecError(origin_.describe() + ": " + mismatch(ParamType::kString));
  }
  return text_;
}

Node::ScalarType Node::scalarType() const {
  if (isNull()) return ScalarType::kNull;
  if (!isScalar()) {
    throw SpecError(origin_.describe() + ": expected a scalar, found " +
                    describeValue());
  }
  if (quoted_) return ScalarType::kString;
  if (isNullText(text_)) return ScalarType::kNull;
  if (boolText(text_)) return ScalarType::kBool;
  if (auto integer = intLiteral(text_)) {
    return integer->fits ? ScalarType::kInt : ScalarType::kFloat;
  }
  if (numberLiteral(text_)) return ScalarType::kFloat;
  return ScalarType::kString;
}

std::string Node::describeValue() const {
  if (isList()) return "a list";
  if (isMap()) return "a map";
  switch (scalarType()) {
    case ScalarType::kNull:
      return "null";
    case ScalarType::kBool:
      return "boolean " + text_;
    case ScalarType::kInt:
      return "integer " + text_;
    case ScalarType::kFloat:
      return "number " + text_;
    case ScalarType::kString:
      break;
  }
  return "string '" + oneLine(text_) + "'";
}

std::string Node::mismatch(ParamType expected) const {
  std::string message = std::string("expected ") + paramTypeName(expected) +
                        ", found " + describeValue();
  const bool boolean =
      expected == ParamType::kBool || expected == ParamType::kBoolOrStringList;
  if (boolean && isScalar() && isYaml11BoolWord(text_)) {
    message += " (YAML 1.2 booleans are true and false)";
  }
  return message;
}

std::int64_t Node::asInt() const {
  if (!isScalar() || scalarType() != ScalarType::kInt) {
    throw SpecError(origin_.describe() + ": " + mismatch(ParamType::kInt));
  }
  return intLiteral(text_)->value;
}

double Node::asDouble() const {
  const bool number = isScalar() && (scalarType() == ScalarType::kInt ||
                                     scalarType() == ScalarType::kFloat);
  if (!number) {
    throw SpecError(origin_.describe() + ": " + mismatch(ParamType::kFloat));
  }
  return *numberLiteral(text_);
}

bool Node::asBool() const {
  if (!isScalar() || scalarType() != ScalarType::kBool) {
    throw SpecError(origin_.describe() + ": " + mismatch(ParamType::kBool));
  }
  return *boolText(text_);
}

const std::string& Node::asString() const { return text(); }

const std::vector<Node>& Node::items() const {
  if (!isList()) {
    throw SpecError(origin_.describe() + ": expected a list, found " +
                    describeValue());
  }
  return items_;
}

std::vector<Node>& Node::items() {
  return const_cast<std::vector<Node>&>(std::as_const(*this).items());
}

void Node::push(Node item) { items().push_back(std::move(item)); }

const std::vector<std::pair<std::string, Node>>& Node::entries() const {
  if (!isMap()) {
    throw SpecError(origin_.describe() + ": expected a map, found " +
                    describeValue());
  }
  return entries_;
}

std::vector<std::pair<std::string, Node>>& Node::entries() {
  return const_cast<std::vector<std::pair<std::string, Node>>&>(
      std::as_const(*this).entries());
}

const Node* Node::find(const std::string& key) const {
  if (!isMap()) return nullptr;
  for (const auto& [name, value] : entries_) {
    if (name == key) return &value;
  }
  return nullptr;
}

Node* Node::find(const std::string& key) {
  return const_cast<Node*>(std::as_const(*this).find(key));
}

Node& Node::set(const std::string& key, Node value) {
  removed_.erase(
      std::remove_if(removed_.begin(), removed_.end(),
                     [&](const auto& note) { return note.first == key; }),
      removed_.end());
  if (Node* existing = find(key)) {
    *existing = std::move(value);
    return *existing;
  }
  return entries().emplace_back(key, std::move(value)).second;
}

bool Node::erase(const std::string& key) {
  if (!isMap()) return false;
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [&](const auto& entry) { return entry.first == key; });
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

void Node::eraseBy(const std::string& key, Origin by) {
  if (erase(key)) removed_.emplace_back(key, std::move(by));
}

const Origin* Node::removedBy(const std::string& key) const {
  for (const auto& [removed, by] : removed_) {
    if (removed == key) return &by;
  }
  return nullptr;
}

const Node* Node::child(const std::string& segment) const {
  if (!isList()) return find(segment);
  std::size_t index = 0;
  const char* end = segment.data() + segment.size();
  auto [last, error] = std::from_chars(segment.data(), end, index);
  if (error != std::errc() || last != end || index >= items_.size()) {
    return nullptr;
  }
  return &items_[index];
}

Node* Node::child(const std::string& segment) {
  return const_cast<Node*>(std::as_const(*this).child(segment));
}

const Node* Node::findPath(const std::string& dotted) const {
  const Node* node = this;
  for (const std::string& segment : splitPath(dotted)) {
    node = node->child(segment);
    if (node == nullptr) return nullptr;
  }
  return node;
}

Node* Node::findPath(const std::string& dotted) {
  return const_cast<Node*>(std::as_const(*this).findPath(dotted));
}

const Node& Node::at(const std::string& dotted) const {
  const Node* node = findPath(dotted);
  if (node == nullptr) throw SpecError(dotted + ": missing");
  return *node;
}

std::vector<std::string> splitPath(const std::string& dotted) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot - start));
    if (dot == std::string::npos) return parts;
    start = dot + 1;
  }
}

std::string joinPath(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

}  // namespace labrun::spec
