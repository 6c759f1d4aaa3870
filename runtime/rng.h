// golfrt's one random generator: xoshiro256** seeded through splitmix64, normals by Box–Muller
// in double. Hand-written on purpose: std::normal_distribution differs between standard
// libraries, and "same seed → same losses" must hold on every machine. Each parameter draws
// from its own stream, derived from (run seed, xxh64 of its name), so adding a parameter to a
// model never changes the initial values of the others.
#pragma once
#include <cstdint>
#include <string>

namespace golf {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  static Rng for_name(uint64_t seed, const std::string& name);

  uint64_t next_u64();
  double uniform();                    // [0, 1), 53 random bits
  double normal();                     // N(0, 1)
  uint64_t below(uint64_t n);          // uniform in [0, n), unbiased

  struct State { uint64_t s[4]; bool has_spare; double spare; };
  State state() const { return {{s_[0], s_[1], s_[2], s_[3]}, has_spare_, spare_}; }
  void set_state(const State& st);

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace golf
