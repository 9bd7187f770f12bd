// The trainer's JSON config: parsed and fully validated before any data is read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "dense_net.hpp"

namespace opcast::trainer {

struct OptimizerConfig {
  std::string name = "adam";
  double learning_rate = 0.003;
  std::size_t batch_size = 64;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
  std::size_t max_epochs = 2000;
  std::size_t patience = 60;
  double weight_decay = 0.0;
};

struct Config {
  std::filesystem::path config_path;
  std::string op;
  std::vector<std::string> features;
  std::string target = "y";
  std::string weight_column = "weight";
  std::string fold_column = "fold";
  // Resolved against the config file's folder when relative.
  std::filesystem::path train_csv;
  std::filesystem::path out_dir;
  // Rows to answer with the trained ensemble (features only); empty: none.
  std::filesystem::path score_csv;
  std::size_t members = 5;
  std::uint64_t seed = 1234;
  std::vector<std::size_t> hidden_layers{64, 64};
  Activation activation = Activation::relu;
  OptimizerConfig optimizer;
  bool bootstrap = true;
  std::size_t log_every = 50;
};

// Reads and validates the config; throws InputError naming the file and the field.
// Unknown keys are reported on stderr as warnings (a typo there would otherwise go unnoticed).
Config load_config(const std::filesystem::path& path);

}  // namespace opcast::trainer
