// Self-distillation (a phase with distill = { teacher, temperature, alpha }): the student's graph
// (mode "distill") trained on alpha·T²·soft-CE(student/T, teacher probabilities) + (1 − alpha)·CE,
// and the teacher's (mode "eval") run on the frozen weight set "teacher", a copy of the EMA or
// live weights taken when the first distill phase starts.
#pragma once
#include <memory>

#include "runtime/executor.h"
#include "runtime/model_graph.h"
#include "runtime/train/train_config.h"
#include "runtime/train_step.h"

namespace golf {

class Distiller {
 public:
  // Builds both graphs with `phase`'s temperature and alpha; accum: the step's micro-batches.
  Distiller(const GraphFactory& factory, ParamStore& store, const Phase& phase, int64_t micro, int64_t seq,
            int64_t accum, DType real, Device device, RealStorage storage = RealStorage::automatic);

  TrainStep& step() { return *step_; }
  // softmax(teacher logits / T) per row of `tokens`, in double; adds the rows' mean entropy to
  // *entropy (the soft cross entropy minus it is the KL divergence the log reports). On a device
  // the probabilities stay there (a device tensor, overwritten by the next call; f32) and only
  // the entropy comes down.
  Tensor teacher_probs(const Tensor& tokens, double temperature, double* entropy);

 private:
  DType real_;
  Device device_;
  double temperature_;
  Tensor probs_;  // device: the teacher's probabilities, written by teacher_exec_
  std::unique_ptr<ModelGraph> student_, teacher_;
  std::unique_ptr<TrainStep> step_;
  std::unique_ptr<Executor> teacher_exec_;
};

}  // namespace golf
