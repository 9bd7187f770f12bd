// Parses a query and prints its roofline; an unknown op must raise opcast::QueryError.
#include <cstdio>

#include <opcast/features.hpp>
#include <opcast/predictor.hpp>

int main() {
  const opcast::Query q = opcast::parse_query(
      R"({"op": "ttnn.exp", "inputs": [{"shape": [1,1,256,256], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})");
  const double roof = opcast::roofline(q).total_ns;
  std::printf("roofline %.1f ns\n", roof);
  try {
    opcast::parse_query(R"({"op": "ttnn.nope", "inputs": []})");
    return 1;
  } catch (const opcast::QueryError& e) {
    std::printf("refused: %s\n", e.what());
  }
  return roof > 0 ? 0 : 1;
}
