#include "program_memo.hpp"

#include <cmath>
#include <tuple>
#include <utility>
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
    auto ratios = [&](const nlohmann::json& r) {
      const double lo = r.at(0).get<double>(), hi = r.at(1).get<double>();
      if (!(lo > 0 && lo <= 1 && hi >= 1 && std::isfinite(hi)))
        throw ModelError(where + ": interval_ratio must be [lo, hi] with 0 < lo <= 1 <= hi");
      return std::pair{lo, hi};
    };
    std::tie(memo.lo_ratio_, memo.hi_ratio_) = ratios(j.at("interval_ratio"));
    for (const auto& e : j.at("entries")) {
      const double ns = e.at("ns").get<double>();
      if (!(ns > 0) || !std::isfinite(ns)) throw ModelError(where + ": an entry's ns must be finite and > 0");
      auto key = memo.key_.of_values(e.at("key").get<std::vector<double>>(), where);
      // An entry less sure than the rest (measured only on builds not tied to the reference) has its own.
      const auto [lo, hi] = e.contains("interval_ratio") ? ratios(e.at("interval_ratio"))
                                                         : std::pair{memo.lo_ratio_, memo.hi_ratio_};
      if (!memo.entries_.emplace(std::move(key), Entry{ns, lo, hi}).second)
        throw ModelError(where + ": two entries share one key");
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
  const Entry& e = it->second;
  return MemoAnswer{e.ns, e.ns * e.lo_ratio, e.ns * e.hi_ratio};
}

}  // namespace opcast
