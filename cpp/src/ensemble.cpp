#include "ensemble.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "opcast/errors.hpp"

namespace opcast {
namespace {

// Reads the little-endian weights file front to back, refusing truncation and absurd sizes.
class Reader {
 public:
  Reader(const std::string& data, const std::string& where) : data_(data), where_(where) {}
  template <typename T>
  T read() {
    T v;
    need(sizeof(T));
    std::memcpy(&v, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::uint32_t read_count(std::uint32_t max, const char* what) {
    const auto v = read<std::uint32_t>();
    if (v == 0 || v > max) fail(std::string(what) + " = " + std::to_string(v) + " out of range [1, " + std::to_string(max) + "]");
    return v;
  }
  void read_doubles(std::size_t n, std::vector<double>& out) {
    need(n * sizeof(double));
    out.resize(n);
    std::memcpy(out.data(), data_.data() + pos_, n * sizeof(double));
    pos_ += n * sizeof(double);
  }
  bool done() const { return pos_ == data_.size(); }
  [[noreturn]] void fail(const std::string& msg) const {
    throw ModelError(where_ + ": invalid weights file at byte " + std::to_string(pos_) + ": " + msg);
  }

 private:
  void need(std::size_t n) const {
    if (pos_ + n > data_.size()) fail("truncated");
  }
  const std::string& data_;
  const std::string& where_;
  std::size_t pos_ = 0;
};

bool all_finite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
}

// B outputs of a dense layer kept in registers across the whole input loop (one FMA per weight,
// no load/store of the outputs per input).
template <int B>
__attribute__((always_inline)) inline void dense_block(const float* __restrict x, std::uint32_t in, std::uint32_t n_out,
                                                       const float* __restrict wt, const float* __restrict bias,
                                                       std::uint32_t o0, float* __restrict out) {
  float acc[B];
  for (int k = 0; k < B; ++k) acc[k] = bias[o0 + k];
  for (std::uint32_t i = 0; i < in; ++i) {
    const float xi = x[i];
    const float* row = wt + static_cast<std::size_t>(i) * n_out + o0;
    for (int k = 0; k < B; ++k) acc[k] += xi * row[k];
  }
  for (int k = 0; k < B; ++k) out[o0 + k] = acc[k];
}

// out = activation(bias + x * W^T), W stored transposed. Cloned for AVX2+FMA where the CPU has it.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=haswell", "default")))
#endif
void dense(const float* __restrict x, std::uint32_t in, std::uint32_t n_out, const float* __restrict wt,
           const float* __restrict bias, std::uint32_t activation, float* __restrict out) {
  std::uint32_t o = 0;
  for (; o + 64 <= n_out; o += 64) dense_block<64>(x, in, n_out, wt, bias, o, out);
  for (; o + 32 <= n_out; o += 32) dense_block<32>(x, in, n_out, wt, bias, o, out);
  for (; o + 8 <= n_out; o += 8) dense_block<8>(x, in, n_out, wt, bias, o, out);
  for (; o < n_out; ++o) dense_block<1>(x, in, n_out, wt, bias, o, out);
  switch (activation) {
    case 1: for (std::uint32_t k = 0; k < n_out; ++k) out[k] = out[k] > 0.f ? out[k] : 0.f; break;
    case 2: for (std::uint32_t k = 0; k < n_out; ++k) out[k] = std::tanh(out[k]); break;
    case 3: for (std::uint32_t k = 0; k < n_out; ++k) out[k] = out[k] > 0.f ? out[k] : 0.01f * out[k]; break;
    default: break;
  }
}

constexpr std::uint32_t kMaxWidth = 4096;

}  // namespace

Ensemble Ensemble::from_bytes(const std::string& data, const std::string& where) {
  Reader r(data, where);
  char magic[8];
  for (char& c : magic) c = r.read<char>();
  if (std::memcmp(magic, "OPCASTW1", 8) != 0) r.fail("bad magic (expected OPCASTW1)");
  if (r.read<std::uint32_t>() != 1) r.fail("unsupported version (expected 1)");
  Ensemble e;
  const std::uint32_t n_features = r.read_count(kMaxWidth, "n_features");
  const std::uint32_t n_members = r.read_count(256, "n_members");
  std::vector<double> mean, stdev;
  r.read_doubles(n_features, mean);
  r.read_doubles(n_features, stdev);
  if (!all_finite(mean) || !all_finite(stdev)) r.fail("non-finite scaler");
  e.feature_mean_.assign(mean.begin(), mean.end());
  e.feature_inv_std_.resize(n_features);
  for (std::size_t i = 0; i < n_features; ++i) {
    if (!(stdev[i] > 0)) r.fail("feature std must be > 0");
    e.feature_inv_std_[i] = static_cast<float>(1.0 / stdev[i]);
  }
  e.y_mean_ = r.read<double>();
  e.y_std_ = r.read<double>();
  if (!std::isfinite(e.y_mean_) || !(e.y_std_ > 0) || !std::isfinite(e.y_std_)) r.fail("bad target scaler");
  e.max_width_ = n_features;
  for (std::uint32_t m = 0; m < n_members; ++m) {
    Member member;
    const std::uint32_t n_layers = r.read_count(64, "n_layers");
    std::uint32_t width = n_features;
    for (std::uint32_t l = 0; l < n_layers; ++l) {
      Layer layer;
      layer.out = r.read_count(kMaxWidth, "layer rows");
      layer.in = r.read_count(kMaxWidth, "layer cols");
      if (layer.in != width) r.fail("layer input width " + std::to_string(layer.in) + " != previous width " + std::to_string(width));
      layer.activation = r.read<std::uint32_t>();
      if (layer.activation > 3) r.fail("unknown activation code " + std::to_string(layer.activation));
      std::vector<double> w, b;
      r.read_doubles(static_cast<std::size_t>(layer.out) * layer.in, w);
      r.read_doubles(layer.out, b);
      if (!all_finite(w) || !all_finite(b)) r.fail("non-finite weights");
      layer.weights_t.resize(w.size());
      for (std::uint32_t o = 0; o < layer.out; ++o)
        for (std::uint32_t i = 0; i < layer.in; ++i)
          layer.weights_t[static_cast<std::size_t>(i) * layer.out + o] = static_cast<float>(w[static_cast<std::size_t>(o) * layer.in + i]);
      layer.bias.assign(b.begin(), b.end());
      width = layer.out;
      e.max_width_ = std::max<std::size_t>(e.max_width_, width);
      member.layers.push_back(std::move(layer));
    }
    if (width != 1) r.fail("last layer must have one output, has " + std::to_string(width));
    e.members_.push_back(std::move(member));
  }
  if (!r.done()) r.fail("trailing bytes");
  return e;
}

double Ensemble::forward(const Member& m, const float* x, float* a, float* b) const {
  const float* in = x;
  float* out = a;
  for (const Layer& layer : m.layers) {
    dense(in, layer.in, layer.out, layer.weights_t.data(), layer.bias.data(), layer.activation, out);
    in = out;
    out = (out == a) ? b : a;
  }
  return static_cast<double>(in[0]) * y_std_ + y_mean_;
}

EnsembleOutput Ensemble::predict(const double* features) const {
  EnsembleOutput result;
  predict_rows(features, 1, &result);
  return result;
}

void Ensemble::predict_rows(const double* features, std::size_t rows, EnsembleOutput* out) const {
  const std::size_t nf = feature_mean_.size();
  // Per-thread scratch: the predictor is shared across threads, its buffers are not.
  thread_local std::vector<float> scratch;
  if (scratch.size() < 3 * max_width_) scratch.resize(3 * max_width_);
  float* x = scratch.data();
  float* a = x + max_width_;
  float* b = a + max_width_;
  const double n = static_cast<double>(members_.size());
  for (std::size_t row = 0; row < rows; ++row) {
    const double* f = features + row * nf;
    for (std::size_t i = 0; i < nf; ++i) x[i] = static_cast<float>((f[i] - feature_mean_[i]) * feature_inv_std_[i]);
    double sum = 0, sum_sq = 0;
    for (const Member& m : members_) {
      const double y = forward(m, x, a, b);
      sum += y;
      sum_sq += y * y;
    }
    const double mean = sum / n;
    out[row].mean = mean;
    out[row].std = std::sqrt(std::max(0.0, sum_sq / n - mean * mean));
  }
}

}  // namespace opcast
