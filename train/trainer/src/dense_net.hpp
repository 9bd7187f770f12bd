// The exported ensemble as plain arrays, its weights.bin file format, and a forward pass with
// no mlpack: this is what the serving library reimplements, so the trainer checks its own
// exports against mlpack with exactly this code (README.md, "weights.bin").
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace opcast::trainer {

// Codes are part of the weights.bin format; never renumber.
enum class Activation : std::uint32_t { identity = 0, relu = 1, tanh = 2, leaky_relu = 3 };

// Fixed slope for x < 0 so that weights.bin needs no per-layer parameter.
constexpr double kLeakyReluAlpha = 0.01;

const char* activation_name(Activation a);
// Returns false for an unknown name.
bool parse_activation(const std::string& name, Activation& out);

struct DenseLayer {
  std::uint32_t rows = 0;  // outputs
  std::uint32_t cols = 0;  // inputs
  Activation activation = Activation::identity;  // applied to this layer's output
  std::vector<double> weight;  // row-major rows x cols
  std::vector<double> bias;    // rows
};

struct DenseMember {
  std::vector<DenseLayer> layers;
};

struct EnsembleWeights {
  std::vector<double> feature_mean;
  std::vector<double> feature_std;
  double y_mean = 0.0;
  double y_std = 1.0;
  std::vector<DenseMember> members;
};

constexpr char kWeightsMagic[8] = {'O', 'P', 'C', 'A', 'S', 'T', 'W', '1'};
constexpr std::uint32_t kWeightsVersion = 1;

// Throws std::runtime_error on I/O failure.
void write_weights(const std::filesystem::path& path, const EnsembleWeights& w);
// Throws std::runtime_error on a malformed or truncated file.
EnsembleWeights read_weights(const std::filesystem::path& path);

// Network output for already standardized features (standardized target units).
double forward_standardized(const DenseMember& m, const double* x_std);

// Member m's prediction in y units for one row of raw (unstandardized) features.
double predict_member(const EnsembleWeights& w, std::size_t m, const double* x_raw);

// The ensemble's answer to one row of raw features, in y units: the members' mean and their spread
// (population std, from the sum and the sum of squares), as the serving library computes them
// (cpp/src/ensemble.cpp). Serving runs the layers in float; this runs them in double: the two
// differ by up to ~1e-6 of a y unit (README.md, "score_predictions.csv").
struct EnsembleOutput {
  double mean = 0.0;
  double spread = 0.0;
};
EnsembleOutput predict_ensemble(const EnsembleWeights& w, const double* x_raw);

}  // namespace opcast::trainer
