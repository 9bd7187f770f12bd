// Loading model folders (manifest, checksums, weights) and answering queries.
#include "opcast/predictor.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "ensemble.hpp"
#include "feature_key.hpp"
#include "program_memo.hpp"

namespace opcast {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw ModelError("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string sha256_hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    throw ModelError("sha256 failed");
  std::ostringstream hex;
  for (unsigned int i = 0; i < len; ++i) hex << std::hex << std::setw(2) << std::setfill('0') << int(digest[i]);
  return hex.str();
}

enum class Target { ln_ns, ln_ratio_roofline, ln_ratio_fitted_roofline };

// The interval's half-width is k * sqrt(spread^2 + sigma0^2) in log units.
struct Calibration {
  double k = 0, sigma0 = 0;
};

Calibration read_calibration(const json& j, const std::string& where) {
  const Calibration c{j.at("k").get<double>(), j.at("sigma0").get<double>()};
  if (!(c.k > 0 && std::isfinite(c.k) && c.sigma0 >= 0 && std::isfinite(c.sigma0)))
    throw ModelError(where + ": interval k must be finite and > 0, sigma0 finite and >= 0");
  return c;
}

}  // namespace

class OpModel {
 public:
  OpModel(const fs::path& dir, const json& manifest) {
    const std::string where = (dir / "manifest.json").string();
    auto field = [&](const char* key) -> const json& {
      auto it = manifest.find(key);
      if (it == manifest.end()) throw ModelError(where + ": missing field \"" + key + "\"");
      return *it;
    };
    if (field("format") != "opcast-model" || field("format_version") != 1)
      throw ModelError(where + ": not an opcast model manifest of format_version 1");
    info_.op = field("op").get<std::string>();
    info_.dir = dir.string();
    const int schema = field("feature_schema_version").get<int>();
    if (schema != kFeatureSchemaVersion)
      throw ModelError(where + ": trained with feature schema version " + std::to_string(schema) +
                       ", this library computes version " + std::to_string(kFeatureSchemaVersion) +
                       "; retrain the model with this opcast");
    // The roofline reads per-op costs from the catalogue: a model trained on another catalogue would
    // see shifted features.
    const std::string catalogue = field("catalogue_sha256").get<std::string>();
    if (catalogue != sha256_hex(std::string(catalogue_json())))
      throw ModelError(where + ": trained with another op catalogue (catalogue_sha256 " + catalogue.substr(0, 12) +
                       "...); retrain the model with this opcast");
    const auto names = field("feature_names").get<std::vector<std::string>>();
    const auto& ours = feature_names();
    if (names.size() != kNumFeatures || !std::equal(names.begin(), names.end(), ours.begin()))
      throw ModelError(where + ": feature_names differ from this library's feature schema");

    const std::string target = field("target").get<std::string>();
    if (target == "ln_ns") target_ = Target::ln_ns;
    else if (target == "ln_ratio_roofline") target_ = Target::ln_ratio_roofline;
    else if (target == "ln_ratio_fitted_roofline") target_ = Target::ln_ratio_fitted_roofline;
    else
      throw ModelError(where + ": unknown target \"" + target +
                       "\"; expected ln_ns, ln_ratio_roofline or ln_ratio_fitted_roofline");
    info_.target = target;
    if (target_ == Target::ln_ratio_fitted_roofline) read_fitted_roofline(field("fitted_roofline"), where);

    // Every file the manifest lists must match its checksum: a model is refused, never half-used.
    for (const auto& [name, digest] : field("files").items()) {
      const std::string data = read_file(dir / name);
      if (sha256_hex(data) != digest.get<std::string>())
        throw ModelError((dir / name).string() + ": checksum mismatch (file corrupt or replaced); expected sha256 " +
                         digest.get<std::string>());
      if (name == "weights.bin") ensemble_ = Ensemble::from_bytes(data, (dir / name).string());
      if (name == "program_memo.json") memo_ = ProgramMemo::from_json(data, (dir / name).string());
    }
    if (ensemble_.members() == 0) throw ModelError(where + ": \"files\" lists no weights.bin");
    if (ensemble_.n_features() != kNumFeatures)
      throw ModelError((dir / "weights.bin").string() + ": expects " + std::to_string(ensemble_.n_features()) +
                       " features, the schema has " + std::to_string(kNumFeatures));

    const json& domain = field("domain");
    const auto lo = domain.at("min").get<std::vector<double>>();
    const auto hi = domain.at("max").get<std::vector<double>>();
    if (lo.size() != kNumFeatures || hi.size() != kNumFeatures)
      throw ModelError(where + ": domain bounds must have " + std::to_string(kNumFeatures) + " entries");
    std::copy(lo.begin(), lo.end(), domain_lo_.begin());
    std::copy(hi.begin(), hi.end(), domain_hi_.begin());

    const json& interval = field("interval");
    pooled_ = read_calibration(interval, where);
    // Calibrated per class (Mondrian): a query whose class (its values of class_features) has an
    // entry gets that entry's k and sigma0, any other the pooled ones. Training decides which classes
    // get an entry and on which errors each was calibrated.
    if (interval.contains("classes")) {
      class_key_ = FeatureKey(interval.at("class_features").get<std::vector<std::string>>(), where + ": interval");
      for (const json& c : interval.at("classes"))
        if (!classes_.emplace(class_key_.of_values(c.at("key").get<std::vector<double>>(), where + ": interval class"),
                              read_calibration(c, where + ": interval class"))
                 .second)
          throw ModelError(where + ": two interval classes share one key");
    }

    info_.dataset_hash = field("dataset").at("hash").get<std::string>();
    info_.members = ensemble_.members();
    const std::string model_tag = info_.op + "@" + info_.dataset_hash.substr(0, 12);
    info_.source = "mlp-ensemble:" + model_tag;
    info_.memo_programs = memo_.size();
    memo_source_ = "measured-program:" + model_tag;
  }

  const ModelInfo& info() const { return info_; }

  // The memo's answer when a training configuration ran this query's per-core program; asked before
  // the ensemble, which then need not run.
  std::optional<Prediction> measured(const FeatureVector& f) const {
    const auto hit = memo_.find(f);
    if (!hit) return std::nullopt;
    Prediction p;
    p.ns = hit->ns;
    p.lo_ns = hit->lo_ns;
    p.hi_ns = hit->hi_ns;
    p.in_domain = true;  // this very program was measured
    p.source = memo_source_;
    return p;
  }

  Prediction answer(const FeatureVector& f, const Roofline& r, const EnsembleOutput& out) const {
    Prediction p;
    const double base = std::log(base_ns(r));
    const Calibration& c = calibration_for(f);
    const double half = c.k * std::sqrt(out.std * out.std + c.sigma0 * c.sigma0);
    p.ns = std::exp(base + out.mean);
    p.lo_ns = std::exp(base + out.mean - half);
    p.hi_ns = std::exp(base + out.mean + half);
    p.in_domain = true;
    constexpr double eps = 1e-9;
    for (std::size_t i = 0; i < kNumFeatures; ++i)
      if (f[i] < domain_lo_[i] - eps || f[i] > domain_hi_[i] + eps) p.in_domain = false;
    p.source = info_.source;
    if (!std::isfinite(p.ns) || !(p.ns > 0))
      throw ModelError(info_.dir + ": model produced a non-finite prediction");
    return p;
  }

  const Ensemble& ensemble() const { return ensemble_; }

 private:
  // What the ensemble's output is relative to: ns = base_ns * exp(output).
  double base_ns(const Roofline& r) const {
    switch (target_) {
      case Target::ln_ns: return 1.0;
      case Target::ln_ratio_roofline: return r.total_ns;
      case Target::ln_ratio_fitted_roofline: {
        const RooflineTerms t = roofline_terms(r);
        double sum = 0;
        for (std::size_t k = 0; k < kNumRooflineTerms; ++k) sum += fitted_[k] * t[k];
        return sum;
      }
    }
    return 1.0;
  }

  const Calibration& calibration_for(const FeatureVector& f) const {
    if (classes_.empty()) return pooled_;
    const auto it = classes_.find(class_key_.of(f));
    return it == classes_.end() ? pooled_ : it->second;
  }

  void read_fitted_roofline(const json& fitted, const std::string& where) {
    const auto terms = fitted.at("terms").get<std::vector<std::string>>();
    const auto coef = fitted.at("coefficients").get<std::vector<double>>();
    const auto& ours = roofline_term_names();
    if (terms.size() != kNumRooflineTerms || !std::equal(terms.begin(), terms.end(), ours.begin()) ||
        coef.size() != kNumRooflineTerms)
      throw ModelError(where + ": fitted_roofline terms differ from this library's roofline terms");
    for (std::size_t k = 0; k < kNumRooflineTerms; ++k) {
      if (!std::isfinite(coef[k]) || coef[k] < 0)
        throw ModelError(where + ": fitted_roofline coefficient of " + terms[k] + " must be finite and >= 0");
      fitted_[k] = coef[k];
    }
    // The launch term is the only one that is positive for every query: without it the base could be 0.
    if (!(fitted_[0] > 0)) throw ModelError(where + ": fitted_roofline coefficient of launch_ns must be > 0");
  }

  ModelInfo info_;
  Target target_ = Target::ln_ns;
  RooflineTerms fitted_{};
  Ensemble ensemble_;
  ProgramMemo memo_;
  std::string memo_source_;
  FeatureVector domain_lo_{}, domain_hi_{};
  Calibration pooled_;
  FeatureKey class_key_;
  std::map<FeatureKey::Key, Calibration> classes_;
};

Predictor::Predictor(const std::string& models_dir, const WormholeSpec& spec) : spec_(spec) {
  const fs::path root(models_dir);
  if (!fs::is_directory(root)) throw ModelError(models_dir + ": not a directory of opcast models");
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory() && fs::exists(entry.path() / "manifest.json")) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    json manifest;
    try {
      manifest = json::parse(read_file(dir / "manifest.json"));
    } catch (const json::exception& e) {
      throw ModelError((dir / "manifest.json").string() + ": malformed JSON: " + e.what());
    }
    try {
      auto model = std::make_unique<OpModel>(dir, manifest);
      const std::string op = model->info().op;
      if (!find_op(op)) throw ModelError((dir / "manifest.json").string() + ": op \"" + op + "\" is not in the catalogue");
      if (models_.count(op)) throw ModelError(models_dir + ": two model folders for " + op);
      models_.emplace(op, std::move(model));
    } catch (const json::exception& e) {
      throw ModelError((dir / "manifest.json").string() + ": " + e.what());
    }
  }
  if (models_.empty()) throw ModelError(models_dir + ": no model folders (subfolders with manifest.json)");
}

Predictor::~Predictor() = default;
Predictor::Predictor(Predictor&&) noexcept = default;
Predictor& Predictor::operator=(Predictor&&) noexcept = default;

const OpModel& Predictor::model_for(const Query& q) const {
  auto it = models_.find(q.op->name);
  if (it == models_.end()) {
    std::string have;
    for (const auto& [op, m] : models_) have += (have.empty() ? "" : ", ") + op;
    throw ModelError("no model for " + q.op->name + "; this model folder has: " + have);
  }
  return *it->second;
}

Prediction Predictor::predict(std::string_view query_json) const { return predict(parse_query(query_json)); }

Prediction Predictor::predict(const Query& q) const {
  const OpModel& m = model_for(q);
  Roofline r;
  const FeatureVector f = features(q, r, spec_);
  if (auto p = m.measured(f)) return *std::move(p);
  return m.answer(f, r, m.ensemble().predict(f.data()));
}

std::vector<Prediction> Predictor::predict_batch(const std::vector<Query>& queries) const {
  std::vector<Prediction> out(queries.size());
  // Group by op so each ensemble runs once over its rows as a matrix.
  std::map<const OpModel*, std::vector<std::size_t>> by_model;
  for (std::size_t i = 0; i < queries.size(); ++i) by_model[&model_for(queries[i])].push_back(i);
  std::vector<double> feats;
  std::vector<Roofline> roofs;
  std::vector<std::size_t> pending;  // rows the memo does not answer: the ensemble runs on these only
  std::vector<EnsembleOutput> results;
  for (const auto& [model, rows] : by_model) {
    feats.clear();
    roofs.clear();
    pending.clear();
    for (const std::size_t row : rows) {
      Roofline r;
      const FeatureVector f = features(queries[row], r, spec_);
      if (auto p = model->measured(f)) {
        out[row] = *std::move(p);
        continue;
      }
      feats.insert(feats.end(), f.begin(), f.end());
      roofs.push_back(r);
      pending.push_back(row);
    }
    results.resize(pending.size());
    model->ensemble().predict_rows(feats.data(), pending.size(), results.data());
    for (std::size_t k = 0; k < pending.size(); ++k) {
      FeatureVector f;
      std::copy_n(feats.begin() + static_cast<std::ptrdiff_t>(k * kNumFeatures), kNumFeatures, f.begin());
      out[pending[k]] = model->answer(f, roofs[k], results[k]);
    }
  }
  return out;
}

std::vector<ModelInfo> Predictor::models() const {
  std::vector<ModelInfo> infos;
  for (const auto& [op, m] : models_) infos.push_back(m->info());
  return infos;
}

bool Predictor::has_model(std::string_view op) const {
  const OpInfo* info = find_op(op);
  return info && models_.count(info->name) > 0;
}

}  // namespace opcast
