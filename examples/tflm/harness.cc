// Test harness for verify.py: MNIST images in and predictions out through semihosting files, around
// the unchanged example (main.cc). images.u8 holds 784-byte grey images; predictions.u8 gets one
// byte per image; the last line of stdout reports the arena TFLM used next to the header's macro.
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lenet_int8.h"

int classify(const float pixels[LENET_INT8_INPUT_SIZE]);
size_t arena_used_bytes();

namespace {
uint8_t image[LENET_INT8_INPUT_SIZE];
float pixels[LENET_INT8_INPUT_SIZE];
}  // namespace

int main() {
  FILE* in = fopen("images.u8", "rb");
  FILE* out = fopen("predictions.u8", "wb");
  if (in == nullptr || out == nullptr) return 2;
  unsigned images = 0;
  while (fread(image, 1, sizeof(image), in) == sizeof(image)) {
    for (int i = 0; i < LENET_INT8_INPUT_SIZE; ++i) pixels[i] = image[i] / 255.0f;
    const int digit = classify(pixels);
    if (digit < 0) return 3;
    const uint8_t byte = static_cast<uint8_t>(digit);
    if (fwrite(&byte, 1, 1, out) != 1) return 4;
    ++images;
  }
  fclose(in);
  fclose(out);
  printf("TFLM_VERIFY images=%u arena_used=%u arena_macro=%u\n", images, static_cast<unsigned>(arena_used_bytes()),
         static_cast<unsigned>(LENET_INT8_ARENA_BYTES));
  return 0;
}
