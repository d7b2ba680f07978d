// Reading a tensor on the host without waiting for the work queued after it.
//
//   HostRead token = begin_host_read(next);  // the copy, queued behind what makes `next`
//   state = step(state);                     // more work queued meanwhile
//   use(token.get());                        // waits for the copy alone
//
// to_host waits for everything queued on the tensor's stream, so a loop that queues a
// GPU step and then reads its result leaves the GPU idle while the host works on the
// result and queues the next step. Begun before the next step is queued, the read
// overlaps that step instead. On the CPU, and for tensors larger than one staging chunk
// (4 MiB), the read happens in begin_host_read itself.
#pragma once

#include <memory>

#include "emily/tensor.h"

namespace emily {

class HostRead {
 public:
  // The tensor on the host, contiguous (as to_host gives it). The first call waits for
  // the copy; later calls return the same tensor.
  Tensor get();

 private:
  friend HostRead begin_host_read(const Tensor& t);
  struct Pending;
  Tensor value_;                      // the result, once read
  std::shared_ptr<Pending> pending_;  // the copy under way, if any
};

// Queues a copy of `t` to the host behind the work that produces it. Inside a trace it
// is a host read like to_host (the function then runs eagerly, or raises).
HostRead begin_host_read(const Tensor& t);

}  // namespace emily
