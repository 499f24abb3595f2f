// Minimal TensorFlow Lite Micro firmware for the model lenet-convert writes.
//
//   lenet-convert runs/best/model.keras --quantize int8 --out build/            (or --io uint8)
//   cp build/lenet_int8.h build/lenet_int8.c  <your firmware>/
//
// TFLM itself is your dependency (e.g. the tflite-micro repository's Makefile or the Arduino
// "Arduino_TensorFlowLite" library); this file shows only how the generated header is used:
// the ops to register, the arena size, and the input/output type and quantization. It compiles
// unchanged for every header lenet-convert writes (--io int8, uint8 or float32), and needs no
// C++ runtime support: no function-local statics, no static destructors (so no atexit and no
// __dso_handle), no heap. examples/tflm/verify.py builds it with TFLM for an emulated Cortex-M4.
#include <stddef.h>
#include <stdint.h>

#include <new>

#include "lenet_int8.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {

using Resolver = tflite::MicroMutableOpResolver<LENET_INT8_OP_COUNT>;

alignas(16) uint8_t tensor_arena[LENET_INT8_ARENA_BYTES];
// The resolver and interpreter are built in place on first use: plain static storage, never destroyed.
alignas(Resolver) uint8_t resolver_storage[sizeof(Resolver)];
alignas(tflite::MicroInterpreter) uint8_t interpreter_storage[sizeof(tflite::MicroInterpreter)];
tflite::MicroInterpreter* interpreter = nullptr;

tflite::MicroInterpreter* ready_interpreter() {
  if (interpreter != nullptr) return interpreter;
  Resolver* resolver = new (resolver_storage) Resolver();
#define LENET_ADD_OP(op) resolver->Add##op();
  LENET_INT8_OPS(LENET_ADD_OP)
#undef LENET_ADD_OP
  tflite::MicroInterpreter* built = new (interpreter_storage)
      tflite::MicroInterpreter(tflite::GetModel(lenet_int8), *resolver, tensor_arena, sizeof(tensor_arena));
  if (built->AllocateTensors() != kTfLiteOk) return nullptr;
  interpreter = built;
  return interpreter;
}

}  // namespace

// Classifies one 28x28 grey image with pixels in [0, 1]; returns the digit, or -1 on error.
int classify(const float pixels[LENET_INT8_INPUT_SIZE]) {
  tflite::MicroInterpreter* model = ready_interpreter();
  if (model == nullptr) return -1;

  // The tensors' bytes, typed as the header says (int8_t, uint8_t or float).
  LENET_INT8_INPUT_TYPE* input = reinterpret_cast<LENET_INT8_INPUT_TYPE*>(model->input(0)->data.raw);
  for (int i = 0; i < LENET_INT8_INPUT_SIZE; ++i) input[i] = LENET_INT8_QUANTIZE_INPUT(pixels[i]);
  if (model->Invoke() != kTfLiteOk) return -1;

  const LENET_INT8_OUTPUT_TYPE* scores = reinterpret_cast<const LENET_INT8_OUTPUT_TYPE*>(model->output(0)->data.raw);
  int best = 0;
  for (int c = 1; c < LENET_INT8_NUM_CLASSES; ++c) {
    if (scores[c] > scores[best]) best = c;
  }
  // Probability of the winner, if wanted: LENET_INT8_DEQUANTIZE_OUTPUT(scores[best]).
  return best;
}

// Bytes of the arena TFLM used (after the first classify): what LENET_INT8_ARENA_BYTES must cover.
size_t arena_used_bytes() { return interpreter != nullptr ? interpreter->arena_used_bytes() : 0; }
