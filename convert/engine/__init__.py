"""The int8 C engine: a .tflite model as plain C99 that computes what TFLite Micro computes, with no interpreter."""
