// Training of one ensemble member with mlpack. The only interface to mlpack: its implementation
// is the one translation unit that includes mlpack (slow and memory-hungry to compile), and this
// header deliberately exposes no mlpack or Armadillo types.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config.hpp"
#include "dataset.hpp"
#include "dense_net.hpp"

namespace opcast::trainer {

struct MemberSpec {
  std::string op;                 // for progress lines
  std::size_t index = 0;          // 0-based
  std::size_t count = 1;
  std::uint64_t seed = 0;
  std::vector<std::size_t> hidden_layers;
  Activation activation = Activation::relu;
  OptimizerConfig optimizer;
  bool bootstrap = true;
  std::size_t log_every = 50;     // 0: only start and end lines
  std::filesystem::path model_path;  // member_<k>.bin, written with mlpack::data::Save
};

struct MemberFit {
  DenseMember net;                // best-validation parameters, row-major per layer
  std::size_t best_epoch = 0;     // 1-based
  std::size_t epochs_run = 0;
  bool stopped_early = false;     // patience ran out before max_epochs
  // Mean squared error in standardized target units at the best epoch, weighted where the split
  // has weights. train_mse is over the whole training split, not the bootstrap sample; val_mse
  // is the value the early-stopping monitor recorded for the best epoch.
  double train_mse = 0.0;
  double val_mse = 0.0;
  double seconds = 0.0;
};

// train and val must be standardized (see standardize()). Throws std::runtime_error when training
// diverges or the model cannot be saved.
MemberFit fit_member(const Split& train, const Split& val, const MemberSpec& spec);

// Reloads each saved member with mlpack::data::Load and runs FFN::Predict on the standardized
// rows of `x`; returns predictions[member][row] in standardized target units.
std::vector<std::vector<double>> predict_saved_members(
    const std::vector<std::filesystem::path>& models, const Split& x);

}  // namespace opcast::trainer
