// End-to-end tests of opcast_trainer: a small synthetic regression problem is trained through the
// real executable, and malformed configs/CSVs must exit 2 naming the problem. weights.bin is read
// here by an independent reader written from README.md, so the documented layout is tested too.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct RunResult {
  int code = -1;
  std::string err;
};

RunResult run_trainer(const fs::path& config, const std::string& env = "") {
  const fs::path err = config.parent_path() / "stderr.txt";
  const std::string cmd = env + " '" + std::string(OPCAST_TRAINER_EXE) + "' --config '" +
                          config.string() + "' > /dev/null 2> '" + err.string() + "'";
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  return r;
}

fs::path make_temp_dir(const std::string& tag) {
  static int counter = 0;
  fs::path p = fs::temp_directory_path() /
               ("opcast_trainer_test_" + std::to_string(::getpid()) + "_" + tag + "_" +
                std::to_string(counter++));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

std::string g17(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// y = ln(a*b) + noise with features ln a, ln b, an irrelevant uniform and a constant column
// (which exercises the std floor). y spans ~[0, 13.8] with std ~2.9; noise std 0.05. Row i is in
// fold i % folds; `shift_fold0` moves fold 0 to la in [8, 9] and adds 3 to its y there, a region
// and a law the other folds never show.
void write_problem(const fs::path& file, std::size_t n, unsigned seed, bool weights,
                   std::size_t folds = 3, bool shift_fold0 = false) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> log_size(0.0, std::log(1000.0)), unit(0.0, 1.0),
      w(0.5, 2.0);
  std::normal_distribution<double> noise(0.0, 0.05);
  std::ofstream out(file);
  out << "la,lb,c,k,y,fold" << (weights ? ",weight" : "") << "\n";
  for (std::size_t i = 0; i < n; ++i) {
    const bool shifted = shift_fold0 && i % folds == 0;
    const double la = shifted ? 8.0 + unit(rng) : log_size(rng), lb = log_size(rng), c = unit(rng);
    out << g17(la) << ',' << g17(lb) << ',' << g17(c) << ",7,"
        << g17(la + lb + noise(rng) + (shifted ? 3.0 : 0.0)) << ',' << i % folds;
    if (weights) out << ',' << g17(w(rng));
    out << '\n';
  }
}

json base_config() {
  return json::parse(R"({
    "op": "ttnn.synthetic", "features": ["la", "lb", "c", "k"], "target": "y",
    "train": "train.csv", "out_dir": "out",
    "ensemble": {"members": 3, "seed": 1234},
    "architecture": {"hidden_layers": [32, 32], "activation": "relu"},
    "optimizer": {"name": "adam", "learning_rate": 0.01, "batch_size": 32, "beta1": 0.9,
                  "beta2": 0.999, "epsilon": 1e-8, "max_epochs": 400, "patience": 40,
                  "weight_decay": 0.0},
    "bootstrap": true, "log_every": 100})");
}

fs::path write_config(const fs::path& dir, const json& cfg, const std::string& name = "config.json") {
  std::ofstream(dir / name) << cfg.dump(2);
  return dir / name;
}

std::vector<std::vector<double>> read_csv(const fs::path& file, std::vector<std::string>& header) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  header.clear();
  std::stringstream hs(line);
  for (std::string f; std::getline(hs, f, ',');) header.push_back(f);
  std::vector<std::vector<double>> rows;
  while (std::getline(in, line)) {
    std::vector<double> row;
    std::stringstream ls(line);
    for (std::string f; std::getline(ls, f, ',');) row.push_back(std::stod(f));
    rows.push_back(row);
  }
  return rows;
}

// --- weights.bin, read exactly as README.md documents it -------------------------------------
struct Layer {
  std::uint32_t rows, cols, act;
  std::vector<double> w, b;
};
struct Weights {
  std::uint32_t version = 0;
  std::vector<double> mean, sd;
  double y_mean = 0, y_std = 0;
  std::vector<std::vector<Layer>> members;
};

Weights read_weights_as_documented(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), {});
  std::size_t pos = 0;
  auto u32 = [&] {
    if (pos + 4 > bytes.size()) throw std::runtime_error("truncated");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(bytes[pos++]) << (8 * i);
    return v;
  };
  auto f64 = [&] {
    if (pos + 8 > bytes.size()) throw std::runtime_error("truncated");
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(bytes[pos++]) << (8 * i);
    double d;
    std::memcpy(&d, &v, 8);
    return d;
  };
  if (bytes.size() < 8 || std::memcmp(bytes.data(), "OPCASTW1", 8) != 0)
    throw std::runtime_error("bad magic");
  pos = 8;
  Weights w;
  w.version = u32();
  const std::uint32_t n_features = u32(), n_members = u32();
  for (std::uint32_t j = 0; j < n_features; ++j) w.mean.push_back(f64());
  for (std::uint32_t j = 0; j < n_features; ++j) w.sd.push_back(f64());
  w.y_mean = f64();
  w.y_std = f64();
  for (std::uint32_t m = 0; m < n_members; ++m) {
    std::vector<Layer> layers(u32());
    for (Layer& l : layers) {
      l.rows = u32();
      l.cols = u32();
      l.act = u32();
      for (std::size_t k = 0; k < std::size_t(l.rows) * l.cols; ++k) l.w.push_back(f64());
      for (std::size_t k = 0; k < l.rows; ++k) l.b.push_back(f64());
    }
    w.members.push_back(layers);
  }
  if (pos != bytes.size()) throw std::runtime_error("trailing bytes");
  return w;
}

double predict(const Weights& w, std::size_t m, const std::vector<double>& x_raw) {
  std::vector<double> h(x_raw.size());
  for (std::size_t j = 0; j < h.size(); ++j) h[j] = (x_raw[j] - w.mean[j]) / w.sd[j];
  for (const Layer& l : w.members[m]) {
    std::vector<double> o(l.rows);
    for (std::uint32_t r = 0; r < l.rows; ++r) {
      double s = l.b[r];
      for (std::uint32_t c = 0; c < l.cols; ++c) s += l.w[r * l.cols + c] * h[c];
      switch (l.act) {
        case 0: break;
        case 1: s = s > 0 ? s : 0; break;
        case 2: s = std::tanh(s); break;
        case 3: s = s > 0 ? s : 0.01 * s; break;
        default: throw std::runtime_error("bad activation code");
      }
      o[r] = s;
    }
    h = o;
  }
  return h[0] * w.y_std + w.y_mean;
}

double rel(double a, double b) { return std::fabs(a - b) / std::max(1.0, std::fabs(b)); }

// The first `n` rows of train.csv (features la, lb, c, k) as a file to score, its columns in another
// order (k, c, lb, la), and after them the same rows with la moved past the training range.
void write_rows_to_score(const fs::path& train_csv, const fs::path& file, std::size_t n) {
  std::vector<std::string> header;
  const auto rows = read_csv(train_csv, header);
  std::ofstream out(file);
  out << "k,c,lb,la\n";
  for (const double la_shift : {0.0, 5.0})
    for (std::size_t i = 0; i < n; ++i)
      out << g17(rows[i][3]) << ',' << g17(rows[i][2]) << ',' << g17(rows[i][1]) << ',' << g17(rows[i][0] + la_shift)
          << '\n';
}

// --- one real training run shared by the tests below ------------------------------------------
class Trained : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(make_temp_dir("trained"));
    write_problem(*dir_ / "train.csv", 550, 1, false);
    write_rows_to_score(*dir_ / "train.csv", *dir_ / "score.csv", kScoredRows);
    json cfg = base_config();
    cfg["score"] = "score.csv";
    result_ = new RunResult(run_trainer(write_config(*dir_, cfg)));
    if (result_->code == 0) metrics_ = new json(json::parse(std::ifstream(*dir_ / "out/metrics.json")));
  }
  static void TearDownTestSuite() {
    if (!std::getenv("OPCAST_KEEP_TEST_DIRS")) fs::remove_all(*dir_);
    delete dir_;
    delete result_;
    delete metrics_;
  }
  void SetUp() override {
    ASSERT_EQ(result_->code, 0) << result_->err;
    ASSERT_NE(metrics_, nullptr);
  }
  static constexpr std::size_t kScoredRows = 40;
  static fs::path* dir_;
  static RunResult* result_;
  static json* metrics_;
};
fs::path* Trained::dir_ = nullptr;
RunResult* Trained::result_ = nullptr;
json* Trained::metrics_ = nullptr;

TEST_F(Trained, EnsembleLearnsTheFunction) {
  const json& m = *metrics_;
  // Predicting the mean would give ~2.9 and a linear fit of the wrong features far more than 0.2;
  // the noise floor is 0.05.
  EXPECT_LT(m["out_of_fold"]["rmse_y"].get<double>(), 0.15);
  ASSERT_EQ(m["members"].size(), 3u);
  EXPECT_EQ(m["folds"], json({0, 1, 2}));
  for (std::size_t k = 0; k < 3; ++k) {
    const json& mem = m["members"][k];
    EXPECT_LT(mem["val_rmse_y"].get<double>(), 0.2);
    EXPECT_EQ(mem["held_out_fold"].get<std::size_t>(), k);
    EXPECT_EQ(mem["n_val"].get<std::size_t>() + mem["n_train"].get<std::size_t>(), 550u);
  }
  EXPECT_NE(result_->err.find("member 3/3"), std::string::npos) << "progress lines expected";
}

TEST_F(Trained, SelfCheckPassedAndRecorded) {
  const json& sc = (*metrics_)["self_check"];
  EXPECT_TRUE(sc["passed"].get<bool>());
  EXPECT_LE(sc["max_rel_diff"].get<double>(), 1e-9);
  EXPECT_EQ(sc["tolerance"].get<double>(), 1e-9);
}

TEST_F(Trained, ExportsTheBestEpochNotTheLast) {
  const json& m = *metrics_;
  const double y_var = std::pow(m["y_std"].get<double>(), 2);
  bool some_ran_past_best = false;
  for (const json& mem : m["members"]) {
    const auto best = mem["best_epoch"].get<std::size_t>(), run = mem["epochs_run"].get<std::size_t>();
    EXPECT_GE(best, 1u);
    EXPECT_LE(best, run);
    some_ran_past_best |= run > best;
    // val_mse_std is what the monitor saw at the best epoch; val_mse_y is recomputed from the
    // exported weights. They agree only if the exported parameters are the best epoch's.
    EXPECT_LT(rel(mem["val_mse_y"].get<double>(), mem["val_mse_std"].get<double>() * y_var), 1e-9);
  }
  EXPECT_TRUE(some_ran_past_best) << "test config should make early stopping kick in";
}

TEST_F(Trained, WeightsBinFollowsTheDocumentedLayout) {
  const Weights w = read_weights_as_documented(*dir_ / "out/weights.bin");
  EXPECT_EQ(w.version, 1u);
  ASSERT_EQ(w.mean.size(), 4u);
  ASSERT_EQ(w.members.size(), 3u);
  EXPECT_EQ(w.sd[3], 1.0) << "constant feature must get std 1";
  for (const auto& layers : w.members) {
    ASSERT_EQ(layers.size(), 3u);
    EXPECT_EQ(layers[0].rows, 32u);
    EXPECT_EQ(layers[0].cols, 4u);
    EXPECT_EQ(layers[0].act, 1u);
    EXPECT_EQ(layers[1].rows, 32u);
    EXPECT_EQ(layers[1].cols, 32u);
    EXPECT_EQ(layers[2].rows, 1u);
    EXPECT_EQ(layers[2].act, 0u);
  }
  std::vector<std::string> rh, ph;
  const auto rows = read_csv(*dir_ / "train.csv", rh);
  const auto pred = read_csv(*dir_ / "out/holdout_predictions.csv", ph);
  ASSERT_EQ(ph, (std::vector<std::string>{"fold", "m0", "m1", "m2", "out_of_fold", "y_true"}));
  ASSERT_EQ(pred.size(), rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::vector<double> x(rows[i].begin(), rows[i].begin() + 4);
    for (std::size_t m = 0; m < 3; ++m)
      EXPECT_LT(rel(predict(w, m, x), pred[i][1 + m]), 1e-9) << "row " << i << " member " << m;
    EXPECT_EQ(pred[i][0], rows[i][5]);
    // Member k holds out fold k: the out-of-fold prediction is that one member's.
    EXPECT_EQ(pred[i][4], pred[i][1 + std::size_t(rows[i][5])]);
    EXPECT_EQ(pred[i][5], rows[i][4]);
  }
  for (int k = 0; k < 3; ++k)
    EXPECT_GT(fs::file_size(*dir_ / ("out/member_" + std::to_string(k) + ".bin")), 0u);
}

// score_predictions.csv is the ensemble's answer as serving computes it: the mean of the members and
// their population std, here from the independent reader; on training rows the mean of the member
// columns of holdout_predictions.csv.
TEST_F(Trained, ScorePredictionsHoldTheMembersMeanAndSpread) {
  const Weights w = read_weights_as_documented(*dir_ / "out/weights.bin");
  std::vector<std::string> sh, ph, ah;
  const auto scored = read_csv(*dir_ / "score.csv", sh);
  const auto holdout = read_csv(*dir_ / "out/holdout_predictions.csv", ph);
  const auto answers = read_csv(*dir_ / "out/score_predictions.csv", ah);
  ASSERT_EQ(ah, (std::vector<std::string>{"mean", "spread"}));
  ASSERT_EQ(answers.size(), 2 * kScoredRows);
  double far_spread = 0, near_spread = 0;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const std::vector<double> x{scored[i][3], scored[i][2], scored[i][1], scored[i][0]};
    double mean = 0, var = 0;
    for (std::size_t m = 0; m < 3; ++m) mean += predict(w, m, x) / 3;
    for (std::size_t m = 0; m < 3; ++m) var += std::pow(predict(w, m, x) - mean, 2) / 3;
    EXPECT_LT(rel(answers[i][0], mean), 1e-9) << "row " << i;
    EXPECT_NEAR(answers[i][1], std::sqrt(var), 1e-7) << "row " << i;
    if (i < kScoredRows) {
      EXPECT_LT(rel(answers[i][0], (holdout[i][1] + holdout[i][2] + holdout[i][3]) / 3), 1e-9) << "row " << i;
      near_spread += answers[i][1] / kScoredRows;
    } else {
      far_spread += answers[i][1] / kScoredRows;
    }
  }
  // Members trained on different folds disagree, and more where no fold reached.
  EXPECT_GT(near_spread, 1e-3);
  EXPECT_GT(far_spread, near_spread);
}

// Fold 0 lies where no other fold does and follows another law (y + 3): the member that holds it
// out must miss it by about 3, the members that train on it must not. A member that trained on
// its own fold, or a fold mix-up in the out-of-fold column, fails here.
TEST(TrainerRuns, AMemberNeverTrainsOnTheFoldItHoldsOut) {
  const fs::path dir = make_temp_dir("folds");
  write_problem(dir / "train.csv", 600, 7, false, 3, true);
  const RunResult r = run_trainer(write_config(dir, base_config()));
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> ph;
  const auto pred = read_csv(dir / "out/holdout_predictions.csv", ph);
  double err_holder = 0, err_others = 0, n = 0;
  for (const auto& row : pred) {
    if (row[0] != 0) continue;
    err_holder += std::fabs(row[1] - row[5]);
    err_others += (std::fabs(row[2] - row[5]) + std::fabs(row[3] - row[5])) / 2;
    EXPECT_EQ(row[4], row[1]) << "out_of_fold of a fold-0 row must be member 0's";
    ++n;
  }
  ASSERT_EQ(n, 200);
  EXPECT_GT(err_holder / n, 1.5) << "member 0 must not have seen fold 0";
  EXPECT_LT(err_others / n, 0.5) << "members 1 and 2 train on fold 0";
  if (!std::getenv("OPCAST_KEEP_TEST_DIRS")) fs::remove_all(dir);
}

TEST(TrainerRuns, WeightedTanhWithDecayAndCorruptedExportFailsSelfCheck) {
  const fs::path dir = make_temp_dir("weighted");
  write_problem(dir / "train.csv", 400, 3, true, 2);
  json cfg = base_config();
  cfg["ensemble"]["members"] = 2;
  cfg["architecture"]["activation"] = "tanh";
  cfg["optimizer"]["weight_decay"] = 1e-3;
  cfg["bootstrap"] = false;
  const fs::path config = write_config(dir, cfg);

  const RunResult ok = run_trainer(config);
  ASSERT_EQ(ok.code, 0) << ok.err;
  const json m = json::parse(std::ifstream(dir / "out/metrics.json"));
  EXPECT_TRUE(m["weighted"].get<bool>());
  EXPECT_LT(m["out_of_fold"]["rmse_y"].get<double>(), 0.2);
  EXPECT_TRUE(m["self_check"]["passed"].get<bool>());

  const RunResult bad = run_trainer(config, "OPCAST_TRAINER_TEST_CORRUPT_EXPORT=1");
  EXPECT_EQ(bad.code, 3) << bad.err;
  EXPECT_NE(bad.err.find("self-check"), std::string::npos) << bad.err;
  if (!std::getenv("OPCAST_KEEP_TEST_DIRS")) fs::remove_all(dir);
}

// --- malformed inputs: exit 2 and the message names the problem --------------------------------
struct BadInput {
  std::string name;
  // Edits the config and/or the CSVs; a raw_config.json it writes replaces the config.
  std::function<void(json&, const fs::path&)> mutate;
  std::string expected;                                 // must appear in stderr
};

void replace_line(const fs::path& file, std::size_t line_no, const std::string& text) {
  std::ifstream in(file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  in.close();
  lines.at(line_no - 1) = text;
  std::ofstream out(file);
  for (const auto& l : lines) out << l << '\n';
}

class Malformed : public ::testing::TestWithParam<BadInput> {};

TEST_P(Malformed, ExitsTwoNamingTheProblem) {
  const fs::path dir = make_temp_dir("bad");
  write_problem(dir / "train.csv", 30, 5, false);
  json cfg = base_config();
  GetParam().mutate(cfg, dir);
  fs::path config = write_config(dir, cfg);
  if (fs::exists(dir / "raw_config.json")) config = dir / "raw_config.json";
  const RunResult r = run_trainer(config);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(GetParam().expected), std::string::npos)
      << "stderr should mention '" << GetParam().expected << "':\n" << r.err;
  EXPECT_FALSE(fs::exists(dir / "out" / "weights.bin"));
  fs::remove_all(dir);
}

const BadInput kBadInputs[] = {
    {"MissingFeatures", [](json& c, const fs::path&) { c.erase("features"); }, "'features' is missing"},
    {"MissingOp", [](json& c, const fs::path&) { c.erase("op"); }, "'op' is missing"},
    {"LearningRateNotANumber",
     [](json& c, const fs::path&) { c["optimizer"]["learning_rate"] = "fast"; },
     "'optimizer.learning_rate'"},
    {"NegativeLearningRate",
     [](json& c, const fs::path&) { c["optimizer"]["learning_rate"] = -0.1; },
     "'optimizer.learning_rate'"},
    {"ZeroMembers", [](json& c, const fs::path&) { c["ensemble"]["members"] = 0; }, "'ensemble.members'"},
    {"FractionalBatch", [](json& c, const fs::path&) { c["optimizer"]["batch_size"] = 3.5; },
     "'optimizer.batch_size'"},
    {"UnknownActivation",
     [](json& c, const fs::path&) { c["architecture"]["activation"] = "swish"; },
     "'architecture.activation'"},
    {"BadHiddenWidth",
     [](json& c, const fs::path&) { c["architecture"]["hidden_layers"] = {32, 0}; },
     "'architecture.hidden_layers[1]'"},
    {"UnknownOptimizer", [](json& c, const fs::path&) { c["optimizer"]["name"] = "sgd"; },
     "'optimizer.name'"},
    {"BootstrapNotBool", [](json& c, const fs::path&) { c["bootstrap"] = "yes"; }, "'bootstrap'"},
    {"UnreadableCsv", [](json& c, const fs::path&) { c["train"] = "nope.csv"; }, "nope.csv"},
    {"RaggedCsv",
     [](json&, const fs::path& d) { replace_line(d / "train.csv", 4, "1,2,3"); },
     "train.csv: line 4: has 3 fields"},
    {"NanValue",
     [](json&, const fs::path& d) { replace_line(d / "train.csv", 3, "1,2,nan,7,3,1"); },
     "train.csv: line 3, column \"c\": non-finite"},
    {"InfValue",
     [](json&, const fs::path& d) { replace_line(d / "train.csv", 2, "1,2,0.5,7,inf,0"); },
     "line 2, column \"y\": non-finite"},
    {"NotANumber",
     [](json&, const fs::path& d) { replace_line(d / "train.csv", 5, "1,2,abc,7,3,2"); },
     "line 5, column \"c\": not a number"},
    {"FractionalFold",
     [](json&, const fs::path& d) { replace_line(d / "train.csv", 6, "1,2,0.5,7,3,1.5"); },
     "line 6, column \"fold\": a fold must be a non-negative integer"},
    {"NegativeFold",
     [](json&, const fs::path& d) { replace_line(d / "train.csv", 6, "1,2,0.5,7,3,-1"); },
     "line 6, column \"fold\": a fold must be a non-negative integer"},
    {"FoldColumnMissing",
     [](json&, const fs::path& d) { std::ofstream(d / "train.csv") << "la,lb,c,k,y\n1,2,0.5,7,3\n"; },
     "fold column \"fold\" is missing"},
    {"FoldColumnIsTheTarget",
     [](json& c, const fs::path&) { c["fold_column"] = "y"; },
     "'fold_column'"},
    {"OneFold",
     [](json&, const fs::path& d) { write_problem(d / "train.csv", 30, 5, false, 1); },
     "needs at least 2 distinct folds"},
    {"FewerMembersThanFolds",
     [](json& c, const fs::path&) { c["ensemble"]["members"] = 2; },
     "'ensemble.members' (2) must be at least the number of folds"},
    {"FeatureMissingFromCsv",
     [](json& c, const fs::path&) { c["features"].push_back("extra"); },
     "feature column \"extra\" is missing"},
    {"UnexpectedCsvColumn",
     [](json& c, const fs::path&) { c["features"] = {"la", "lb", "c"}; },
     "column \"k\" is neither"},
    {"EmptyCsv",
     [](json&, const fs::path& d) { std::ofstream(d / "train.csv") << "la,lb,c,k,y,fold\n"; },
     "train.csv: no data rows"},
    {"ScoreCsvWithTheTarget",
     [](json& c, const fs::path& d) {
       c["score"] = "score.csv";
       std::ofstream(d / "score.csv") << "la,lb,c,k,y\n1,2,0.5,7,3\n";
     },
     "score.csv: line 1: column \"y\" is not a config feature"},
    {"ScoreCsvMissing", [](json& c, const fs::path&) { c["score"] = "nope.csv"; },
     "field 'score': no such file"},
    {"InvalidJson",
     [](json&, const fs::path& d) { std::ofstream(d / "raw_config.json") << "{\"op\": "; },
     "invalid JSON"},
};

INSTANTIATE_TEST_SUITE_P(Trainer, Malformed, ::testing::ValuesIn(kBadInputs),
                         [](const auto& info) { return info.param.name; });

TEST(TrainerRuns, MissingConfigArgumentExitsTwo) {
  const std::string cmd = "'" + std::string(OPCAST_TRAINER_EXE) + "' > /dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

}  // namespace
