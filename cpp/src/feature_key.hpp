// A key made of some features' values: how a program memo finds a measured program and how an
// interval finds its calibration class. Both are written as text by the Python trainer and looked up
// with features this library recomputes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "opcast/features.hpp"

namespace opcast {

class FeatureKey {
 public:
  // Values are quantised to 1e-6 so that values written as text and recomputed agree exactly.
  using Key = std::vector<std::int64_t>;

  FeatureKey() = default;
  // Throws ModelError naming `where` for an empty list or a name outside this library's schema.
  FeatureKey(const std::vector<std::string>& names, const std::string& where);

  // The key of written values; throws ModelError naming `where` when their count is not the key's.
  Key of_values(const std::vector<double>& values, const std::string& where) const;
  Key of(const FeatureVector& f) const;

 private:
  std::vector<std::size_t> index_;
};

}  // namespace opcast
