// The query library's entry point: loads a folder of models once and answers queries in
// microseconds, with an interval and an out-of-domain flag. Each query is answered by the first of
// three tiers that covers its op: the op's own model, the model of its kind (trained on every
// measured op of the kind), the calibrated roofline of its kind (every catalogued op). Immutable
// after construction, so one Predictor may serve many threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "opcast/features.hpp"
#include "opcast/query.hpp"

namespace opcast {

struct Prediction {
  double ns = 0;         // predicted device kernel duration
  double lo_ns = 0;      // interval (about 90% of held-out measurements fall inside)
  double hi_ns = 0;
  bool in_domain = false;  // every feature inside the range the model was trained on
  // which tier and model answered: the op's model ("mlp-ensemble:ttnn.exp@3f2a9c1d0b7e", or
  // "measured-program:ttnn.matmul@..." when a training configuration ran the same per-core program),
  // its kind's model ("kind-ensemble:eltwise_unary@..."), or its kind's calibrated roofline
  // ("calibrated-roofline:eltwise_unary@...", "calibrated-roofline:all_kinds@..." for a kind nothing
  // was measured for)
  std::string source;
  // the tt-metal build the answer is for (the query's, else the model's newest); empty where the
  // model records no builds
  std::string build;
};

// A model folder's manifest and, beside it, the manifest's own checksum (sha256sum's format).
inline constexpr const char* kManifestFile = "manifest.json";
inline constexpr const char* kManifestChecksumFile = "manifest.sha256";

struct ModelInfo {
  std::string scope;           // "op" (one op's model), "kind" (every op of a kind) or "roofline" (the floor)
  std::string op;              // op models only
  std::string kind;            // op and kind models
  std::string dir;
  std::string source;          // the Prediction::source this model reports
  std::string target;          // "ln_ns", "ln_ratio_roofline" or "ln_ratio_fitted_roofline"
  std::string dataset_hash;
  std::size_t members = 0;
  std::size_t memo_programs = 0;  // measured per-core programs the model answers from directly
};

class EnsembleModel;  // an op's or a kind's ensemble, scaler, domain and calibration (predictor.cpp)
class RooflineModel;  // the calibrated roofline of every kind (predictor.cpp)

class Predictor {
 public:
  // Loads every subfolder of models_dir that holds a manifest.json. Throws ModelError when the
  // folder has no models, or any model has a wrong checksum, schema version or format.
  explicit Predictor(const std::string& models_dir, const WormholeSpec& spec = {});
  ~Predictor();
  Predictor(Predictor&&) noexcept;
  Predictor& operator=(Predictor&&) noexcept;

  // A query in JSON (TensorSpec or short form). Throws QueryError for a bad query and ModelError
  // when no tier covers the op (a models folder without a kind model or calibrated roofline).
  Prediction predict(std::string_view query_json) const;
  Prediction predict(const Query& query) const;

  // tt-metal's and TORP's call shape (TORP: get_runtime_from_model(op_name, tensor_json...,
  // output_memory_config)), answered as predict answers a query:
  //   predictor.get_runtime_from_model("exp", tensor_json);
  //   predictor.get_runtime_from_model("ttnn::add", a_json, b_json, output_memory_config);
  // The op as tt-metal, ttnn or TORP names it ("ttnn::exp", "ttnn.exp", "exp"); each tensor as ttnn
  // serializes it (TensorSpec JSON, TORP's 0-padded shapes and defaults, torp_query) or in the short
  // form. In the variadic form a last argument that is not a tensor (null, {}, or a MemoryConfig) is
  // the output's memory config.
  Prediction get_runtime_from_model(std::string_view op_name, const std::vector<nlohmann::json>& tensors,
                                    const nlohmann::json& output_memory_config = nullptr,
                                    const nlohmann::json& attributes = nullptr) const;
  template <class First, class... Rest,
            std::enable_if_t<!std::is_same_v<std::decay_t<First>, std::vector<nlohmann::json>>, int> = 0>
  Prediction get_runtime_from_model(std::string_view op_name, const First& first, const Rest&... rest) const {
    return runtime_from_arguments(op_name, std::vector<nlohmann::json>{nlohmann::json(first), nlohmann::json(rest)...});
  }
  // Vectorised over the batch. Without `errors`, the first row that cannot be answered raises as
  // predict would; with it, that row's message goes to (*errors)[row] (empty for answered rows), its
  // Prediction stays default, and every other row is answered.
  std::vector<Prediction> predict_batch(const std::vector<Query>& queries,
                                        std::vector<std::string>* errors = nullptr) const;

  std::vector<ModelInfo> models() const;
  // Whether some tier answers queries of this op.
  bool has_model(std::string_view op) const;

 private:
  // The op's model, else its kind's; nullptr when the calibrated roofline answers; ModelError when
  // nothing does.
  const EnsembleModel* ensemble_for(const Query& q) const;
  const EnsembleModel* ensemble_for_build(const Query& q) const;
  Prediction runtime_from_arguments(std::string_view op_name, std::vector<nlohmann::json> arguments) const;
  // A kind model's answer, or the calibrated roofline's where that one's interval is narrower.
  Prediction more_certain(Prediction ensemble_answer, const EnsembleModel& m, const Query& q, const Roofline& r) const;
  WormholeSpec spec_;
  std::map<std::string, std::unique_ptr<EnsembleModel>, std::less<>> op_models_;
  std::map<OpKind, std::unique_ptr<EnsembleModel>> kind_models_;
  std::unique_ptr<RooflineModel> roofline_;
};

}  // namespace opcast
