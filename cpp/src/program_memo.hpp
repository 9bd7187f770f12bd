// The serving side of a program memo (program_memo.json, written by train/program_memo.py): the
// measured time of every training configuration's per-core program. A query that runs a measured
// program gets that measurement, not the ensemble's estimate.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "feature_key.hpp"
#include "opcast/features.hpp"

namespace opcast {

struct MemoAnswer {
  double ns = 0, lo_ns = 0, hi_ns = 0;
};

class ProgramMemo {
 public:
  // Throws ModelError naming `where` when the text is not a valid memo for this feature schema.
  static ProgramMemo from_json(const std::string& text, const std::string& where);

  std::size_t size() const { return entries_.size(); }
  std::optional<MemoAnswer> find(const FeatureVector& f) const;

 private:
  struct Entry {
    double ns, lo_ratio, hi_ratio;
  };
  FeatureKey key_;
  std::map<FeatureKey::Key, Entry> entries_;
  double lo_ratio_ = 1, hi_ratio_ = 1;
};

}  // namespace opcast
