#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "model_folder.hpp"
#include "opcast/predictor.hpp"

using namespace opcast;
using namespace opcast::test_support;
namespace fs = std::filesystem;

namespace {

const char* kExp = R"({"op": "ttnn.exp", "inputs": [{"shape": [1,1,256,256], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";

void expect_refused_naming(const ModelDir& d, const std::string& reason) {
  try {
    Predictor p(d.root.string());
    FAIL() << "expected ModelError naming " << reason;
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(reason), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Predictor, EnsembleMeanSpreadAndInterval) {
  ModelDir d("mean");
  d.write("ttnn.exp", linear_weights(0.0, {std::log(5000.0) - 0.1, std::log(5000.0) + 0.1}));
  const Predictor p(d.root.string());
  const Prediction r = p.predict(kExp);
  EXPECT_NEAR(r.ns, 5000.0, 1e-3);
  EXPECT_NEAR(r.lo_ns, 5000.0 * std::exp(-0.2), 1e-2);  // k=2 times member std 0.1
  EXPECT_NEAR(r.hi_ns, 5000.0 * std::exp(0.2), 1e-2);
  EXPECT_TRUE(r.in_domain);
  EXPECT_EQ(r.source, "mlp-ensemble:ttnn.exp@0123456789ab");
}

TEST(Predictor, AnIntervalClassHasItsOwnCalibrationAndOtherQueriesThePooledOne) {
  ModelDir d("classes");
  auto m = d.write("ttnn.exp", linear_weights(0.0, {std::log(5000.0) - 0.1, std::log(5000.0) + 0.1}));
  // Inputs in L1 form a class of their own: k 3 and a floor of 0.4.
  m["interval"]["class_features"] = {"in0_l1", "in0_interleaved"};
  m["interval"]["classes"] = {{{"key", {1.0, 1.0}}, {"k", 3.0}, {"sigma0", 0.4}, {"rows", 120}}};
  d.write_manifest("ttnn.exp", m);
  const Predictor p(d.root.string());
  std::string l1 = kExp;
  l1.replace(l1.find("DRAM_INTERLEAVED"), 16, "L1_INTERLEAVED");
  const Prediction in_class = p.predict(l1);
  const double half = 3.0 * std::sqrt(0.1 * 0.1 + 0.4 * 0.4);
  EXPECT_NEAR(in_class.lo_ns, 5000.0 * std::exp(-half), 1e-2);
  EXPECT_NEAR(in_class.hi_ns, 5000.0 * std::exp(half), 1e-2);
  const Prediction pooled = p.predict(kExp);  // DRAM: no class of its own, k 2 and no floor
  EXPECT_NEAR(pooled.lo_ns, 5000.0 * std::exp(-0.2), 1e-2);
  EXPECT_NEAR(pooled.hi_ns, 5000.0 * std::exp(0.2), 1e-2);
  const auto batch = p.predict_batch({parse_query(l1), parse_query(kExp)});
  EXPECT_DOUBLE_EQ(batch[0].hi_ns, in_class.hi_ns);
  EXPECT_DOUBLE_EQ(batch[1].hi_ns, pooled.hi_ns);

  // Unknown class features, keys of the wrong length, two classes with one key, k <= 0: refused at load.
  const nlohmann::json good = m["interval"];
  for (auto [field, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"class_features", {"in0_l1", "no_such_feature"}},
           {"classes", {{{"key", {1.0}}, {"k", 3.0}, {"sigma0", 0.4}}}},
           {"classes", {{{"key", {1.0, 1.0}}, {"k", 3.0}, {"sigma0", 0.4}}, {{"key", {1.0, 1.0}}, {"k", 2.0}, {"sigma0", 0.1}}}},
           {"classes", {{{"key", {1.0, 1.0}}, {"k", 0.0}, {"sigma0", 0.4}}}},
           {"classes", {{{"key", {1.0, 1.0}}, {"sigma0", 0.4}}}}}) {
    m["interval"] = good;
    m["interval"][field] = value;
    d.write_manifest("ttnn.exp", m);
    EXPECT_THROW(Predictor(d.root.string()), ModelError) << field << " = " << value.dump();
  }
}

TEST(Predictor, RooflineRatioTargetMultipliesTheRoofline) {
  ModelDir d("ratio");
  d.write("ttnn.exp", linear_weights(0.0, {0.0, 0.0}), "ln_ratio_roofline");
  const Predictor p(d.root.string());
  EXPECT_NEAR(p.predict(kExp).ns, roofline(parse_query(kExp)).total_ns, 1e-6);
}

TEST(Predictor, FittedRooflineTargetMultipliesTheCalibratedRoofline) {
  ModelDir d("fitted");
  auto m = d.write("ttnn.exp", linear_weights(0.0, {0.0, 0.0}), "ln_ratio_fitted_roofline");
  const auto& names = roofline_term_names();
  m["fitted_roofline"] = {{"terms", std::vector<std::string>(names.begin(), names.end())},
                          {"coefficients", {2.0, 0.5, 0.0, 0.0, 0.0, 1.0, 0.25, 0.75}}};
  d.write_manifest("ttnn.exp", m);
  const Roofline r = roofline(parse_query(kExp));
  EXPECT_NEAR(Predictor(d.root.string()).predict(kExp).ns, 2.0 * r.launch_ns + 0.5 * r.compute_ns + r.total_ns + 0.25 * r.reader_ns +
                                                                 0.75 * r.interleaved_launch_ns,
              1e-6);

  // A base that could reach 0, negative or missing coefficients, other terms: refused at load.
  for (const auto& bad : {std::vector<double>{0.0, 0.5, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0},
                          std::vector<double>{1.0, -0.5, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0}, std::vector<double>{1.0, 0.5}}) {
    m["fitted_roofline"]["coefficients"] = bad;
    d.write_manifest("ttnn.exp", m);
    EXPECT_THROW(Predictor(d.root.string()), ModelError);
  }
  m["fitted_roofline"] = {{"terms", {"a", "b", "c", "d", "e", "f", "g", "h"}},
                          {"coefficients", {1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0}}};
  d.write_manifest("ttnn.exp", m);
  EXPECT_THROW(Predictor(d.root.string()), ModelError);
  m.erase("fitted_roofline");
  d.write_manifest("ttnn.exp", m);
  EXPECT_THROW(Predictor(d.root.string()), ModelError);
}

TEST(Predictor, OutOfDomainIsFlaggedNotRefused) {
  ModelDir d("domain");
  auto m = d.write("ttnn.exp", linear_weights(0.0, {8.0, 8.0}));
  m["domain"]["max"][0] = 1.0;  // log2 roofline of any real query exceeds 1
  d.write_manifest("ttnn.exp", m);
  const Prediction r = Predictor(d.root.string()).predict(kExp);
  EXPECT_FALSE(r.in_domain);
  EXPECT_GT(r.ns, 0);
}

TEST(Predictor, RefusesCorruptOrMismatchedModels) {
  ModelDir d("refuse");
  auto m = d.write("ttnn.exp", linear_weights(0.0, {8.0}));
  std::ofstream(d.root / "exp" / "weights.bin", std::ios::binary | std::ios::app) << "x";
  EXPECT_THROW(Predictor(d.root.string()), ModelError);  // checksum

  m = d.write("ttnn.exp", linear_weights(0.0, {8.0}));
  m["feature_schema_version"] = kFeatureSchemaVersion + 1;
  d.write_manifest("ttnn.exp", m);
  expect_refused_naming(d, "feature schema version");

  m = d.write("ttnn.exp", linear_weights(0.0, {8.0}));
  m["catalogue_entry"]["cycles_per_tile"] = 1024;
  m["catalogue_entry"].erase("inputs");
  d.write_manifest("ttnn.exp", m);
  expect_refused_naming(d, "catalogue entry changed since training (cycles_per_tile: 1024 -> 2048; inputs added (1))");

  std::string truncated = linear_weights(0.0, {8.0});
  truncated.resize(truncated.size() - 4);
  d.write("ttnn.exp", truncated);
  EXPECT_THROW(Predictor(d.root.string()), ModelError);

  EXPECT_THROW(Predictor((d.root / "nope").string()), ModelError);
}

// manifest.json is covered by manifest.sha256: an edit that is not written by opcast is refused,
// as are a missing checksum, a subfolder without a manifest, and fields out of their range.
TEST(Predictor, ManifestIsCheckedBeforeItIsTrusted) {
  ModelDir d("manifest");
  auto m = d.write("ttnn.exp", linear_weights(0.0, {8.0}));
  EXPECT_NO_THROW(Predictor(d.root.string()));
  m["interval"]["k"] = 1.0;  // a plausible edit, left without its checksum
  std::ofstream(d.root / "exp" / kManifestFile) << m.dump(2);
  expect_refused_naming(d, "checksum mismatch");

  d.write_manifest("ttnn.exp", m);
  fs::remove(d.root / "exp" / kManifestChecksumFile);
  expect_refused_naming(d, "manifest.sha256: missing");

  d.write_manifest("ttnn.exp", m);
  m["feature_schema_version"] = kFeatureSchemaVersion + 0.5;
  d.write_manifest("ttnn.exp", m);
  expect_refused_naming(d, "must be an integer");

  m["feature_schema_version"] = kFeatureSchemaVersion;
  m["domain"]["min"][3] = 2.0;
  m["domain"]["max"][3] = 1.0;
  d.write_manifest("ttnn.exp", m);
  expect_refused_naming(d, "min <= max");

  m["domain"]["min"][3] = -1e9;
  d.write_manifest("ttnn.exp", m);
  EXPECT_NO_THROW(Predictor(d.root.string()));
  fs::create_directories(d.root / "relu");
  expect_refused_naming(d, "no manifest.json");
}

// A query that drives the model out of range gets a QueryError saying why; in a batch it is that
// row's error and every other row is answered.
TEST(Predictor, NonFiniteAnswersAreTheQuerysErrorAndStayInTheirRow) {
  ModelDir d("nonfinite");
  d.write("ttnn.exp", linear_weights(80.0, {-950.0}));  // ns = exp(80 * log2 roofline - 950): finite only for small ops
  const Predictor p(d.root.string());
  const std::string huge = R"({"op": "ttnn.exp", "inputs": [{"shape": [1,1,32768,32768], "dtype": "float32", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
  const std::string small = R"({"op": "ttnn.exp", "inputs": [{"shape": [32,32], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_INTERLEAVED"}]})";
  try {
    p.predict(huge);
    FAIL() << "expected a QueryError";
  } catch (const QueryError& e) {
    EXPECT_NE(std::string(e.what()).find("not a finite positive number"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("log2_"), std::string::npos) << e.what();  // names a feature
  }
  const std::vector<Query> qs = {parse_query(small), parse_query(huge), parse_query(small)};
  EXPECT_THROW(p.predict_batch(qs), QueryError);
  std::vector<std::string> errors;
  const auto batch = p.predict_batch(qs, &errors);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_TRUE(errors[0].empty() && errors[2].empty());
  EXPECT_NE(errors[1].find("not a finite positive number"), std::string::npos);
  EXPECT_DOUBLE_EQ(batch[0].ns, p.predict(small).ns);
  EXPECT_DOUBLE_EQ(batch[2].ns, batch[0].ns);
}

namespace {

std::string unary_query(const std::string& op) {
  return R"({"op": ")" + op + R"(", "inputs": [{"shape": [1,1,256,256], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
}

}  // namespace

// Every op gets an answer from the first tier that covers it: its own model, its kind's model (a
// learned factor for the ops it measured), its kind's calibrated roofline; each answer names its tier.
TEST(Predictor, ThreeTiersAnswerEveryCataloguedOp) {
  ModelDir d("tiers");
  d.write("ttnn.exp", linear_weights(0.0, {std::log(5000.0), std::log(5000.0)}));
  // Kind model: twice the roofline for every unary op, times e^0.5 for relu, which it measured.
  d.write_kind("eltwise_unary", linear_weights(0.0, {std::log(2.0), std::log(2.0)}), {{"ttnn.relu", 0.5}}, 0.5);
  const std::vector<double> unary = {2.0, 1.0, 0, 0, 0, 0, 0, 0}, all = {1.0, 0, 0, 0, 0, 1.0, 0, 0};
  d.write_roofline({{"eltwise_unary", unary}, {"matmul", {1.0, 2.0, 0, 0, 0, 0, 0, 0}}}, all, 2.0, 0.25);
  const Predictor p(d.root.string());

  const Prediction own = p.predict(unary_query("ttnn.exp"));
  EXPECT_NEAR(own.ns, 5000.0, 1e-2);  // weights are served as float
  EXPECT_EQ(own.source, "mlp-ensemble:ttnn.exp@0123456789ab");

  const Roofline relu_r = roofline(parse_query(unary_query("ttnn.relu")));
  const Prediction relu = p.predict(unary_query("ttnn.relu"));
  EXPECT_NEAR(relu.ns, relu_r.total_ns * 2.0 * std::exp(0.5), 1e-6 * relu.ns);
  EXPECT_NEAR(relu.hi_ns / relu.ns, std::exp(2.0 * 0.0), 1e-9);  // measured op: k 2, no spread, no floor
  EXPECT_TRUE(relu.in_domain);
  EXPECT_EQ(relu.source, "kind-ensemble:eltwise_unary@0123456789ab");

  const Roofline gelu_r = roofline(parse_query(unary_query("ttnn.gelu")));
  const Prediction gelu = p.predict(unary_query("ttnn.gelu"));  // never measured: no factor, wide interval
  EXPECT_NEAR(gelu.ns, gelu_r.total_ns * 2.0, 1e-6 * gelu.ns);
  EXPECT_NEAR(gelu.hi_ns / gelu.ns, std::exp(0.5 * 0.5), 1e-9);
  EXPECT_FALSE(gelu.in_domain);

  const std::string softmax_q = unary_query("ttnn.softmax");  // no kind model, no roofline fit of its own
  const Roofline sr = roofline(parse_query(softmax_q));
  const Prediction softmax = p.predict(softmax_q);
  EXPECT_NEAR(softmax.ns, sr.launch_ns + sr.total_ns, 1e-6 * softmax.ns);
  EXPECT_NEAR(softmax.lo_ns, softmax.ns * std::exp(-0.5), 1e-6 * softmax.ns);
  EXPECT_FALSE(softmax.in_domain);
  EXPECT_EQ(softmax.source, "calibrated-roofline:all_kinds@0123456789ab");

  const std::string matmul_q = R"({"op": "ttnn.matmul", "inputs": [{"shape": [1,1,256,256], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}, {"shape": [1,1,256,128], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
  const Roofline mr = roofline(parse_query(matmul_q));
  const Prediction matmul = p.predict(matmul_q);
  EXPECT_NEAR(matmul.ns, mr.launch_ns + 2.0 * mr.compute_ns, 1e-6 * matmul.ns);
  EXPECT_EQ(matmul.source, "calibrated-roofline:matmul@0123456789ab");

  // A batch over every tier answers as the single queries do.
  const auto batch = p.predict_batch({parse_query(matmul_q), parse_query(unary_query("ttnn.exp")),
                                      parse_query(unary_query("ttnn.gelu")), parse_query(softmax_q),
                                      parse_query(unary_query("ttnn.relu"))});
  EXPECT_DOUBLE_EQ(batch[0].ns, matmul.ns);
  EXPECT_DOUBLE_EQ(batch[1].ns, own.ns);
  EXPECT_DOUBLE_EQ(batch[2].ns, gelu.ns);
  EXPECT_DOUBLE_EQ(batch[3].ns, softmax.ns);
  EXPECT_DOUBLE_EQ(batch[4].ns, relu.ns);
  for (const char* op : {"ttnn.gelu", "ttnn.softmax", "ttnn.transpose"}) EXPECT_TRUE(p.has_model(op)) << op;
  EXPECT_EQ(p.models().size(), 3u);
}

// Where a kind model's interval is wider than the calibrated roofline's, the roofline answers.
TEST(Predictor, TheMoreCertainOfKindModelAndRooflineAnswers) {
  ModelDir d("certain");
  d.write_kind("eltwise_unary", linear_weights(0.0, {std::log(2.0), std::log(2.0)}), {{"ttnn.relu", 0.5}}, 3.0);
  d.write_roofline({{"eltwise_unary", {2.0, 1.0, 0, 0, 0, 0, 0, 0}}}, {1.0, 0, 0, 0, 0, 1.0, 0, 0}, 2.0, 0.25);
  const Predictor p(d.root.string());
  const Prediction gelu = p.predict(unary_query("ttnn.gelu"));  // kind: half-width 1.5, roofline 0.5
  EXPECT_EQ(gelu.source, "calibrated-roofline:eltwise_unary@0123456789ab");
  EXPECT_NEAR(gelu.hi_ns / gelu.ns, std::exp(0.5), 1e-9);
  EXPECT_EQ(p.predict(unary_query("ttnn.relu")).source, "kind-ensemble:eltwise_unary@0123456789ab");  // half 0
  EXPECT_EQ(p.predict_batch({parse_query(unary_query("ttnn.gelu"))})[0].source, gelu.source);
}

// A kind model asked past its training range reads features held at the range's edge: its members
// cannot part ways, while the base still scales with the query; the answer says it is extrapolated.
TEST(Predictor, AKindModelHoldsItsInputsInsideItsRange) {
  ModelDir d("clamp");
  auto m = d.write_kind("eltwise_unary", linear_weights(1.0, {0.0, 0.5}), {{"ttnn.relu", 0.0}}, 3.0);
  const std::string q = unary_query("ttnn.relu");
  const Roofline r = roofline(parse_query(q));
  const double edge = std::log2(r.total_ns) - 2.0;  // feature 0 is the log2 roofline
  m["domain"]["max"][0] = edge;
  m["clamp_features_to_domain"] = true;
  d.write_manifest_in("kind-eltwise_unary", m);
  const Prediction p = Predictor(d.root.string()).predict(q);
  EXPECT_NEAR(p.ns, r.total_ns * std::exp(edge + 0.25), 1e-4 * p.ns);  // members read the edge, not the query
  EXPECT_FALSE(p.in_domain);
  const auto batch = Predictor(d.root.string()).predict_batch({parse_query(q)});
  EXPECT_DOUBLE_EQ(batch[0].ns, p.ns);
}

TEST(Predictor, AKindModelChecksTheEntriesOfTheOpsItMeasured) {
  ModelDir d("kind_entry");
  auto m = d.write_kind("eltwise_unary", linear_weights(0.0, {0.0, 0.0}), {{"ttnn.relu", 0.5}}, 3.0);
  m["ops"]["ttnn.relu"]["catalogue_entry"]["cycles_per_tile"] = 1;
  d.write_manifest_in("kind-eltwise_unary", m);
  expect_refused_naming(d, "ops.ttnn.relu: the op's catalogue entry changed since training (cycles_per_tile: 1 -> 64)");
  m = d.write_kind("eltwise_unary", linear_weights(0.0, {0.0, 0.0}), {{"ttnn.add", 0.5}}, 3.0);
  expect_refused_naming(d, "ops.ttnn.add is of kind eltwise_binary, not eltwise_unary");
}

TEST(Predictor, UnknownModelAndBadQueries) {
  ModelDir d("errors");
  d.write("ttnn.exp", linear_weights(0.0, {8.0}));
  const Predictor p(d.root.string());
  EXPECT_THROW(p.predict(R"({"op": "ttnn.relu", "inputs": [{"shape": [32,32], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})"),
               ModelError);
  EXPECT_THROW(p.predict("not json"), QueryError);
  EXPECT_THROW(p.predict(R"({"op": "ttnn.exp", "inputs": [{"shape": [32,-1], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})"),
               QueryError);
}

TEST(Predictor, BatchEqualsSingleAndThreadsAgree) {
  ModelDir d("batch");
  d.write("ttnn.exp", linear_weights(0.5, {1.0, 1.5, 2.0}));
  const Predictor p(d.root.string());
  std::vector<Query> qs;
  for (int h = 32; h <= 4096; h *= 2)
    qs.push_back(parse_query(R"({"op": "ttnn.exp", "inputs": [{"shape": [1,1,)" + std::to_string(h) +
                             R"(,64], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_INTERLEAVED"}]})"));
  const auto batch = p.predict_batch(qs);
  ASSERT_EQ(batch.size(), qs.size());
  for (std::size_t i = 0; i < qs.size(); ++i) EXPECT_DOUBLE_EQ(batch[i].ns, p.predict(qs[i]).ns);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 200; ++rep)
        for (std::size_t i = 0; i < qs.size(); ++i)
          if (p.predict(qs[i]).ns != batch[i].ns) ++mismatches[static_cast<std::size_t>(t)];
    });
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

namespace {

std::string matmul_query(int m, int cores) {
  return R"({"op": "ttnn.matmul", "inputs": [{"shape": [1,1,)" + std::to_string(m) +
         R"(,384], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "core_count": )" +
         std::to_string(cores) +
         R"(}, {"shape": [1,1,384,192], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
}

const std::vector<std::string> kMemoFeatures = {"log2_shard_height_tiles", "log2_k_tiles", "log2_n_tiles"};

std::vector<double> memo_key(const std::string& query) {
  const FeatureVector f = features(parse_query(query));
  std::vector<double> key;
  for (const auto& name : kMemoFeatures)
    key.push_back(f[static_cast<std::size_t>(std::find(feature_names().begin(), feature_names().end(), name) -
                                             feature_names().begin())]);
  return key;
}

}  // namespace

TEST(Predictor, ProgramMemoAnswersMeasuredProgramsAndOnlyThose) {
  ModelDir d("memo");
  auto m = d.write("ttnn.matmul", linear_weights(0.0, {std::log(9000.0), std::log(9000.0)}));
  // 3200 rows on 10 cores and 640 rows on 2 cores both give each core 10 rows: one program.
  nlohmann::json memo = {{"features", kMemoFeatures},
                         {"interval_ratio", {0.9, 1.2}},
                         {"entries", {{{"key", memo_key(matmul_query(3200, 10))}, {"ns", 12345.0}, {"configurations", 3}}}}};
  auto install = [&](const nlohmann::json& memo_json) {
    const std::string text = memo_json.dump();
    std::ofstream(d.root / "matmul" / "program_memo.json") << text;
    m["files"]["program_memo.json"] = sha256(text);
    d.write_manifest("ttnn.matmul", m);
  };
  install(memo);
  const Predictor p(d.root.string());
  ASSERT_EQ(p.models().at(0).memo_programs, 1u);
  for (const auto& q : {matmul_query(3200, 10), matmul_query(640, 2)}) {
    const Prediction r = p.predict(q);
    EXPECT_DOUBLE_EQ(r.ns, 12345.0);
    EXPECT_DOUBLE_EQ(r.lo_ns, 12345.0 * 0.9);
    EXPECT_DOUBLE_EQ(r.hi_ns, 12345.0 * 1.2);
    EXPECT_TRUE(r.in_domain);
    EXPECT_EQ(r.source, "measured-program:ttnn.matmul@0123456789ab");
  }
  const Prediction other = p.predict(matmul_query(3200, 9));  // 12 rows per core: not measured
  EXPECT_NEAR(other.ns, 9000.0, 1e-2);  // weights are served as float
  EXPECT_EQ(other.source, "mlp-ensemble:ttnn.matmul@0123456789ab");
  {
    // An entry less sure than the rest (measured only on builds not tied to the reference) carries its
    // own interval; the others keep the memo's.
    nlohmann::json own = memo;
    own["entries"].push_back({{"key", memo_key(matmul_query(3200, 9))}, {"ns", 20000.0}, {"configurations", 1},
                              {"interval_ratio", {0.5, 2.0}}});
    install(own);
    const Predictor q(d.root.string());
    const Prediction wide = q.predict(matmul_query(3200, 9));
    EXPECT_DOUBLE_EQ(wide.lo_ns, 10000.0);
    EXPECT_DOUBLE_EQ(wide.hi_ns, 40000.0);
    EXPECT_DOUBLE_EQ(q.predict(matmul_query(3200, 10)).hi_ns, 12345.0 * 1.2);
    own["entries"][1]["interval_ratio"] = {1.1, 2.0};  // excludes its own value
    install(own);
    EXPECT_THROW(Predictor(d.root.string()), ModelError);
    install(memo);
  }
  const auto batch = p.predict_batch({parse_query(matmul_query(640, 2)), parse_query(matmul_query(3200, 9))});
  EXPECT_DOUBLE_EQ(batch[0].ns, 12345.0);
  EXPECT_NEAR(batch[1].ns, 9000.0, 1e-2);

  // A memo that names unknown features, has keys of the wrong length, an interval that excludes the
  // memo's own value, or a non-positive time is refused at load, as is one changed after training.
  for (auto [field, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"features", {"log2_shard_height_tiles", "no_such_feature", "log2_n_tiles"}},
           {"entries", {{{"key", {1.0, 2.0}}, {"ns", 1.0}}}},
           {"entries", {{{"key", {1.0, 2.0, 3.0}}, {"ns", 0.0}}}},
           {"interval_ratio", {1.1, 1.2}}}) {
    nlohmann::json bad = memo;
    bad[field] = value;
    install(bad);
    EXPECT_THROW(Predictor(d.root.string()), ModelError) << field << " = " << value.dump();
  }
  install(memo);
  std::ofstream(d.root / "matmul" / "program_memo.json", std::ios::app) << " ";
  EXPECT_THROW(Predictor(d.root.string()), ModelError);
}

// A model's build table moves its answers to a build: the default (newest) without a "build", a named
// one by its name or a unique prefix, each build's factor on the time and its half-width added to the
// interval in quadrature. A build no tier knows, or a prefix naming several, is the query's error.
TEST(Predictor, ABuildTableMovesAnswersToTheNamedOrNewestBuild) {
  ModelDir d("builds");
  auto m = d.write("ttnn.exp", linear_weights(0.0, {std::log(5000.0) - 0.1, std::log(5000.0) + 0.1}));
  const auto entry = [](double f, double h) { return nlohmann::json{{"log_factor", f}, {"half_width", h}}; };
  m["builds"] = {{"default", "bbbb2222"},
                 {"table", {{"aaaa1111", entry(0.0, 0.0)}, {"aaaa1999", entry(-0.2, 0.0)}, {"bbbb2222", entry(0.1, 0.3)}}}};
  d.write_manifest("ttnn.exp", m);
  const Predictor p(d.root.string());
  const Prediction newest = p.predict(kExp);
  EXPECT_EQ(newest.build, "bbbb2222");
  EXPECT_NEAR(newest.ns, 5000.0 * std::exp(0.1), 1e-2);
  const double half = std::hypot(0.2, 0.3);  // the model's own 0.2 (k 2 times spread 0.1) and the build's 0.3
  EXPECT_NEAR(newest.hi_ns, newest.ns * std::exp(half), 1e-2);
  EXPECT_NEAR(newest.lo_ns, newest.ns * std::exp(-half), 1e-2);

  std::string named = kExp;
  named.insert(named.size() - 1, R"(, "build": "aaaa11")");
  const Prediction reference = p.predict(named);
  EXPECT_EQ(reference.build, "aaaa1111");
  EXPECT_NEAR(reference.ns, 5000.0, 1e-2);
  EXPECT_NEAR(reference.hi_ns, 5000.0 * std::exp(0.2), 1e-2);
  EXPECT_EQ(p.predict_batch({parse_query(named), parse_query(kExp)})[1].build, "bbbb2222");

  {
    // An op's own move on a build (a kind's table records one per op) wins over the table's; other ops'
    // moves and other builds are the table's.
    auto own = m;
    own["builds"]["ops"] = {{"ttnn.exp", {{"half_width", 0.05}, {"log_factors", {{"aaaa1999", -0.5}}}}},
                            {"ttnn.relu", {{"half_width", 0.0}, {"log_factors", {{"aaaa1111", 1.0}}}}}};
    d.write_manifest("ttnn.exp", own);
    const Predictor q(d.root.string());
    std::string old = kExp;
    old.insert(old.size() - 1, R"(, "build": "aaaa1999")");
    const Prediction moved_own = q.predict(old);
    EXPECT_EQ(moved_own.build, "aaaa1999");
    EXPECT_NEAR(moved_own.ns, 5000.0 * std::exp(-0.5), 1e-2);
    EXPECT_NEAR(moved_own.hi_ns, moved_own.ns * std::exp(std::hypot(0.2, 0.05)), 1e-2);
    EXPECT_NEAR(q.predict(named).ns, 5000.0, 1e-2);  // relu's move on aaaa1111 is relu's
    EXPECT_NEAR(q.predict(kExp).ns, 5000.0 * std::exp(0.1), 1e-2);
    d.write_manifest("ttnn.exp", m);
  }

  // A build that added a fixed cost: the factor, then the shift; a shift that would take more than half
  // of an answer away takes half.
  for (const auto& [shift, expected] : {std::pair{-500.0, 5000.0 * 1.1 - 500.0}, std::pair{-4000.0, 5000.0 * 1.1 / 2}}) {
    auto shifted = entry(std::log(1.1), 0.1);
    shifted["shift_ns"] = shift;
    m["builds"] = {{"default", "dddd4444"}, {"table", {{"aaaa1111", entry(0.0, 0.0)}, {"dddd4444", shifted}}}};
    d.write_manifest("ttnn.exp", m);
    const Prediction s = Predictor(d.root.string()).predict(kExp);
    EXPECT_NEAR(s.ns, expected, 1e-2) << shift;
    EXPECT_NEAR(s.hi_ns, s.ns * std::exp(std::hypot(0.2, 0.1)), 1e-2) << shift;
  }

  for (const char* bad : {R"(, "build": "aaaa")", R"(, "build": "cccc")", R"(, "build": 7)", R"(, "build": "a b")"}) {
    std::string q = kExp;
    q.insert(q.size() - 1, bad);
    try {
      (void)p.predict(q);
      FAIL() << "expected QueryError for " << bad;
    } catch (const QueryError& e) {
      EXPECT_EQ(e.field(), "build") << e.what();
    }
  }
  // A default outside the table, a factor beyond e^8, a shift past 10 ms: refused at load.
  for (const auto& bad : {nlohmann::json{{"default", "zz"}, {"table", {{"aaaa1111", entry(0.0, 0.0)}}}},
                          nlohmann::json{{"default", "aaaa1111"}, {"table", {{"aaaa1111", entry(9.0, 0.0)}}}},
                          nlohmann::json{{"default", "aaaa1111"},
                                         {"table", {{"aaaa1111", {{"log_factor", 0}, {"half_width", 0}, {"shift_ns", 2e7}}}}}}}) {
    m["builds"] = bad;
    d.write_manifest("ttnn.exp", m);
    EXPECT_THROW(Predictor(d.root.string()), ModelError) << bad.dump();
  }
}

// A build the op's model never measured is answered by the tier that knows it.
TEST(Predictor, ANamedBuildIsAnsweredByTheTierThatKnowsIt) {
  ModelDir d("build_tiers");
  auto m = d.write("ttnn.exp", linear_weights(0.0, {std::log(5000.0), std::log(5000.0)}));
  m["builds"] = {{"default", "torp"}, {"table", {{"torp", {{"log_factor", 0.0}, {"half_width", 0.0}}}}}};
  d.write_manifest("ttnn.exp", m);
  auto k = d.write_kind("eltwise_unary", linear_weights(0.0, {std::log(2.0), std::log(2.0)}), {{"ttnn.exp", 0.5}}, 0.5);
  k["builds"] = {{"default", "daily1"}, {"table", {{"daily1", {{"log_factor", 0.25}, {"half_width", 0.0}}}}}};
  d.write_manifest_in("kind-eltwise_unary", k);
  const Predictor p(d.root.string());
  EXPECT_EQ(p.predict(unary_query("ttnn.exp")).source, "mlp-ensemble:ttnn.exp@0123456789ab");
  std::string daily = unary_query("ttnn.exp");
  daily.insert(daily.size() - 1, R"(, "build": "daily")");
  const Prediction r = p.predict(daily);
  EXPECT_EQ(r.source, "kind-ensemble:eltwise_unary@0123456789ab");
  EXPECT_EQ(r.build, "daily1");
  EXPECT_NEAR(r.ns, roofline(parse_query(unary_query("ttnn.exp"))).total_ns * 2.0 * std::exp(0.5 + 0.25), 1e-6 * r.ns);
}
