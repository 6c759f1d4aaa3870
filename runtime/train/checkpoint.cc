#include "runtime/train/checkpoint.h"

#include <cstring>
#include <map>
#include <stdexcept>

#include "runtime/fs.h"

namespace golf {

namespace {
constexpr char kMagic[8] = {'G', 'O', 'L', 'F', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;

Tensor u16_tensor(const std::vector<uint16_t>& v) {
  Tensor t({int64_t(v.size())}, DType::u16);
  if (!v.empty()) std::memcpy(t.raw(), v.data(), v.size() * 2);
  return t;
}

std::vector<uint16_t> u16_vector(const Tensor& t) {
  std::vector<uint16_t> v(size_t(t.numel()));
  if (!v.empty()) std::memcpy(v.data(), t.raw(), v.size() * 2);
  return v;
}

void copy_into(Tensor& dst, const Tensor& src, const std::string& what) {
  if (dst.shape() != src.shape() || dst.dtype() != src.dtype())
    throw std::runtime_error("checkpoint: " + what + " is " + shape_str(src.shape()) + " " + dtype_name(src.dtype()) +
                             ", the model has " + shape_str(dst.shape()) + " " + dtype_name(dst.dtype()));
  dst.copy_from(src);  // an upload when the store lives on a device
}

}  // namespace

void write_checkpoint(const std::string& path, const Checkpoint& c) {
  std::string meta = c.meta.dump();
  std::string out(kMagic, 8);
  uint32_t v = kVersion;
  uint64_t n = meta.size();
  out.append(reinterpret_cast<const char*>(&v), 4);
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += meta;
  out += encode_tensors(c.tensors, path);
  write_file_atomic(path, out);
}

namespace {
// The header's checks; returns the metadata's length.
uint64_t check_header(const std::string& head, uint64_t file_size, const std::string& path) {
  if (head.size() < 20 || std::memcmp(head.data(), kMagic, 8) != 0)
    throw std::runtime_error("checkpoint " + path + ": not a golfrt checkpoint (bad magic)");
  uint32_t v;
  uint64_t n;
  std::memcpy(&v, head.data() + 8, 4);
  std::memcpy(&n, head.data() + 12, 8);
  if (v != kVersion)
    throw std::runtime_error("checkpoint " + path + ": version " + std::to_string(v) + " (this golfrt reads " +
                             std::to_string(kVersion) + ")");
  if (n > file_size - 20) throw std::runtime_error("checkpoint " + path + ": truncated metadata");
  return n;
}
}  // namespace

Checkpoint read_checkpoint(const std::string& path) {
  std::string bytes = read_file(path);
  const uint64_t n = check_header(bytes.substr(0, 20), bytes.size(), path);
  Checkpoint c;
  c.meta = Json::parse(bytes.substr(20, n), path);
  c.tensors = decode_tensors(bytes.substr(20 + n), path);
  return c;
}

Json read_checkpoint_meta(const std::string& path) {
  RegularFile f(path);
  if (f.size() < 20) throw std::runtime_error("checkpoint " + path + ": not a golfrt checkpoint (bad magic)");
  const uint64_t n = check_header(f.read(20), f.size(), path);
  return Json::parse(f.read(n), path);
}

void save_train_state(const std::string& path, const TrainState& st, uint64_t seed, const TokenStream& stream,
                      const Schedule& schedule, const ParamStore& store, const OptimizerSet& optim) {
  // The keys in this order: the file stays byte for byte what earlier versions wrote.
  Checkpoint c;
  c.meta.set("format", "golfrt-checkpoint");
  c.meta.set("step", st.step);
  c.meta.set("tokens", st.tokens);
  c.meta.set("elapsed_s", st.elapsed);
  c.meta.set("seed", int64_t(seed));
  c.meta.set("swa_count", st.swa_count);
  c.meta.set("qat_on", st.qat_on);
  c.meta.set("graph_switched", st.switched);
  c.meta.set("replay_pos", st.replay_pos);
  Json cur = Json::object();
  cur.set("shard", stream.cursor().shard);
  cur.set("position", stream.cursor().position);
  c.meta.set("cursor", cur);
  Json mults = Json::array();
  for (double m : schedule.recorded()) mults.push(m);
  c.meta.set("lr_multipliers", mults);
  // Last, and only when known: a file without it is what earlier versions wrote.
  if (st.micro_batch > 0) c.meta.set("micro_batch", st.micro_batch);
  for (const std::string& set : store.set_names())
    for (const ParamSpec& p : store.specs())  // unstored buffers keep their declared values on resume
      if (p.stored) {
        const Tensor& t = store.get(p.name, set);  // a device-resident set is copied down here
        c.tensors.push_back({"w/" + set + "/" + p.name, t.device() == Device::cpu ? t : t.to_device(Device::cpu)});
      }
  for (auto& [name, t] : optim.state()) c.tensors.push_back({"opt/" + name, t});
  for (size_t i = 0; i < st.replay.size(); i++) c.tensors.push_back({"replay/" + std::to_string(i), u16_tensor(st.replay[i])});
  write_checkpoint(path, c);
}

TrainState restore_train_state(const std::string& path, TokenStream& stream, Schedule& schedule, ParamStore& store,
                               OptimizerSet& optim) {
  Checkpoint c = read_checkpoint(path);
  TrainState st;
  st.step = c.meta.get("step", int64_t(0));
  st.tokens = c.meta.get("tokens", int64_t(0));
  st.elapsed = c.meta.get("elapsed_s", 0.0);
  st.swa_count = c.meta.get("swa_count", int64_t(0));
  st.qat_on = c.meta.get("qat_on", false);
  st.switched = c.meta.get("graph_switched", false);
  st.replay_pos = c.meta.get("replay_pos", int64_t(0));
  st.micro_batch = c.meta.get("micro_batch", int64_t(0));
  std::vector<double> rec;
  for (const Json& x : c.meta["lr_multipliers"].items()) rec.push_back(x.number());
  schedule.restore(rec);
  stream.seek({c.meta["cursor"].get("shard", int64_t(0)), c.meta["cursor"].get("position", int64_t(0))});
  std::map<std::string, Tensor> opt_state;
  for (auto& [name, t] : c.tensors) {
    if (name.rfind("w/", 0) == 0) {
      size_t slash = name.find('/', 2);
      std::string set = name.substr(2, slash - 2), pname = name.substr(slash + 1);
      if (!store.has_set(set)) store.copy_set("live", set);
      copy_into(store.get(pname, set), t, name);
    } else if (name.rfind("opt/", 0) == 0) {
      opt_state[name.substr(4)] = t;
    } else if (name.rfind("replay/", 0) == 0) {
      st.replay.push_back(u16_vector(t));
    }
  }
  optim.load_state(opt_state);
  return st;
}

}  // namespace golf
