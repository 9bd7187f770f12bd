// CSV splits and the feature/target standardization fitted on the training split.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace opcast::trainer {

struct Split {
  std::string name;                     // file path, for messages
  std::size_t n_rows = 0;
  std::size_t n_features = 0;
  std::vector<double> x;                // row i = x[i*n_features .. +n_features), config order
  std::vector<double> y;
  std::vector<double> weight;           // empty when the file has no weight column
};

// Reads a CSV whose header holds exactly the feature columns, the target column and optionally
// the weight column, in any order. Throws InputError naming the file, line and column of the
// first problem: missing/unknown/duplicate column, ragged row, unparsable or non-finite value,
// negative weight, no data rows.
Split read_split(const std::filesystem::path& path, const std::vector<std::string>& features,
                 const std::string& target, const std::string& weight_column);

struct Scaler {
  std::vector<double> feature_mean, feature_std;
  double y_mean = 0.0, y_std = 1.0;
};

// Population (ddof=0) mean and std, like sklearn's StandardScaler; a std below the floor
// (a constant column) becomes 1 so the standardized column is exactly 0 instead of blowing up.
Scaler fit_scaler(const Split& train);
constexpr double kStdFloor = 1e-12;

// Standardized copies: x'=(x-mean)/std, y'=(y-y_mean)/y_std. Weights are rescaled to mean 1
// so the loss keeps the magnitude of an unweighted MSE.
Split standardize(const Split& s, const Scaler& sc);

}  // namespace opcast::trainer
