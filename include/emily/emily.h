// Everything public, in one include.
#pragma once

#include "emily/backend.h"
#include "emily/config.h"
#include "emily/device.h"
#include "emily/dtype.h"
#include "emily/error.h"
#include "emily/fft.h"
#include "emily/linalg.h"
#include "emily/memory.h"
#include "emily/ops.h"
#include "emily/primitive.h"
#include "emily/random.h"
#include "emily/shape.h"
#include "emily/stream.h"
#include "emily/telemetry.h"
#include "emily/tensor.h"
#include "emily/version.h"
