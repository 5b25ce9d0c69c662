// The runs of a sweep: the Cartesian product of the comma lists in the
// overrides, as Hydra's multirun does (`a=1,2 b=x,y` gives four runs).
#pragma once

#include <string>
#include <vector>

namespace labrun::cli {

struct SweepPoint {
  std::vector<std::string> overrides;  // every override, one value each
  std::vector<std::string> swept;      // only those that vary, for display
  // What varies, short, for the run's name ("quickstart[head=ssgrl]"):
  // "key=value" per swept override, comma-separated; the key's last
  // component; a map value as its `name` and the fields that tell it apart
  // from another value of the list with that name ("ssgrl(time_steps=0)").
  std::string label;
};

// Splits on the commas that are outside brackets, braces and quotes:
// "1,[2,3],'a,b'" -> {"1", "[2,3]", "'a,b'"}.
std::vector<std::string> splitTopLevel(const std::string& text);

// One point per combination, the last swept override varying fastest. An
// override without a top-level comma (or a deletion, `~a.b`) is kept as is
// in every point. Throws spec::SpecError naming an override with an empty
// list element ("a=1,,2") or one listed twice ("seed=0,0").
std::vector<SweepPoint> expandSweep(const std::vector<std::string>& overrides);

}  // namespace labrun::cli
