// Minimal TensorFlow Lite Micro firmware for the model lenet-convert writes.
//
//   lenet-convert runs/best/model.keras --quantize int8 --out build/
//   cp build/lenet_int8.h build/lenet_int8.c  <your firmware>/
//
// TFLM itself is your dependency (e.g. the tflite-micro repository's Makefile or the Arduino
// "Arduino_TensorFlowLite" library); this file shows only how the generated header is used:
// the ops to register, the arena size, and the input/output quantization.
#include <cstdint>
#include <cmath>

#include "lenet_int8.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

namespace {
alignas(16) uint8_t tensor_arena[LENET_INT8_ARENA_BYTES];
}

// Classifies one 28x28 grey image with pixels in [0, 1]; returns the digit, or -1 on error.
int classify(const float pixels[LENET_INT8_INPUT_SIZE]) {
  static const tflite::Model* model = tflite::GetModel(lenet_int8);
  static tflite::MicroMutableOpResolver<LENET_INT8_OP_COUNT> resolver;
  static tflite::MicroInterpreter* interpreter = nullptr;
  if (interpreter == nullptr) {
#define LENET_ADD_OP(op) resolver.Add##op();
    LENET_INT8_OPS(LENET_ADD_OP)
#undef LENET_ADD_OP
    static tflite::MicroInterpreter instance(model, resolver, tensor_arena, sizeof(tensor_arena));
    if (instance.AllocateTensors() != kTfLiteOk) return -1;
    interpreter = &instance;
  }

  LENET_INT8_INPUT_TYPE* input = interpreter->input(0)->data.int8;
  for (int i = 0; i < LENET_INT8_INPUT_SIZE; ++i) {
    long q = std::lround(pixels[i] / LENET_INT8_INPUT_SCALE) + LENET_INT8_INPUT_ZERO_POINT;
    input[i] = static_cast<LENET_INT8_INPUT_TYPE>(q < -128 ? -128 : q > 127 ? 127 : q);
  }
  if (interpreter->Invoke() != kTfLiteOk) return -1;

  const LENET_INT8_OUTPUT_TYPE* scores = interpreter->output(0)->data.int8;
  int best = 0;
  for (int c = 1; c < LENET_INT8_NUM_CLASSES; ++c) {
    if (scores[c] > scores[best]) best = c;
  }
  // Probability of the winner, if wanted: (scores[best] - LENET_INT8_OUTPUT_ZERO_POINT) * LENET_INT8_OUTPUT_SCALE
  return best;
}
