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

// The kernels are written once over a float vector type V: v8 (one AVX register) in the AVX2 + FMA
// build, v4 (one SSE / NEON register) in the portable one. Vu is V readable at any float address
// (like immintrin's __m256_u); vectors only travel through macros and always-inlined code.
typedef float v4 __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4), may_alias));
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
template <typename V> struct Unaligned;
template <> struct Unaligned<v4> { using type = v4u; };
template <> struct Unaligned<v8> { using type = v8u; };
template <typename V> constexpr std::uint32_t kLanes = sizeof(V) / sizeof(float);
#define OPCAST_INLINE __attribute__((always_inline)) inline
#define LOAD(V, p) (*reinterpret_cast<const typename Unaligned<V>::type*>(p))
#define STORE(V, p, v) (*reinterpret_cast<typename Unaligned<V>::type*>(p) = (v))

// N vectors of outputs of a dense layer kept in registers across the whole input loop (one FMA
// per weight, no load/store of the outputs per input), over the given rows of W^T (the inputs
// that are not 0).
template <typename V, int N>
OPCAST_INLINE void block_rows(const float* __restrict xs, const std::uint32_t* __restrict rows, std::uint32_t n_rows,
                              std::uint32_t n_out, const float* __restrict wt, const float* __restrict bias,
                              std::uint32_t o0, float* __restrict out) {
  constexpr std::uint32_t L = kLanes<V>;
  V acc[N];
  for (int k = 0; k < N; ++k) acc[k] = LOAD(V, bias + o0 + L * k);
  for (std::uint32_t j = 0; j < n_rows; ++j) {
    const float xj = xs[j];
    const float* row = wt + static_cast<std::size_t>(rows[j]) * n_out + o0;
    for (int k = 0; k < N; ++k) acc[k] += xj * LOAD(V, row + L * k);
  }
  for (int k = 0; k < N; ++k) STORE(V, out + o0 + L * k, acc[k]);
}

// N vectors of outputs over all inputs, with two accumulator sets (even and odd inputs): twice
// the independent FMA chains, so a 32-wide layer is not bound by FMA latency.
template <typename V, int N>
OPCAST_INLINE void block2(const float* __restrict x, std::uint32_t in, std::uint32_t n_out, const float* __restrict wt,
                          const float* __restrict bias, std::uint32_t o0, float* __restrict out) {
  constexpr std::uint32_t L = kLanes<V>;
  V acc[N], acc2[N];
  for (int k = 0; k < N; ++k) acc[k] = LOAD(V, bias + o0 + L * k), acc2[k] = V{};
  std::uint32_t i = 0;
  for (; i + 2 <= in; i += 2) {
    const float x0 = x[i], x1 = x[i + 1];
    const float* row0 = wt + static_cast<std::size_t>(i) * n_out + o0;
    const float* row1 = row0 + n_out;
    for (int k = 0; k < N; ++k) acc[k] += x0 * LOAD(V, row0 + L * k);
    for (int k = 0; k < N; ++k) acc2[k] += x1 * LOAD(V, row1 + L * k);
  }
  if (i < in) {
    const float* row0 = wt + static_cast<std::size_t>(i) * n_out + o0;
    for (int k = 0; k < N; ++k) acc[k] += x[i] * LOAD(V, row0 + L * k);
  }
  for (int k = 0; k < N; ++k) STORE(V, out + o0 + L * k, acc[k] + acc2[k]);
}

// One output column (widths that are not a multiple of the vector width).
OPCAST_INLINE float column(const float* __restrict x, std::uint32_t in, std::uint32_t n_out, const float* __restrict wt,
                           float bias, std::uint32_t o) {
  float acc = bias;
  for (std::uint32_t i = 0; i < in; ++i) acc += x[i] * wt[static_cast<std::size_t>(i) * n_out + o];
  return acc;
}

// out = bias + xs * W^T over the given rows of W^T (W stored transposed).
template <typename V>
OPCAST_INLINE void dense_rows(const float* __restrict xs, const std::uint32_t* __restrict rows, std::uint32_t n_rows,
                              std::uint32_t n_out, const float* __restrict wt, const float* __restrict bias,
                              float* __restrict out) {
  constexpr std::uint32_t L = kLanes<V>;
  std::uint32_t o = 0;
  for (; o + 8 * L <= n_out; o += 8 * L) block_rows<V, 8>(xs, rows, n_rows, n_out, wt, bias, o, out);
  for (; o + 4 * L <= n_out; o += 4 * L) block_rows<V, 4>(xs, rows, n_rows, n_out, wt, bias, o, out);
  for (; o + L <= n_out; o += L) block_rows<V, 1>(xs, rows, n_rows, n_out, wt, bias, o, out);
  for (; o < n_out; ++o) {
    float acc = bias[o];
    for (std::uint32_t j = 0; j < n_rows; ++j) acc += xs[j] * wt[static_cast<std::size_t>(rows[j]) * n_out + o];
    out[o] = acc;
  }
}

// out = bias + x * W^T, W stored transposed.
template <typename V>
OPCAST_INLINE void dense(const float* __restrict x, std::uint32_t in, std::uint32_t n_out, const float* __restrict wt,
                         const float* __restrict bias, float* __restrict out) {
  constexpr std::uint32_t L = kLanes<V>;
  std::uint32_t o = 0;
  for (; o + 4 * L <= n_out; o += 4 * L) block2<V, 4>(x, in, n_out, wt, bias, o, out);
  for (; o + L <= n_out; o += L) block2<V, 1>(x, in, n_out, wt, bias, o, out);
  for (; o < n_out; ++o) out[o] = column(x, in, n_out, wt, bias[o], o);
}

// bias + x . w for a one-output layer: a vector of partial sums, not one long chain.
template <typename V>
OPCAST_INLINE float dot(const float* __restrict x, const float* __restrict w, std::uint32_t n, float bias) {
  constexpr std::uint32_t L = kLanes<V>;
  V acc{};
  std::uint32_t i = 0;
  for (; i + L <= n; i += L) acc += LOAD(V, x + i) * LOAD(V, w + i);
  float tail = 0.f;
  for (; i < n; ++i) tail += x[i] * w[i];
  float lanes[L];
  std::memcpy(lanes, &acc, sizeof acc);
  for (std::uint32_t half = L / 2; half > 0; half /= 2)
    for (std::uint32_t k = 0; k < half; ++k) lanes[k] += lanes[k + half];
  return bias + (lanes[0] + tail);
}

OPCAST_INLINE void activate(std::uint32_t activation, float* v, std::uint32_t n) {
  switch (activation) {
    case 1: for (std::uint32_t k = 0; k < n; ++k) v[k] = v[k] > 0.f ? v[k] : 0.f; break;
    case 2: for (std::uint32_t k = 0; k < n; ++k) v[k] = std::tanh(v[k]); break;
    case 3: for (std::uint32_t k = 0; k < n; ++k) v[k] = v[k] > 0.f ? v[k] : 0.01f * v[k]; break;
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
  // The members' first layers side by side: [n_features x first_width].
  for (Member& m : e.members_) {
    m.first_offset = e.first_width_;
    e.first_width_ += m.layers.front().out;
  }
  e.feature_ref_.resize(n_features);
  for (std::size_t i = 0; i < n_features; ++i) {
    const double mean_in_std = static_cast<double>(e.feature_mean_[i]) * e.feature_inv_std_[i];
    e.feature_ref_[i] = std::fabs(mean_in_std) <= 4.0 ? 0.f : e.feature_mean_[i];
  }
  e.first_weights_t_.resize(static_cast<std::size_t>(n_features) * e.first_width_);
  e.first_bias_.resize(e.first_width_);
  for (Member& m : e.members_) {
    Layer& l = m.layers.front();
    for (std::uint32_t i = 0; i < n_features; ++i)
      std::copy_n(l.weights_t.begin() + static_cast<std::ptrdiff_t>(i) * l.out, l.out,
                  e.first_weights_t_.begin() + static_cast<std::ptrdiff_t>(i * e.first_width_ + m.first_offset));
    // (f - mean) * s = (f - ref) * s + (ref - mean) * s: the second term is a constant input.
    for (std::uint32_t o = 0; o < l.out; ++o) {
      double b = l.bias[o];
      for (std::uint32_t i = 0; i < n_features; ++i)
        b += static_cast<double>(l.weights_t[static_cast<std::size_t>(i) * l.out + o]) *
             ((static_cast<double>(e.feature_ref_[i]) - e.feature_mean_[i]) * e.feature_inv_std_[i]);
      e.first_bias_[m.first_offset + o] = static_cast<float>(b);
    }
    std::vector<float>().swap(l.weights_t);  // served from first_weights_t_
    std::vector<float>().swap(l.bias);
  }
  return e;
}

namespace {

// One row: normalise, the fused first layer, then each member's remaining layers. Compiled twice
// (AVX2 + FMA where the CPU has them, plain x86-64 otherwise); the CPU check happens once.
template <typename V, typename Members>
OPCAST_INLINE EnsembleOutput forward_row(
    const double* f, std::size_t nf, const float* ref, const float* inv_std, const float* first_wt,
    const float* first_bias, std::size_t first_width, const Members& members, double y_mean, double y_std,
    std::size_t max_width, float* scratch, std::uint32_t* rows) {
  float* x = scratch;
  float* h = x + nf;
  float* a = h + first_width;
  float* b = a + max_width;
  std::uint32_t n_rows = 0;
  for (std::size_t i = 0; i < nf; ++i) {
    const float v = static_cast<float>((f[i] - ref[i]) * inv_std[i]);
    x[n_rows] = v;
    rows[n_rows] = static_cast<std::uint32_t>(i);
    n_rows += v != 0.f;  // a 0 input adds nothing: its weight row is skipped
  }
  dense_rows<V>(x, rows, n_rows, static_cast<std::uint32_t>(first_width), first_wt, first_bias, h);
  double sum = 0, sum_sq = 0;
  for (const auto& m : members) {
    const auto& layers = m.layers;
    float* in = h + m.first_offset;
    activate(layers.front().activation, in, layers.front().out);
    for (std::size_t l = 1; l < layers.size(); ++l) {
      const auto& layer = layers[l];
      float* out = in == a ? b : a;
      if (layer.out == 1) out[0] = dot<V>(in, layer.weights_t.data(), layer.in, layer.bias[0]);
      else dense<V>(in, layer.in, layer.out, layer.weights_t.data(), layer.bias.data(), out);
      activate(layer.activation, out, layer.out);
      in = out;
    }
    const double y = static_cast<double>(in[0]) * y_std + y_mean;
    sum += y;
    sum_sq += y * y;
  }
  const double n = static_cast<double>(members.size());
  EnsembleOutput result;
  result.mean = sum / n;
  result.std = std::sqrt(std::max(0.0, sum_sq / n - result.mean * result.mean));
  return result;
}

#define OPCAST_FORWARD_ARGS                                                                                   \
  const double *f, std::size_t nf, const float *ref, const float *inv_std, const float *first_wt,            \
      const float *first_bias, std::size_t first_width, const Members &members, double y_mean, double y_std, \
      std::size_t max_width, float *scratch, std::uint32_t *rows
#define OPCAST_FORWARD_PASS \
  f, nf, ref, inv_std, first_wt, first_bias, first_width, members, y_mean, y_std, max_width, scratch, rows

template <typename Members>
EnsembleOutput forward_generic(OPCAST_FORWARD_ARGS) {
  return forward_row<v4>(OPCAST_FORWARD_PASS);
}

#if defined(__x86_64__) && defined(__GNUC__)
template <typename Members>
__attribute__((target("avx2,fma"))) EnsembleOutput forward_avx2(OPCAST_FORWARD_ARGS) {
  return forward_row<v8>(OPCAST_FORWARD_PASS);
}
bool cpu_has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
#endif

}  // namespace

EnsembleOutput Ensemble::predict(const double* features) const {
  EnsembleOutput result;
  predict_rows(features, 1, &result);
  return result;
}

void Ensemble::predict_rows(const double* features, std::size_t rows, EnsembleOutput* out) const {
  const std::size_t nf = feature_mean_.size();
  // Per-thread scratch: the predictor is shared across threads, its buffers are not.
  thread_local std::vector<float> scratch;
  thread_local std::vector<std::uint32_t> active;
  const std::size_t need = nf + first_width_ + 2 * max_width_;
  if (scratch.size() < need) scratch.resize(need);
  if (active.size() < nf) active.resize(nf);
#if defined(__x86_64__) && defined(__GNUC__)
  const bool avx2 = cpu_has_avx2_fma();
#endif
  for (std::size_t row = 0; row < rows; ++row) {
    const double* f = features + row * nf;
#if defined(__x86_64__) && defined(__GNUC__)
    if (avx2) {
      out[row] = forward_avx2(f, nf, feature_ref_.data(), feature_inv_std_.data(), first_weights_t_.data(),
                              first_bias_.data(), first_width_, members_, y_mean_, y_std_, max_width_, scratch.data(),
                              active.data());
      continue;
    }
#endif
    out[row] = forward_generic(f, nf, feature_ref_.data(), feature_inv_std_.data(), first_weights_t_.data(),
                               first_bias_.data(), first_width_, members_, y_mean_, y_std_, max_width_, scratch.data(),
                               active.data());
  }
}

}  // namespace opcast
