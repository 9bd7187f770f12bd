#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

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
  const char* json = R"({"op": "ttnn.relu", "inputs": [{"logical_shape": [1, 1, 768, 64],
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

// Every count derived from a shape must be exact in int64: a tensor of more than 2^48 elements
// (last two dims padded to tiles) is refused where it is described, before any arithmetic on it.
TEST(Query, ElementCountsAreBoundedWhereTheShapeIsGiven) {
  // The query that once overflowed a stack buffer in the L1-bank feature and never returned.
  EXPECT_EQ(error_field(R"({"op":"ttnn.relu","inputs":[{"shape":[1,1,65536,100000,2147483648],"dtype":"bfloat16",)"
                        R"("layout":"TILE","memory":"L1_BLOCK_SHARDED","grid":[6,8]}],"output":{"memory":"L1_INTERLEAVED"}})"),
            "inputs[0].shape");
  // 2^48 exactly: read, then refused by the legality rules as more than the DRAM holds.
  EXPECT_NO_THROW(parse_query(exp_query("shape", "[131072,2147483648]"), Legality::unchecked));
  EXPECT_EQ(error_field(exp_query("shape", "[131072,2147483648]")), "inputs[0]");
  EXPECT_EQ(error_field(exp_query("shape", "[131073,2147483648]")), "inputs[0].shape");  // padded past 2^48
  EXPECT_EQ(error_field(exp_query("shape", "[2147483648,2147483648,2147483648]")), "inputs[0].shape");  // wraps int64
  try {
    parse_query(exp_query("shape", "[131073,2147483648]"));
  } catch (const QueryError& e) {
    EXPECT_NE(std::string(e.what()).find("2^48"), std::string::npos) << e.what();
  }
  // Broadcasting two legal tensors can derive an output beyond the bound.
  EXPECT_EQ(error_field(R"({"op": "ttnn.add", "inputs": [)"
                        R"({"shape": [1,1,2147483648,1], "dtype": "bfloat16", "layout": "ROW_MAJOR", "memory": "DRAM_INTERLEAVED"},)"
                        R"({"shape": [1,1,1,2147483648], "dtype": "bfloat16", "layout": "ROW_MAJOR", "memory": "DRAM_INTERLEAVED"}]})"),
            "output.shape");
}

// tt-metal spells ops ttnn::exp and ttnn prints enums with their scope (str(ttnn.bfloat16) is
// "DataType.BFLOAT16"); reports write block floats without their suffix.
TEST(Query, NamesAsTtnnAndTtMetalWriteThem) {
  const Query q = parse_query(R"({"op": "ttnn::exp", "inputs": [{"shape": [32,32], "dtype": "DataType.BFLOAT16", )"
                              R"("layout": "Layout::TILE", "memory": "l1_interleaved"}]})");
  EXPECT_EQ(q.op->name, "ttnn.exp");
  EXPECT_EQ(q.inputs[0].dtype, DType::bfloat16);
  EXPECT_EQ(q.inputs[0].memory.buffer, BufferType::l1);
  EXPECT_EQ(parse_dtype("bfloat8", "dtype"), DType::bfloat8_b);
  EXPECT_EQ(parse_dtype("DataType::BFLOAT4_B", "dtype"), DType::bfloat4_b);
  EXPECT_EQ(error_field(exp_query("dtype", "\"DataType.FLOAT64\"")), "inputs[0].dtype");
  // One list per word: every name reads back as itself.
  for (const char* name : kDTypeNames) EXPECT_STREQ(to_string(parse_dtype(name, "dtype")), name);
  for (const char* name : kMemoryNames) EXPECT_EQ(memory_name(parse_memory(name, "memory")), name);
  for (const char* name : kMathFidelityNames) EXPECT_STREQ(to_string(parse_math_fidelity(name, "f")), name);
}

// tt-mlir's DRAM-sharded decode matmuls keep their weights width-sharded over Wormhole's 12 DRAM banks.
TEST(Query, DramShardedWeightsSpanTheDramBanks) {
  const Query q = parse_query(R"({"op": "ttnn.matmul", "inputs": [)"
                              R"({"shape": [1,1,32,2048], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_WIDTH_SHARDED", "core_count": 64},)"
                              R"({"shape": [1,1,2048,8192], "dtype": "bfloat8_b", "layout": "TILE", "memory": "DRAM_WIDTH_SHARDED", "core_count": 12}]})");
  EXPECT_EQ(q.inputs[1].memory.buffer, BufferType::dram);
  EXPECT_EQ(q.inputs[1].memory.layout, MemoryLayout::width_sharded);
  EXPECT_EQ(q.inputs[1].memory.grid_x, 12);
  EXPECT_EQ(q.inputs[1].memory.grid_y, 1);
  EXPECT_EQ(memory_name(q.inputs[1].memory), "DRAM_WIDTH_SHARDED");
  EXPECT_EQ(error_field(R"({"op": "ttnn.exp", "inputs": [{"shape": [32,32], "dtype": "bfloat16", "layout": "TILE", )"
                        R"("memory": "DRAM_WIDTH_SHARDED", "grid": [12, 2]}]})"),
            "inputs[0].grid[1]");
  EXPECT_EQ(error_field(R"({"op": "ttnn.exp", "inputs": [{"shape": [32,32], "dtype": "bfloat16", "layout": "TILE", )"
                        R"("memory": "DRAM_WIDTH_SHARDED", "core_count": 13}]})"),
            "inputs[0].core_count");
  // The TensorSpec form names DRAM banks as DRAM cores x 0..11.
  const Query spec = parse_query(R"({"op": "ttnn.exp", "inputs": [{"tensor_spec": {"logical_shape": [32, 384], "tensor_layout": {)"
                                 R"("dtype": 0, "memory_config": {"buffer_type": 0, "memory_layout": 3, "shard_spec": {"grid": [)"
                                 R"({"start": {"x": 0, "y": 0}, "end": {"x": 11, "y": 0}}], "shape": [32, 32], "orientation": 0}}}}}]})");
  EXPECT_EQ(spec.inputs[0].memory.core_count, 12);
  EXPECT_EQ(memory_name(spec.inputs[0].memory), "DRAM_WIDTH_SHARDED");
}

// Ops named by an alias, and ops whose result a query derives from the op alone.
TEST(Query, AliasesAndDerivedResultsOfDataMovementOps) {
  const std::string t32 = R"({"shape": [1,1,64,96], "dtype": "bfloat16", "layout": "ROW_MAJOR", "memory": "DRAM_INTERLEAVED"})";
  EXPECT_EQ(parse_query(R"({"op": "ttnn.sub", "inputs": [)" + t32 + "," + t32 + "]}").op->name, "ttnn.subtract");
  EXPECT_EQ(parse_query(R"({"op": "ttnn::mul", "inputs": [)" + t32 + "]}").op->name, "ttnn.multiply");
  const Query tilize = parse_query(R"({"op": "ttnn.tilize", "inputs": [)" + t32 + "]}");
  EXPECT_EQ(tilize.output.layout, Layout::tile);
  const Query emb = parse_query(R"({"op": "ttnn.embedding", "inputs": [{"shape": [8, 128], "dtype": "uint32", "layout": "ROW_MAJOR", "memory": "DRAM_INTERLEAVED"}, )"
                                R"({"shape": [32000, 768], "dtype": "bfloat16", "layout": "ROW_MAJOR", "memory": "DRAM_INTERLEAVED"}]})");
  EXPECT_EQ(emb.output.shape(), (std::vector<std::int64_t>{8, 128, 768}));
  EXPECT_EQ(error_field(R"({"op": "ttnn.pad", "inputs": [)" + t32 + "]}"), "attributes.shape");
  try {
    parse_query(R"({"op": "ttnn.sqrtt", "inputs": [)" + t32 + "]}");
    FAIL() << "expected a QueryError";
  } catch (const QueryError& e) {
    EXPECT_NE(std::string(e.what()).find("closest: ttnn.sqrt"), std::string::npos) << e.what();
  }
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

// ---- the text parser: rapidjson for plain text, nlohmann for the rest, one builder ------------

namespace {

std::string error_message(const std::string& json) {
  try {
    parse_query(json);
  } catch (const QueryError& e) {
    return e.what();
  }
  return "<no error>";
}

const char* kExpQuery = R"({"op": "ttnn.exp", "inputs": [{"shape": [1, 1, 64, 64], "dtype": "bfloat16", "layout": "TILE",
  "memory": "L1_HEIGHT_SHARDED", "grid": [2, 1]}], "attributes": {"program_config": "x"}})";

}  // namespace

TEST(QueryText, EscapesBomAndNonAsciiReadTheSame) {
  const std::string expected = to_short_json(parse_query(kExpQuery));
  // \u escapes and non-ASCII text take the nlohmann path; a UTF-8 BOM is skipped on both.
  std::string escaped = kExpQuery;
  escaped.replace(escaped.find("bfloat16"), 8, "bfl\\u006fat16");
  EXPECT_EQ(to_short_json(parse_query(escaped)), expected);
  std::string accented = kExpQuery;
  accented.replace(accented.find("\"x\""), 3, "\"\xc3\xa9t\xc3\xa9\"");
  EXPECT_EQ(to_short_json(parse_query(accented)), expected);
  EXPECT_EQ(to_short_json(parse_query("\xEF\xBB\xBF" + std::string(kExpQuery))), expected);
  EXPECT_EQ(to_short_json(parse_query(std::string(kExpQuery) + " \n\t\r")), expected);
}

TEST(QueryText, RepeatedKeyKeepsTheLastValue) {
  const char* plain = R"({"op": "ttnn.relu", "op": "ttnn.exp", "inputs": [{"shape": [32, 32], "dtype": "float32",
    "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
  const Query q = parse_query(plain);
  EXPECT_EQ(q.op->name, "ttnn.exp");
  EXPECT_EQ(q.inputs[0].dtype, DType::bfloat16);
  std::string escaped = plain;
  escaped.replace(escaped.find("ttnn.exp"), 8, "ttnn.\\u0065xp");
  EXPECT_EQ(parse_query(escaped).op->name, "ttnn.exp");
}

TEST(QueryText, FirstUnknownKeyInKeyOrder) {
  const char* json = R"({"op": "ttnn.exp", "inputs": [{"zeta": 1, "shape": [32, 32], "dtype": "bfloat16",
    "layout": "TILE", "memory": "DRAM_INTERLEAVED", "beta": 2}]})";
  EXPECT_EQ(error_field(json), "inputs[0].beta");
}

TEST(QueryText, NumbersThatAreNotDims) {
  EXPECT_EQ(error_message(exp_query("shape", "[32, 2.0]")),
            "inputs[0].shape[1]: expected an integer in [1, 2147483648], got 2.0");
  EXPECT_EQ(error_message(exp_query("shape", "[32, 18446744073709551616]")),
            "inputs[0].shape[1]: expected an integer in [1, 2147483648], got 1.8446744073709552e+19");
  EXPECT_EQ(error_message(exp_query("shape", "[32, 18446744073709551615]")),
            "inputs[0].shape[1]: expected an integer in [1, 2147483648], got 18446744073709551615");
  EXPECT_EQ(error_message(exp_query("shape", "[32, -9223372036854775808]")),
            "inputs[0].shape[1]: expected an integer in [1, 2147483648], got -9223372036854775808");
  EXPECT_EQ(error_message(exp_query("shape", "[32, -0]")),
            "inputs[0].shape[1]: expected an integer in [1, 2147483648], got 0");
  // Out of double range: malformed JSON (a QueryError, not nlohmann's out_of_range escaping).
  for (const char* n : {"1e400", "5121.7976931348623159e308", "-1e309"}) {
    EXPECT_EQ(error_field(exp_query("shape", std::string("[32, ") + n + "]")), "") << n;
    EXPECT_NE(error_message(exp_query("shape", std::string("[32, ") + n + "]")).find("malformed JSON"), std::string::npos);
  }
}

TEST(QueryText, MalformedTextIsAQueryErrorOnTheWholeQuery) {
  const std::string q = kExpQuery;
  const std::string cases[] = {
      q.substr(0, 40) + std::string(1, '\0') + q.substr(40),
      "\xEF" + q,                              // part of a byte order mark
      R"({"op": "ttnn.exp", "inputs": [], "x": "\uDC00"})",  // lone low surrogate
      "{\"op\": \"ttnn.exp\", \"x\": \"\xff\"}",  // not UTF-8
      "{\"op\": \"ttnn.exp\", \"x\": \"\x01\"}",  // raw control character
      R"({"op": "ttnn.exp", "inputs": [NaN]})",
      R"({"op": "ttnn.exp", "inputs": [1,]})",
      R"({"op": "ttnn.exp", /* comment */ "inputs": []})",
      R"({"op": "ttnn.exp", "inputs": [01]})",
      std::string(100000, '['),
      "",
  };
  for (const auto& text : cases) {
    EXPECT_EQ(error_field(text), "") << text.substr(0, 60);
    EXPECT_NE(error_message(text).find("malformed JSON"), std::string::npos) << text.substr(0, 60);
  }
}

TEST(QueryText, NulByteEndsTheText) {
  // As nlohmann reads it: whatever follows a NUL byte is not looked at.
  const std::string text = kExpQuery + std::string(1, '\0') + "garbage";
  EXPECT_EQ(to_short_json(parse_query(text)), to_short_json(parse_query(kExpQuery)));
}

TEST(QueryText, DeepNestingIsNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_EQ(error_field(R"({"op": "nope", "inputs": )" + deep + "}"), "op");
  EXPECT_EQ(error_field(R"({"op": "ttnn.exp", "inputs": [)" + deep + "]}"), "inputs[0]");
  EXPECT_EQ(error_message(R"({"op": "ttnn.exp", "inputs": [)" + deep + "]}"),
            "inputs[0]: expected a tensor (short form {shape, dtype, layout, memory} or a TensorSpec), got "
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[...");
}

TEST(QueryText, ValuesInMessagesAreShownAsJson) {
  // Objects in key order, a repeated key's last value, cut at 40 characters.
  EXPECT_EQ(error_message(exp_query("shape", R"({"b": 1, "a": [1, 2], "b": "x"})")),
            R"(inputs[0].shape: expected a list of 1 to 8 positive integers, got {"a":[1,2],"b":"x"})");
  EXPECT_EQ(error_message(exp_query("shape", R"("a long string that goes on and on and on")")),
            R"(inputs[0].shape: expected a list of 1 to 8 positive integers, got "a long string that goes on and on an...)");
  EXPECT_EQ(error_message(exp_query("dtype", "[true, false, null, -1, 0.5]")),
            "inputs[0].dtype: expected a dtype name, got [true,false,null,-1,0.5]");
  EXPECT_EQ(error_message(exp_query("dtype", R"("\u00e9")")), "inputs[0].dtype: unknown dtype \"\xc3\xa9\"; expected "
                                                               "bfloat16, bfloat8_b, bfloat4_b, float32, uint16, uint32 or int32");
}

TEST(QueryText, LargeQueriesSpillToTheHeap) {
  // Text past the on-stack copy and a DOM past the on-stack pool still parse.
  std::string big = R"({"op": "ttnn.exp", "attributes": {"program_config": ")" + std::string(50000, 'x') + R"(", "dims": [)";
  for (int i = 0; i < 5000; ++i) big += (i ? ",{\"k\":" : "{\"k\":") + std::to_string(i) + "}";
  big += R"(]}, "inputs": [{"shape": [1, 1, 64, 64], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
  const Query q = parse_query(big);
  EXPECT_EQ(q.inputs[0].shape(), (std::vector<std::int64_t>{1, 1, 64, 64}));
}

TEST(QueryText, AllEntryPointsBuildTheSameQuery) {
  const std::string expected = to_short_json(parse_query(kExpQuery));
  EXPECT_EQ(to_short_json(parse_query_json(nlohmann::json::parse(kExpQuery))), expected);
  rapidjson::Document doc;
  doc.Parse(kExpQuery);
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_EQ(to_short_json(parse_query_value(doc)), expected);
  // Errors too: the same field and message whichever way the query came in.
  const std::string bad = exp_query("shape", "[1, 1, 64, 0]");
  EXPECT_EQ(error_message(bad), "inputs[0].shape[3]: expected an integer in [1, 2147483648], got 0");
  try {
    parse_query_json(nlohmann::json::parse(bad));
    FAIL();
  } catch (const QueryError& e) {
    EXPECT_EQ(std::string(e.what()), error_message(bad));
  }
  // A deeply nested nlohmann value is replayed without recursion.
  nlohmann::json deep = nlohmann::json::array();
  for (int i = 0; i < 100000; ++i) deep = nlohmann::json::array({std::move(deep)});
  nlohmann::json q = {{"op", "nope"}, {"inputs", std::move(deep)}};
  try {
    parse_query_json(q);
    FAIL();
  } catch (const QueryError& e) {
    EXPECT_EQ(e.field(), "op");
  }
}

TEST(QueryText, ThreadsParseIndependently) {
  std::string escaped = kExpQuery;
  escaped.replace(escaped.find("bfloat16"), 8, "bfl\\u006fat16");
  const std::vector<std::string> texts = {kShortMatmul, kExpQuery, escaped, exp_query("shape", "[1, 0]")};
  std::vector<std::string> expected;
  for (const auto& t : texts) {
    try {
      expected.push_back(to_short_json(parse_query(t)));
    } catch (const QueryError& e) {
      expected.push_back(e.what());
    }
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::size_t k = static_cast<std::size_t>(i + t) % texts.size();
        std::string got;
        try {
          got = to_short_json(parse_query(texts[k]));
        } catch (const QueryError& e) {
          got = e.what();
        }
        if (got != expected[k]) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

// A query may name the build it asks about; the canonical form keeps it, a query without one has none.
TEST(Query, AnOptionalBuildIsKept) {
  const Query q = parse_query(R"({"op": "ttnn.exp", "build": "f4cc09cf", "inputs": [{"shape": [32,32], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})");
  EXPECT_EQ(q.build, "f4cc09cf");
  EXPECT_EQ(parse_query(to_short_json(q)).build, "f4cc09cf");
  EXPECT_EQ(parse_query(exp_query("shape", "[32,32]")).build, "");
  EXPECT_EQ(to_short_json(parse_query(exp_query("shape", "[32,32]"))).find("build"), std::string::npos);
  for (const char* bad : {"\"\"", "3", "\"a b\"", "[\"x\"]"}) {
    const std::string text = std::string(R"({"op": "ttnn.exp", "build": )") + bad +
                             R"(, "inputs": [{"shape": [32,32], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})";
    EXPECT_EQ(error_field(text), "build") << bad;
  }
}
