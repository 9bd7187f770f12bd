#include "build_table.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "opcast/errors.hpp"

namespace opcast {

namespace {
// A factor beyond e^5 (150x) is not a build moving an op; a half-width beyond 10 is no interval; a
// shift past 10 ms is not a fixed cost a build changed.
constexpr double kMaxLogFactor = 5, kMaxHalfWidth = 10, kMaxShiftNs = 1e7;
constexpr std::size_t kNamesShown = 8;
}  // namespace

BuildTable::BuildTable(const nlohmann::json& builds, const std::string& where) {
  const std::string w = where + ": builds";
  if (!builds.is_object() || !builds.contains("default") || !builds.contains("table") ||
      !builds.at("table").is_object() || !builds.at("default").is_string())
    throw ModelError(w + " must be an object with a \"default\" build name and a \"table\" of builds");
  for (const auto& [name, entry] : builds.at("table").items()) {
    if (name.empty()) throw ModelError(w + ": a build has an empty name");
    const BuildFactor b{entry.at("log_factor").get<double>(),
                        entry.contains("shift_ns") ? entry.at("shift_ns").get<double>() : 0.0,
                        entry.at("half_width").get<double>()};
    if (!(std::abs(b.log_factor) <= kMaxLogFactor) || !(b.half_width >= 0 && b.half_width <= kMaxHalfWidth) ||
        !(std::abs(b.shift_ns) <= kMaxShiftNs))
      throw ModelError(w + "." + name + ": log_factor must be in [-5, 5], half_width in [0, 10] and shift_ns in "
                       "[-1e7, 1e7]");
    table_.emplace(name, b);
  }
  const auto it = table_.find(builds.at("default").get<std::string>());
  if (it == table_.end()) throw ModelError(w + ": the default build is not in the table");
  default_ = &*it;
}

const std::pair<const std::string, BuildFactor>* BuildTable::find(std::string_view wanted) const {
  if (wanted.empty()) return default_;
  if (const auto it = table_.find(wanted); it != table_.end()) return &*it;
  const std::pair<const std::string, BuildFactor>* found = nullptr;
  std::string matching;
  std::size_t count = 0;
  for (auto it = table_.lower_bound(wanted); it != table_.end() && it->first.compare(0, wanted.size(), wanted) == 0;
       ++it) {
    if (!found) found = &*it;
    matching += (count++ ? ", " : "") + it->first;
  }
  if (count > 1)
    throw QueryError("build", "\"" + std::string(wanted) + "\" names " + std::to_string(count) + " builds (" +
                                  matching + "); give more of it");
  return found;
}

std::string BuildTable::names() const {
  std::string out;
  std::size_t shown = 0;
  for (const auto& [name, b] : table_) {
    if (shown++ == kNamesShown) return out + ", ... (" + std::to_string(table_.size()) + " builds)";
    out += (out.empty() ? "" : ", ") + name;
  }
  return out;
}

double widened(double half, const BuildFactor& b) { return std::hypot(half, b.half_width); }

double moved(double reference_ns, const BuildFactor& b) {
  const double scaled = reference_ns * std::exp(b.log_factor);
  return std::max(scaled + b.shift_ns, scaled / 2);
}

}  // namespace opcast
