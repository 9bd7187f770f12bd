#include "dense_net.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace opcast::trainer {

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::identity: return "identity";
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
    case Activation::leaky_relu: return "leaky_relu";
  }
  return "?";
}

bool parse_activation(const std::string& name, Activation& out) {
  for (Activation a : {Activation::identity, Activation::relu, Activation::tanh,
                       Activation::leaky_relu}) {
    if (name == activation_name(a)) {
      out = a;
      return true;
    }
  }
  return false;
}

namespace {

// Byte-by-byte little-endian encoding keeps the file identical on any host.
class Writer {
 public:
  explicit Writer(std::ofstream& out) : out_(out) {}
  void u32(std::uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
    out_.write(b, 4);
  }
  void f64(double v) {
    std::uint64_t bits;
    std::memcpy(&bits, &v, 8);
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((bits >> (8 * i)) & 0xffu);
    out_.write(b, 8);
  }
  void f64s(const std::vector<double>& v) {
    for (double x : v) f64(x);
  }

 private:
  std::ofstream& out_;
};

class Reader {
 public:
  Reader(std::vector<unsigned char> bytes, std::string name)
      : bytes_(std::move(bytes)), name_(std::move(name)) {}
  void need(std::size_t n) {
    if (bytes_.size() - pos_ < n)
      throw std::runtime_error(name_ + ": truncated at byte " + std::to_string(pos_));
  }
  std::uint32_t u32() {
    need(4);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(bytes_[pos_ + i]) << (8 * i);
    pos_ += 4;
    return v;
  }
  double f64() {
    need(8);
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) bits |= std::uint64_t(bytes_[pos_ + i]) << (8 * i);
    pos_ += 8;
    double v;
    std::memcpy(&v, &bits, 8);
    return v;
  }
  std::vector<double> f64s(std::size_t n) {
    need(n * 8);  // fail before allocating a huge vector from a corrupt count
    std::vector<double> v(n);
    for (double& x : v) x = f64();
    return v;
  }
  const unsigned char* raw(std::size_t n) {
    need(n);
    const unsigned char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  bool at_end() const { return pos_ == bytes_.size(); }
  std::size_t pos() const { return pos_; }
  const std::string& name() const { return name_; }

 private:
  std::vector<unsigned char> bytes_;
  std::string name_;
  std::size_t pos_ = 0;
};

double activate(Activation a, double v) {
  switch (a) {
    case Activation::identity: return v;
    case Activation::relu: return v > 0.0 ? v : 0.0;
    case Activation::tanh: return std::tanh(v);
    case Activation::leaky_relu: return v > 0.0 ? v : kLeakyReluAlpha * v;
  }
  return v;
}

}  // namespace

void write_weights(const std::filesystem::path& path, const EnsembleWeights& w) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw std::runtime_error("cannot write " + path.string());
  Writer wr(out);
  out.write(kWeightsMagic, sizeof kWeightsMagic);
  wr.u32(kWeightsVersion);
  wr.u32(static_cast<std::uint32_t>(w.feature_mean.size()));
  wr.u32(static_cast<std::uint32_t>(w.members.size()));
  wr.f64s(w.feature_mean);
  wr.f64s(w.feature_std);
  wr.f64(w.y_mean);
  wr.f64(w.y_std);
  for (const DenseMember& m : w.members) {
    wr.u32(static_cast<std::uint32_t>(m.layers.size()));
    for (const DenseLayer& l : m.layers) {
      wr.u32(l.rows);
      wr.u32(l.cols);
      wr.u32(static_cast<std::uint32_t>(l.activation));
      wr.f64s(l.weight);
      wr.f64s(l.bias);
    }
  }
  out.flush();
  if (!out) throw std::runtime_error("error writing " + path.string());
}

EnsembleWeights read_weights(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  Reader rd(std::move(bytes), path.string());
  auto fail = [&](const std::string& what) {
    throw std::runtime_error(rd.name() + ": " + what + " (byte " + std::to_string(rd.pos()) + ")");
  };
  if (std::memcmp(rd.raw(8), kWeightsMagic, 8) != 0) fail("bad magic, expected OPCASTW1");
  if (rd.u32() != kWeightsVersion) fail("unsupported version");
  const std::uint32_t n_features = rd.u32();
  const std::uint32_t n_members = rd.u32();
  if (n_features == 0 || n_members == 0) fail("zero features or members");
  EnsembleWeights w;
  w.feature_mean = rd.f64s(n_features);
  w.feature_std = rd.f64s(n_features);
  w.y_mean = rd.f64();
  w.y_std = rd.f64();
  w.members.resize(n_members);
  for (DenseMember& m : w.members) {
    const std::uint32_t n_layers = rd.u32();
    if (n_layers == 0) fail("member with no layers");
    std::uint32_t expected_cols = n_features;
    for (std::uint32_t i = 0; i < n_layers; ++i) {
      rd.need(12);  // guards the resize below against a corrupt layer count
      DenseLayer l;
      l.rows = rd.u32();
      l.cols = rd.u32();
      const std::uint32_t act = rd.u32();
      if (l.cols != expected_cols || l.rows == 0) fail("layer shape does not chain");
      if (act > static_cast<std::uint32_t>(Activation::leaky_relu)) fail("unknown activation code");
      l.activation = static_cast<Activation>(act);
      l.weight = rd.f64s(std::size_t(l.rows) * l.cols);
      l.bias = rd.f64s(l.rows);
      expected_cols = l.rows;
      m.layers.push_back(std::move(l));
    }
    if (expected_cols != 1) fail("last layer must have one output");
  }
  if (!rd.at_end()) fail("trailing bytes");
  return w;
}

double forward_standardized(const DenseMember& m, const double* x_std) {
  std::vector<double> in(x_std, x_std + m.layers.front().cols);
  std::vector<double> out;
  for (const DenseLayer& l : m.layers) {
    out.assign(l.rows, 0.0);
    for (std::uint32_t r = 0; r < l.rows; ++r) {
      const double* w = l.weight.data() + std::size_t(r) * l.cols;
      double s = l.bias[r];
      for (std::uint32_t c = 0; c < l.cols; ++c) s += w[c] * in[c];
      out[r] = activate(l.activation, s);
    }
    in.swap(out);
  }
  return in[0];
}

double predict_member(const EnsembleWeights& w, std::size_t m, const double* x_raw) {
  const std::size_t n = w.feature_mean.size();
  std::vector<double> x(n);
  for (std::size_t j = 0; j < n; ++j) x[j] = (x_raw[j] - w.feature_mean[j]) / w.feature_std[j];
  return forward_standardized(w.members[m], x.data()) * w.y_std + w.y_mean;
}

EnsembleOutput predict_ensemble(const EnsembleWeights& w, const double* x_raw) {
  double sum = 0.0, sum_sq = 0.0;
  for (std::size_t m = 0; m < w.members.size(); ++m) {
    const double y = predict_member(w, m, x_raw);
    sum += y;
    sum_sq += y * y;
  }
  const double n = double(w.members.size());
  EnsembleOutput out;
  out.mean = sum / n;
  out.spread = std::sqrt(std::max(0.0, sum_sq / n - out.mean * out.mean));
  return out;
}

}  // namespace opcast::trainer
