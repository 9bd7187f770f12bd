// Parses a query and prints its roofline; an unknown op and an illegal placement must raise
// opcast::QueryError.
#include <cstdio>

#include <opcast/features.hpp>
#include <opcast/predictor.hpp>

int main() {
  const opcast::Query q = opcast::parse_query(
      R"({"op": "ttnn::exp", "inputs": [{"shape": [1,1,256,256], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})");
  const double roof = opcast::roofline(q).total_ns;
  std::printf("roofline %.1f ns\n", roof);
  int refused = 0;
  for (const char* bad : {R"({"op": "ttnn.nope", "inputs": []})",
                          R"({"op": "exp", "inputs": [{"shape": [64,64], "dtype": "bfloat8_b", "layout": "ROW_MAJOR", "memory": "DRAM_INTERLEAVED"}]})"}) {
    try {
      opcast::parse_query(bad);
    } catch (const opcast::QueryError& e) {
      std::printf("refused: %s\n", e.what());
      ++refused;
    }
  }
  return roof > 0 && refused == 2 ? 0 : 1;
}
