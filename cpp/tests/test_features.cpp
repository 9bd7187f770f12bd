#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "opcast/features.hpp"

using namespace opcast;

namespace {
Query unary(const std::string& shape, const std::string& dtype, const std::string& memory,
            const std::string& op = "ttnn.exp") {
  return parse_query(R"({"op": ")" + op + R"(", "inputs": [{"shape": )" + shape + R"(, "dtype": ")" + dtype +
                     R"(", "layout": "TILE", "memory": ")" + memory + "\"}]}");
}
double feature(const FeatureVector& f, const std::string& name) {
  const auto& names = feature_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (name == names[i]) return f[i];
  ADD_FAILURE() << "no feature " << name;
  return 0;
}
}  // namespace

TEST(Features, NamesAreUniqueAndComplete) {
  const auto& names = feature_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    for (std::size_t j = i + 1; j < names.size(); ++j) EXPECT_STRNE(names[i], names[j]);
}

TEST(Features, TilePaddingAndBytes) {
  // [1,1,33,33] pads to 2x2 tiles; bfloat8_b tiles are 1088 bytes.
  const Work w = work(unary("[1,1,33,33]", "bfloat8_b", "DRAM_INTERLEAVED"));
  EXPECT_DOUBLE_EQ(w.tiles_in[0], 4);
  EXPECT_DOUBLE_EQ(w.bytes_in, 4 * 1088);
  EXPECT_DOUBLE_EQ(w.bytes_dram, 2 * 4 * 1088);  // read input, write output
  EXPECT_DOUBLE_EQ(w.cores, 4);                  // one tile per core
}

TEST(Features, RooflineGrowsWithWorkAndDtype) {
  // relu is cheap per tile, so large tensors are DRAM-bound and bytes per tile decide.
  const double small = roofline(unary("[1,1,32,32]", "bfloat16", "DRAM_INTERLEAVED", "ttnn.relu")).total_ns;
  const double big = roofline(unary("[1,1,4096,4096]", "bfloat16", "DRAM_INTERLEAVED", "ttnn.relu")).total_ns;
  const double big32 = roofline(unary("[1,1,4096,4096]", "float32", "DRAM_INTERLEAVED", "ttnn.relu")).total_ns;
  EXPECT_GT(big, 10 * small);
  EXPECT_GT(big32, big);
  // 16384 tiles of bf16 in and out through 288 GB/s DRAM: at least 233 us.
  EXPECT_GT(big, 2 * 16384 * 2048 / 288.0);
}

TEST(Features, ReaderTimeFollowsTheBusiestCore) {
  // 100 tiles over 64 cores leave the busiest core 2 tiles to read and write, as 128 tiles would.
  const Roofline r100 = roofline(unary("[1,1,3200,32]", "bfloat16", "DRAM_INTERLEAVED", "ttnn.relu"));
  const Roofline r128 = roofline(unary("[1,1,4096,32]", "bfloat16", "DRAM_INTERLEAVED", "ttnn.relu"));
  EXPECT_DOUBLE_EQ(r100.reader_ns, 2 * (2048 + 2048) / 8.0);  // an input and an output tile per tile, 8 B/cycle
  EXPECT_DOUBLE_EQ(r128.reader_ns, r100.reader_ns);
  EXPECT_LT(r100.dram_ns, r128.dram_ns);  // the chip-wide DRAM term still follows the total
  // It informs the model and the calibrated roofline; the fixed roofline stays launch + its largest term.
  EXPECT_DOUBLE_EQ(r100.total_ns, r100.launch_ns + std::max({r100.compute_ns, r100.dram_ns + r100.noc_ns, r100.local_ns}));
  // Sharded tensors stay in their cores' L1: no interleaved traffic.
  EXPECT_DOUBLE_EQ(roofline(parse_query(R"({"op": "ttnn.relu", "inputs": [{"shape": [1,1,1024,32], "dtype": "bfloat16",
      "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "core_count": 1}]})")).reader_ns, 0.0);
}

TEST(Features, InterleavedLaunchOnlyWhereReadersAndWritersMovePages) {
  const Roofline interleaved = roofline(unary("[1,1,32,32]", "bfloat16", "L1_INTERLEAVED", "ttnn.relu"));
  EXPECT_DOUBLE_EQ(interleaved.interleaved_launch_ns, interleaved.launch_ns);
  EXPECT_DOUBLE_EQ(roofline(unary("[1,1,32,32]", "bfloat16", "DRAM_INTERLEAVED", "ttnn.relu")).interleaved_launch_ns,
                   interleaved.launch_ns);
  // A sharded input into an interleaved output still has a writer moving pages over the NoC.
  EXPECT_DOUBLE_EQ(roofline(parse_query(R"({"op": "ttnn.relu", "inputs": [{"shape": [1,1,32,32], "dtype": "bfloat16",
      "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "core_count": 1}], "output": {"memory": "DRAM_INTERLEAVED"}})"))
                       .interleaved_launch_ns,
                   interleaved.launch_ns);
  // Sharded in and out: the op works in its cores' own L1 and pays only the shared launch.
  const Roofline sharded = roofline(parse_query(R"({"op": "ttnn.relu", "inputs": [{"shape": [1,1,32,32],
      "dtype": "bfloat16", "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "core_count": 1}]})"));
  EXPECT_DOUBLE_EQ(sharded.interleaved_launch_ns, 0.0);
  EXPECT_DOUBLE_EQ(sharded.launch_ns, interleaved.launch_ns);
}

TEST(Features, L1BankConflictFollowsWhereSharesStart) {
  auto conflict = [](const char* in_memory, const char* out_memory) {
    const std::string q = std::string(R"({"op": "ttnn.add", "inputs": [
      {"shape": [1,1,2048,2048], "dtype": "bfloat16", "layout": "TILE", "memory": ")") + in_memory + R"("},
      {"shape": [1,1,2048,2048], "dtype": "bfloat16", "layout": "TILE", "memory": ")" + in_memory + R"("}],
      "output": {"memory": ")" + out_memory + R"(", "grid": [8, 8]}})";
    return std::exp2(feature(features(parse_query(q)), "log2_l1_bank_conflict")) - 1;
  };
  // 64 x 64 tiles over 64 cores: width shards start in banks 0..63, block shards in 8 banks, height
  // shards all in bank 0.
  EXPECT_DOUBLE_EQ(conflict("L1_INTERLEAVED", "L1_WIDTH_SHARDED"), 1);
  EXPECT_DOUBLE_EQ(conflict("L1_INTERLEAVED", "L1_BLOCK_SHARDED"), 8);
  EXPECT_DOUBLE_EQ(conflict("L1_INTERLEAVED", "L1_HEIGHT_SHARDED"), 64);
  EXPECT_DOUBLE_EQ(conflict("DRAM_INTERLEAVED", "L1_HEIGHT_SHARDED"), 0);  // no L1-interleaved tensor

  // Interleaved work is split in runs: 64 tiles on 64 cores start in 64 banks, 4096 all in bank 0, and
  // 65 tiles give the first core two, so the last core starts in bank 0 too.
  auto relu = [](const char* shape) {
    return std::exp2(feature(features(unary(shape, "bfloat16", "L1_INTERLEAVED", "ttnn.relu")), "log2_l1_bank_conflict")) - 1;
  };
  EXPECT_DOUBLE_EQ(relu("[1,1,2048,32]"), 1);
  EXPECT_DOUBLE_EQ(relu("[1,1,2048,2048]"), 64);
  EXPECT_DOUBLE_EQ(relu("[1,1,32,2080]"), 2);
}

TEST(Features, MatmulFlopsAndShardCores) {
  const Query q = parse_query(R"({"op": "ttnn.matmul", "inputs": [
    {"shape": [1,1,640,96], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "core_count": 10},
    {"shape": [1,1,96,288], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}],
    "attributes": {"math_fidelity": "HiFi4"}})");
  const Work w = work(q);
  EXPECT_DOUBLE_EQ(w.flops, 2.0 * 640 * 96 * 288);
  EXPECT_DOUBLE_EQ(w.cores, 10);
  EXPECT_DOUBLE_EQ(w.tiles_per_core, 2 * 9);          // 20 row tiles over 10 cores, 9 column tiles
  EXPECT_DOUBLE_EQ(w.math_cycles, 18 * 3 * 64);        // K = 3 tiles, HiFi4 = 64 cycles per tile MAC
  const FeatureVector f = features(q);
  EXPECT_DOUBLE_EQ(feature(f, "math_fidelity"), 3);
  EXPECT_DOUBLE_EQ(feature(f, "in0_height_sharded"), 1);
  EXPECT_DOUBLE_EQ(feature(f, "shard_grid_x"), 8);
  EXPECT_DOUBLE_EQ(feature(f, "shard_grid_y"), 2);
  for (double v : f) EXPECT_TRUE(std::isfinite(v));
}

TEST(Features, TheShardedTensorTtnnSplitsByFixesTheCores) {
  // Inputs shard over 4x4 cores, the output over 8x8.
  auto add = [](const std::string& in0, const std::string& in1, const std::string& out) {
    auto grid = [](const std::string& memory, const char* g) {
      return memory.find("SHARDED") != std::string::npos ? std::string(R"(, "grid": )") + g : std::string();
    };
    auto tensor = [&](const std::string& memory) {
      return R"({"shape": [1,1,1024,1024], "dtype": "bfloat16", "layout": "TILE", "memory": ")" + memory + "\"" +
             grid(memory, "[4, 4]") + "}";
    };
    return work(parse_query(R"({"op": "ttnn.add", "inputs": [)" + tensor(in0) + "," + tensor(in1) +
                            R"(], "output": {"memory": ")" + out + "\"" + grid(out, "[8, 8]") + "}}"));
  };
  // ttnn's binary factory takes the shard spec of in0, else in1, else the output.
  EXPECT_DOUBLE_EQ(add("DRAM_INTERLEAVED", "L1_BLOCK_SHARDED", "DRAM_INTERLEAVED").cores, 16);
  EXPECT_DOUBLE_EQ(add("DRAM_INTERLEAVED", "L1_BLOCK_SHARDED", "DRAM_INTERLEAVED").tiles_per_core, 64);
  EXPECT_DOUBLE_EQ(add("L1_BLOCK_SHARDED", "DRAM_INTERLEAVED", "L1_BLOCK_SHARDED").cores, 16);
  EXPECT_DOUBLE_EQ(add("DRAM_INTERLEAVED", "DRAM_INTERLEAVED", "L1_BLOCK_SHARDED").cores, 64);
  EXPECT_DOUBLE_EQ(add("DRAM_INTERLEAVED", "DRAM_INTERLEAVED", "DRAM_INTERLEAVED").cores, 64);
  // A matmul's sharded weights do not move its work onto their grid.
  const Work mm = work(parse_query(R"({"op": "ttnn.matmul", "inputs": [
    {"shape": [1,1,2048,256], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"},
    {"shape": [1,1,256,1024], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_WIDTH_SHARDED", "core_count": 4}]})"));
  EXPECT_DOUBLE_EQ(mm.cores, 64);
}

TEST(Features, ShardMisalignmentAndSubblock) {
  auto mm = [](int cores) {
    return parse_query(R"({"op": "ttnn.matmul", "inputs": [
      {"shape": [1,1,2880,576], "dtype": "bfloat16", "layout": "TILE", "memory": "L1_HEIGHT_SHARDED", "core_count": )" +
                       std::to_string(cores) + R"(},
      {"shape": [1,1,576,32], "dtype": "bfloat16", "layout": "TILE", "memory": "DRAM_INTERLEAVED"}]})");
  };
  const FeatureVector six = features(mm(6)), seven = features(mm(7));
  EXPECT_DOUBLE_EQ(feature(six, "shard_misaligned"), 0);    // 480 rows per core: 15 whole tiles
  EXPECT_DOUBLE_EQ(feature(seven, "shard_misaligned"), 1);  // 412 rows per core
  EXPECT_DOUBLE_EQ(feature(six, "matmul_subblock_area"), 5);  // 15 x 1 tiles per core: 5 x 1 subblocks
  EXPECT_DOUBLE_EQ(feature(seven, "matmul_subblock_area"), 1);  // 13 x 1: prime
  EXPECT_DOUBLE_EQ(work(mm(6)).tiles_per_core, 15);
}
