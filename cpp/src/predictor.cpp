// Loading model folders (manifest, checksums, weights) and answering queries, in three tiers: an
// op's own model where it was measured enough, else the model of its kind (every op of the kind
// trained together, a learned factor per measured op), else the calibrated roofline of its kind.
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

#include "build_table.hpp"
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

// A manifest's fields, each lookup naming the file when the field is missing.
class Manifest {
 public:
  Manifest(const json& j, std::string where) : j_(j), where_(std::move(where)) {}
  const json& field(const char* key) const {
    auto it = j_.find(key);
    if (it == j_.end()) throw ModelError(where_ + ": missing field \"" + key + "\"");
    return *it;
  }
  bool has(const char* key) const { return j_.contains(key); }
  const std::string& where() const { return where_; }

 private:
  const json& j_;
  std::string where_;
};

// The coefficients of a calibrated roofline, sum_k c_k * term_k: non-negative, named as this
// library names its terms, and a positive launch term (the only term positive for every query, so
// the base is never 0).
RooflineTerms read_coefficients(const json& fitted, const std::string& where) {
  const auto terms = fitted.at("terms").get<std::vector<std::string>>();
  const auto coef = fitted.at("coefficients").get<std::vector<double>>();
  const auto& ours = roofline_term_names();
  if (terms.size() != kNumRooflineTerms || !std::equal(terms.begin(), terms.end(), ours.begin()) ||
      coef.size() != kNumRooflineTerms)
    throw ModelError(where + ": fitted_roofline terms differ from this library's roofline terms");
  RooflineTerms out{};
  for (std::size_t k = 0; k < kNumRooflineTerms; ++k) {
    if (!std::isfinite(coef[k]) || coef[k] < 0)
      throw ModelError(where + ": fitted_roofline coefficient of " + terms[k] + " must be finite and >= 0");
    out[k] = coef[k];
  }
  if (!(out[0] > 0)) throw ModelError(where + ": fitted_roofline coefficient of launch_ns must be > 0");
  return out;
}

double calibrated_roofline_ns(const RooflineTerms& c, const Roofline& r) {
  const RooflineTerms t = roofline_terms(r);
  double sum = 0;
  for (std::size_t k = 0; k < kNumRooflineTerms; ++k) sum += c[k] * t[k];
  return sum;
}

void check_format(const Manifest& m) {
  if (m.field("format") != "opcast-model" || !m.field("format_version").is_number_integer() ||
      m.field("format_version") != 1)
    throw ModelError(m.where() + ": not an opcast model manifest of format_version 1");
  if (!m.field("feature_schema_version").is_number_integer())
    throw ModelError(m.where() + ": feature_schema_version must be an integer, got " +
                     m.field("feature_schema_version").dump());
  const int schema = m.field("feature_schema_version").get<int>();
  if (schema != kFeatureSchemaVersion)
    throw ModelError(m.where() + ": trained with feature schema version " + std::to_string(schema) +
                     ", this library computes version " + std::to_string(kFeatureSchemaVersion) +
                     "; retrain the model with this opcast");
}

// The op of a catalogue entry a model recorded, checked against the catalogue in use. The parser and
// the roofline read the entry (its kind, inputs, per-tile cost, default attributes): a model trained
// on another entry would see other features. Only the model's own ops count: other ops, aliases and
// profiler op codes may come and go.
const OpInfo& checked_op(const std::string& name, const json& recorded_entry, const std::string& where) {
  const OpInfo* op = find_op(name);
  if (!op) throw ModelError(where + ": op \"" + name + "\" is not in the catalogue");
  check_catalogue_entry(recorded_entry, served_entry(*op), where);
  return *op;
}

OpKind find_kind(const std::string& name, const std::string& where) {
  if (const auto kind = kind_named(name)) return *kind;
  throw ModelError(where + ": unknown op kind \"" + name + "\"");
}

// The builds a manifest's model knows (none in folders trained before builds were recorded).
BuildTable read_builds(const Manifest& m) {
  return m.has("builds") ? BuildTable(m.field("builds"), m.where()) : BuildTable();
}

// The build a query names, from a model's table: nullptr where the table is empty (the model
// answers for whatever it was trained on) and no build is named.
const std::pair<const std::string, BuildFactor>* build_of(const BuildTable& builds, const Query& q) {
  if (builds.empty()) return nullptr;
  return builds.find(q.build, q.op->name);
}

// An answer moved to a build: its factor and shift on the time, its uncertainty added to the interval.
void move_to_build(Prediction& p, const std::pair<const std::string, BuildFactor>* build) {
  if (!build) return;
  const BuildFactor& b = build->second;
  const double down = std::log(p.ns / p.lo_ns), up = std::log(p.hi_ns / p.ns);
  const double ln_ns = std::log(moved(p.ns, b));
  p.ns = std::exp(ln_ns);
  p.lo_ns = std::exp(ln_ns - widened(down, b));
  p.hi_ns = std::exp(ln_ns + widened(up, b));
  p.build = build->first;
}

Calibration read_calibration(const json& j, const std::string& where) {
  const Calibration c{j.at("k").get<double>(), j.at("sigma0").get<double>()};
  if (!(c.k > 0 && std::isfinite(c.k) && c.sigma0 >= 0 && std::isfinite(c.sigma0)))
    throw ModelError(where + ": interval k must be finite and > 0, sigma0 finite and >= 0");
  return c;
}

// A configuration whose very program was measured: the measurement, in domain, moved to the
// query's build.
Prediction measured_answer(const MemoAnswer& hit, const std::string& source, const BuildTable& builds, const Query& q) {
  Prediction p;
  p.ns = hit.ns;
  p.lo_ns = hit.lo_ns;
  p.hi_ns = hit.hi_ns;
  p.in_domain = true;
  p.source = source;
  move_to_build(p, build_of(builds, q));
  return p;
}

}  // namespace

// One trained ensemble: an op model (scope "op": one op, maybe a program memo) or a kind model (scope
// "kind": every measured op of one kind trained together; each measured op gets a learned factor,
// other ops of the kind enter through their catalogue entry alone).
class EnsembleModel {
 public:
  EnsembleModel(const fs::path& dir, const Manifest& m, bool kind_scope) : kind_scope_(kind_scope) {
    const std::string& where = m.where();
    info_.dir = dir.string();
    if (kind_scope_) {
      info_.scope = "kind";
      info_.kind = m.field("kind").get<std::string>();
      for (const auto& [op, entry] : m.field("ops").items()) {
        const OpInfo& info = checked_op(op, entry.at("catalogue_entry"), where + ": ops." + op);
        if (to_string(info.kind) != info_.kind)
          throw ModelError(where + ": ops." + op + " is of kind " + to_string(info.kind) + ", not " + info_.kind);
        const double factor = entry.at("log_factor").get<double>();
        if (!(std::abs(factor) <= 20)) throw ModelError(where + ": ops." + op + ".log_factor must be in [-20, 20]");
        log_factors_.emplace(info.name, factor);
        // An op measured on too few configurations for a model of its own: its measurements (each on
        // the reference build), answered as they were measured.
        if (entry.contains("memo"))
          op_memos_.emplace(info.name, ProgramMemo::from_json(entry.at("memo").dump(), where + ": ops." + op + ".memo"));
      }
      unmeasured_ = read_calibration(m.field("unmeasured_interval"), where + ": unmeasured_interval");
    } else {
      info_.scope = "op";
      info_.op = m.field("op").get<std::string>();
      const OpInfo& op = checked_op(info_.op, m.field("catalogue_entry"), where);
      info_.kind = to_string(op.kind);
    }
    const auto names = m.field("feature_names").get<std::vector<std::string>>();
    const auto& ours = feature_names();
    if (names.size() != kNumFeatures || !std::equal(names.begin(), names.end(), ours.begin()))
      throw ModelError(where + ": feature_names differ from this library's feature schema");

    const std::string target = m.field("target").get<std::string>();
    if (target == "ln_ns") target_ = Target::ln_ns;
    else if (target == "ln_ratio_roofline") target_ = Target::ln_ratio_roofline;
    else if (target == "ln_ratio_fitted_roofline") target_ = Target::ln_ratio_fitted_roofline;
    else
      throw ModelError(where + ": unknown target \"" + target +
                       "\"; expected ln_ns, ln_ratio_roofline or ln_ratio_fitted_roofline");
    info_.target = target;
    if (target_ == Target::ln_ratio_fitted_roofline) fitted_ = read_coefficients(m.field("fitted_roofline"), where);

    // Every file the manifest lists must match its checksum: a model is refused, never half-used.
    for (const auto& [name, digest] : m.field("files").items()) {
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

    const json& domain = m.field("domain");
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
    if (m.has("clamp_features_to_domain")) {
      if (!m.field("clamp_features_to_domain").is_boolean())
        throw ModelError(where + ": clamp_features_to_domain must be true or false");
      clamp_ = m.field("clamp_features_to_domain").get<bool>();
    }

    const json& interval = m.field("interval");
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

    builds_ = read_builds(m);
    info_.dataset_hash = m.field("dataset").at("hash").get<std::string>();
    info_.members = ensemble_.members();
    const std::string model_tag = (kind_scope_ ? info_.kind : info_.op) + "@" + info_.dataset_hash.substr(0, 12);
    info_.source = (kind_scope_ ? "kind-ensemble:" : "mlp-ensemble:") + model_tag;
    info_.memo_programs = memo_.size();
    memo_source_ = "measured-program:" + model_tag;
  }

  const ModelInfo& info() const { return info_; }

  // The memo's answer when a training configuration ran this query's per-core program; asked before
  // the ensemble, which then need not run.
  std::optional<Prediction> measured(const Query& q, const FeatureVector& f) const {
    const auto op_memo = op_memos_.find(q.op->name);
    const auto hit = op_memo != op_memos_.end() ? op_memo->second.find(f) : memo_.find(f);
    if (!hit) return std::nullopt;
    return measured_answer(*hit, memo_source_, builds_, q);
  }

  Prediction answer(const Query& q, const FeatureVector& f, const Roofline& r, const EnsembleOutput& out) const {
    // A kind model answers an op it measured with that op's factor and the calibration of measured
    // ops; any other op of its kind with no factor and the calibration of ops it never saw (its
    // out-of-fold errors with whole ops held out). An op model measured its one op.
    const auto factor = log_factors_.find(q.op->name);
    const bool measured_op = !kind_scope_ || factor != log_factors_.end();
    const double base = std::log(base_ns(r));
    const double mean = out.mean + (kind_scope_ && measured_op ? factor->second : 0.0);
    const Calibration& c = measured_op ? calibration_for(f) : unmeasured_;
    const double half = c.k * std::sqrt(out.std * out.std + c.sigma0 * c.sigma0);
    Prediction p;
    p.ns = std::exp(base + mean);
    p.lo_ns = std::exp(base + mean - half);
    p.hi_ns = std::exp(base + mean + half);
    p.in_domain = measured_op;
    constexpr double eps = 1e-9;
    for (std::size_t i = 0; i < kNumFeatures; ++i)
      if (f[i] < domain_lo_[i] - eps || f[i] > domain_hi_[i] + eps) p.in_domain = false;
    p.source = info_.source;
    if (!(std::isfinite(p.hi_ns) && p.lo_ns > 0)) fail_out_of_range(f, base);
    move_to_build(p, build_of(builds_, q));
    return p;
  }

  const Ensemble& ensemble() const { return ensemble_; }
  const BuildTable& builds() const { return builds_; }

  // What the ensemble reads for a query: its features, held inside the training range where the
  // manifest asks for it. A kind model answers ops and regions it never saw; an MLP's members part
  // ways outside their range (one feature a little past it can spread them by e^13), while the base
  // still scales with the query.
  FeatureVector ensemble_input(const FeatureVector& f) const {
    if (!clamp_) return f;
    FeatureVector in;
    for (std::size_t i = 0; i < kNumFeatures; ++i) in[i] = std::clamp(f[i], domain_lo_[i], domain_hi_[i]);
    return in;
  }

 private:
  // What the ensemble's output is relative to: ns = base_ns * exp(output).
  double base_ns(const Roofline& r) const {
    switch (target_) {
      case Target::ln_ns: return 1.0;
      case Target::ln_ratio_roofline: return r.total_ns;
      case Target::ln_ratio_fitted_roofline: return calibrated_roofline_ns(fitted_, r);
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
    std::string why = "the " + (kind_scope_ ? info_.kind : info_.op) +
                      " model's answer to this query is not a finite positive number";
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

  bool kind_scope_ = false;
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
  std::map<std::string, double, std::less<>> log_factors_;  // kind models: measured op -> ln factor
  std::map<std::string, ProgramMemo, std::less<>> op_memos_;  // kind models: sparsely measured op -> its measurements
  Calibration unmeasured_;
  bool clamp_ = false;  // the ensemble reads features held inside the training range
  BuildTable builds_;
};

// The floor under every op: the catalogue's roofline with its constants fitted per kind on whatever
// was measured, and an interval calibrated on how far it lands from measured ops of its kind it never
// saw (each op held out of the fit in turn). Kinds nothing was measured for take the fit over every
// measured op. Its answers are never in domain.
class RooflineModel {
 public:
  RooflineModel(const fs::path& dir, const Manifest& m) {
    const std::string& where = m.where();
    info_.dir = dir.string();
    info_.scope = "roofline";
    info_.target = "calibrated_roofline";
    info_.dataset_hash = m.field("dataset").at("hash").get<std::string>();
    const std::string tag = "@" + info_.dataset_hash.substr(0, 12);
    auto read = [&](const json& j, const std::string& name) {
      return Fit{read_coefficients(j.at("fitted_roofline"), where + ": " + name),
                 read_calibration(j.at("interval"), where + ": " + name + ".interval"), "calibrated-roofline:" + name + tag};
    };
    for (const auto& [kind, fit] : m.field("kinds").items()) kinds_.emplace(find_kind(kind, where), read(fit, kind));
    fallback_ = read(m.field("all_kinds"), "all_kinds");
    info_.source = fallback_.source;
    // The measured ops of kinds with too few configurations for a kind model (a dashboard's seven
    // reductions): answered as they were measured, like a kind model's sparsely measured ops.
    if (m.has("measured_ops"))
      for (const auto& [op, entry] : m.field("measured_ops").items()) {
        const std::string at = where + ": measured_ops." + op;
        const OpInfo& info = checked_op(op, entry.at("catalogue_entry"), at);
        measured_ops_.emplace(info.name, MeasuredOp{ProgramMemo::from_json(entry.at("memo").dump(), at + ".memo"),
                                                    std::string("measured-program:") + to_string(info.kind) + tag});
      }
    builds_ = read_builds(m);
  }

  const ModelInfo& info() const { return info_; }
  const BuildTable& builds() const { return builds_; }

  // The measurement of a configuration of a measured op, where this very program was measured.
  std::optional<Prediction> measured(const Query& q, const FeatureVector& f) const {
    const auto op = measured_ops_.find(q.op->name);
    if (op == measured_ops_.end()) return std::nullopt;
    const auto hit = op->second.memo.find(f);
    if (!hit) return std::nullopt;
    return measured_answer(*hit, op->second.source, builds_, q);
  }

  Prediction answer(const Query& q, const Roofline& r) const {
    const auto it = kinds_.find(q.op->kind);
    const Fit& fit = it == kinds_.end() ? fallback_ : it->second;
    const double ns = calibrated_roofline_ns(fit.coefficients, r);
    const double half = fit.interval.k * fit.interval.sigma0;
    Prediction p;
    p.ns = ns;
    p.lo_ns = ns * std::exp(-half);
    p.hi_ns = ns * std::exp(half);
    p.in_domain = false;
    p.source = fit.source;
    if (!(std::isfinite(p.hi_ns) && p.lo_ns > 0))
      throw QueryError("", "the calibrated roofline of this query is not a finite positive number (" +
                               json(ns).dump() + " ns)");
    move_to_build(p, build_of(builds_, q));
    return p;
  }

 private:
  struct Fit {
    RooflineTerms coefficients;
    Calibration interval;
    std::string source;
  };
  ModelInfo info_;
  std::map<OpKind, Fit> kinds_;
  Fit fallback_;
  struct MeasuredOp {
    ProgramMemo memo;    // its measurements
    std::string source;  // "measured-program:<kind>@..."
  };
  std::map<std::string, MeasuredOp, std::less<>> measured_ops_;  // by op
  BuildTable builds_;
};

namespace {

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

}  // namespace

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
      const Manifest m(manifest, where);
      check_format(m);
      const std::string scope = m.has("scope") ? m.field("scope").get<std::string>() : "op";
      if (scope == "op") {
        auto model = std::make_unique<EnsembleModel>(dir, m, false);
        const std::string op = model->info().op;
        if (!op_models_.emplace(op, std::move(model)).second)
          throw ModelError(models_dir + ": two model folders for " + op);
      } else if (scope == "kind") {
        auto model = std::make_unique<EnsembleModel>(dir, m, true);
        const OpKind kind = find_kind(model->info().kind, where);
        if (!kind_models_.emplace(kind, std::move(model)).second)
          throw ModelError(models_dir + ": two kind models for " + to_string(kind));
      } else if (scope == "roofline") {
        if (roofline_) throw ModelError(models_dir + ": two calibrated-roofline folders");
        roofline_ = std::make_unique<RooflineModel>(dir, m);
      } else {
        throw ModelError(where + ": unknown scope \"" + scope + "\"; expected op, kind or roofline");
      }
    } catch (const json::exception& e) {
      throw ModelError(where + ": " + e.what());
    }
  }
  if (op_models_.empty() && kind_models_.empty() && !roofline_)
    throw ModelError(models_dir + ": no model folders (subfolders with manifest.json)");
}

Predictor::~Predictor() = default;
Predictor::Predictor(Predictor&&) noexcept = default;
Predictor& Predictor::operator=(Predictor&&) noexcept = default;

const EnsembleModel* Predictor::ensemble_for(const Query& q) const {
  if (!q.build.empty()) return ensemble_for_build(q);
  if (const auto it = op_models_.find(q.op->name); it != op_models_.end()) return it->second.get();
  if (const auto it = kind_models_.find(q.op->kind); it != kind_models_.end()) return it->second.get();
  if (roofline_) return nullptr;
  std::string have;
  for (const auto& info : models()) have += (have.empty() ? "" : ", ") + (info.op.empty() ? info.kind : info.op);
  throw ModelError("no model for " + q.op->name + " (kind " + to_string(q.op->kind) +
                   "); this models folder has models for: " + have +
                   ", and no calibrated roofline (retrain with this opcast)");
}

// A query that names a build is answered by the first tier that knows the build: the op's model
// measured the op, its kind's model the kind, on more builds than the op's own sweep may have.
const EnsembleModel* Predictor::ensemble_for_build(const Query& q) const {
  std::string known;
  auto knows = [&](const BuildTable& builds, const std::string& model) {
    if (builds.find(q.build)) return true;
    known += (known.empty() ? "" : "; ") + model + ": " + (builds.empty() ? "no build table" : builds.names());
    return false;
  };
  if (const auto it = op_models_.find(q.op->name); it != op_models_.end() && knows(it->second->builds(), q.op->name))
    return it->second.get();
  if (const auto it = kind_models_.find(q.op->kind);
      it != kind_models_.end() && knows(it->second->builds(), std::string("kind ") + to_string(q.op->kind)))
    return it->second.get();
  if (roofline_ && knows(roofline_->builds(), "calibrated roofline")) return nullptr;
  throw QueryError("build", "no model of " + q.op->name + " knows the build \"" + q.build + "\" (" +
                                (known.empty() ? "no models of it" : known) +
                                "); fit its factor from a few measurements with opcast recalibrate");
}

Prediction Predictor::predict(std::string_view query_json) const { return predict(parse_query(query_json)); }

namespace {

// No single op on a Wormhole takes 1000 s (a 12 GiB tensor streams through DRAM in about 0.05 s): an
// answer past it comes from a query the models have no business answering.
constexpr double kMaxAnswerNs = 1e12;

// An interval wider than 100x says the model does not know the region, whatever the ranges of the
// features say (a fuzz campaign of 1.55 million queries found such answers flagged in domain): the
// answer is not called in domain, so a caller who trusts in_domain never trusts a guess.
constexpr double kMaxInDomainSpread = 100;

Prediction plausible(Prediction p) {
  if (p.ns > kMaxAnswerNs)
    throw QueryError("", "the answer, " + json(p.ns / 1e9).dump() + " s (" + p.source + "), is more than the 1000 s "
                         "no single op on a Wormhole takes; the query lies far outside what was measured");
  if (p.hi_ns > kMaxInDomainSpread * p.lo_ns) p.in_domain = false;
  return p;
}

}  // namespace

Prediction Predictor::predict(const Query& q) const {
  const EnsembleModel* m = ensemble_for(q);
  Roofline r;
  const FeatureVector f = features(q, r, spec_);
  if (!m) {
    if (auto p = roofline_->measured(q, f)) return plausible(*std::move(p));
    return plausible(roofline_->answer(q, r));
  }
  if (auto p = m->measured(q, f)) return plausible(*std::move(p));
  return plausible(more_certain(m->answer(q, f, r, m->ensemble().predict(m->ensemble_input(f).data())), *m, q, r));
}

Prediction Predictor::get_runtime_from_model(std::string_view op_name, const std::vector<json>& tensors,
                                             const json& output_memory_config, const json& attributes) const {
  return predict(parse_query_json(torp_query(op_name, tensors, output_memory_config, attributes)));
}

Prediction Predictor::runtime_from_arguments(std::string_view op_name, std::vector<json> arguments) const {
  json output = nullptr;
  const json& last = arguments.back();
  const bool tensor = last.is_object() && (last.contains("tensor_spec") || last.contains("logical_shape") ||
                                           last.contains("shape"));
  if (arguments.size() > 1 && !tensor) {
    output = std::move(arguments.back());
    arguments.pop_back();
  }
  return get_runtime_from_model(op_name, arguments, output, nullptr);
}

Prediction Predictor::more_certain(Prediction ensemble_answer, const EnsembleModel& m, const Query& q,
                                   const Roofline& r) const {
  // A kind model's members part ways where neither its ops nor its region were measured; where its
  // interval is wider than the calibrated roofline's (calibrated on ops held out of the fit), the
  // roofline is the more honest answer. An op's own model always answers for its op.
  if (m.info().scope != "kind" || !roofline_) return ensemble_answer;
  if (!q.build.empty() && !roofline_->builds().find(q.build)) return ensemble_answer;  // it answers for another build
  Prediction floor = roofline_->answer(q, r);
  return floor.hi_ns / floor.lo_ns < ensemble_answer.hi_ns / ensemble_answer.lo_ns ? floor : ensemble_answer;
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
  // Group by model so each ensemble runs once over its rows as a matrix (nullptr: the roofline's rows).
  std::map<const EnsembleModel*, std::vector<std::size_t>> by_model;
  for (std::size_t i = 0; i < queries.size(); ++i) {
    try {
      by_model[ensemble_for(queries[i])].push_back(i);
    } catch (const ModelError& e) {
      row_failed(i, e);
    }
  }
  std::vector<double> feats;              // the ensemble's inputs, row after row
  std::vector<FeatureVector> query_feats;  // the queries' own features (domain and interval class)
  std::vector<Roofline> roofs;
  std::vector<std::size_t> pending;  // rows the memo does not answer: the ensemble runs on these only
  std::vector<EnsembleOutput> results;
  for (const auto& [model, rows] : by_model) {
    feats.clear();
    query_feats.clear();
    roofs.clear();
    pending.clear();
    for (const std::size_t row : rows) {
      Roofline r;
      const FeatureVector f = features(queries[row], r, spec_);
      if (!model) {
        try {
          auto p = roofline_->measured(queries[row], f);
          out[row] = plausible(p ? *std::move(p) : roofline_->answer(queries[row], r));
        } catch (const QueryError& e) {
          row_failed(row, e);
        }
        continue;
      }
      if (auto p = model->measured(queries[row], f)) {
        try {
          out[row] = plausible(*std::move(p));
        } catch (const QueryError& e) {
          row_failed(row, e);
        }
        continue;
      }
      const FeatureVector in = model->ensemble_input(f);
      feats.insert(feats.end(), in.begin(), in.end());
      query_feats.push_back(f);
      roofs.push_back(r);
      pending.push_back(row);
    }
    if (pending.empty()) continue;
    results.resize(pending.size());
    model->ensemble().predict_rows(feats.data(), pending.size(), results.data());
    for (std::size_t k = 0; k < pending.size(); ++k) {
      try {
        out[pending[k]] = plausible(more_certain(model->answer(queries[pending[k]], query_feats[k], roofs[k], results[k]),
                                                 *model, queries[pending[k]], roofs[k]));
      } catch (const QueryError& e) {
        row_failed(pending[k], e);
      }
    }
  }
  return out;
}

std::vector<ModelInfo> Predictor::models() const {
  std::vector<ModelInfo> infos;
  for (const auto& [op, m] : op_models_) infos.push_back(m->info());
  for (const auto& [kind, m] : kind_models_) infos.push_back(m->info());
  if (roofline_) infos.push_back(roofline_->info());
  return infos;
}

bool Predictor::has_model(std::string_view op) const {
  const OpInfo* info = find_op(op);
  return info && (op_models_.count(info->name) > 0 || kind_models_.count(info->kind) > 0 || roofline_);
}

}  // namespace opcast
