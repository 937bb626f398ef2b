#pragma once
// JSON that comes from another process (a monitor frame, a CNI plugin's
// stdout), parsed with a bound on nesting. nlohmann's parser itself is
// iterative, but copying, comparing and dumping a value recurse once per
// level: a document nested a few hundred thousand levels deep would
// overflow the stack later, far from where it came in.
#include <nlohmann/json.hpp>

namespace kcr {

inline constexpr int kMaxJsonDepth = 64;

// The parsed value, or a discarded one (is_discarded()) when [first, last)
// is not JSON or nests arrays and objects deeper than `max_depth`.
template <typename It>
nlohmann::json ParseJsonBounded(It first, It last, int max_depth = kMaxJsonDepth) {
  bool too_deep = false;
  // depth: how many arrays/objects enclose the event; returning false drops
  // the value, so nothing past the limit is ever built.
  auto cb = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth <= max_depth) return true;
    too_deep = true;
    return false;
  };
  nlohmann::json j = nlohmann::json::parse(first, last, cb, false);
  if (too_deep) return nlohmann::json(nlohmann::json::value_t::discarded);
  return j;
}

inline nlohmann::json ParseJsonBounded(const std::string& text, int max_depth = kMaxJsonDepth) {
  return ParseJsonBounded(text.begin(), text.end(), max_depth);
}

}  // namespace kcr
