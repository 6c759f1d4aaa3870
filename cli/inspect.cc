// golfrt inspect ARTIFACT: the header, metadata and sources, each tensor's stored bytes and its
// estimated share of the compressed file, and the total against parameter golf's 16,000,000 bytes.
#include <cinttypes>
#include <cstdio>
#include <stdexcept>

#include "cli/args.h"
#include "runtime/artifact/op_set.h"
#include "runtime/artifact/stats.h"
#include "runtime/fs.h"

namespace golf::cli {

extern const char* const kInspectUsage =
    "golfrt inspect ARTIFACT [--json] [--threads N]\n"
    "\n"
    "  --json        one JSON object on stdout instead of the table (metadata in full)\n"
    "  --threads N   threads for the per-tensor compression estimate (default: all)\n"
    "\n"
    "Each tensor's share of the compressed body is estimated by compressing its stored bytes alone\n"
    "with the artifact's codec, scaled so that the shares sum to the body. The whole file counts\n"
    "against the 16,000,000-byte budget.";

namespace {

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n), out = n < 0 ? "-" : "";
  for (size_t i = 0; i < s.size(); i++) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return out;
}

std::string hex64(uint64_t v) {
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// Indented JSON for people: long arrays and strings are cut (--json prints them whole).
void pretty(const Json& j, int indent, std::string& out) {
  constexpr size_t kMaxItems = 12, kMaxString = 100;
  std::string pad(size_t(indent) * 2, ' ');
  if (j.is_object() && j.size()) {
    out += "{\n";
    size_t i = 0;
    for (const auto& [k, v] : j.fields()) {
      out += pad + "  " + Json(k).dump() + ": ";
      pretty(v, indent + 1, out);
      out += ++i < j.size() ? ",\n" : "\n";
    }
    out += pad + "}";
  } else if (j.is_array() && j.size()) {
    bool flat = true;
    for (const Json& v : j.items()) flat = flat && !v.is_array() && !v.is_object();
    size_t shown = j.size() > kMaxItems ? kMaxItems - 2 : j.size();
    out += flat ? "[" : "[\n";
    for (size_t i = 0; i < shown; i++) {
      if (!flat) out += pad + "  ";
      pretty(j[i], indent + 1, out);
      if (i + 1 < j.size()) out += flat ? ", " : ",\n";
    }
    if (shown < j.size()) out += (flat ? "" : pad + "  ") + std::string("... (") + std::to_string(j.size()) + " items)";
    out += flat ? "]" : "\n" + pad + "]";
  } else if (j.is_string() && j.str().size() > kMaxString) {
    out += Json(j.str().substr(0, kMaxString)).dump() + "... (" + std::to_string(j.str().size()) + " bytes)";
  } else {
    out += j.dump();
  }
}

std::string row_encoding(const ArtifactPartStat& t) {
  if (t.encoding.compare(0, 3, "int") != 0) return t.encoding;
  if (t.group > 0) return t.encoding + "/g" + std::to_string(t.group);
  return t.encoding + (t.per_row && t.shape.size() >= 2 ? "/row" : "/tensor");
}

Json shape_json(const Shape& s) {
  Json a = Json::array();
  for (int64_t d : s) a.push(d);
  return a;
}

Json part_json(const ArtifactPartStat& p, bool tensor) {
  Json o = Json::object();
  o.set("name", p.name);
  if (tensor) {
    o.set("encoding", p.encoding);
    o.set("per_row", p.per_row);
    if (p.group > 0) o.set("group", p.group);
    if (!p.corrects.empty()) o.set("lqer_of", p.corrects);
    o.set("shape", shape_json(p.shape));
  }
  o.set("raw_bytes", p.raw_bytes);
  o.set("compressed_bytes", int64_t(p.compressed_bytes + 0.5));
  return o;
}

}  // namespace

int cmd_inspect(const std::vector<std::string>& argv) {
  Args a = parse_args(argv, {"threads"}, {"json"});
  if (a.positional.size() != 1) throw std::invalid_argument("usage: golfrt inspect ARTIFACT [--json] [--threads N]");
  const std::string& path = a.positional[0];
  unsigned threads = unsigned(int_option(a, "threads", 0, 0, 4096));
  ArtifactStats s = artifact_stats(read_file(path), path, threads);
  OpSet here = current_op_set();
  bool same_ops = s.op_set.ops == here.ops && s.op_set.fingerprint == here.fingerprint;
  int64_t margin = int64_t(kArtifactBudget) - int64_t(s.file_bytes);
  const char* codec = artifact_format::codec_name(s.header.codec);

  if (a.options.count("json")) {
    Json o = Json::object();
    o.set("path", path);
    o.set("version", int(s.header.version));
    o.set("codec", codec);
    o.set("shuffle", s.header.shuffle());
    o.set("packed", s.header.packed());
    o.set("header_bytes", s.header_bytes);
    o.set("body_bytes", s.header.body_bytes);
    o.set("compressed_body_bytes", s.header.compressed_bytes);
    o.set("body_xxh64", hex64(s.header.body_hash));
    o.set("file_bytes", s.file_bytes);
    o.set("budget_bytes", kArtifactBudget);
    o.set("margin_bytes", margin);
    Json ops = Json::object();
    ops.set("ops", int64_t(s.op_set.ops));
    ops.set("fingerprint", hex64(s.op_set.fingerprint));
    ops.set("matches_this_golfrt", same_ops);
    o.set("op_set", ops);
    o.set("meta", s.meta);
    Json sources = Json::array(), sections = Json::array(), tensors = Json::array();
    for (const auto& [name, bytes] : s.sources) {
      Json src = Json::object();
      src.set("name", name);
      src.set("bytes", bytes);
      sources.push(src);
    }
    for (const auto& p : s.sections) sections.push(part_json(p, false));
    for (const auto& p : s.tensors) tensors.push(part_json(p, true));
    o.set("sources", sources);
    o.set("sections", sections);
    o.set("tensors", tensors);
    std::printf("%s\n", o.dump().c_str());
    return 0;
  }

  std::printf("artifact %s\n", path.c_str());
  std::printf("  format version %d, codec %s, byte shuffle %s, intN %s\n", int(s.header.version), codec,
              s.header.shuffle() ? "on" : "off", s.header.packed() ? "bit-packed" : "in int8 containers");
  std::printf("  body %s bytes, compressed to %s (xxh64 %s)\n", with_commas(int64_t(s.header.body_bytes)).c_str(),
              with_commas(int64_t(s.header.compressed_bytes)).c_str(), hex64(s.header.body_hash).c_str());
  std::printf("  op set %u ops, fingerprint %s (%s)\n", s.op_set.ops, hex64(s.op_set.fingerprint).c_str(),
              same_ops ? "this golfrt's" : ("this golfrt has " + std::to_string(here.ops) + " ops, fingerprint " +
                                            hex64(here.fingerprint)).c_str());

  std::string meta;
  pretty(s.meta, 1, meta);
  std::printf("\nmetadata:\n  %s\n", meta.c_str());

  std::printf("\nsources:\n");
  if (s.sources.empty()) std::printf("  (none)\n");
  for (const auto& [name, bytes] : s.sources) std::printf("  %-48s %12s bytes\n", name.c_str(), with_commas(int64_t(bytes)).c_str());

  auto share = [&](double bytes) { return s.file_bytes ? 100.0 * bytes / double(s.file_bytes) : 0.0; };
  std::printf("\n  %-40s %-12s %-16s %12s %12s %7s\n", "tensor", "encoding", "shape", "raw bytes", "compressed", "share");
  for (const auto& t : s.tensors)
    std::printf("  %-40s %-12s %-16s %12s %12s %6.2f%%\n", t.name.c_str(), row_encoding(t).c_str(), shape_str(t.shape).c_str(),
                with_commas(int64_t(t.raw_bytes)).c_str(), with_commas(int64_t(t.compressed_bytes + 0.5)).c_str(),
                share(t.compressed_bytes));
  for (const auto& t : s.tensors)
    if (!t.corrects.empty()) std::printf("  %-40s LQER factor of '%s'\n", t.name.c_str(), t.corrects.c_str());
  for (const auto& p : s.sections)
    std::printf("  %-70s %12s %12s %6.2f%%\n", ("(" + p.name + ")").c_str(), with_commas(int64_t(p.raw_bytes)).c_str(),
                with_commas(int64_t(p.compressed_bytes + 0.5)).c_str(), share(p.compressed_bytes));
  std::printf("  %-70s %12s %12s %6.2f%%\n", "(file header)", with_commas(int64_t(s.header_bytes)).c_str(),
              with_commas(int64_t(s.header_bytes)).c_str(), share(double(s.header_bytes)));

  std::printf("\ntotal %s bytes of %s: ", with_commas(int64_t(s.file_bytes)).c_str(), with_commas(int64_t(kArtifactBudget)).c_str());
  if (margin >= 0) std::printf("%s bytes to spare\n", with_commas(margin).c_str());
  else std::printf("OVER the budget by %s bytes\n", with_commas(-margin).c_str());
  return 0;
}

}  // namespace golf::cli
