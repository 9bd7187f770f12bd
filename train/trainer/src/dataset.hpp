// The training CSV, its cross-fitting folds and the feature/target standardization.
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
  std::vector<std::size_t> fold;        // cross-fitting fold of each row
};

// Reads a CSV whose header holds exactly the feature columns, the target column, the fold column
// and optionally the weight column, in any order. Throws InputError naming the file, line and
// column of the first problem: missing/unknown/duplicate column, ragged row, unparsable or
// non-finite value, negative weight, a fold that is not a non-negative integer, no data rows.
Split read_split(const std::filesystem::path& path, const std::vector<std::string>& features,
                 const std::string& target, const std::string& fold_column,
                 const std::string& weight_column);

// Reads the rows to score: a CSV whose header holds exactly the feature columns, in any order, under
// the same rules and messages as read_split. y, weight and fold stay empty.
Split read_features(const std::filesystem::path& path, const std::vector<std::string>& features);

// The rows of `s` whose fold is (held_out) or is not (!held_out) `fold`, in file order.
Split fold_rows(const Split& s, std::size_t fold, bool held_out);

struct Scaler {
  std::vector<double> feature_mean, feature_std;
  double y_mean = 0.0, y_std = 1.0;
};

// Population (ddof=0) mean and std, like sklearn's StandardScaler; a std below the floor
// (a constant column) becomes 1 so the standardized column is exactly 0 instead of blowing up.
Scaler fit_scaler(const Split& rows);
constexpr double kStdFloor = 1e-12;

// Standardized copies: x'=(x-mean)/std, y'=(y-y_mean)/y_std. Weights are rescaled to mean 1
// so the loss keeps the magnitude of an unweighted MSE.
Split standardize(const Split& s, const Scaler& sc);

}  // namespace opcast::trainer
