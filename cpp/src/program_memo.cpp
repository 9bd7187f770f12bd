#include "program_memo.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "opcast/errors.hpp"

namespace opcast {

ProgramMemo ProgramMemo::from_json(const std::string& text, const std::string& where) {
  ProgramMemo memo;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(where + ": malformed JSON: " + e.what());
  }
  try {
    memo.key_ = FeatureKey(j.at("features").get<std::vector<std::string>>(), where);
    memo.lo_ratio_ = j.at("interval_ratio").at(0).get<double>();
    memo.hi_ratio_ = j.at("interval_ratio").at(1).get<double>();
    if (!(memo.lo_ratio_ > 0 && memo.lo_ratio_ <= 1 && memo.hi_ratio_ >= 1 && std::isfinite(memo.hi_ratio_)))
      throw ModelError(where + ": interval_ratio must be [lo, hi] with 0 < lo <= 1 <= hi");
    for (const auto& e : j.at("entries")) {
      const double ns = e.at("ns").get<double>();
      if (!(ns > 0) || !std::isfinite(ns)) throw ModelError(where + ": an entry's ns must be finite and > 0");
      auto key = memo.key_.of_values(e.at("key").get<std::vector<double>>(), where);
      if (!memo.entries_.emplace(std::move(key), ns).second) throw ModelError(where + ": two entries share one key");
    }
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(where + ": " + e.what());
  }
  return memo;
}

std::optional<MemoAnswer> ProgramMemo::find(const FeatureVector& f) const {
  if (entries_.empty()) return std::nullopt;
  auto it = entries_.find(key_.of(f));
  if (it == entries_.end()) return std::nullopt;
  return MemoAnswer{it->second, it->second * lo_ratio_, it->second * hi_ratio_};
}

}  // namespace opcast
