// What a Wormhole would refuse is refused before any prediction, naming the rule and its numbers;
// tt-metal's and TORP's call shapes are read unchanged.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model_folder.hpp"
#include "opcast/legality.hpp"
#include "opcast/predictor.hpp"

using namespace opcast;
using namespace opcast::test_support;
using json = nlohmann::json;

namespace {

json tensor(std::vector<int> shape, const char* memory, const char* dtype = "bfloat16", const char* layout = "TILE") {
  return {{"shape", shape}, {"dtype", dtype}, {"layout", layout}, {"memory", memory}};
}

json unary(const json& t, const char* op = "ttnn.relu") { return {{"op", op}, {"inputs", {t}}}; }

// The message of the QueryError the query raises ("<no error>" when it is accepted).
std::string refusal(const json& q) {
  try {
    parse_query(q.dump());
  } catch (const QueryError& e) {
    return e.what();
  }
  return "<no error>";
}

bool says(const std::string& message, std::initializer_list<const char*> parts) {
  for (const char* p : parts)
    if (message.find(p) == std::string::npos) return false;
  return true;
}

// TORP's test_interface.cpp create_serialized_tensor: TensorSpec JSON as tt-metal sends it, the
// shape padded with 0 to rank 4.
json torp_tensor(std::vector<int> dims, int dtype, int buffer_type) {
  return {{"tensor_spec",
           {{"logical_shape", dims},
            {"tensor_layout",
             {{"alignment", {{"value", {1, 1, 32, 32}}}},
              {"dtype", dtype},
              {"memory_config", {{"buffer_type", buffer_type}, {"created_with_nd_shard_spec", false}, {"memory_layout", 0}}},
              {"page_config",
               {{"config",
                 {{"index", 1},
                  {"value", {{"tile", {{"face_shape", {16, 16}}, {"num_faces", 4}, {"tile_shape", {32, 32}}}}}}}}}}}}}},
          {"storage", {{"index", 1}, {"value", json::object()}}}};
}

}  // namespace

TEST(Legality, EachRuleNamesTheTensorTheRuleAndItsNumbers) {
  // bfloat8_b / bfloat4_b exist in TILE layout only.
  EXPECT_TRUE(says(refusal(unary(tensor({1, 1, 64, 64}, "DRAM_INTERLEAVED", "bfloat8_b", "ROW_MAJOR"))),
                   {"inputs[0]", "bfloat8_b in ROW_MAJOR", "expected layout TILE"}));
  // Larger than the n150's 12 GiB of DRAM: 2^33 bfloat16 elements are 16 GiB.
  EXPECT_TRUE(says(refusal(unary(tensor({8, 1024, 1024, 1024}, "DRAM_INTERLEAVED"))),
                   {"inputs[0]", "17179869184 bytes", "12884901888"}));
  // L1-interleaved: 64 MiB of bfloat16 fits L1 (1 MiB per bank), 128 MiB does not.
  EXPECT_EQ(refusal(unary(tensor({1, 1, 4096, 8192}, "L1_INTERLEAVED"))), "<no error>");
  EXPECT_TRUE(says(refusal(unary(tensor({1, 1, 8192, 8192}, "L1_INTERLEAVED"))),
                   {"inputs[0]", "L1_INTERLEAVED tensor of 134217728 bytes", "2097152 bytes in the busiest", "1393312"}));
  // A shard larger than one core's L1: 4096x4096 bfloat16 height-sharded over 8 cores is 4 MiB per core.
  json t = tensor({1, 1, 4096, 4096}, "L1_HEIGHT_SHARDED");
  t["core_count"] = 8;
  EXPECT_TRUE(says(refusal(unary(t)), {"inputs[0]", "one shard [512, 4096] of 4194304 bytes", "a core's L1 bank of 1393312"}));
  t["core_count"] = 64;  // 64 rows x 4096 per core: 512 KiB
  EXPECT_EQ(refusal(unary(t)), "<no error>");
  // More cores than tile rows is no rule: ttnn runs whole-tile shards that leave cores empty, and
  // real profiles hold such placements (legality.cpp).
  json few = tensor({1, 1, 64, 64}, "L1_HEIGHT_SHARDED");
  few["core_count"] = 8;
  EXPECT_EQ(refusal(unary(few)), "<no error>");
  // A block-sharded core_count must be its grid's area.
  json odd = tensor({1, 1, 1024, 1024}, "L1_BLOCK_SHARDED");
  odd["grid"] = {4, 4};
  odd["core_count"] = 12;
  EXPECT_TRUE(says(refusal(unary(odd)), {"core_count 12 on the grid 4x4", "its area 16"}));
  odd.erase("grid");  // 12 cores fill rows of 8: an 8x2 grid of 16
  EXPECT_TRUE(says(refusal(unary(odd)), {"core_count 12 on the grid 8x2"}));
  odd["core_count"] = 16;
  EXPECT_EQ(refusal(unary(odd)), "<no error>");
  // A stated output is checked as the inputs are; the derived one by its size only.
  json q = unary(tensor({1, 1, 4096, 4096}, "DRAM_INTERLEAVED"));
  q["output"] = {{"memory", "L1_HEIGHT_SHARDED"}, {"core_count", 8}};
  EXPECT_TRUE(says(refusal(q), {"output:", "one shard [512, 4096]"}));
}

TEST(Legality, TensorSpecShardShapesAreWholeTilesThatCoverTheTensor) {
  auto spec = [](std::vector<int> shard, int layout_index) {
    return json{{"op", "ttnn.relu"},
                {"inputs",
                 {{{"logical_shape", {1, 1, 256, 64}},
                   {"tensor_layout",
                    {{"dtype", 0},
                     {"memory_config",
                      {{"buffer_type", 1}, {"memory_layout", 2},
                       {"shard_spec", {{"grid", {{{"start", {{"x", 0}, {"y", 0}}}, {"end", {{"x", 7}, {"y", 0}}}}}},
                                       {"shape", shard}, {"orientation", 0}}}}},
                     {"page_config", {{"config", {{"index", layout_index}}}}}}}}}}};
  };
  EXPECT_EQ(refusal(spec({32, 64}, 1)), "<no error>");
  EXPECT_TRUE(says(refusal(spec({30, 64}, 1)), {"shard shape [30, 64] is not whole 32x32 tiles"}));
  EXPECT_EQ(refusal(spec({40, 64}, 0)), "<no error>");  // ROW_MAJOR shards are rows: 7 of them
  EXPECT_TRUE(says(refusal(spec({16, 64}, 0)), {"into 16 x 1 shards, more than the 8 x 1"}));
  // Explicit shards may leave cores empty: ttnn runs 256 rows in [128, 64] shards on 8 cores (mock, 0.81.1).
  EXPECT_EQ(refusal(spec({128, 64}, 1)), "<no error>");
  // A stated shard of 2^31 x 2^31 elements is refused without overflowing a count.
  EXPECT_TRUE(says(refusal(spec({2147483647, 2147483647}, 0)), {"larger than a core's L1 bank"}));
  // The sweeps and the oracle read such a query without the rules, to ask ttnn itself.
  EXPECT_NO_THROW(parse_query(spec({30, 64}, 1).dump(), Legality::unchecked));
}

TEST(Legality, UnknownKeysAndAttributesAreRefusedListingTheKnownOnes) {
  json q = unary(tensor({1, 1, 64, 64}, "DRAM_INTERLEAVED"));
  q["bulid"] = "abc";
  EXPECT_TRUE(says(refusal(q), {"bulid: unknown key; expected one of op, inputs, output, attributes"}));
  q.erase("bulid");
  q["attributes"] = {{"dimm", 1}};
  EXPECT_TRUE(says(refusal(q), {"attributes.dimm: unknown attribute; expected one of math_fidelity, dim,"}));
  q["attributes"] = {{"program_config", {{"type", "MatmulMultiCoreReuseProgramConfig"}}}, {"epsilon", 1e-5}};
  EXPECT_EQ(refusal(q), "<no error>");
}

TEST(Legality, TorpsTensorJsonAsTorpSendsIt) {
  // 0-padded shapes, memory_layout and memory_config left out (ttnn's default, DRAM interleaved).
  Query q = parse_query(json{{"op", "exp"}, {"inputs", {torp_tensor({2048, 2048, 0, 0}, 0, 1)}}}.dump());
  EXPECT_EQ(q.inputs[0].shape(), (std::vector<std::int64_t>{2048, 2048}));
  EXPECT_EQ(q.inputs[0].memory.buffer, BufferType::l1);
  json bare = {{"tensor_spec", {{"logical_shape", {1, 16, 256, 64}}, {"tensor_layout", {{"dtype", 0}, {"memory_config", {{"buffer_type", 0}}}}}}}};
  q = parse_query(json{{"op", "ttnn::exp"}, {"inputs", {bare}}, {"output", {{"buffer_type", 1}}}}.dump());
  EXPECT_EQ(q.inputs[0].memory.layout, MemoryLayout::interleaved);
  EXPECT_EQ(q.output.memory.buffer, BufferType::l1);
  bare["tensor_spec"]["tensor_layout"].erase("memory_config");
  q = parse_query(json{{"op", "ttnn.exp"}, {"inputs", {bare}}}.dump());
  EXPECT_EQ(memory_name(q.inputs[0].memory), "DRAM_INTERLEAVED");
  // UINT8, FP8 and INT8 have no model: refused with the reason.
  EXPECT_TRUE(says(refusal(json{{"op", "exp"}, {"inputs", {torp_tensor({32, 32, 0, 0}, 5, 0)}}}), {"DataType 5 (UINT8)"}));
  EXPECT_TRUE(says(refusal(json{{"op", "exp"}, {"inputs", {torp_tensor({32, 32, 0, 0}, 9, 0)}}}), {"DataType 9 (INT8)"}));
  // A zero inside the shape is not padding.
  EXPECT_TRUE(says(refusal(json{{"op", "exp"}, {"inputs", {torp_tensor({32, 0, 32, 0}, 0, 0)}}}), {"logical_shape[1]"}));
}

// Every exp query of TORP's tests/test_interface.cpp, sent as it is: answered, or refused with the rule.
TEST(Legality, TorpsInterfaceTestQueriesAreAnsweredOrRefusedWithAReason) {
  ModelDir d("torp");
  d.write("ttnn.exp", linear_weights(0.0, {std::log(5000.0) - 0.1, std::log(5000.0) + 0.1}));
  const Predictor p(d.root.string());
  enum { BFLOAT16 = 0, FLOAT32 = 1, UINT32 = 2, BFLOAT8_B = 3, UINT16 = 6 };
  enum { DRAM = 0, L1 = 1 };
  const std::vector<std::tuple<std::vector<int>, int, int>> cases = {
      {{32, 32, 0, 0}, BFLOAT8_B, DRAM},   {{2048, 2048, 0, 0}, BFLOAT16, DRAM}, {{8192, 8192, 0, 0}, FLOAT32, DRAM},
      {{32, 32, 0, 0}, BFLOAT8_B, L1},     {{2048, 2048, 0, 0}, BFLOAT16, L1},   {{8192, 8192, 0, 0}, FLOAT32, L1},
      {{896, 896, 896, 0}, UINT16, DRAM},  {{896, 896, 896, 0}, UINT16, L1},     {{32, 32, 32, 32}, FLOAT32, DRAM},
      {{256, 256, 256, 256}, UINT32, DRAM}, {{256, 256, 256, 256}, UINT32, L1},  {{320, 320, 32, 32}, FLOAT32, L1}};
  int answered = 0, refused = 0;
  for (const auto& [dims, dtype, buffer] : cases) {
    try {
      // TORP's call: get_runtime_from_model(op_name, tensor_json, nlohmann::json()).
      const Prediction r = p.get_runtime_from_model("exp", torp_tensor(dims, dtype, buffer), json());
      EXPECT_GT(r.ns, 0);
      ++answered;
    } catch (const QueryError& e) {
      const std::string why = e.what();
      EXPECT_TRUE(says(why, {"inputs[0]"}) && (says(why, {"L1 banks"}) || says(why, {"DRAM ("}))) << why;
      ++refused;
    }
  }
  EXPECT_EQ(answered, 7);
  // Refused: 8192x8192 float32, 896^3 uint16 and 320x320x32x32 float32 in L1; 256^4 uint32 (16 GiB) anywhere.
  EXPECT_EQ(refused, 5);
  // The explicit form, with the output's memory config and attributes.
  const Prediction r = p.get_runtime_from_model("ttnn::exp", {torp_tensor({2048, 2048, 0, 0}, BFLOAT16, DRAM)},
                                                json{{"buffer_type", L1}}, json::object());
  EXPECT_DOUBLE_EQ(r.ns, p.predict(R"({"op": "ttnn.exp", "inputs": [{"shape": [2048, 2048], "dtype": "bfloat16",
      "layout": "TILE", "memory": "DRAM_INTERLEAVED"}], "output": {"memory": "L1_INTERLEAVED"}})").ns);
}

// An answer past 1000 s is the query's error, alone and in a batch.
TEST(Legality, AnswersOverAThousandSecondsAreRefused) {
  ModelDir d("slow");
  d.write("ttnn.exp", linear_weights(2.0, {0.0}));  // ns = exp(2 * log2 roofline)
  const Predictor p(d.root.string());
  const std::string small = R"({"op": "ttnn.exp", "inputs": [{"shape": [32,32], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
  const std::string large = R"({"op": "ttnn.exp", "inputs": [{"shape": [4096,4096], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
  EXPECT_LT(p.predict(small).ns, 1e12);
  try {
    p.predict(large);
    FAIL() << "expected a QueryError";
  } catch (const QueryError& e) {
    EXPECT_TRUE(says(e.what(), {"more than the 1000 s"})) << e.what();
  }
  std::vector<std::string> errors;
  p.predict_batch({parse_query(small), parse_query(large)}, &errors);
  EXPECT_TRUE(errors[0].empty());
  EXPECT_TRUE(says(errors[1], {"more than the 1000 s"}));
}

// An answer whose interval spans more than 100x is never called in domain, alone or in a batch.
TEST(Legality, AnswersWithIntervalsWiderThanAHundredfoldAreNotInDomain) {
  const std::string q = R"({"op": "ttnn.exp", "inputs": [{"shape": [64,64], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
  for (const double sigma0 : {0.5, 3.0}) {  // hi/lo = e^(2 k sigma0) with k 1: 2.7x, then 403x
    ModelDir d("wide");
    nlohmann::json m = d.write("ttnn.exp", linear_weights(1.0, {0.0}));
    m["interval"] = {{"k", 1.0}, {"sigma0", sigma0}};
    d.write_manifest("ttnn.exp", m);
    const Predictor p(d.root.string());
    const Prediction r = p.predict(q);
    EXPECT_EQ(r.hi_ns > 100 * r.lo_ns, sigma0 > 1) << r.lo_ns << " " << r.hi_ns;
    EXPECT_EQ(r.in_domain, sigma0 < 1);
    std::vector<std::string> errors;
    EXPECT_EQ(p.predict_batch({parse_query(q)}, &errors)[0].in_domain, sigma0 < 1);
  }
}
