// A model folder written by hand for the C++ tests and the fuzz target: a known ensemble (linear
// members), a manifest, and the checksums the predictor checks.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "opcast/predictor.hpp"

namespace opcast::test_support {

namespace fs = std::filesystem;

template <typename T>
inline void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

// Two members, each a single linear layer reading only feature 0 (log2 roofline):
// y_k = slope * f0 + intercept_k, so the ensemble mean and spread are known in closed form.
inline std::string linear_weights(double slope, const std::vector<double>& intercepts) {
  std::string s = "OPCASTW1";
  put<std::uint32_t>(s, 1);
  put<std::uint32_t>(s, kNumFeatures);
  put<std::uint32_t>(s, static_cast<std::uint32_t>(intercepts.size()));
  for (std::size_t i = 0; i < kNumFeatures; ++i) put<double>(s, 0.0);  // feature means
  for (std::size_t i = 0; i < kNumFeatures; ++i) put<double>(s, 1.0);  // feature stds
  put<double>(s, 0.0);                                                  // y mean
  put<double>(s, 1.0);                                                  // y std
  for (double c : intercepts) {
    put<std::uint32_t>(s, 1);             // layers
    put<std::uint32_t>(s, 1);             // rows (out)
    put<std::uint32_t>(s, kNumFeatures);  // cols (in)
    put<std::uint32_t>(s, 0);             // identity
    for (std::size_t i = 0; i < kNumFeatures; ++i) put<double>(s, i == 0 ? slope : 0.0);
    put<double>(s, c);
  }
  return s;
}

inline std::string sha256(const std::string& data) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d, &n, EVP_sha256(), nullptr);
  std::ostringstream hex;
  for (unsigned i = 0; i < n; ++i) hex << std::hex << std::setw(2) << std::setfill('0') << int(d[i]);
  return hex.str();
}

struct ModelDir {
  fs::path root;
  explicit ModelDir(const std::string& name) : root(fs::temp_directory_path() / ("opcast_test_" + name)) {
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~ModelDir() { fs::remove_all(root); }

  nlohmann::json write(const std::string& op, const std::string& weights, const std::string& target = "ln_ns") {
    const fs::path dir = root / op.substr(5);
    fs::create_directories(dir);
    std::ofstream(dir / "weights.bin", std::ios::binary) << weights;
    nlohmann::json m = common(target);
    m["op"] = op;
    m["catalogue_entry"] = served_entry(*find_op(op));
    m["files"] = {{"weights.bin", sha256(weights)}};
    write_manifest(op, m);
    return m;
  }
  void write_manifest(const std::string& op, const nlohmann::json& m) { write_manifest_in(op.substr(5), m); }

  // A kind model (every op of `kind`): the ensemble `weights` on the plain roofline ratio, a learned
  // ln factor for each op of `factors`, and the interval k 2 for measured ops, `unmeasured_k` else.
  nlohmann::json write_kind(const std::string& kind, const std::string& weights,
                            const std::map<std::string, double>& factors, double unmeasured_k) {
    const std::string folder = "kind-" + kind;
    fs::create_directories(root / folder);
    std::ofstream(root / folder / "weights.bin", std::ios::binary) << weights;
    nlohmann::json m = common("ln_ratio_roofline");
    m["scope"] = "kind";
    m["kind"] = kind;
    m["ops"] = nlohmann::json::object();
    for (const auto& [op, factor] : factors)
      m["ops"][op] = {{"log_factor", factor}, {"rows", 10}, {"catalogue_entry", served_entry(*find_op(op))}};
    m["unmeasured_interval"] = {{"k", unmeasured_k}, {"sigma0", 0.5}};
    m["files"] = {{"weights.bin", sha256(weights)}};
    write_manifest_in(folder, m);
    return m;
  }

  // The calibrated roofline: `per_kind` fits (coefficients of roofline_term_names(), k, sigma0) by
  // kind name, and the fit over every kind.
  nlohmann::json write_roofline(const std::map<std::string, std::vector<double>>& per_kind,
                                const std::vector<double>& all_kinds, double k, double sigma0) {
    const auto& names = roofline_term_names();
    auto fit = [&](const std::vector<double>& c) {
      return nlohmann::json{{"fitted_roofline", {{"terms", std::vector<std::string>(names.begin(), names.end())},
                                                 {"coefficients", c}}},
                            {"interval", {{"k", k}, {"sigma0", sigma0}}}};
    };
    nlohmann::json m = common("calibrated_roofline");
    m["scope"] = "roofline";
    m["kinds"] = nlohmann::json::object();
    for (const auto& [kind, c] : per_kind) m["kinds"][kind] = fit(c);
    m["all_kinds"] = fit(all_kinds);
    fs::create_directories(root / "roofline");
    write_manifest_in("roofline", m);
    return m;
  }

  void write_manifest_in(const std::string& folder, const nlohmann::json& m) {
    const std::string text = m.dump(2);
    std::ofstream(root / folder / kManifestFile) << text;
    std::ofstream(root / folder / kManifestChecksumFile) << sha256(text) << "  " << kManifestFile << "\n";
  }

 private:
  static nlohmann::json common(const std::string& target) {
    nlohmann::json m;
    m["format"] = "opcast-model";
    m["format_version"] = 1;
    m["feature_schema_version"] = kFeatureSchemaVersion;
    m["feature_names"] = std::vector<std::string>(feature_names().begin(), feature_names().end());
    m["target"] = target;
    m["domain"] = {{"min", std::vector<double>(kNumFeatures, -1e9)}, {"max", std::vector<double>(kNumFeatures, 1e9)}};
    m["interval"] = {{"k", 2.0}, {"sigma0", 0.0}};
    m["dataset"] = {{"hash", "0123456789abcdef0123"}};
    return m;
  }
};

}  // namespace opcast::test_support
