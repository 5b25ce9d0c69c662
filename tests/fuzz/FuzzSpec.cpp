// Spec text and command-line overrides: the first line of the input holds
// space-separated overrides, the rest is the YAML spec. Parsing, overrides,
// interpolation, validation against the core schema and emission of the
// recorded form must succeed or throw SpecError.
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "FuzzInput.h"
#include "spec/Schema.h"
#include "spec/SpecLoader.h"
#include "train/CoreSchema.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  std::vector<std::string> overrides;
  std::istringstream words(input.substr(0, newline));
  for (std::string word; words >> word;) overrides.push_back(word);
  const std::string yaml =
      newline == std::string::npos ? "" : input.substr(newline + 1);
  return labrun::fuzz::expectCleanErrors([&] {
    using namespace labrun::spec;
    Origin origin;
    origin.file = "fuzz.yaml";
    Node root = parseYamlText(yaml, origin);
    applyOverrides(root, overrides);
    const auto derived = resolveInterpolations(root);
    // Plugins declare no parameters here: slot keys other than `name` are
    // reported, which exercises the error paths too.
    validate(root, labrun::train::coreSchema(),
             [](labrun::PluginKind, const std::string&) {
               return std::vector<labrun::ParamSpec>{};
             });
    const std::string stored = toYaml(recordedForm(root, derived));
    flatten(root);
    parseYamlText(stored, origin);
  });
}
