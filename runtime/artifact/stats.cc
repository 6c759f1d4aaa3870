#include "runtime/artifact/stats.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "runtime/artifact/body.h"
#include "runtime/artifact/codec.h"

namespace golf {

ArtifactStats artifact_stats(const std::string& bytes, const std::string& name, unsigned threads) {
  ArtifactStats s;
  s.header = decode_artifact_header(bytes, name);
  std::string body = decompress_artifact_body(bytes, name, s.header);
  BodyLayout layout;
  Artifact a = decode_artifact_body(body, s.header.version, s.header.flags, name, &layout);
  s.op_set = a.op_set;
  s.meta = std::move(a.meta);
  for (auto& [module, text] : a.sources) s.sources.emplace_back(module, text.size());
  s.header_bytes = artifact_format::kHeaderSize;
  s.file_bytes = bytes.size();

  // Each part is a list of body ranges (a tensor's scales and values) compressed together.
  std::vector<std::vector<BodyLayout::Range>> parts;
  for (auto [label, range] : {std::pair{"metadata", layout.meta}, {"sources", layout.sources}, {"tensor table", layout.table}}) {
    ArtifactPartStat p;
    p.name = label;
    p.raw_bytes = range.length;
    s.sections.push_back(p);
    parts.push_back({range});
  }
  for (size_t i = 0; i < a.tensors.size(); i++) {
    const QTensor& t = a.tensors[i];
    const BodyLayout::TensorRanges& r = layout.tensors[i];
    ArtifactPartStat p;
    p.name = t.name;
    p.encoding = t.encoding;
    p.shape = t.shape;
    p.per_row = t.per_row;
    p.group = t.group;
    for (const LowRankCorrection& c : a.corrections)
      if (c.a == i || c.b == i) p.corrects = a.tensors[c.base].name;
    p.raw_bytes = r.scales.length + r.values.length;
    s.tensors.push_back(p);
    parts.push_back({r.scales, r.values});
  }

  std::vector<double> estimate(parts.size(), 0);
  std::atomic<size_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    try {
      for (size_t i; (i = next++) < parts.size();) {
        std::string bytes_of_part;
        for (const auto& r : parts[i]) bytes_of_part.append(body, r.offset, r.length);
        estimate[i] = bytes_of_part.empty() ? 0 : double(compress_body(bytes_of_part, s.header.codec).size());
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  };
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads = unsigned(std::min<size_t>(threads, parts.size()));
  std::vector<std::thread> pool;
  for (unsigned k = 1; k < threads; k++) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);

  double total = 0;
  for (double e : estimate) total += e;
  double scale = total > 0 ? double(s.header.compressed_bytes) / total : 0;
  for (size_t i = 0; i < parts.size(); i++) {
    ArtifactPartStat& p = i < s.sections.size() ? s.sections[i] : s.tensors[i - s.sections.size()];
    p.compressed_bytes = estimate[i] * scale;
  }
  return s;
}

}  // namespace golf
