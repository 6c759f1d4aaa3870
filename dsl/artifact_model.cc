#include "dsl/artifact_model.h"

#include <cstring>

#include "runtime/artifact/op_set.h"
#include "runtime/quant/gptq.h"
#include "runtime/quant/lqer.h"

namespace golf {

Artifact export_model(ModelScript& script, const ParamStore& store, const std::string& set, const ExportInfo& info,
                      const std::map<std::string, Tensor>& hessians) {
  Artifact a;
  a.op_set = current_op_set();  // decoders compare it with their own op table
  Json quant = script.table_json("quant");
  NameMatcher match = [&](const std::string& n, const std::string& p) { return script.name_matches(n, p); };
  a.meta = Json::object();
  a.meta.set("format", "golfrt-artifact");
  a.meta.set("script", info.script_name);
  Json cfg = Json::object();
  for (auto& [k, v] : script.config_items()) cfg.set(k, v);
  a.meta.set("config", cfg);
  a.meta.set("preset", info.overrides.preset);
  Json sets = Json::array();
  for (auto& [k, v] : info.overrides.sets) {
    Json kv = Json::array();
    kv.push(k);
    kv.push(v);
    sets.push(kv);
  }
  a.meta.set("sets", sets);
  a.meta.set("seq_len", info.seq_len);
  a.meta.set("training", info.training);
  a.meta.set("tokenizer", info.tokenizer);
  a.meta.set("quant", quant);
  if (info.unquantized) a.meta.set("unquantized", true);

  a.sources.push_back({info.script_name, script.source()});
  for (auto& [name, text] : script.bundle()) a.sources.push_back({name, text});

  const LqerSpec lqer = read_lqer(quant);
  std::vector<std::pair<size_t, Tensor>> originals;  // LQER's candidates: each weight before quantization
  for (const ParamSpec& p : store.specs()) {
    if (p.is_buffer() && !p.stored) continue;  // the script rebuilds it when the artifact loads
    const Tensor& w = store.get(p.name, set);
    if (p.is_buffer()) {  // never quantized: integer buffers as i32, real ones as fp32, exactly
      QuantSpec exact;
      exact.encoding = "fp32";
      a.tensors.push_back(quantize(p.name, p.integer ? w : w.to(DType::f32), exact));
      continue;
    }
    Tensor w32 = w.dtype() == DType::f32 ? w : w.to(DType::f32);
    QuantSpec spec = choose_spec(p.name, p.shape, quant, match);
    if (info.unquantized) spec = QuantSpec{"fp32", false};
    auto h = hessians.find(p.name);
    if (spec.gptq && h != hessians.end() && p.shape.size() == 2) {
      double damp = quant["calibration"].get("damp", 0.01);
      a.tensors.push_back(gptq_quantize(p.name, w32, h->second, spec, damp));
    } else {
      a.tensors.push_back(quantize(p.name, w32, spec));
    }
    if (lqer.top > 0 && a.tensors.back().is_int() && p.shape.size() == 2) originals.push_back({a.tensors.size() - 1, w32});
  }
  add_lqer(a, originals, lqer);  // the factors go after every weight, in their own table entries
  return a;
}

ArtifactOptions artifact_options(const Json& quant) {
  ArtifactOptions ao;
  ao.codec = quant.get("codec", "auto");
  ao.shuffle = quant.get("shuffle", true);
  ao.packed = quant.get("packed", true);
  return ao;
}

Json tokenizer_record(const DataDir& data) {
  Json t = Json::object();
  t.set("kind", data.tokenizer_kind);
  t.set("fingerprint", data.fingerprint);
  return t;
}

LoadedModel load_model(const std::string& path, const ModelLimits& limits) {
  return load_model(read_artifact(path), path, limits);
}

LoadedModel load_model(Artifact artifact, const std::string& path, const ModelLimits& limits) {
  LoadedModel m;
  m.artifact = std::move(artifact);
  if (std::string why = op_set_error(m.artifact.op_set, current_op_names()); !why.empty())
    throw std::runtime_error(path + ": " + why);
  const Json& meta = m.artifact.meta;
  std::string script_name = meta.get("script", "");
  std::string source;
  std::vector<std::pair<std::string, std::string>> modules;
  for (auto& [name, text] : m.artifact.sources) {
    if (name == script_name) source = text;
    else modules.push_back({name, text});
  }
  if (script_name.empty() || source.empty())
    throw std::runtime_error(path + ": the artifact carries no model script (meta.script names none of its sources)");
  Overrides o;
  o.preset = meta.get("preset", "");
  for (const Json& kv : meta["sets"].items()) o.sets.push_back({kv[0].str(), kv[1].str()});
  // The script runs from the artifact's own sources in the sandbox; nothing is read from disk.
  SandboxLimits sandbox;
  sandbox.max_seconds = limits.script_seconds;
  m.script = std::make_unique<ModelScript>(path + ":" + script_name, source, modules, o, sandbox);
  m.seq_len = meta.get("seq_len", int64_t(0));
  if (m.seq_len <= 0) throw std::runtime_error(path + ": the artifact has no seq_len");
  // Parameters and stored buffers come from the artifact's tensors, so together they may take no
  // more than those dequantize to; a value the script makes on its own, the stated budget.
  int64_t stored_bytes = 0;
  for (const QTensor& t : m.artifact.tensors) stored_bytes += shape_numel(t.shape) * 4;
  m.script->set_allocation_budget(int64_t(limits.memory_budget), stored_bytes);
  ModelScript* s = m.script.get();
  m.factory = [s](const std::string& mode, int64_t batch, int64_t t) -> std::unique_ptr<ModelGraph> {
    return s->build(mode, batch, t);
  };
  m.eval_model = m.factory("eval", 1, m.seq_len);
  ParamStore& store = m.eval_model->store;
  std::map<std::string, const QTensor*> by_name;
  for (const QTensor& t : m.artifact.tensors) by_name[t.name] = &t;
  for (const ParamSpec& p : store.specs()) {  // before initialize() allocates them
    if (p.is_buffer() && !p.stored) continue;
    auto it = by_name.find(p.name);
    if (it == by_name.end()) throw std::runtime_error(path + ": the model needs '" + p.name + "', which the artifact does not hold");
    if (it->second->shape != p.shape)
      throw std::runtime_error(path + ": tensor '" + p.name + "' is " + shape_str(it->second->shape) + ", the model expects " +
                               shape_str(p.shape));
  }
  store.initialize(0, DType::f32);
  for (const ParamSpec& p : store.specs()) {
    if (p.is_buffer() && !p.stored) {  // initialize() gave it the values the script declared
      if (by_name.count(p.name))
        throw std::runtime_error(path + ": the artifact holds '" + p.name + "', which the model declares as not stored");
      continue;
    }
    auto it = by_name.find(p.name);
    if (it == by_name.end()) throw std::runtime_error(path + ": the model needs '" + p.name + "', which the artifact does not hold");
    Tensor w = dequantize_corrected(m.artifact, size_t(it->second - m.artifact.tensors.data()));
    if (w.shape() != p.shape)
      throw std::runtime_error(path + ": tensor '" + p.name + "' is " + shape_str(w.shape()) + ", the model expects " + shape_str(p.shape));
    if (p.integer != (w.dtype() == DType::i32))
      throw std::runtime_error(path + ": tensor '" + p.name + "' is " + dtype_name(w.dtype()) + ", the model expects " +
                               (p.integer ? "an integer buffer" : "real values"));
    Tensor w32 = w.dtype() == DType::f32 || w.dtype() == DType::i32 ? w : w.to(DType::f32);
    std::memcpy(store.get(p.name).raw(), w32.raw(), w32.nbytes());
  }
  return m;
}

}  // namespace golf
