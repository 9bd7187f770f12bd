#include "build_table.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "opcast/errors.hpp"

namespace opcast {

namespace {
// A factor beyond e^8 (3000x) is not a build moving an op (ttnn.prod moved 300x between dashboard
// builds; train/builds.py MAX_LOG_FACTOR); a half-width beyond 10 is no interval; a shift past 10 ms is
// not a fixed cost a build changed.
constexpr double kMaxLogFactor = 8, kMaxHalfWidth = 10, kMaxShiftNs = 1e7;
constexpr std::size_t kNamesShown = 8;

BuildFactor checked(BuildFactor b, const std::string& where) {
  if (!(std::abs(b.log_factor) <= kMaxLogFactor) || !(b.half_width >= 0 && b.half_width <= kMaxHalfWidth) ||
      !(std::abs(b.shift_ns) <= kMaxShiftNs))
    throw ModelError(where + ": log_factor must be in [-8, 8], half_width in [0, 10] and shift_ns in [-1e7, 1e7]");
  return b;
}

void check_name(const std::string& name, const std::string& where) {
  if (name.empty()) throw ModelError(where + ": a build has an empty name");
}
}  // namespace

BuildTable::BuildTable(const nlohmann::json& builds, const std::string& where) {
  const std::string w = where + ": builds";
  if (!builds.is_object() || !builds.contains("default") || !builds.contains("table") ||
      !builds.at("default").is_string())
    throw ModelError(w + " must be an object with a \"default\" build name and a \"table\" of builds");
  if (!builds.at("table").is_object()) throw ModelError(w + ".table must be an object of builds");
  for (const auto& [name, entry] : builds.at("table").items()) {
    check_name(name, w);
    table_.emplace(name, checked({entry.at("log_factor").get<double>(),
                                  entry.contains("shift_ns") ? entry.at("shift_ns").get<double>() : 0.0,
                                  entry.at("half_width").get<double>()},
                                 w + "." + name));
  }
  const auto it = table_.find(builds.at("default").get<std::string>());
  if (it == table_.end()) throw ModelError(w + ": the default build is not in the table");
  default_ = &*it;
  // Each op's own moves, where they differ from the table's: one half-width per op (its widest), a
  // factor per build; tens of thousands of them in a kind model trained on a daily sweep.
  if (builds.contains("ops")) {
    if (!builds.at("ops").is_object()) throw ModelError(w + ".ops must be an object of ops");
    for (const auto& [op, moves] : builds.at("ops").items()) {
      const std::string at = w + ".ops." + op;
      const double half = moves.at("half_width").get<double>();
      auto& mine = ops_[op];
      for (const auto& [name, factor] : moves.at("log_factors").items()) {
        check_name(name, at);
        mine.emplace(name, checked({factor.get<double>(), 0.0, half}, at + "." + name));
      }
    }
  }
}

const std::pair<const std::string, BuildFactor>* BuildTable::find(std::string_view wanted, std::string_view op) const {
  const auto* found = find_build(wanted);
  if (!found || op.empty()) return found;
  const auto moves = ops_.find(op);
  if (moves == ops_.end()) return found;
  const auto own = moves->second.find(found->first);
  return own == moves->second.end() ? found : &*own;
}

const std::pair<const std::string, BuildFactor>* BuildTable::find_build(std::string_view wanted) const {
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
