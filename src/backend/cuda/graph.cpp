#include "backend/cuda/graph.h"

#include <cuda_runtime.h>

#include "backend/cuda/runtime.h"

namespace emily::cuda {

namespace {

class Graph final : public Recording {
 public:
  Graph(cudaGraphExec_t exec, Device device) : exec_(exec), device_(device) {
    check(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "compile", "cudaEventCreate");
  }
  ~Graph() override {
    // Destruction may come after the device's context is gone (process exit): ignore
    // the status rather than throw from a destructor.
    use_device(device_);
    cudaEventDestroy(done_);
    cudaGraphExecDestroy(exec_);
  }

  void wait_for_previous(Stream s) override {
    // The same stream is ordered already; another one waits for the last launch's end.
    if (used_ && s != last_)
      check(cudaStreamWaitEvent(stream(s), done_, 0), "compile", "cudaStreamWaitEvent");
  }
  void launch(Stream s) override {
    check(cudaGraphLaunch(exec_, stream(s)), "compile", "cudaGraphLaunch");
  }
  void finish(Stream s) override {
    check(cudaEventRecord(done_, stream(s)), "compile", "cudaEventRecord");
    last_ = s;
    used_ = true;
  }

 private:
  cudaGraphExec_t exec_;
  Device device_;
  cudaEvent_t done_ = nullptr;
  Stream last_{};
  bool used_ = false;
};

}  // namespace

void begin_capture(Stream s) {
  use_device(s.device);
  // Thread-local mode: other threads may go on allocating and copying while this one
  // records; only this thread's unsafe calls end the capture (as a failure).
  check(cudaStreamBeginCapture(stream(s), cudaStreamCaptureModeThreadLocal), "compile",
        "cudaStreamBeginCapture");
  set_capturing(true);
}

std::unique_ptr<Recording> end_capture(Stream s, std::string& why) {
  use_device(s.device);
  set_capturing(false);
  cudaGraph_t graph = nullptr;
  cudaError_t status = cudaStreamEndCapture(stream(s), &graph);
  if (status != cudaSuccess || graph == nullptr) {
    why = cudaGetErrorString(status);
    (void)cudaGetLastError();  // a failed capture is not an error of later calls
    if (graph) cudaGraphDestroy(graph);
    return nullptr;
  }
  cudaGraphExec_t exec = nullptr;
  status = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  if (status != cudaSuccess) {
    why = cudaGetErrorString(status);
    (void)cudaGetLastError();
    return nullptr;
  }
  return std::make_unique<Graph>(exec, s.device);
}

}  // namespace emily::cuda
