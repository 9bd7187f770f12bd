#include <gtest/gtest.h>

#include "opcast/query.hpp"

using namespace opcast;

namespace {

const char* kShortMatmul = R"({"op": "ttnn.matmul", "inputs": [
  {"shape": [1,1,640,96], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "core_count": 10},
  {"shape": [1,1,96,288], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}], "attributes": {}})";

// The query with `field` of input 0 replaced by `value` (a JSON fragment).
std::string exp_query(const std::string& field, const std::string& value) {
  std::string shape = "[1,1,64,64]", dtype = "\"bfloat16\"", layout = "\"TILE\"", memory = "\"DRAM_INTERLEAVED\"";
  if (field == "shape") shape = value;
  if (field == "dtype") dtype = value;
  if (field == "layout") layout = value;
  if (field == "memory") memory = value;
  return R"({"op": "ttnn.exp", "inputs": [{"shape": )" + shape + R"(, "dtype": )" + dtype + R"(, "layout": )" + layout +
         R"(, "memory": )" + memory + "}]}";
}

std::string error_field(const std::string& json) {
  try {
    parse_query(json);
  } catch (const QueryError& e) {
    return e.field();
  }
  return "<no error>";
}

}  // namespace

TEST(Query, ShortFormMatmul) {
  const Query q = parse_query(kShortMatmul);
  EXPECT_EQ(q.op->name, "ttnn.matmul");
  ASSERT_EQ(q.inputs.size(), 2u);
  EXPECT_EQ(q.inputs[0].memory.layout, MemoryLayout::height_sharded);
  EXPECT_EQ(q.inputs[0].memory.core_count, 10);
  EXPECT_EQ(q.inputs[0].memory.grid_x, 8);
  EXPECT_EQ(q.inputs[0].memory.grid_y, 2);
  EXPECT_EQ(q.output.shape(), (std::vector<std::int64_t>{1, 1, 640, 288}));
  EXPECT_EQ(q.output.memory.layout, MemoryLayout::height_sharded);  // defaults to input 0's placement
  EXPECT_EQ(q.math_fidelity, MathFidelity::HiFi2);                   // catalogue default
}

TEST(Query, TensorSpecForm) {
  const char* json = R"({"op": "exp", "inputs": [{"tensor_spec": {"logical_shape": [32, 2048],
    "tensor_layout": {"alignment": {"value": [1,1,32,32]}, "dtype": 3,
      "memory_config": {"buffer_type": 1, "created_with_nd_shard_spec": false, "memory_layout": 0},
      "page_config": {"config": {"index": 1, "value": {"tile": {"face_shape": [16,16], "num_faces": 4, "tile_shape": [32,32]}}}}}},
    "storage": {"index": 1, "value": {}}}]})";
  const Query q = parse_query(json);
  EXPECT_EQ(q.op->name, "ttnn.exp");
  EXPECT_EQ(q.inputs[0].dtype, DType::bfloat8_b);
  EXPECT_EQ(q.inputs[0].memory.buffer, BufferType::l1);
  EXPECT_EQ(q.inputs[0].layout, Layout::tile);
  EXPECT_EQ(q.inputs[0].rank, 2);
}

TEST(Query, TensorSpecShardGrid) {
  const char* json = R"({"op": "ttnn.relu", "inputs": [{"logical_shape": [1, 1, 1024, 64],
    "tensor_layout": {"dtype": 0, "memory_config": {"buffer_type": 1, "memory_layout": 2,
      "shard_spec": {"grid": [{"start": {"x": 0, "y": 0}, "end": {"x": 7, "y": 0}},
                              {"start": {"x": 0, "y": 1}, "end": {"x": 3, "y": 1}}], "shape": [64, 64]}},
      "page_config": {"config": {"index": 0}}}}]})";
  const Query q = parse_query(json);
  EXPECT_EQ(q.inputs[0].memory.core_count, 12);
  EXPECT_EQ(q.inputs[0].memory.grid_x, 8);
  EXPECT_EQ(q.inputs[0].memory.grid_y, 2);
  EXPECT_EQ(q.inputs[0].layout, Layout::row_major);
}

TEST(Query, ErrorsNameTheField) {
  EXPECT_EQ(error_field(exp_query("shape", "[1,1,-3,64]")), "inputs[0].shape[2]");
  EXPECT_EQ(error_field(exp_query("shape", "[1,1,0,64]")), "inputs[0].shape[2]");
  EXPECT_EQ(error_field(exp_query("shape", "[1,1,2.5,64]")), "inputs[0].shape[2]");
  EXPECT_EQ(error_field(exp_query("shape", "[]")), "inputs[0].shape");
  EXPECT_EQ(error_field(exp_query("shape", "[1,1,1,1,1,1,1,1,1]")), "inputs[0].shape");
  EXPECT_EQ(error_field(exp_query("dtype", "\"float64\"")), "inputs[0].dtype");
  EXPECT_EQ(error_field(exp_query("layout", "\"TILED\"")), "inputs[0].layout");
  EXPECT_EQ(error_field(exp_query("memory", "\"L2_INTERLEAVED\"")), "inputs[0].memory");
  EXPECT_EQ(error_field(exp_query("memory", "\"L1_HEIGHT_SHARDED\"")), "inputs[0]");  // no grid / core_count
  EXPECT_EQ(error_field(R"({"op": "ttnn.frobnicate", "inputs": []})"), "op");
  EXPECT_EQ(error_field(R"({"inputs": []})"), "op");
  EXPECT_EQ(error_field(R"({"op": "ttnn.exp"})"), "inputs");
  EXPECT_EQ(error_field(R"({"op": "ttnn.exp", "inputs": []})"), "inputs");
  EXPECT_EQ(error_field(R"({"op": "ttnn.exp", "inputs": [{"shape": [32,32], "dtype": "bfloat16", "layout": "TILE"}]})"),
            "inputs[0].memory");
  EXPECT_EQ(error_field("{\"op\": \"ttnn.exp\", "), "");  // malformed JSON
  EXPECT_EQ(error_field("[1, 2]"), "");
}

TEST(Query, MatmulInnerDimMismatch) {
  const char* json = R"({"op": "ttnn.matmul", "inputs": [
    {"shape": [64, 96], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"},
    {"shape": [64, 96], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
  EXPECT_EQ(error_field(json), "inputs[1].shape");
}

TEST(Query, MalformedJsonMessageSaysSo) {
  try {
    parse_query("{\"op\": ");
    FAIL() << "expected QueryError";
  } catch (const QueryError& e) {
    EXPECT_NE(std::string(e.what()).find("malformed JSON"), std::string::npos);
  }
}

TEST(Query, ShortJsonRoundTrip) {
  const Query q = parse_query(kShortMatmul);
  const Query again = parse_query(to_short_json(q));
  EXPECT_EQ(to_short_json(again), to_short_json(q));
}
