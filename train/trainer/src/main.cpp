// opcast_trainer --config CONFIG.json: trains one op's MLP ensemble and writes weights.bin,
// member_<k>.bin, metrics.json and holdout_predictions.csv into the config's out_dir, and
// score_predictions.csv when the config names rows to score. Member k trains on every fold but one
// and early-stops on that one (cross-fitting): together the members learn from every row, and every
// row has predictions from members that never saw it.
// Contract and file formats: README.md next to this folder's CMakeLists.txt.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config.hpp"
#include "dataset.hpp"
#include "dense_net.hpp"
#include "errors.hpp"
#include "fit_member.hpp"

// From the OpenBLAS the executable links (CMakeLists.txt); cblas.h is not needed for one call.
extern "C" void openblas_set_num_threads(int num_threads);

namespace opcast::trainer {
namespace {

constexpr double kSelfCheckTolerance = 1e-9;

const char* kUsage =
    "usage: opcast_trainer --config CONFIG.json\n"
    "Trains an MLP ensemble for one op, cross-fitted over the folds of the CSV named in CONFIG.json,\n"
    "and writes weights.bin, member_<k>.bin, metrics.json and holdout_predictions.csv to its out_dir\n"
    "(and score_predictions.csv for the rows of the CSV its field 'score' names).\n"
    "Exit codes: 0 success, 1 internal or I/O error, 2 invalid config/CSV/arguments,\n"
    "3 self-check failed (exported weights disagree with mlpack).\n";

std::filesystem::path parse_args(int argc, char** argv) {
  std::filesystem::path config;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--config") {
      if (i + 1 == argc) throw InputError(std::string("--config needs a file name\n") + kUsage);
      config = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config = a.substr(std::strlen("--config="));
    } else {
      throw InputError("unexpected argument '" + a + "'\n" + kUsage);
    }
  }
  if (config.empty()) throw InputError(std::string("missing --config\n") + kUsage);
  return config;
}

double mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / double(v.size());
}

// Weighted mean of squared errors over the rows of `s`, or over its rows in `fold` only; plain mean
// when the split has no weights. `pred` holds one prediction per row of `s`.
double mse(const std::vector<double>& pred, const Split& s, std::optional<std::size_t> fold = std::nullopt) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < s.n_rows; ++i) {
    if (fold && s.fold[i] != *fold) continue;
    const double w = s.weight.empty() ? 1.0 : s.weight[i];
    num += w * (pred[i] - s.y[i]) * (pred[i] - s.y[i]);
    den += w;
  }
  return num / den;
}

std::string g17(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

int run(int argc, char** argv) {
  const auto start = std::chrono::steady_clock::now();
  const Config cfg = load_config(parse_args(argc, argv));
  if (!std::filesystem::is_regular_file(cfg.train_csv))
    throw InputError(cfg.config_path.string() + ": field 'train': no such file " + cfg.train_csv.string());
  const Split rows = read_split(cfg.train_csv, cfg.features, cfg.target, cfg.fold_column, cfg.weight_column);
  const std::set<std::size_t> fold_set(rows.fold.begin(), rows.fold.end());
  const std::vector<std::size_t> folds(fold_set.begin(), fold_set.end());
  if (folds.size() < 2)
    throw InputError(cfg.train_csv.string() + ": column \"" + cfg.fold_column +
                     "\": needs at least 2 distinct folds (each member early-stops on one it does not "
                     "train on), got " + std::to_string(folds.size()));
  if (cfg.members < folds.size())
    throw InputError(cfg.config_path.string() + ": field 'ensemble.members' (" + std::to_string(cfg.members) +
                     ") must be at least the number of folds in " + cfg.train_csv.string() + " (" +
                     std::to_string(folds.size()) + "): every fold is held out by some member");
  if (!cfg.score_csv.empty() && !std::filesystem::is_regular_file(cfg.score_csv))
    throw InputError(cfg.config_path.string() + ": field 'score': no such file " + cfg.score_csv.string());
  // Read before training, so that a bad file fails before any work is done.
  const std::optional<Split> to_score =
      cfg.score_csv.empty() ? std::nullopt : std::optional<Split>(read_features(cfg.score_csv, cfg.features));

  // One standardization for all members: weights.bin holds one scaler.
  const Scaler scaler = fit_scaler(rows);
  const Split rows_std = standardize(rows, scaler);

  std::error_code ec;
  std::filesystem::create_directories(cfg.out_dir, ec);
  if (ec) throw InputError(cfg.config_path.string() + ": field 'out_dir': cannot create " +
                           cfg.out_dir.string() + ": " + ec.message());

  std::string arch;
  for (std::size_t h : cfg.hidden_layers) arch += (arch.empty() ? "" : ",") + std::to_string(h);
  std::fprintf(stderr,
               "opcast_trainer: %s: %zu rows in %zu folds, %zu features, %zu members, "
               "hidden [%s] %s, bootstrap %s\n",
               cfg.op.c_str(), rows.n_rows, folds.size(), cfg.features.size(), cfg.members,
               arch.c_str(), activation_name(cfg.activation), cfg.bootstrap ? "on" : "off");

  EnsembleWeights weights;
  weights.feature_mean = scaler.feature_mean;
  weights.feature_std = scaler.feature_std;
  weights.y_mean = scaler.y_mean;
  weights.y_std = scaler.y_std;
  std::vector<MemberFit> fits;
  std::vector<std::filesystem::path> model_paths;
  std::vector<std::size_t> held_out(cfg.members);
  for (std::size_t k = 0; k < cfg.members; ++k) {
    held_out[k] = folds[k % folds.size()];
    MemberSpec spec;
    spec.op = cfg.op;
    spec.index = k;
    spec.count = cfg.members;
    spec.seed = cfg.seed + k;
    spec.hidden_layers = cfg.hidden_layers;
    spec.activation = cfg.activation;
    spec.optimizer = cfg.optimizer;
    spec.bootstrap = cfg.bootstrap;
    spec.log_every = cfg.log_every;
    spec.model_path = cfg.out_dir / ("member_" + std::to_string(k) + ".bin");
    fits.push_back(fit_member(fold_rows(rows_std, held_out[k], false), fold_rows(rows_std, held_out[k], true), spec));
    weights.members.push_back(fits.back().net);
    model_paths.push_back(spec.model_path);
  }

  // Test hook (README.md, "Tests"): lets the end-to-end test prove the self-check can fail.
  if (const char* v = std::getenv("OPCAST_TRAINER_TEST_CORRUPT_EXPORT"); v && *v && *v != '0')
    weights.members[0].layers[0].bias[0] += 1e-3;

  const std::filesystem::path weights_path = cfg.out_dir / "weights.bin";
  write_weights(weights_path, weights);

  // Self-check: both sides come back from disk, so the check covers the files themselves.
  // Plain forward pass over weights.bin from raw features vs. mlpack's Predict of member_<k>.bin.
  // Difference relative to max(1, |mlpack prediction|) in y units: y is a log-scale target where
  // values near 0 are common, and there a pure relative difference is meaningless.
  const EnsembleWeights reread = read_weights(weights_path);
  const std::vector<std::vector<double>> mlpack_std = predict_saved_members(model_paths, rows_std);
  std::vector<std::vector<double>> pred(cfg.members, std::vector<double>(rows.n_rows));
  double max_abs = 0.0, max_rel = 0.0;
  for (std::size_t k = 0; k < cfg.members; ++k) {
    for (std::size_t i = 0; i < rows.n_rows; ++i) {
      pred[k][i] = predict_member(reread, k, &rows.x[i * rows.n_features]);
      const double ref = mlpack_std[k][i] * scaler.y_std + scaler.y_mean;
      const double diff = std::fabs(pred[k][i] - ref);
      max_abs = std::max(max_abs, diff);
      max_rel = std::max(max_rel, diff / std::max(1.0, std::fabs(ref)));
      if (!std::isfinite(pred[k][i])) max_rel = std::numeric_limits<double>::infinity();
    }
  }
  const bool self_check_ok = max_rel <= kSelfCheckTolerance;

  // Out of fold: each row as predicted by the members that never trained on it.
  std::vector<double> out_of_fold(rows.n_rows, 0.0);
  for (std::size_t i = 0; i < rows.n_rows; ++i) {
    std::size_t n = 0;
    for (std::size_t k = 0; k < cfg.members; ++k)
      if (held_out[k] == rows.fold[i]) out_of_fold[i] += pred[k][i], ++n;
    out_of_fold[i] /= double(n);
  }
  {
    std::ofstream out(cfg.out_dir / "holdout_predictions.csv");
    out << "fold,";
    for (std::size_t k = 0; k < cfg.members; ++k) out << 'm' << k << ',';
    out << "out_of_fold,y_true\n";
    for (std::size_t i = 0; i < rows.n_rows; ++i) {
      out << rows.fold[i] << ',';
      for (std::size_t k = 0; k < cfg.members; ++k) out << g17(pred[k][i]) << ',';
      out << g17(out_of_fold[i]) << ',' << g17(rows.y[i]) << '\n';
    }
    if (!out) throw std::runtime_error("cannot write " + (cfg.out_dir / "holdout_predictions.csv").string());
  }
  // What the served model answers for every row to score (all of an op's configurations): its
  // interval is calibrated on the spread, and the trimmed rows' errors come from the mean.
  if (to_score) {
    std::ofstream out(cfg.out_dir / "score_predictions.csv");
    out << "mean,spread\n";
    for (std::size_t i = 0; i < to_score->n_rows; ++i) {
      const EnsembleOutput answer = predict_ensemble(reread, &to_score->x[i * to_score->n_features]);
      out << g17(answer.mean) << ',' << g17(answer.spread) << '\n';
    }
    if (!out) throw std::runtime_error("cannot write " + (cfg.out_dir / "score_predictions.csv").string());
  }

  const double y_var = scaler.y_std * scaler.y_std;
  nlohmann::ordered_json m;
  m["op"] = cfg.op;
  m["n_rows"] = rows.n_rows;
  m["folds"] = folds;
  m["n_features"] = cfg.features.size();
  m["features"] = cfg.features;
  m["weighted"] = !rows.weight.empty();
  m["y_mean"] = scaler.y_mean;
  m["y_std"] = scaler.y_std;
  nlohmann::ordered_json members = nlohmann::ordered_json::array();
  for (std::size_t k = 0; k < cfg.members; ++k) {
    const MemberFit& f = fits[k];
    const auto n_val = static_cast<std::size_t>(std::count(rows.fold.begin(), rows.fold.end(), held_out[k]));
    const double val_mse = mse(pred[k], rows, held_out[k]);
    members.push_back({{"member", k},
                       {"seed", cfg.seed + k},
                       {"held_out_fold", held_out[k]},
                       {"n_train", rows.n_rows - n_val},
                       {"n_val", n_val},
                       {"best_epoch", f.best_epoch},
                       {"epochs_run", f.epochs_run},
                       {"stopped_early", f.stopped_early},
                       {"train_mse_std", f.train_mse},
                       {"val_mse_std", f.val_mse},
                       {"train_mse_y", f.train_mse * y_var},
                       {"val_mse_y", val_mse},
                       {"val_rmse_y", std::sqrt(val_mse)},
                       {"seconds", f.seconds}});
  }
  m["members"] = members;
  const double oof_mse = mse(out_of_fold, rows);
  m["out_of_fold"] = {{"mse_y", oof_mse}, {"rmse_y", std::sqrt(oof_mse)}};
  m["self_check"] = {{"passed", self_check_ok},
                     {"max_abs_diff_y", max_abs},
                     {"max_rel_diff", max_rel},
                     {"tolerance", kSelfCheckTolerance}};
  m["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  {
    std::ofstream out(cfg.out_dir / "metrics.json");
    out << m.dump(2) << '\n';
    if (!out) throw std::runtime_error("cannot write " + (cfg.out_dir / "metrics.json").string());
  }

  if (!self_check_ok)
    throw SelfCheckError("exported weights disagree with mlpack's Predict: max relative "
                         "difference " + g17(max_rel) + " > " + g17(kSelfCheckTolerance));
  std::fprintf(stderr,
               "opcast_trainer: %s: out-of-fold rmse %.5g (y units), self-check max diff %.3g, "
               "%.1f s, outputs in %s\n",
               cfg.op.c_str(), std::sqrt(oof_mse), max_rel,
               m["seconds"].get<double>(), cfg.out_dir.string().c_str());
  return 0;
}

}  // namespace
}  // namespace opcast::trainer

int main(int argc, char** argv) {
  using namespace opcast::trainer;
  // Mini-batch GEMMs are tiny: OpenBLAS threads made training 2x slower on 2 cores. An explicit
  // OPENBLAS_NUM_THREADS still takes effect.
  if (!std::getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
  try {
    return run(argc, argv);
  } catch (const InputError& e) {
    std::cerr << "opcast_trainer: error: " << e.what() << '\n';
    return 2;
  } catch (const SelfCheckError& e) {
    std::cerr << "opcast_trainer: self-check failed: " << e.what() << '\n';
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "opcast_trainer: internal error: " << e.what() << '\n';
    return 1;
  }
}
