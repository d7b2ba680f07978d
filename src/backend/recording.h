// Recording the kernels a stream runs once and replaying them with one launch: CUDA
// graphs on NVIDIA devices. The compiler records a native plan's replay this way, so a
// call costs one launch rather than one per node. Devices without such a mechanism
// record nothing (can_record is false).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "emily/device.h"
#include "emily/stream.h"

namespace emily {

class Recording {
 public:
  virtual ~Recording() = default;
  // Orders work on `s` after everything the previous launch (on any stream) did, so
  // plan-owned buffers are not overwritten while a launch elsewhere still reads them.
  virtual void wait_for_previous(Stream s) = 0;
  // Runs the recorded work on `s`.
  virtual void launch(Stream s) = 0;
  // Marks the end of this call's use of the plan's buffers on `s`.
  virtual void finish(Stream s) = 0;
};

bool can_record(Device device);
// Kernels launched on `s` from this thread until end_recording are recorded, not run.
void begin_recording(Stream s);
// The recording, or nullptr with `why` set when something could not be recorded (a
// host copy, a synchronisation): the caller then runs the work the ordinary way.
std::unique_ptr<Recording> end_recording(Stream s, std::string& why);
// Copies `bytes` between two buffers on `device`, ordered on the calling thread's stream
// there (what a recorded plan's inputs and results go through).
void copy_bytes(void* dst, const void* src, std::size_t bytes, Device device);

}  // namespace emily
