#include "runtime/train/device_plan.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include <unistd.h>

#include "runtime/device_memory.h"
#include "runtime/fs.h"
#include "runtime/train/checkpoint.h"
#include "runtime/train/step_on_paper.h"

#ifdef GOLFRT_WITH_CUDA
#include "kernels/cuda/memory_info.h"
#endif

namespace golf {

int64_t device_free_bytes() {
  if (const char* env = std::getenv("GOLFRT_DEVICE_FREE_BYTES")) {
    const std::string text = env;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE || v <= 0)
      throw std::invalid_argument("GOLFRT_DEVICE_FREE_BYTES='" + text +
                                  "': give the device's free memory as a whole number of bytes, e.g. 80000000000");
    return int64_t(v);
  }
  // The stand-in device's memory is the host's: what the host has available now.
  if (standin_device()) {
    const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
      throw std::runtime_error("the stand-in device's free memory (the host's available memory) is unknown: "
                               "set train.micro_batch, or GOLFRT_DEVICE_FREE_BYTES to plan for a given size");
    return int64_t(pages) * int64_t(page);
  }
#ifdef GOLFRT_WITH_CUDA
  int64_t free_bytes = 0, total_bytes = 0;
  std::string why;
  if (!cuda::device_memory(&free_bytes, &total_bytes, &why))
    throw std::runtime_error("the CUDA device's free memory is unknown (" + why +
                             "): set train.micro_batch, or GOLFRT_DEVICE_FREE_BYTES to plan for a given size");
  return free_bytes;
#else
  throw std::invalid_argument("this golfrt was built without CUDA, so it cannot ask a device for its free memory: "
                              "set GOLFRT_DEVICE_FREE_BYTES (e.g. 80000000000) to plan for a device of that size");
#endif
}

std::function<int64_t(int64_t)> planned_run_bytes(const GraphFactory& factory, const NameMatcher& matcher,
                                                  const Json& train, int64_t seq, int64_t ranks, RealStorage storage) {
  const int64_t step_sequences = train.get("batch_tokens", int64_t(8 * seq)) / seq;
  // The optimizers' executors do not depend on the micro-batch: counted once, at the smallest.
  const StepOnPaper one = step_on_paper(factory, matcher, train, 1, seq, step_sequences, ranks, true, false, storage);
  return [=](int64_t n) {
    StepOnPaper s = step_on_paper(factory, matcher, train, n, seq, step_sequences, ranks, false, false, storage);
    s.muon = one.muon;
    s.adam = one.adam;
    return s.device_bytes();
  };
}

namespace {

// The micro-batch an earlier part of this run used: its checkpoint's (resume) or its
// schedule.json's (replay); 0 when it records none (files from before issue 16) or there is none.
int64_t recorded_micro_batch(const TrainerOptions& opt, std::string* from) {
  if (opt.resume) {
    *from = path_join(opt.out_dir, "checkpoint.bin");
    return file_exists(*from) ? read_checkpoint_meta(*from).get("micro_batch", int64_t(0)) : 0;
  }
  if (!opt.replay_schedule.empty()) {
    *from = opt.replay_schedule;
    return Json::parse(read_file(*from), *from).get("micro_batch", int64_t(0));
  }
  return 0;
}

// The smallest free memory of any rank: every rank must plan the same micro-batch.
int64_t smallest_free_bytes(int64_t mine, Communicator* comm) {
  if (!distributed(comm)) return mine;
  std::vector<double> all(size_t(comm->size()), 0.0);
  all[size_t(comm->rank())] = double(mine);
  comm->allreduce_sum(all.data(), int64_t(all.size()));
  return int64_t(*std::min_element(all.begin(), all.end()));
}

}  // namespace

MicroBatchChoice choose_micro_batch(const GraphFactory& factory, const NameMatcher& matcher, const Json& train,
                                    int64_t seq, const TrainerOptions& opt, int64_t ranks, Communicator* comm) {
  MicroBatchChoice c;
  const int64_t batch_tokens = train.get("batch_tokens", int64_t(8 * seq));
  const int64_t set = train.has("micro_batch") ? train.get("micro_batch", int64_t(0)) : 0;
  // A step that is not whole sequences, or a micro_batch that is no count: parse_train_config
  // refuses them, naming the keys.
  if (seq <= 0 || batch_tokens <= 0 || batch_tokens % seq || (train.has("micro_batch") && set <= 0)) return c;
  const int64_t step_sequences = batch_tokens / seq;
  std::string from;
  const int64_t recorded = recorded_micro_batch(opt, &from);
  int64_t wanted = set;  // 0: derive it
  std::string note;
  if (recorded > 0 && set > 0 && set != recorded)
    note = "; " + from + " records micro_batch " + std::to_string(recorded) +
           ": this run takes other batches than the one it continues";
  else if (recorded > 0)
    wanted = recorded;
  if (opt.device != Device::cuda) {
    // The CPU plans nothing: the script's micro-batch or the whole step, as before issue 16.
    c.micro_batch = wanted > 0 ? wanted : step_sequences;
    if (wanted == recorded && recorded > 0 && recorded != (set > 0 ? set : step_sequences))
      c.line = "micro_batch " + std::to_string(recorded) + " (reused from " + from + ")";
    else if (!note.empty())
      c.line = "micro_batch " + std::to_string(set) + " (set)" + note;
    return c;
  }
  const int64_t free_bytes =
      smallest_free_bytes(opt.device_free_bytes > 0 ? opt.device_free_bytes : device_free_bytes(), comm);
  const MicroBatchPlan p =
      plan_micro_batch(step_sequences, ranks, free_bytes, wanted, planned_run_bytes(factory, matcher, train, seq, ranks, opt.storage), seq);
  c.micro_batch = p.micro_batch;
  c.line = p.describe();
  if (wanted == recorded && recorded > 0) c.line += " (reused from " + from + ")";
  c.line += note;
  return c;
}

}  // namespace golf
