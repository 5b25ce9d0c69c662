// A value bound from the spec with the place it was written, for errors
// that only later work can find (a prefix that matches no parameter, a
// backend this LibTorch lacks): "<origin>: <key>: ...".
#pragma once

#include <string>

#include "spec/Node.h"

namespace labrun::spec {

template <typename T>
struct Located {
  T value;
  std::string origin;  // Origin::describe(): "file:line:column"
};

// A scalar's text with where it was written.
inline Located<std::string> located(const Node& node) {
  return {node.asString(), node.origin().describe()};
}

}  // namespace labrun::spec
