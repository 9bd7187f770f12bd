// Query speed from C++: one JSON query through a loaded Predictor, against a baseline that loads
// the model folder for every query (TORP's way). Prints medians and their ratio.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "opcast/predictor.hpp"

namespace {

template <typename F>
double median_ns(F&& f, int reps, int inner) {
  std::vector<double> samples;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < inner; ++i) f();
    const auto t1 = std::chrono::steady_clock::now();
    samples.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / inner);
  }
  std::nth_element(samples.begin(), samples.begin() + reps / 2, samples.end());
  return samples[static_cast<std::size_t>(reps / 2)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODELS_DIR QUERY_JSON [QUERY_JSON ...]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const opcast::Predictor predictor(dir);
  std::printf("%-60s %12s %12s %12s %12s %12s %8s\n", "query", "loaded [ns]", "parse [ns]", "features [ns]",
              "predict [ns]", "reload [ns]", "ratio");
  for (int a = 2; a < argc; ++a) {
    const std::string q = argv[a];
    volatile double sink = 0;
    const double parse = median_ns([&] { sink = sink + opcast::parse_query(q).inputs.size(); }, 31, 2000);
    const double loaded = median_ns([&] { sink = sink + predictor.predict(q).ns; }, 31, 2000);
    const opcast::Query parsed = opcast::parse_query(q);
    const double feats = median_ns([&] { sink = sink + opcast::features(parsed)[0]; }, 31, 2000);
    const double model = median_ns([&] { sink = sink + predictor.predict(parsed).ns; }, 31, 2000);
    const double reload = median_ns([&] { sink = sink + opcast::Predictor(dir).predict(q).ns; }, 11, 20);
    std::printf("%-60.60s %12.0f %12.0f %12.0f %12.0f %12.0f %8.1f\n", q.c_str(), loaded, parse, feats, model, reload,
                reload / loaded);
  }
  return 0;
}
