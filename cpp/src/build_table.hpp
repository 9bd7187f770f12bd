// A model folder's build table (manifest "builds", written by train/builds.py): tt-metal moves from
// build to build, and a model answers for one build at a time. Each build the model knows has a
// factor on the answer (ln of its times against the reference build's) and the half-width its own
// uncertainty adds to the interval; a query names its build (a commit prefix or a source) or gets
// the default one, the newest the model knows.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace opcast {

struct BuildFactor {
  double log_factor = 0;  // ln(time on this build / time on the reference build)
  double shift_ns = 0;    // a fixed cost the build added (or took away), after the factor
  double half_width = 0;  // ln units, at the interval's coverage: how unsure the move is
};

class BuildTable {
 public:
  BuildTable() = default;
  // Throws ModelError naming `where` for a table that is malformed or whose default is not in it.
  BuildTable(const nlohmann::json& builds, const std::string& where);

  bool empty() const { return table_.empty(); }
  // The build a query's `build` names: the default where empty, else the build of that name, else the
  // one build whose name starts with it; nullptr when none does. QueryError when several do. With
  // `op`, that op's own move on the build where the table records one (a kind's ops move on their own).
  const std::pair<const std::string, BuildFactor>* find(std::string_view wanted, std::string_view op = {}) const;
  // The first few names, for messages.
  std::string names() const;

 private:
  const std::pair<const std::string, BuildFactor>* find_build(std::string_view wanted) const;
  std::map<std::string, BuildFactor, std::less<>> table_;
  const std::pair<const std::string, BuildFactor>* default_ = nullptr;
  std::map<std::string, std::map<std::string, BuildFactor, std::less<>>, std::less<>> ops_;  // op -> build -> move
};

// ln(answer) and the interval's half-width moved to a build: the factor shifts the answer, its
// uncertainty adds to the half-width in quadrature.
double widened(double half, const BuildFactor& b);

// An answer on the reference build moved to a build: times its factor, plus its shift, never below
// half the factor's answer (a shift fitted on microsecond-long ops says little of a 100 ns one).
// train/builds.py's `moved` does the same.
double moved(double reference_ns, const BuildFactor& b);

}  // namespace opcast
