// Telemetry: span events at the evaluation boundaries. With no handler attached a span
// costs one relaxed atomic load.
//
// Events (name, when):
//   emily.eval.start / emily.eval.stop        each eager primitive dispatch
//   emily.to_host.start / emily.to_host.stop  copies to host (to_host, to_blob, item)
//   emily.fallback.start / emily.fallback.stop a primitive run on another backend
//   emily.memory.stats                         memory_stats() snapshots
// Stop events carry the span duration; all carry metadata (op, shapes, dtypes, device).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace emily::telemetry {

struct Event {
  std::string name;              // e.g. "emily.eval.stop"
  std::int64_t duration_ns = 0;  // stop events only
  std::int64_t bytes = 0;        // where it applies (to_host, memory)
  std::vector<std::pair<std::string, std::string>> metadata;

  const std::string* find(const std::string& key) const;
};

using Handler = std::function<void(const Event&)>;
using HandlerId = std::uint64_t;

// Calls `handler` for every event whose name starts with `prefix`.
HandlerId attach(std::string prefix, Handler handler);
void detach(HandlerId id);
void detach_all();
bool active();  // any handler attached

void emit(const Event& e);

// A start/stop pair. Metadata is computed only when a handler is attached.
class Span {
 public:
  template <class MetaFn>
  Span(const char* name, MetaFn&& meta) {
    if (active()) begin(name, meta());
  }
  ~Span() {
    if (live_) end();
  }
  void set_bytes(std::int64_t b) { bytes_ = b; }
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

 private:
  void begin(const char* name, std::vector<std::pair<std::string, std::string>> meta);
  void end();
  bool live_ = false;
  const char* name_ = nullptr;
  std::int64_t start_ns_ = 0;
  std::int64_t bytes_ = 0;
  std::vector<std::pair<std::string, std::string>> meta_;
};

}  // namespace emily::telemetry
