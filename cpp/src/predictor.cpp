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

// Model files are read whole: anything but a regular file of sane size (a link to /dev/zero, a
// fifo) is refused before reading.
std::string read_file(const fs::path& p) {
  constexpr std::uintmax_t kMaxBytes = std::uintmax_t{1} << 30;
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) throw ModelError(p.string() + ": not a regular file");
  if (fs::file_size(p, ec) > kMaxBytes) throw ModelError(p.string() + ": larger than 1 GiB; not a model file");
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

// The model's record of its op's catalogue entry against the entry in use; the message names every
// field that differs.
void check_catalogue_entry(const json& trained, const json& now, const std::string& where) {
  if (trained == now) return;
  if (!trained.is_object()) throw ModelError(where + ": catalogue_entry must be an object");
  std::string changed;
  for (const auto& [key, value] : now.items()) {
    const auto it = trained.find(key);
    if (it == trained.end()) changed += (changed.empty() ? "" : "; ") + key + " added (" + value.dump() + ")";
    else if (*it != value) changed += (changed.empty() ? "" : "; ") + key + ": " + it->dump() + " -> " + value.dump();
  }
  for (const auto& [key, value] : trained.items())
    if (!now.contains(key)) changed += (changed.empty() ? "" : "; ") + key + " removed (was " + value.dump() + ")";
  throw ModelError(where + ": the op's catalogue entry changed since training (" + changed +
                   "); retrain the model with this catalogue");
}

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
    if (field("format") != "opcast-model" || !field("format_version").is_number_integer() ||
        field("format_version") != 1)
      throw ModelError(where + ": not an opcast model manifest of format_version 1");
    info_.op = field("op").get<std::string>();
    info_.dir = dir.string();
    if (!field("feature_schema_version").is_number_integer())
      throw ModelError(where + ": feature_schema_version must be an integer, got " +
                       field("feature_schema_version").dump());
    const int schema = field("feature_schema_version").get<int>();
    if (schema != kFeatureSchemaVersion)
      throw ModelError(where + ": trained with feature schema version " + std::to_string(schema) +
                       ", this library computes version " + std::to_string(kFeatureSchemaVersion) +
                       "; retrain the model with this opcast");
    // The parser and the roofline read the op's catalogue entry (its kind, inputs, per-tile cost,
    // default attributes): a model trained on another entry would see other features. Only this op's
    // own entry counts: other ops, aliases and profiler op codes may come and go.
    const OpInfo* op = find_op(info_.op);
    if (!op) throw ModelError(where + ": op \"" + info_.op + "\" is not in the catalogue");
    check_catalogue_entry(field("catalogue_entry"), served_entry(*op), where);
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
    for (std::size_t i = 0; i < kNumFeatures; ++i)
      if (!std::isfinite(lo[i]) || !std::isfinite(hi[i]) || lo[i] > hi[i])
        throw ModelError(where + ": domain bounds of " + feature_names()[i] + " must be finite with min <= max, got [" +
                         json(lo[i]).dump() + ", " + json(hi[i]).dump() + "]");
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
    if (!(std::isfinite(p.hi_ns) && p.lo_ns > 0)) fail_out_of_range(f, base);
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

  // An answer (or its interval) that is not a finite positive number comes from a query far outside
  // what the model was trained on: the message names the feature that lies farthest out.
  [[noreturn]] void fail_out_of_range(const FeatureVector& f, double log_base) const {
    std::size_t worst = 0;
    double worst_distance = -1;
    for (std::size_t i = 0; i < kNumFeatures; ++i) {
      const double width = std::max(domain_hi_[i] - domain_lo_[i], 1.0);
      const double distance = std::max(domain_lo_[i] - f[i], f[i] - domain_hi_[i]) / width;
      if (distance > worst_distance) worst_distance = distance, worst = i;
    }
    std::string why = "the " + info_.op + " model's answer to this query is not a finite positive number";
    if (!std::isfinite(log_base)) why += " (its roofline base is " + json(std::exp(log_base)).dump() + " ns)";
    throw QueryError("", why + ": the query lies far outside what the model was trained on (" + feature_names()[worst] +
                             " = " + json(f[worst]).dump() + ", trained on " + json(domain_lo_[worst]).dump() + " to " +
                             json(domain_hi_[worst]).dump() + ")");
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

// manifest.json holds what no other file's checksum can cover (the target, the roofline
// coefficients, the interval scales, the domain bounds, the other files' checksums), so its own
// checksum stands beside it in manifest.sha256, in sha256sum's format: a single edit of either file
// cannot keep the two consistent.
std::string read_checked_manifest(const fs::path& dir) {
  const fs::path manifest = dir / kManifestFile, checksum = dir / kManifestChecksumFile;
  if (!fs::exists(manifest))
    throw ModelError(dir.string() + ": no " + std::string(kManifestFile) +
                     "; every subfolder of a models folder must be a model folder written by opcast train");
  const std::string text = read_file(manifest);
  if (!fs::exists(checksum))
    throw ModelError(checksum.string() + ": missing; the manifest's checksum is needed to trust it (retrain the "
                     "model with this opcast)");
  const std::string line = read_file(checksum);
  const std::string expected = sha256_hex(text) + "  " + kManifestFile + "\n";
  if (line != expected)
    throw ModelError(manifest.string() + ": checksum mismatch with " + std::string(kManifestChecksumFile) +
                     " (manifest edited, corrupt or replaced); expected the line \"" +
                     expected.substr(0, expected.size() - 1) + "\"");
  return text;
}

Predictor::Predictor(const std::string& models_dir, const WormholeSpec& spec) : spec_(spec) {
  const fs::path root(models_dir);
  if (!fs::is_directory(root)) throw ModelError(models_dir + ": not a directory of opcast models");
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  for (const auto& dir : dirs) {
    const std::string where = (dir / kManifestFile).string();
    json manifest;
    try {
      manifest = json::parse(read_checked_manifest(dir));
    } catch (const json::exception& e) {
      throw ModelError(where + ": malformed JSON: " + e.what());
    }
    try {
      auto model = std::make_unique<OpModel>(dir, manifest);
      const std::string op = model->info().op;
      if (models_.count(op)) throw ModelError(models_dir + ": two model folders for " + op);
      models_.emplace(op, std::move(model));
    } catch (const json::exception& e) {
      throw ModelError(where + ": " + e.what());
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

std::vector<Prediction> Predictor::predict_batch(const std::vector<Query>& queries,
                                                 std::vector<std::string>* errors) const {
  std::vector<Prediction> out(queries.size());
  if (errors) errors->assign(queries.size(), std::string());
  // A row's own error: collected when asked for, else raised as the first one met.
  auto row_failed = [&](std::size_t row, const std::exception& e) {
    if (!errors) throw;
    (*errors)[row] = e.what();
  };
  // Group by op so each ensemble runs once over its rows as a matrix.
  std::map<const OpModel*, std::vector<std::size_t>> by_model;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    try {
      by_model[&model_for(queries[i])].push_back(i);
    } catch (const ModelError& e) {
      row_failed(i, e);
    }
  }
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
      try {
        out[pending[k]] = model->answer(f, roofs[k], results[k]);
      } catch (const QueryError& e) {
        row_failed(pending[k], e);
      }
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
