// Legality: what ttnn's own validation refuses on a Wormhole n150, checked before any prediction.
// A model asked about a configuration the device would never run answers with confidence and is
// wrong; the parser refuses such a query instead, naming the tensor, the rule and its numbers
// (README "Query format": "What a query may ask").
#pragma once

#include <cstdint>
#include <string>

#include "opcast/query.hpp"

namespace opcast {

// The memories of a Wormhole n150 as ttnn's allocator sizes them (ttnn 0.81.1 on the mock n150:
// opcast.device.l1_limits, and the DRAM memory view).
struct DeviceMemory {
  std::int64_t l1_bank_bytes = 1393312;  // per worker core: 1,499,136 B of L1 less the reserved base
  int l1_banks = 64;                     // one per Tensix worker core, 8x8
  std::int64_t dram_bank_bytes = std::int64_t{1} << 30;  // one per DRAM channel
  int dram_banks = 12;
  std::int64_t l1_bytes() const { return l1_bank_bytes * l1_banks; }
  std::int64_t dram_bytes() const { return dram_bank_bytes * dram_banks; }
};

// The geometry the rules read: a tensor seen as ttnn shards it, [rows, width], padded to whole tiles
// in TILE layout, and the shard each core holds.
struct ShardGeometry {
  std::int64_t rows = 0, width = 0;    // the 2-D view, padded to tiles in TILE layout
  std::int64_t unit = 1;               // 32 in TILE layout (shards are whole tiles), 1 in ROW_MAJOR
  std::int64_t shard_rows = 0, shard_width = 0;  // the shard of one core (0 when interleaved)
  std::int64_t bytes = 0;              // the whole tensor in memory
  std::int64_t shard_bytes = 0;        // one shard in memory
};
ShardGeometry shard_geometry(const TensorDesc& t);

// Throws QueryError naming the first tensor ("inputs[1]", "output") a Wormhole would refuse and
// why, with the numbers: block-float dtypes in ROW_MAJOR layout; a tensor larger than the DRAM; an
// L1-interleaved tensor whose busiest bank outgrows a bank's L1; a shard larger than one core's L1
// (or one DRAM bank); a shard shape that is not whole tiles or does not cover the tensor on its
// cores; a block-sharded core_count that is not its grid's area. The output's shard rules apply where
// the query states its placement (q.output_placed); a derived output is opcast's guess, not the
// caller's ask.
void check_legality(const Query& q, const DeviceMemory& memory = {});

}  // namespace opcast
