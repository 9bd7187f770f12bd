#include "program_memo.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "opcast/errors.hpp"

namespace opcast {

namespace {
constexpr double kQuantum = 1e6;
}

ProgramMemo ProgramMemo::from_json(const std::string& text, const std::string& where) {
  ProgramMemo memo;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(where + ": malformed JSON: " + e.what());
  }
  try {
    const auto& names = feature_names();
    for (const auto& name : j.at("features").get<std::vector<std::string>>()) {
      auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end()) throw ModelError(where + ": key feature \"" + name + "\" is not in this library's feature schema");
      memo.feature_index_.push_back(static_cast<std::size_t>(it - names.begin()));
    }
    if (memo.feature_index_.empty()) throw ModelError(where + ": \"features\" is empty");
    memo.lo_ratio_ = j.at("interval_ratio").at(0).get<double>();
    memo.hi_ratio_ = j.at("interval_ratio").at(1).get<double>();
    if (!(memo.lo_ratio_ > 0 && memo.lo_ratio_ <= 1 && memo.hi_ratio_ >= 1 && std::isfinite(memo.hi_ratio_)))
      throw ModelError(where + ": interval_ratio must be [lo, hi] with 0 < lo <= 1 <= hi");
    for (const auto& e : j.at("entries")) {
      const auto values = e.at("key").get<std::vector<double>>();
      const double ns = e.at("ns").get<double>();
      if (values.size() != memo.feature_index_.size())
        throw ModelError(where + ": an entry's key has " + std::to_string(values.size()) + " values, expected " +
                         std::to_string(memo.feature_index_.size()));
      if (!(ns > 0) || !std::isfinite(ns)) throw ModelError(where + ": an entry's ns must be finite and > 0");
      Key key(values.size());
      std::transform(values.begin(), values.end(), key.begin(),
                     [](double v) { return static_cast<std::int64_t>(std::llround(v * kQuantum)); });
      if (!memo.entries_.emplace(std::move(key), ns).second) throw ModelError(where + ": two entries share one key");
    }
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(where + ": " + e.what());
  }
  return memo;
}

ProgramMemo::Key ProgramMemo::key_of(const FeatureVector& f) const {
  Key key(feature_index_.size());
  for (std::size_t i = 0; i < feature_index_.size(); ++i)
    key[i] = static_cast<std::int64_t>(std::llround(f[feature_index_[i]] * kQuantum));
  return key;
}

std::optional<MemoAnswer> ProgramMemo::find(const FeatureVector& f) const {
  if (entries_.empty()) return std::nullopt;
  auto it = entries_.find(key_of(f));
  if (it == entries_.end()) return std::nullopt;
  return MemoAnswer{it->second, it->second * lo_ratio_, it->second * hi_ratio_};
}

}  // namespace opcast
