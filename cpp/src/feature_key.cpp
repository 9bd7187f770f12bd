#include "feature_key.hpp"

#include <algorithm>
#include <cmath>

#include "opcast/errors.hpp"

namespace opcast {

namespace {
constexpr double kQuantum = 1e6;

std::int64_t quantised(double v) { return static_cast<std::int64_t>(std::llround(v * kQuantum)); }
}  // namespace

FeatureKey::FeatureKey(const std::vector<std::string>& names, const std::string& where) {
  const auto& schema = feature_names();
  for (const auto& name : names) {
    auto it = std::find(schema.begin(), schema.end(), name);
    if (it == schema.end()) throw ModelError(where + ": key feature \"" + name + "\" is not in this library's feature schema");
    index_.push_back(static_cast<std::size_t>(it - schema.begin()));
  }
  if (index_.empty()) throw ModelError(where + ": the list of key features is empty");
}

FeatureKey::Key FeatureKey::of_values(const std::vector<double>& values, const std::string& where) const {
  if (values.size() != index_.size())
    throw ModelError(where + ": a key has " + std::to_string(values.size()) + " values, expected " +
                     std::to_string(index_.size()));
  // Features are logs and small counts; a key far outside them is damage, and would not round.
  for (const double v : values)
    if (!(std::abs(v) <= 1e6))
      throw ModelError(where + ": a key value " + std::to_string(v) + " lies outside [-1e6, 1e6]");
  Key key(values.size());
  std::transform(values.begin(), values.end(), key.begin(), quantised);
  return key;
}

FeatureKey::Key FeatureKey::of(const FeatureVector& f) const {
  Key key(index_.size());
  for (std::size_t i = 0; i < index_.size(); ++i) key[i] = quantised(f[index_[i]]);
  return key;
}

}  // namespace opcast
