// Loads a spec file with its `extends:` bases, applies command-line
// overrides and resolves interpolations.
#pragma once

#include <string>
#include <vector>

#include "spec/Node.h"

namespace labrun::spec {

// Parses one YAML file into a Node tree, recording file:line:column for every
// node. Throws SpecError naming the file (and line/column for syntax errors).
Node parseYamlFile(const std::string& path);
// Parses YAML text; `origin` names the source in errors and node origins.
Node parseYamlText(const std::string& text, const Origin& origin);

// Deep merge of `over` onto `base`: maps merge key by key, scalars and lists
// replace, and a map in `over` holding `_replace_: true` replaces the base
// map whole (the `_replace_` key itself is dropped).
void mergeInto(Node& base, const Node& over);

// Loads `path`, recursively resolving `extends:` (a string or a list of
// strings, each relative to the including file's directory). Bases are merged
// in list order, then the including file on top. The `extends` key is removed.
// Errors: missing base file (names the including file:line:column and the
// resolved path), cycles (names the chain).
Node loadSpecFile(const std::string& path);

// Hydra override grammar, values parsed as YAML:
//   a.b=v   set an existing key (error if a.b does not exist)
//   +a.b=v  add a new key (error if it exists); creates missing parent maps
//   ++a.b=v set or add
//   ~a.b    delete (error if it does not exist)
// Errors name the override text, e.g. "override 'a.b=1': key 'a.b' is not in
// the spec; use '+a.b=1' to add it".
//
// `schema_validated`: the caller validates the tree against a schema
// afterwards, so `a.b=v` may set a key absent from the tree too. One the
// schema declares takes the value over its default, as Hydra allows for
// keys of a structured config; any other is rejected by the validation,
// which names the nearest declared key, e.g. "override 'optim.lrr=1':
// optim.lrr: unknown key; did you mean 'optim.lr'?" (rather than a hint to
// add with '+' a key that no schema accepts).
void applyOverride(Node& root, const std::string& override_text,
                   bool schema_validated = false);
void applyOverrides(Node& root, const std::vector<std::string>& overrides,
                    bool schema_validated = false);

// Replaces ${a.b} (another key of the same tree; a scalar that is exactly one
// interpolation takes the referenced node whole, keeping its type) and
// ${env:NAME,default} / ${env:NAME} (error when unset and no default).
// Interpolations inside longer strings are substituted as text. Detects
// cycles and unknown keys (error names the origin of the referencing value).
//
// Returns the values that came from an environment variable outside
// kRecordableEnv (directly, or through ${a.b} of such a value), each with the
// node it was written as: the run uses them, the store must not keep them
// (tokens, credentials). recordedForm() puts the written form back.
struct EnvDerived {
  std::string path;  // dotted key, e.g. "model.backbone.weights"
  Node written;      // as written, e.g. "${env:TOKEN}"
};
std::vector<EnvDerived> resolveInterpolations(Node& root);

// The environment variables whose values a resolved spec may record (device
// and thread settings); every other ${env:...} is recorded unresolved.
inline const std::vector<std::string> kRecordableEnv = {
    "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS"};

// `resolved` as it may be stored: each EnvDerived value written back as its
// interpolation, and "${" in every other string escaped ("\${"), so that
// resolveInterpolations() on the stored form (at resume) gives back the
// same tree with the environment of that time.
Node recordedForm(const Node& resolved, const std::vector<EnvDerived>& derived);

// Emits the tree as YAML (block style, insertion order). Strings that would
// read back as another type are quoted, so emit -> parse round-trips.
std::string toYaml(const Node& root);
// The same in one line of flow style, e.g. "[1, \"2\", x]"; used for list
// values in flattened parameters.
std::string toFlowYaml(const Node& node);

}  // namespace labrun::spec
