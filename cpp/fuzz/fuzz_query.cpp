// libFuzzer target of the query library's entry point: any bytes go through parse_query, the
// canonical short form, features, the predictor (single and batch) under AddressSanitizer and
// UndefinedBehaviorSanitizer. The only outcomes allowed are an answer that is finite, positive and
// inside its own interval, or a typed QueryError / ModelError; anything else aborts the run.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include "model_folder.hpp"
#include "opcast/predictor.hpp"

namespace {

using namespace opcast;

std::unique_ptr<test_support::ModelDir> models;
std::unique_ptr<Predictor> predictor;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

void check(const Prediction& p) {
  require(std::isfinite(p.ns) && p.ns > 0 && std::isfinite(p.hi_ns) && p.lo_ns > 0 && p.lo_ns <= p.ns &&
          p.ns <= p.hi_ns && !p.source.empty());
}

}  // namespace

// One model per catalogued op, each the roofline times a factor, so every op's query reaches the
// ensemble, the interval and the domain check.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  models = std::make_unique<test_support::ModelDir>("fuzz_" + std::to_string(getpid()));
  for (const OpInfo& op : catalogue()) models->write(op.name, test_support::linear_weights(0.0, {0.1, 0.3}), "ln_ratio_roofline");
  predictor = std::make_unique<Predictor>(models->root.string());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Query q;
  try {
    q = parse_query(text);
  } catch (const QueryError&) {
    return 0;
  }
  // The canonical short form is itself a query that reads back to the same form.
  const std::string canonical = to_short_json(q);
  require(to_short_json(parse_query(canonical)) == canonical);
  try {
    check(predictor->predict(q));
  } catch (const QueryError&) {
  } catch (const ModelError&) {
  }
  std::vector<std::string> errors;
  const auto batch = predictor->predict_batch({q, q}, &errors);
  require(batch.size() == 2 && errors.size() == 2);
  for (std::size_t i = 0; i < 2; ++i)
    if (errors[i].empty()) check(batch[i]);
  return 0;
}
