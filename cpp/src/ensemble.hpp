// The serving side of a trained ensemble: the plain-C++ forward pass over the weights the mlpack
// trainer exports (weights.bin, layout in train/trainer/README.md). Serving needs no mlpack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace opcast {

struct EnsembleOutput {
  double mean = 0;  // mean of the members' predictions, in target units
  double std = 0;   // population standard deviation across members
};

class Ensemble {
 public:
  // Throws ModelError naming `where` when the bytes are not a valid weights file.
  static Ensemble from_bytes(const std::string& data, const std::string& where);

  std::size_t members() const { return members_.size(); }
  std::size_t n_features() const { return feature_mean_.size(); }
  EnsembleOutput predict(const double* features) const;
  // Row by row with the same arithmetic as predict: a row's answer does not depend on the batch.
  void predict_rows(const double* features, std::size_t rows, EnsembleOutput* out) const;

 private:
  struct Layer {
    std::uint32_t in = 0, out = 0, activation = 0;  // 0 identity, 1 relu, 2 tanh, 3 leaky relu (0.01)
    std::vector<float> weights_t;  // [in x out]: transposed so the inner loop is a contiguous axpy
    std::vector<float> bias;
  };
  struct Member {
    std::vector<Layer> layers;
    std::size_t first_offset = 0;  // where its first layer's outputs sit in the fused first layer
  };
  std::vector<float> feature_mean_, feature_inv_std_;
  // Inputs enter the fused first layer as (feature - feature_ref_) * feature_inv_std_, the rest of
  // the standardisation folded into first_bias_: feature_ref_ is 0 where 0 lies within 4 std of
  // the mean (one-hot and count features, mostly 0: their weight rows are skipped), the mean
  // elsewhere (standardised exactly as before).
  std::vector<float> feature_ref_;
  double y_mean_ = 0, y_std_ = 1;
  std::vector<Member> members_;
  // Every member reads the same inputs: their first layers run as one [n_features x sum of widths]
  // layer (first_weights_t), so the inputs are read once for all members.
  std::vector<float> first_weights_t_, first_bias_;
  std::size_t first_width_ = 0;
  std::size_t max_width_ = 0;
};

}  // namespace opcast
